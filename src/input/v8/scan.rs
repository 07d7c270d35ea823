//! Find the top-level sections of a snapshot (`snapshot`, `nodes`, `edges`, `strings`, …)
//! without building a JSON tree: each value is skipped by bracket counting, with `memchr`
//! jumping between the only bytes that matter (quotes and the bracket kind being counted).
//! The integer sections are the exception: their end is found by the parallel comma count
//! that also plans their parse ([`super::ints::count_to_end`]).
//!
//! The sections the parser reads next (`READ_NEXT`) stay mapped: dropping their pages now
//! and faulting them in again a moment later cost large-b (753 MB) 0.3 s of system time and
//! 0.34 s of wall time (3.27 → 2.93 s, median of 5), at the same peak RSS, which comes later,
//! in the graph build. The parser drops them chunk by chunk as it finishes them. Every other
//! section is released as the scan moves through it.

use crate::error::ParseError;
use memchr::memchr2;

/// One top-level `"key": value`, with the byte range of the value.
#[derive(Debug, Clone)]
pub struct Section {
    pub key: String,
    pub start: usize,
    pub end: usize,
    /// For the integer sections: their chunks and comma counts, found while looking for
    /// their end (see [`super::ints::count_to_end`]).
    pub counted: Option<super::ints::Counted>,
}

/// How far the scanner may run before releasing what it has passed.
const RELEASE_EVERY: usize = 32 << 20;

pub fn top_level_sections(
    b: &[u8],
    release: &dyn Fn(usize, usize),
) -> Result<Vec<Section>, ParseError> {
    let mut pos = skip_ws(b, 0);
    if pos >= b.len() {
        return Err(ParseError::new("file holds only whitespace"));
    }
    if b[pos] != b'{' {
        return Err(ParseError::at(pos, "not a V8 heap snapshot: expected '{'"));
    }
    pos += 1;
    let mut sections = Vec::new();
    loop {
        pos = skip_ws(b, pos);
        match b.get(pos) {
            None => return Err(truncated(b, "the top-level object")),
            Some(b'}') if sections.is_empty() => {
                pos += 1;
                break;
            }
            Some(b'"') => {}
            Some(_) => return Err(ParseError::at(pos, "expected a key string")),
        }
        let key_end = skip_string(b, pos)?;
        let key = String::from_utf8_lossy(&b[pos + 1..key_end - 1]).into_owned();
        pos = skip_ws(b, key_end);
        if b.get(pos) != Some(&b':') {
            return Err(if pos >= b.len() {
                truncated(b, "the top-level object")
            } else {
                ParseError::at(pos, format!("expected ':' after key \"{key}\""))
            });
        }
        pos = skip_ws(b, pos + 1);
        let start = pos;
        let mut counted = None;
        let keep: &dyn Fn(usize, usize) = &|_, _| {};
        let release = if READ_NEXT.contains(&key.as_str()) {
            keep
        } else {
            release
        };
        let skipped = if INTEGER_SECTIONS.contains(&key.as_str()) && b.get(pos) == Some(&b'[') {
            super::ints::count_to_end(b, pos, release).map(|c| {
                let end = c.end();
                counted = Some(c);
                end
            })
        } else {
            skip_value(b, pos, release)
        };
        let end = skipped.map_err(|mut e| {
            if e.message.starts_with("file ends") {
                e.message = format!("file ends inside the \"{key}\" section (truncated?)");
            }
            e
        })?;
        release(start, end);
        sections.push(Section {
            key,
            start,
            end,
            counted,
        });
        pos = skip_ws(b, end);
        match b.get(pos) {
            Some(b',') => pos += 1,
            Some(b'}') => {
                pos += 1;
                break;
            }
            None => return Err(truncated(b, "the top-level object")),
            Some(_) => return Err(ParseError::at(pos, "expected ',' or '}' after a section")),
        }
    }
    let rest = skip_ws(b, pos);
    if rest < b.len() {
        return Err(ParseError::at(
            rest,
            "unexpected data after the end of the snapshot",
        ));
    }
    Ok(sections)
}

