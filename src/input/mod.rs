//! Reading heap dumps: open each input once, map it (a file) or read it to its end (a pipe),
//! undo gzip, decide what kind of dump it is, and hand the bytes to the format's parser.
//!
//! A regular file is mapped and read in place: its pages are released as the parser passes
//! them, so it costs no memory of its own. Anything else — stdin (`-`), a pipe, a FIFO, the
//! `/dev/fd/N` of a shell's `<(…)`, a character device — can be read only once, from start to
//! end: its first bytes are read when it is opened (to tell its kind), and the rest when it
//! is loaded, into memory, under the run's [`budget::Budget`]. gzip is told from the first
//! bytes in both cases and decompressed into memory under the same budget.

pub mod budget;
pub mod gzip;
pub mod jemalloc;
pub mod mmap;
pub mod sniff;
pub mod v8;

use crate::error::{Error, ParseError, Result};
use crate::report::units;
use budget::{Budget, Held, HoldError};
use gzip::GzipError;
use sniff::InputKind;
use std::fs::File;
use std::io::{BufReader, Cursor, IsTerminal, Read, Seek};
use std::os::fd::AsFd;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

/// How stdin is named in messages and reports.
pub const STDIN_NAME: &str = "<stdin>";

/// The name of the input `path` in messages and reports: [`STDIN_NAME`] for `-`.
pub fn display_name(path: &Path) -> PathBuf {
    if path.as_os_str() == "-" {
        PathBuf::from(STDIN_NAME)
    } else {
        path.to_path_buf()
    }
}

/// Compressed bytes read ahead from a stream, at most, to find the first [`gzip::SNIFF_BYTES`]
/// decompressed ones.
const MAX_GZIP_HEAD: usize = 1 << 20;

/// The bytes of one input: mapped from disk, or held in memory (decompressed, or read from a
/// pipe).
pub enum Bytes {
    Mapped(mmap::Mapped),
    Held(Held<'static>),
}

impl Bytes {
    pub fn as_slice(&self) -> &[u8] {
        match self {
            Bytes::Mapped(m) => m.bytes(),
            Bytes::Held(h) => h.bytes(),
        }
    }

    /// Tell the OS the parser is done with `start..end` (no-op for held bytes).
    pub fn release(&self, start: usize, end: usize) {
        if let Bytes::Mapped(m) = self {
            m.release(start, end)
        }
    }
}

/// One input, opened: its name for messages and reports, and where its bytes come from.
pub struct Input {
    name: PathBuf,
    source: Source,
}

enum Source {
    /// A regular file, mapped.
    Mapped(mmap::Mapped),
    /// Anything that can be read only once: the bytes read so far (`head`), and the rest.
    Stream {
        head: Vec<u8>,
        rest: File,
        /// Device and inode, to tell when two arguments are the same pipe.
        id: (u64, u64),
    },
}

impl Input {
    /// Open `path` (`-` is stdin): map a regular file; read the first bytes of anything else.
    /// A FIFO waits here for its writer, as `cat` would.
    pub fn open(path: &Path) -> Result<Input> {
        let name = display_name(path);
        let file = if path.as_os_str() == "-" {
            // A duplicate of fd 0, so that the input owns (and closes) its own descriptor.
            let fd = std::io::stdin()
                .as_fd()
                .try_clone_to_owned()
                .map_err(|e| Error::io(&name, e))?;
            File::from(fd)
        } else {
            File::open(path).map_err(|e| Error::io(&name, e))?
        };
        // The type of what was opened, not of what the path named a moment earlier.
        let meta = file.metadata().map_err(|e| Error::io(&name, e))?;
        if meta.is_dir() {
            return Err(Error::input(
                &name,
                ParseError::new("is a directory, not a heap dump"),
            ));
        }
        let mut file = file;
        // A mapping starts at the file's beginning; stdin redirected from a file that a
        // previous command has partly read is read from where it stands, like a pipe.
        if meta.is_file() && file.stream_position().is_ok_and(|p| p == 0) {
            if meta.len() == 0 {
                return Err(Error::input(&name, ParseError::new("file is empty")));
            }
            let mapped = mmap::Mapped::open(&file).map_err(|e| Error::io(&name, e))?;
            return Ok(Input {
                name,
                source: Source::Mapped(mapped),
            });
        }
        if meta.file_type().is_block_device() {
            return Err(Error::input(
                &name,
                ParseError::new("is a block device, not a heap dump"),
            ));
        }
        if file.is_terminal() {
            // Nobody types a heap dump: stdin was meant to be a pipe.
            return Err(Error::input(
                &name,
                ParseError::new("is a terminal; pipe a heap dump in (… | heapdiff - …)"),
            ));
        }
        let head = read_head(&mut file).map_err(|e| Error::io(&name, e))?;
        if head.is_empty() {
            return Err(Error::input(
                &name,
                ParseError::new("input is empty (nothing was read)"),
            ));
        }
        Ok(Input {
            name,
            source: Source::Stream {
                head,
                rest: file,
                id: (meta.dev(), meta.ino()),
            },
        })
    }

