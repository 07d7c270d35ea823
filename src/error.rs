//! Errors of the library. Every input problem names the file and, where it helps, the byte
//! offset; the binary prints one line `heapdiff: error: …` and exits 2.

use std::borrow::Cow;
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

#[derive(Debug)]
pub enum Error {
    /// The file could not be opened or read.
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The file was read but is not a heap dump heapdiff can use.
    Input { path: PathBuf, error: ParseError },
    /// Flags or arguments that do not make sense together.
    Usage(String),
    /// Writing the report failed.
    Output {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A live capture failed: its target could not be reached, chosen or read (the message
    /// names the target).
    Capture(String),
    /// A captured snapshot could not be written.
    Snapshot {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// Every message is one line: file names and bytes quoted from an input may hold newlines or
/// terminal escapes, and they are spelled out here, in the one place errors become text.
impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let text = match self {
            Error::Io { path, source } => format!("{}: {source}", path.display()),
            Error::Input { path, error } => format!("{}: {error}", path.display()),
            Error::Usage(message) => message.clone(),
            Error::Output { path, source } => {
                format!("{}: cannot write report: {source}", path.display())
            }
            Error::Capture(message) => message.clone(),
            Error::Snapshot { path, source } => {
                format!("{}: cannot write snapshot: {source}", path.display())
            }
        };
        f.write_str(&escape_controls(&text))
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. }
            | Error::Output { source, .. }
            | Error::Snapshot { source, .. } => Some(source),
            Error::Input { .. } | Error::Usage(_) | Error::Capture(_) => None,
        }
    }
}

/// `text` with every control character spelled out, so that it prints as one line and
/// cannot drive a terminal: `\n`, `\r`, `\t`, other ASCII controls and DEL as `\x1b`, and
/// as `\u{…}` the C1 controls (U+0080–U+009F, which some terminals obey like ESC sequences),
/// the line and paragraph separators (U+2028, U+2029) and the bidirectional overrides and
/// isolates (U+202A–U+202E, U+2066–U+2069), which reorder what is shown. Backslashes are left
/// as they are.
pub fn escape_controls(text: &str) -> Cow<'_, str> {
    fn needs_escape(c: char) -> bool {
        c.is_control()
            || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
    }
    if !text.chars().any(needs_escape) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if needs_escape(c) && (c as u32) < 0x80 => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c if needs_escape(c) => out.push_str(&format!("\\u{{{:x}}}", c as u32)),
            c => out.push(c),
        }
    }
    Cow::Owned(out)
}

impl Error {
    pub fn input(path: &Path, error: ParseError) -> Self {
        Error::Input {
            path: path.to_path_buf(),
            error,
        }
    }
    pub fn snapshot(path: &Path, source: std::io::Error) -> Self {
        Error::Snapshot {
            path: path.to_path_buf(),
            source,
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_spelled_out() {
        assert_eq!(escape_controls("plain (at byte 3)"), "plain (at byte 3)");
        assert!(matches!(escape_controls("plain"), Cow::Borrowed(_)));
        assert_eq!(
            escape_controls("key \"a\nb\x1b[31mc\rd\te\x00\x7f\""),
            "key \"a\\nb\\x1b[31mc\\rd\\te\\x00\\x7f\""
        );
        assert_eq!(
            escape_controls("\u{9b}31m \u{2028} \u{202e}txt.exe é ✓"),
            "\\u{9b}31m \\u{2028} \\u{202e}txt.exe é ✓"
        );
        // Already escaped text stays as it is: escaping twice changes nothing.
        let once = escape_controls("a\nb").into_owned();
        assert_eq!(escape_controls(&once), once);
    }

    #[test]
    fn every_variant_prints_one_line() {
        let e = Error::input(
            Path::new("dir\nname.heapsnapshot"),
            ParseError::at(7, "expected ':' after key \"x\ny\""),
        );
        assert_eq!(
            e.to_string(),
            "dir\\nname.heapsnapshot: expected ':' after key \"x\\ny\" (at byte 7)"
        );
        let e = Error::Output {
            path: "\x1b]0;title\x07".into(),
            source: std::io::Error::from_raw_os_error(libc::ENOSPC),
        };
        assert_eq!(
            e.to_string(),
            "\\x1b]0;title\\x07: cannot write report: No space left on device (os error 28)"
        );
        assert_eq!(Error::Usage("a\nb".into()).to_string(), "a\\nb");
    }
}