/// Sections that hold nothing but integers: their end is the first `]`, found while their
/// commas are counted on all cores. Anything else in them (a quote, a nested array) is
/// reported by the integer parser, which reads every byte.
const INTEGER_SECTIONS: [&str; 3] = ["nodes", "edges", "locations"];

/// Sections the parser reads right after the scan, whose pages the scan leaves mapped.
const READ_NEXT: [&str; 5] = ["snapshot", "nodes", "edges", "strings", "locations"];

fn truncated(b: &[u8], inside: &str) -> ParseError {
    ParseError::at(b.len(), format!("file ends inside {inside} (truncated?)"))
}

pub fn skip_ws(b: &[u8], mut pos: usize) -> usize {
    while pos < b.len() && matches!(b[pos], b' ' | b'\n' | b'\r' | b'\t') {
        pos += 1;
    }
    pos
}

/// `pos` is at the opening quote; returns the position after the closing quote.
pub fn skip_string(b: &[u8], pos: usize) -> Result<usize, ParseError> {
    let mut i = pos + 1;
    loop {
        match memchr2(b'"', b'\\', &b[i.min(b.len())..]) {
            None => return Err(ParseError::at(b.len(), "file ends inside a string")),
            Some(k) => {
                let at = i + k;
                if b[at] == b'"' {
                    return Ok(at + 1);
                }
                i = at + 2;
            }
        }
    }
}

fn skip_value(b: &[u8], pos: usize, release: &dyn Fn(usize, usize)) -> Result<usize, ParseError> {
    match b.get(pos) {
        None => Err(ParseError::at(pos, "file ends where a value was expected")),
        Some(b'"') => skip_string(b, pos),
        Some(b'[') => skip_nested(b, pos, b'[', b']', release),
        Some(b'{') => skip_nested(b, pos, b'{', b'}', release),
        Some(_) => {
            let mut i = pos;
            while i < b.len() && !matches!(b[i], b',' | b'}' | b']' | b' ' | b'\n' | b'\r' | b'\t')
            {
                i += 1;
            }
            if i == pos {
                return Err(ParseError::at(pos, "expected a value"));
            }
            Ok(i)
        }
    }
}

/// Skip a balanced `open … close` region. Only the bracket kind being counted matters: the
/// other kind is balanced inside it in any valid JSON, and strings are skipped whole.
///
/// The region is read 64 bytes at a time: compares give bit masks of its quotes,
/// backslashes and brackets, and a small state machine takes them in order. (A `strings`
/// section has two million strings; a search per string, each with its set-up cost, took
/// 43–63 ms of large-b's scan.)
fn skip_nested(
    b: &[u8],
    pos: usize,
    open: u8,
    close: u8,
    release: &dyn Fn(usize, usize),
) -> Result<usize, ParseError> {
    let mut walk = Walk {
        open,
        close,
        depth: 1,
        inside: false,
        escaped: usize::MAX,
    };
    let mut i = pos + 1;
    let mut released = pos;
    while i + 64 <= b.len() {
        if i - released > RELEASE_EVERY {
            release(released, i);
            released = i;
        }
        let block: &[u8; 64] = b[i..i + 64].try_into().expect("64 bytes");
        let mut events = interesting(block, open, close);
        while events != 0 {
            let j = events.trailing_zeros() as usize;
            events &= events - 1;
            if let Some(end) = walk.step(block[j], i + j) {
                return Ok(end);
            }
        }
        i += 64;
    }
    for (k, &c) in b.iter().enumerate().skip(i) {
        if matches!(c, b'"' | b'\\') || c == open || c == close {
            if let Some(end) = walk.step(c, k) {
                return Ok(end);
            }
        }
    }
    Err(ParseError::at(
        b.len(),
        if walk.inside {
            "file ends inside a string"
        } else {
            "file ends inside a value"
        },
    ))
}

/// The state of [`skip_nested`] between the bytes that matter.
struct Walk {
    open: u8,
    close: u8,
    depth: usize,
    inside: bool,
    /// The byte after a backslash inside a string (which is then no quote or backslash).
    escaped: usize,
}

