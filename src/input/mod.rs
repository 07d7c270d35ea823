//! Reading heap dumps: open and map the file, undo gzip, decide what kind of dump it is, and
//! hand the bytes to the format's parser.

pub mod jemalloc;
pub mod mmap;
pub mod sniff;
pub mod v8;

use crate::error::{Error, ParseError, Result};
use std::fs::File;
use std::io::Read;
use std::path::Path;

/// Largest decompressed size accepted from a `.gz` input. The gzip trailer's size field is
/// not trusted (it is modulo 4 GiB and can lie); this bound stops a hostile stream from
/// filling memory.
pub const MAX_DECOMPRESSED_BYTES: u64 = 16 << 30;

/// The bytes of one input: mapped from disk, or owned after decompression.
pub enum Bytes {
    Mapped(mmap::Mapped),
    Owned(Vec<u8>),
}

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m.bytes(),
            Bytes::Owned(v) => v,
        }
    }

    /// Tell the OS the parser is done with `start..end` (no-op for owned bytes).
    pub fn release(&self, start: usize, end: usize) {
        if let Bytes::Mapped(m) = self {
            m.release(start, end)
        }
    }
}

/// Open `path`, map it, and decompress it if it is gzip.
pub fn read_bytes(path: &Path) -> Result<Bytes> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::input(
            path,
            ParseError::new("is a directory, not a heap dump"),
        ));
    }
    if meta.len() == 0 {
        return Err(Error::input(path, ParseError::new("file is empty")));
    }
    let file = File::open(path).map_err(|e| Error::io(path, e))?;
    let mapped = mmap::Mapped::open(&file).map_err(|e| Error::io(path, e))?;
    if sniff::is_gzip(mapped.bytes()) {
        let out = gunzip(mapped.bytes()).map_err(|e| Error::input(path, e))?;
        if out.is_empty() {
            return Err(Error::input(
                path,
                ParseError::new("gzip stream decompresses to nothing"),
            ));
        }
        return Ok(Bytes::Owned(out));
    }
    Ok(Bytes::Mapped(mapped))
}

fn gunzip(data: &[u8]) -> Result<Vec<u8>, ParseError> {
    let mut dec = flate2::read::MultiGzDecoder::new(data).take(MAX_DECOMPRESSED_BYTES + 1);
    let mut out = Vec::new();
    dec.read_to_end(&mut out)
        .map_err(|e| ParseError::new(format!("corrupt gzip stream: {e}")))?;
    if out.len() as u64 > MAX_DECOMPRESSED_BYTES {
        return Err(ParseError::new(format!(
            "gzip stream decompresses to more than {} GiB; decompress it by hand if it is real",
            MAX_DECOMPRESSED_BYTES >> 30
        )));
    }
    Ok(out)
}
