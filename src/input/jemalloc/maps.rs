//! The `MAPPED_LIBRARIES:` section: a verbatim copy of `/proc/<pid>/maps`.
//!
//! Each line is `start-end perms offset dev inode [path]`; the path may contain spaces and
//! may end in ` (deleted)`. The mappings are what symbolization resolves addresses through,
//! so a malformed line is an error (with its byte offset), not something to skip.

use super::Mapping;
use crate::error::ParseError;

/// Parse the lines of a maps section. `base` is the offset of `text` in the whole input, so
/// errors point into the dump. The result is sorted by start address.
pub fn parse_maps(text: &[u8], base: usize) -> Result<Vec<Mapping>, ParseError> {
    let mut out = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let rest = &text[pos..];
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], pos + i + 1),
            None => (rest, text.len()),
        };
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if !line.iter().all(u8::is_ascii_whitespace) {
            out.push(parse_line(line, base + pos)?);
        }
        pos = next;
    }
    out.sort_by_key(|m| m.start);
    Ok(out)
}

/// Split off the next whitespace-separated field; returns (field, its offset in `line`).
fn field<'a>(line: &'a [u8], i: &mut usize) -> (&'a [u8], usize) {
    while *i < line.len() && line[*i].is_ascii_whitespace() {
        *i += 1;
    }
    let start = *i;
    while *i < line.len() && !line[*i].is_ascii_whitespace() {
        *i += 1;
    }
    (&line[start..*i], start)
}

fn hex(tok: &[u8], at: usize, what: &str) -> Result<u64, ParseError> {
    let s = std::str::from_utf8(tok).ok().filter(|s| !s.is_empty());
    s.and_then(|s| u64::from_str_radix(s, 16).ok())
        .ok_or_else(|| {
            ParseError::at(
                at,
                format!(
                    "bad {what} `{}` in MAPPED_LIBRARIES (expected hex)",
                    String::from_utf8_lossy(&tok[..tok.len().min(40)])
                ),
            )
        })
}

fn parse_line(line: &[u8], base: usize) -> Result<Mapping, ParseError> {
    let mut i = 0;
    let (range, at) = field(line, &mut i);
    let dash = range.iter().position(|&b| b == b'-').ok_or_else(|| {
        ParseError::at(
            base + at,
            "bad MAPPED_LIBRARIES line: expected `start-end perms offset dev inode path`",
        )
    })?;
    let start = hex(&range[..dash], base + at, "start address")?;
    let end = hex(&range[dash + 1..], base + at + dash + 1, "end address")?;
    if end < start {
        return Err(ParseError::at(
            base + at,
            "bad MAPPED_LIBRARIES line: mapping ends before it starts",
        ));
    }
    let (perms_tok, at) = field(line, &mut i);
    let perms: [u8; 4] = perms_tok.try_into().map_err(|_| {
        ParseError::at(
            base + at,
            "bad MAPPED_LIBRARIES line: permissions are not 4 characters (`r-xp`)",
        )
    })?;
    let (off_tok, at) = field(line, &mut i);
    let offset = hex(off_tok, base + at, "file offset")?;
    let (dev_tok, at) = field(line, &mut i);
    if !dev_tok.contains(&b':') {
        return Err(ParseError::at(
            base + at,
            "bad MAPPED_LIBRARIES line: device is not `major:minor`",
        ));
    }
    let dev = String::from_utf8_lossy(dev_tok).into_owned();
    let (inode_tok, at) = field(line, &mut i);
    let inode = std::str::from_utf8(inode_tok)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| {
            ParseError::at(
                base + at,
                "bad MAPPED_LIBRARIES line: inode is not a number",
            )
        })?;
    while i < line.len() && line[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut path = String::from_utf8_lossy(&line[i..]).trim_end().to_string();
    let deleted = path.ends_with(" (deleted)");
    if deleted {
        path.truncate(path.len() - " (deleted)".len());
    }
    Ok(Mapping {
        start,
        end,
        perms,
        offset,
        dev,
        inode,
        path,
        deleted,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_paths_with_spaces_and_deleted_files() {
        let text = b"7f00-7f10 r-xp 00001000 fe:00 123   /opt/my app/lib x.so (deleted)\n\
                     7e00-7e10 rw-p 00000000 00:00 0 \n";
        let m = parse_maps(text, 100).expect("parses");
        assert_eq!(m.len(), 2);
        assert_eq!(m[0].start, 0x7e00, "sorted by start");
        assert_eq!(m[0].path, "");
        assert_eq!(m[1].path, "/opt/my app/lib x.so");
        assert!(m[1].deleted);
        assert_eq!(m[1].offset, 0x1000);
        assert!(m[1].is_executable());
    }

    #[test]
    fn bad_lines_name_their_offset() {
        let e = parse_maps(
            b"7f00-7f10 r-xp 00001000 fe:00 123 /x\nzz-7f10 r-xp 0 fe:00 1 /y\n",
            10,
        )
        .expect_err("bad start");
        assert_eq!(e.offset, Some(10 + 37));
        let e = parse_maps(b"7f00-7f10 r-xp 0000g000 fe:00 1 /y\n", 0).expect_err("bad offset");
        assert_eq!(e.offset, Some(15));
        let e = parse_maps(b"7f00-7f10 r-xp 0 fe:00 x /y\n", 0).expect_err("bad inode");
        assert_eq!(e.offset, Some(23));
        assert!(parse_maps(b"7f10-7f00 r-xp 0 fe:00 1 /y\n", 0).is_err());
    }
}