impl Walk {
    /// Take byte `c` (a quote, a backslash or a bracket) at `at`; the region's end if this
    /// closes it.
    #[inline(always)]
    fn step(&mut self, c: u8, at: usize) -> Option<usize> {
        if self.inside {
            if at == self.escaped {
                return None;
            }
            if c == b'\\' {
                self.escaped = at + 1;
            } else if c == b'"' {
                self.inside = false;
            }
        } else if c == b'"' {
            self.inside = true;
        } else if c == self.open {
            self.depth += 1;
        } else if c == self.close {
            self.depth -= 1;
            if self.depth == 0 {
                return Some(at + 1);
            }
        }
        // A backslash outside a string is not JSON: the section's parser reports it.
        None
    }
}

/// Bit j: byte j of the block is a quote, a backslash, `open` or `close`.
#[inline(always)]
fn interesting(block: &[u8; 64], open: u8, close: u8) -> u64 {
    let mut mask = 0u64;
    for (k, w) in block.chunks_exact(16).enumerate() {
        let w: &[u8; 16] = w.try_into().expect("16 bytes");
        mask |= (super::bytemask::eq_any(w, [b'"', b'\\', open, close]) as u64) << (16 * k);
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(s: &str) -> Result<Vec<(String, String)>, ParseError> {
        let b = s.as_bytes();
        Ok(top_level_sections(b, &|_, _| {})?
            .into_iter()
            .map(|x| (x.key, s[x.start..x.end].to_string()))
            .collect())
    }

    #[test]
    fn finds_sections_with_nested_values_and_tricky_strings() {
        let got = keys(r#" {"a":{"x":[1,{"y":"}]"}]}, "b" : [1,2,3] ,"c":["\"]","\\"],"d":7,"e":[[1],[2,[3]]]} "#).unwrap();
        let want: Vec<(String, String)> = vec![
            ("a".into(), r#"{"x":[1,{"y":"}]"}]}"#.into()),
            ("b".into(), "[1,2,3]".into()),
            ("c".into(), r#"["\"]","\\"]"#.into()),
            ("d".into(), "7".into()),
            ("e".into(), "[[1],[2,[3]]]".into()),
        ];
        assert_eq!(got, want);
    }

    #[test]
    fn skips_regions_with_escapes_across_block_boundaries() {
        // Strings with escaped quotes and backslashes, and brackets inside and outside them,
        // shifted by every offset so that each escape also falls on a 64-byte boundary.
        let items = [
            r#""a\"]""#,
            r#""\\""#,
            r#""[x]""#,
            r#"[1,["]"]]"#,
            r#""\\\"]""#,
            r#"{"k":"]"}"#,
        ];
        for pad in 0..70 {
            let mut body = format!("[\"{}\"", "p".repeat(pad));
            for round in 0..12 {
                body.push_str(",\n");
                body.push_str(items[round % items.len()]);
            }
            body.push(']');
            let text = format!("{body}  ,\"after\":1");
            let end = skip_value(text.as_bytes(), 0, &|_, _| {}).unwrap();
            assert_eq!(end, body.len(), "pad {pad}");
            // Cut anywhere inside, the region has no end.
            for cut in [body.len() - 1, body.len() / 2, pad + 3] {
                let e = skip_value(&text.as_bytes()[..cut], 0, &|_, _| {}).unwrap_err();
                assert!(e.message.starts_with("file ends inside a"), "{e}");
            }
        }
        let e = skip_value(br#"["abc"#, 0, &|_, _| {}).unwrap_err();
        assert_eq!(e.message, "file ends inside a string");
        let e = skip_value(br#"["abc",[1]"#, 0, &|_, _| {}).unwrap_err();
        assert_eq!(e.message, "file ends inside a value");
    }

    #[test]
    fn reports_truncation_and_garbage() {
        let e = keys(r#"{"nodes":[1,2,3"#).unwrap_err();
        assert!(e.message.contains("\"nodes\""), "{e}");
        assert_eq!(e.offset, Some(15));
        assert!(keys("[1,2]").unwrap_err().message.contains("expected '{'"));
        assert!(keys(r#"{"a":1} x"#)
            .unwrap_err()
            .message
            .contains("after the end"));
        assert!(keys(r#"{"a" 1}"#)
            .unwrap_err()
            .message
            .contains("expected ':'"));
        assert!(keys(r#"{"a":1"#).is_err());
        assert!(keys("").is_err());
    }
}
