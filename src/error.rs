//! Errors of the library. Every input problem names the file and, where it helps, the byte
//! offset; the binary prints one line `heapdiff: error: …` and exits 2.

use std::fmt;
use std::path::{Path, PathBuf};

/// What is wrong with an input, without the file name (the loader adds it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the (decompressed) input where the problem was found.
    pub offset: Option<u64>,
    pub message: String,
}

impl ParseError {
    pub fn at(offset: usize, message: impl Into<String>) -> Self {
        ParseError {
            offset: Some(offset as u64),
            message: message.into(),
        }
    }
    pub fn new(message: impl Into<String>) -> Self {
        ParseError {
            offset: None,
            message: message.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.offset {
            Some(o) => write!(f, "{} (at byte {o})", self.message),
            None => f.write_str(&self.message),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The file could not be opened or read.
    #[error("{}: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but is not a heap dump heapdiff can use.
    #[error("{}: {error}", path.display())]
    Input { path: PathBuf, error: ParseError },
    /// Flags or arguments that do not make sense together.
    #[error("{0}")]
    Usage(String),
    /// Writing the report failed.
    #[error("{}: cannot write report: {source}", path.display())]
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
}

impl Error {
    pub fn input(path: &Path, error: ParseError) -> Self {
        Error::Input {
            path: path.to_path_buf(),
            error,
        }
    }
    pub fn io(path: &Path, source: std::io::Error) -> Self {
        Error::Io {
            path: path.to_path_buf(),
            source,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;
