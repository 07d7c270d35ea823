//! gzip inputs: every member of the stream (RFC 1952 allows several, concatenated), then
//! nothing but zero bytes. Some uploaders pad a file with zeros to a block size; `gunzip`
//! accepts that (with a warning), and so does heapdiff. Anything else after the last member
//! is an error at its offset: it may be a second file glued on, or a damaged member.

use super::budget::{Budget, Held, HoldError};
use std::io::{BufRead, Read};

/// Bytes of decompressed head enough to tell a dump's kind.
pub const SNIFF_BYTES: usize = 4096;

/// Why a gzip stream could not be decompressed.
#[derive(Debug)]
pub enum GzipError {
    /// The compressed bytes could not be read (the pipe or the disk failed).
    Io(std::io::Error),
    /// The stream is damaged or cut short; `offset` is the compressed byte reached.
    Corrupt { offset: u64, error: std::io::Error },
    /// A non-zero byte after the last member, at this offset of the compressed stream.
    Trailing { offset: u64 },
    /// The decompressed bytes do not fit in the budget.
    OverBudget,
}

/// Decompress all of `src` into memory charged to `budget`.
pub fn decompress<'b>(src: impl BufRead, budget: &'b Budget) -> Result<Held<'b>, GzipError> {
    let mut src = Counted::new(src);
    let mut out = Held::new(budget);
    loop {
        let mut member = flate2::bufread::GzDecoder::new(&mut src);
        let res = out.read_to_end(&mut member);
        drop(member);
        match res {
            Ok(()) => {}
            Err(HoldError::OverBudget) => return Err(GzipError::OverBudget),
            Err(HoldError::Io(e)) => return Err(src.classify(e)),
        }
        // What follows the member: another member, zero padding to the end, or the end.
        let next = src.fill_buf().map_err(GzipError::Io)?;
        match next.first() {
            None => return Ok(out),
            Some(0x1f) => continue,
            Some(0) => {
                skip_zeros(&mut src)?;
                return Ok(out);
            }
            Some(_) => {
                return Err(GzipError::Trailing {
                    offset: src.consumed,
                })
            }
        }
    }
}

/// Consume zeros to the end of `src`; the first other byte is an error at its offset.
fn skip_zeros(src: &mut Counted<impl BufRead>) -> Result<(), GzipError> {
    loop {
        let buf = src.fill_buf().map_err(GzipError::Io)?;
        if buf.is_empty() {
            return Ok(());
        }
        if let Some(i) = buf.iter().position(|&b| b != 0) {
            return Err(GzipError::Trailing {
                offset: src.consumed + i as u64,
            });
        }
        let n = buf.len();
        src.consume(n);
    }
}

/// The first [`SNIFF_BYTES`] decompressed bytes of `compressed` (or fewer, where the stream
/// ends, is cut short or is corrupt: a damaged stream is reported by the full read).
pub fn head(compressed: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(SNIFF_BYTES);
    let _ = flate2::bufread::MultiGzDecoder::new(compressed)
        .take(SNIFF_BYTES as u64)
        .read_to_end(&mut out);
    out
}

/// A reader that counts the bytes consumed from it and remembers whether the source itself
/// failed, so that a pipe's error is not reported as a corrupt stream.
struct Counted<R> {
    inner: R,
    consumed: u64,
    source_failed: bool,
}

impl<R> Counted<R> {
    fn new(inner: R) -> Self {
        Counted {
            inner,
            consumed: 0,
            source_failed: false,
        }
    }

    fn classify(&self, error: std::io::Error) -> GzipError {
        if self.source_failed {
            GzipError::Io(error)
        } else {
            GzipError::Corrupt {
                offset: self.consumed,
                error,
            }
        }
    }
}

impl<R: Read> Read for Counted<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self
            .inner
            .read(buf)
            .inspect_err(|_| self.source_failed = true)?;
        self.consumed += n as u64;
        Ok(n)
    }
}

impl<R: BufRead> BufRead for Counted<R> {
    fn fill_buf(&mut self) -> std::io::Result<&[u8]> {
        match self.inner.fill_buf() {
            Ok(b) => Ok(b),
            Err(e) => {
                self.source_failed = true;
                Err(e)
            }
        }
    }

    fn consume(&mut self, n: usize) {
        self.consumed += n as u64;
        self.inner.consume(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn gz(data: &[u8]) -> Vec<u8> {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(data).unwrap();
        enc.finish().unwrap()
    }

    fn run(compressed: &[u8]) -> Result<Vec<u8>, GzipError> {
        let budget = Budget::new(1 << 20);
        decompress(compressed, &budget).map(|h| h.bytes().to_vec())
    }

    #[test]
    fn members_and_zero_padding() {
        let one = gz(b"hello ");
        let mut two = one.clone();
        two.extend(gz(b"world"));
        assert_eq!(run(&one).unwrap(), b"hello ");
        assert_eq!(run(&two).unwrap(), b"hello world");
        let mut padded = two.clone();
        padded.resize(two.len() + 10_000, 0);
        assert_eq!(run(&padded).unwrap(), b"hello world");
        // Padding read through a small buffer: the zeros span many refills.
        let budget = Budget::new(1 << 20);
        let small = std::io::BufReader::with_capacity(7, &padded[..]);
        assert_eq!(decompress(small, &budget).unwrap().bytes(), b"hello world");
    }

    #[test]
    fn garbage_after_the_last_member_is_an_error_at_its_offset() {
        let one = gz(b"hello");
        let mut junk = one.clone();
        junk.extend_from_slice(b"PK\x03\x04");
        assert!(
            matches!(run(&junk), Err(GzipError::Trailing { offset }) if offset == one.len() as u64)
        );
        let mut late = one.clone();
        late.extend_from_slice(&[0; 5000]);
        late.push(7);
        assert!(
            matches!(run(&late), Err(GzipError::Trailing { offset }) if offset == one.len() as u64 + 5000)
        );
        // A second "member" that starts like one but is not.
        let mut fake = one.clone();
        fake.extend_from_slice(&[0x1f, 0x00, 0x00]);
        assert!(matches!(run(&fake), Err(GzipError::Corrupt { .. })));
    }

    #[test]
    fn decompressed_bytes_are_held_within_the_budget() {
        let big = gz(&vec![b'x'; 100_000]);
        let budget = Budget::new(99_999);
        assert!(matches!(
            decompress(&big[..], &budget),
            Err(GzipError::OverBudget)
        ));
        assert_eq!(budget.used(), 0, "a failed read gives its bytes back");
        let budget = Budget::new(100_000);
        assert_eq!(decompress(&big[..], &budget).unwrap().len(), 100_000);
    }

    #[test]
    fn head_of_a_cut_stream() {
        let data: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
        let full = gz(&data);
        let h = head(&full[..full.len() / 2]);
        assert_eq!(h, &data[..SNIFF_BYTES]);
        assert!(head(b"\x1f\x8bjunk").is_empty());
    }
}