    /// The name used in messages and reports: the path as given, or [`STDIN_NAME`].
    pub fn name(&self) -> &Path {
        &self.name
    }

    /// Device and inode of an input that can be read only once.
    pub fn stream_id(&self) -> Option<(u64, u64)> {
        match &self.source {
            Source::Stream { id, .. } => Some(*id),
            Source::Mapped(_) => None,
        }
    }

    /// What kind of dump this is, from its first bytes (gzip undone).
    pub fn kind(&self) -> Result<InputKind> {
        let first = match &self.source {
            Source::Mapped(m) => m.bytes(),
            Source::Stream { head, .. } => head,
        };
        let head = if sniff::is_gzip(first) {
            gzip::head(first)
        } else {
            first[..first.len().min(gzip::SNIFF_BYTES)].to_vec()
        };
        sniff::sniff(&head).ok_or_else(|| {
            Error::input(
                &self.name,
                ParseError::new(
                    "not a heap dump: expected a V8 .heapsnapshot (JSON) or a jemalloc heap profile",
                ),
            )
        })
    }

    /// All of the input's bytes, decompressed. Held bytes are charged to `budget`.
    pub fn read(self, budget: &'static Budget) -> Result<Bytes> {
        let name = self.name;
        let held = match self.source {
            Source::Mapped(m) if !sniff::is_gzip(m.bytes()) => return Ok(Bytes::Mapped(m)),
            Source::Mapped(m) => {
                // Fed 32 KiB at a time, as flate2's own reader feeds it: given the whole
                // mapping at once, the run's peak memory was measurably higher.
                let src = BufReader::with_capacity(32 << 10, m.bytes());
                gzip::decompress(src, budget)
                    .map_err(|e| gzip_error(&name, e, budget, Origin::File))?
            }
            Source::Stream { head, rest, .. } => {
                let gz = sniff::is_gzip(&head);
                let mut all = BufReader::with_capacity(1 << 20, Cursor::new(head).chain(rest));
                if gz {
                    gzip::decompress(all, budget)
                        .map_err(|e| gzip_error(&name, e, budget, Origin::Stream))?
                } else {
                    let mut held = Held::new(budget);
                    held.read_to_end(&mut all).map_err(|e| match e {
                        HoldError::Io(e) => Error::io(&name, e),
                        HoldError::OverBudget => over_budget(&name, budget, Origin::Stream),
                    })?;
                    held
                }
            }
        };
        if held.is_empty() {
            return Err(Error::input(
                &name,
                ParseError::new("gzip stream decompresses to nothing"),
            ));
        }
        Ok(Bytes::Held(held))
    }
}

/// Open `path` and read all of it (decompressed), under the run's budget.
pub fn read_bytes(path: &Path) -> Result<Bytes> {
    Input::open(path)?.read(Budget::process())
}

/// Where held bytes came from, for the advice on what to do when they do not fit.
#[derive(Clone, Copy)]
enum Origin {
    /// A compressed file on disk.
    File,
    /// A pipe or device (compressed or not).
    Stream,
}

fn gzip_error(name: &Path, e: GzipError, budget: &Budget, origin: Origin) -> Error {
    match e {
        GzipError::Io(e) => Error::io(name, e),
        GzipError::Corrupt { offset, error } => Error::input(
            name,
            ParseError {
                offset: Some(offset),
                message: format!("corrupt gzip stream: {error}"),
            },
        ),
        GzipError::Trailing { offset } => Error::input(
            name,
            ParseError {
                offset: Some(offset),
                message: "data after the end of the gzip stream that is neither another gzip \
                          member nor zero padding"
                    .into(),
            },
        ),
        GzipError::OverBudget => over_budget(name, budget, origin),
    }
}

/// The one message for an input that does not fit in memory: the limit, why it is what it
/// is, and what to do instead (a file on disk is mapped, not held).
fn over_budget(name: &Path, budget: &Budget, origin: Origin) -> Error {
    let what = match origin {
        Origin::File => "decompresses to",
        Origin::Stream => "holds",
    };
    let advice = match origin {
        Origin::File => {
            "decompress it by hand (gunzip -k) and give heapdiff the decompressed file, which is \
             read from disk"
        }
        Origin::Stream => {
            "save it to a file (decompressed, if it is gzip) and give heapdiff the file, which \
             is read from disk"
        }
    };
    Error::input(
        name,
        ParseError::new(format!(
            "{what} more than {} (the most heapdiff holds in memory for its inputs: half of \
             the memory available when it started); {advice}",
            units::bytes(budget.limit()),
        )),
    )
}

/// Read until there are enough bytes to tell the input's kind (decompressed, if it is gzip)
/// or the input ends.
fn read_head(file: &mut File) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64 << 10);
    loop {
        let want = if sniff::is_gzip(&head) {
            if head.len() >= MAX_GZIP_HEAD || gzip::head(&head).len() >= gzip::SNIFF_BYTES {
                return Ok(head);
            }
            64 << 10
        } else if head.len() >= gzip::SNIFF_BYTES {
            return Ok(head);
        } else {
            gzip::SNIFF_BYTES - head.len()
        };
        let n = file.by_ref().take(want as u64).read_to_end(&mut head)?;
        if n == 0 {
            return Ok(head);
        }
    }
}

/// `true` when `a` and `b` are the same stream (the same pipe given twice, or `-` and
/// `/dev/stdin`): it could be read only once.
pub fn same_stream(a: &Input, b: &Input) -> bool {
    a.stream_id().is_some() && a.stream_id() == b.stream_id()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::os::fd::AsRawFd;

    fn fixture(rel: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures")
            .join(rel)
    }

    fn budget(limit: u64) -> &'static Budget {
        Box::leak(Box::new(Budget::new(limit)))
    }

    /// s1 decompressed is 5,908,841 bytes.
    const S1_BYTES: u64 = 5_908_841;

    #[test]
    fn a_gzip_file_over_the_budget_names_the_limit_and_what_to_do() {
        let path = fixture("v8/service/s1.heapsnapshot.gz");
        let exact = budget(S1_BYTES);
        let bytes = Input::open(&path).unwrap().read(exact).unwrap();
        assert_eq!(bytes.as_slice().len() as u64, S1_BYTES);
        assert_eq!(exact.used(), S1_BYTES);
        drop(bytes);
        assert_eq!(exact.used(), 0);
        let short = budget(S1_BYTES - 1);
        let Err(e) = Input::open(&path).unwrap().read(short) else {
            panic!("one byte over the budget was read");
        };
        assert_eq!(
            e.to_string(),
            format!(
                "{}: decompresses to more than 5.91 MB (the most heapdiff holds in memory for \
                 its inputs: half of the memory available when it started); decompress it by \
                 hand (gunzip -k) and give heapdiff the decompressed file, which is read from \
                 disk",
                path.display()
            )
        );
        assert_eq!(short.used(), 0, "what was read is given back");
    }

    #[test]
    fn a_pipe_over_the_budget() {
        let (reader, mut writer) = std::io::pipe().unwrap();
        let fd_path = PathBuf::from(format!("/dev/fd/{}", reader.as_raw_fd()));
        let feeder = std::thread::spawn(move || {
            let mut data = vec![b' '; 3_000_000];
            data[10] = b'{';
            // heapdiff stops reading at the budget: the rest meets a closed pipe.
            let _ = writer.write_all(&data);
        });
        let input = Input::open(&fd_path).unwrap();
        assert_eq!(input.kind().unwrap(), InputKind::V8);
        let Err(e) = input.read(budget(2_000_000)) else {
            panic!("a 3 MB pipe fit in 2 MB");
        };
        assert_eq!(
            e.to_string(),
            format!(
                "{}: holds more than 2.00 MB (the most heapdiff holds in memory for its \
                 inputs: half of the memory available when it started); save it to a file \
                 (decompressed, if it is gzip) and give heapdiff the file, which is read from \
                 disk",
                fd_path.display()
            )
        );
        drop(reader);
        feeder.join().unwrap();
    }
}
