//! The `strings` section: a JSON array of strings, decoded into one buffer plus end offsets.
//!
//! V8 writes one string per line (`"…",\n`), and a raw newline can only stand between
//! elements (inside a JSON string it must be escaped), so the section is cut at newlines and
//! decoded on all cores. Lone UTF-16 surrogates, which V8 does emit for truncated strings,
//! become U+FFFD instead of failing the file.

use crate::error::ParseError;
use memchr::{memchr, memchr2, memchr3};
use rayon::prelude::*;

/// All strings of a snapshot, by index.
#[derive(Debug, Default, Clone)]
pub struct Strings {
    data: String,
    /// `ends[i]` is where string `i` ends in `data`; it starts at `ends[i-1]` (or 0).
    ends: Vec<usize>,
}

impl Strings {
    pub fn len(&self) -> usize {
        self.ends.len()
    }
    pub fn is_empty(&self) -> bool {
        self.ends.is_empty()
    }
    /// The string at `i`, or `""` for an index out of range (indexes are validated when the
    /// graph is built; this keeps reporting code total).
    pub fn get(&self, i: u32) -> &str {
        let i = i as usize;
        if i >= self.ends.len() {
            return "";
        }
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        &self.data[start..self.ends[i]]
    }
    /// The first string equal to `s`: lengths are compared first, bytes only where they match.
    /// The index of the first string equal to each of `names` (`None` when absent): one
    /// pass over the ends, comparing bytes only where a length matches.
    pub fn positions(&self, names: &[&str]) -> Vec<Option<u32>> {
        let mut out = vec![None; names.len()];
        let mut left = names.len();
        // Lengths of the names wanted (a bit per length below 256; longer ones checked
        // one by one).
        let mut lens = [0u64; 4];
        let mut long = false;
        for n in names {
            if n.len() < 256 {
                lens[n.len() >> 6] |= 1 << (n.len() & 63);
            } else {
                long = true;
            }
        }
        let data = self.data.as_bytes();
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            let len = end - start;
            let wanted = if len < 256 {
                lens[len >> 6] & (1 << (len & 63)) != 0
            } else {
                long
            };
            if wanted {
                let s = &data[start..end];
                for (k, n) in names.iter().enumerate() {
                    if out[k].is_none() && n.as_bytes() == s {
                        out[k] = Some(i as u32);
                        left -= 1;
                    }
                }
                if left == 0 {
                    break;
                }
            }
            start = end;
        }
        out
    }
    pub fn position(&self, s: &str) -> Option<u32> {
        let mut start = 0;
        for (i, &end) in self.ends.iter().enumerate() {
            if end - start == s.len() && &self.data[start..end] == s {
                return Some(i as u32);
            }
            start = end;
        }
        None
    }
    /// Every string that contains `needle`, with the offset of its first occurrence in it,
    /// in string order: one search over all the strings' bytes, not one per string.
    pub fn containing<'s>(&'s self, needle: &'s [u8]) -> impl Iterator<Item = (u32, usize)> + 's {
        let mut last = None;
        memchr::memmem::find_iter(self.data.as_bytes(), needle).filter_map(move |p| {
            // The string holding byte p: the first whose end lies past it.
            let i = self.ends.partition_point(|&e| e <= p);
            let start = if i == 0 { 0 } else { self.ends[i - 1] };
            let inside = i < self.ends.len() && p + needle.len() <= self.ends[i];
            if !inside || last == Some(i) {
                return None;
            }
            last = Some(i);
            Some((i as u32, p - start))
        })
    }
    pub fn from_vec(v: Vec<String>) -> Strings {
        let mut s = Strings::default();
        for x in v {
            s.data.push_str(&x);
            s.ends.push(s.data.len());
        }
        s
    }
    pub fn heap_bytes(&self) -> usize {
        self.data.capacity() + self.ends.capacity() * 8
    }
}

const CHUNK_BYTES: usize = 1 << 20;

struct Piece {
    data: String,
    ends: Vec<usize>,
    after_comma: bool,
}

pub fn parse_strings(b: &[u8], start: usize, end: usize) -> Result<Strings, ParseError> {
    if b.get(start) != Some(&b'[') || end < start + 2 || b[end - 1] != b']' {
        return Err(ParseError::at(
            start,
            "the \"strings\" section is not an array",
        ));
    }
    let (lo, hi) = (start + 1, end - 1);
    let mut bounds = Vec::new();
    let mut s = lo;
    while s < hi {
        let nominal = s.saturating_add(CHUNK_BYTES).min(hi);
        let cut = if nominal >= hi {
            hi
        } else {
            memchr(b'\n', &b[nominal..hi]).map_or(hi, |k| nominal + k + 1)
        };
        bounds.push((s, cut));
        s = cut;
    }
    let pieces: Vec<Result<Piece, ParseError>> = bounds
        .par_iter()
        .map(|&(s, e)| parse_piece(&b[s..e], s, e == hi))
        .collect();
    let mut ok = Vec::with_capacity(pieces.len());
    let (mut bytes, mut count) = (0, 0);
    for (k, p) in pieces.into_iter().enumerate() {
        let p = p?;
        // A chunk cut at a newline inside a malformed string shows up as a missing comma.
        if k + 1 < bounds.len() && !p.after_comma && !p.ends.is_empty() {
            return Err(ParseError::at(bounds[k].1, "expected ',' between strings"));
        }
        bytes += p.data.len();
        count += p.ends.len();
        ok.push(p);
    }
    // Joined on all cores: each piece copied into its own part of the whole, which starts
    // at byte `base`.
    let mut data = vec![0u8; bytes];
    let mut ends = vec![0usize; count];
    let mut parts = Vec::with_capacity(ok.len());
    let (mut rest_data, mut rest_ends, mut base) = (&mut data[..], &mut ends[..], 0);
    for p in &ok {
        let (d, r) = std::mem::take(&mut rest_data).split_at_mut(p.data.len());
        let (e, s) = std::mem::take(&mut rest_ends).split_at_mut(p.ends.len());
        (rest_data, rest_ends) = (r, s);
        parts.push((d, e, base));
        base += p.data.len();
    }
    parts
        .into_par_iter()
        .zip(&ok)
        .for_each(|((d, e, base), p)| {
            d.copy_from_slice(p.data.as_bytes());
            for (x, &end) in e.iter_mut().zip(&p.ends) {
                *x = end + base;
            }
        });
    drop(ok);
    // Every piece was a `String`, so the whole is UTF-8 too; checked all the same (a few
    // milliseconds) rather than assumed.
    let data = String::from_utf8(data)
        .map_err(|_| ParseError::at(start, "the strings do not join into UTF-8"))?;
    Ok(Strings { data, ends })
}

fn parse_piece(b: &[u8], base: usize, last: bool) -> Result<Piece, ParseError> {
    // V8 writes no control character but the newline after each element: in a piece with
    // none, a string's only possible one is a newline, which the search for its end can
    // look for too, instead of every string's bytes being checked one by one. (Checked with
    // a branch-free OR over the piece, which the compiler vectorises.)
    let other_controls = b
        .iter()
        .fold(false, |any, &c| any | ((c < 0x20) & (c != b'\n')));
    let mut bytes: Vec<u8> = Vec::with_capacity(b.len());
    let mut ends = Vec::new();
    let mut i = 0;
    let n = b.len();
    let mut after_comma = false;
    loop {
        while i < n && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        }
        if i == n {
            break;
        }
        if b[i] != b'"' {
            return Err(ParseError::at(
                base + i,
                "expected a string in the \"strings\" section",
            ));
        }
        i = decode_string(b, i + 1, base, !other_controls, &mut bytes)?;
        ends.push(bytes.len());
        after_comma = false;
        while i < n && matches!(b[i], b' ' | b'\n' | b'\r' | b'\t') {
            i += 1;
        }
        if i == n {
            break;
        }
        if b[i] != b',' {
            return Err(ParseError::at(
                base + i,
                "expected ',' or ']' after a string",
            ));
        }
        i += 1;
        after_comma = true;
    }
    if last && after_comma {
        return Err(ParseError::at(base + n, "trailing comma before ']'"));
    }
    // Raw bytes are UTF-8 in every file V8 writes; anything else is replaced, not fatal.
    let data = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            let bytes = e.into_bytes();
            // Re-split per string so that replacement characters do not shift the offsets.
            let mut data = String::with_capacity(bytes.len());
            let mut new_ends = Vec::with_capacity(ends.len());
            let mut prev = 0;
            for &e in &ends {
                data.push_str(&String::from_utf8_lossy(&bytes[prev..e]));
                new_ends.push(data.len());
                prev = e;
            }
            ends = new_ends;
            data
        }
    };
    Ok(Piece {
        data,
        ends,
        after_comma,
    })
}

/// Decode a JSON string body starting at `i` (after the opening quote) into `out`; returns
/// the position after the closing quote. `only_newlines`: `b` holds no control character
/// but newlines.
fn decode_string(
    b: &[u8],
    mut i: usize,
    base: usize,
    only_newlines: bool,
    out: &mut Vec<u8>,
) -> Result<usize, ParseError> {
    let control = |at: usize| ParseError::at(base + at, "control character inside a string");
    loop {
        let found = if only_newlines {
            string_stop(&b[i..])
        } else {
            memchr2(b'"', b'\\', &b[i..])
        };
        let Some(k) = found else {
            return Err(ParseError::at(
                base + b.len(),
                "string not closed before a line break or the end",
            ));
        };
        let raw = &b[i..i + k];
        if !only_newlines {
            if let Some(p) = raw.iter().position(|&c| c < 0x20) {
                return Err(control(i + p));
            }
        }
        out.extend_from_slice(raw);
        i += k;
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\n' => return Err(control(i)),
            _ => {}
        }
        // Escape sequence.
        let esc = *b
            .get(i + 1)
            .ok_or_else(|| ParseError::at(base + i, "string ends in a backslash"))?;
        i += 2;
        let c = match esc {
            b'"' => b'"',
            b'\\' => b'\\',
            b'/' => b'/',
            b'b' => 0x08,
            b'f' => 0x0c,
            b'n' => b'\n',
            b'r' => b'\r',
            b't' => b'\t',
            b'u' => {
                let hi =
                    hex4(b, i).ok_or_else(|| ParseError::at(base + i - 2, "bad \\u escape"))?;
                i += 4;
                let ch = if (0xD800..0xDC00).contains(&hi) {
                    // A high surrogate: a low one must follow to make a pair.
                    match (b.get(i), b.get(i + 1), hex4(b, i + 2)) {
                        (Some(b'\\'), Some(b'u'), Some(lo)) if (0xDC00..0xE000).contains(&lo) => {
                            i += 6;
                            char::from_u32(0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00))
                        }
                        _ => None,
                    }
                } else {
                    char::from_u32(hi)
                };
                let ch = ch.unwrap_or(char::REPLACEMENT_CHARACTER);
                let mut buf = [0u8; 4];
                out.extend_from_slice(ch.encode_utf8(&mut buf).as_bytes());
                continue;
            }
            _ => return Err(ParseError::at(base + i - 2, "unknown escape in a string")),
        };
        out.push(c);
    }
}

/// The first quote, backslash or newline in `b`. Most strings are short (two dozen bytes
/// in a Node heap), so this looks 16 bytes at a time from the start, with none of the
/// set-up a general search pays for long haystacks.
#[inline(always)]
fn string_stop(b: &[u8]) -> Option<usize> {
    let mut at = 0;
    while let Some(w) = b.get(at..at + 16) {
        let w: &[u8; 16] = w.try_into().expect("16 bytes");
        let hits = super::bytemask::eq_any(w, [b'"', b'\\', b'\n']);
        if hits != 0 {
            return Some(at + hits.trailing_zeros() as usize);
        }
        at += 16;
    }
    memchr3(b'"', b'\\', b'\n', &b[at..]).map(|k| at + k)
}

fn hex4(b: &[u8], i: usize) -> Option<u32> {
    let s = b.get(i..i + 4)?;
    let mut v = 0u32;
    for &c in s {
        v = v * 16 + (c as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<String>, ParseError> {
        let st = parse_strings(s.as_bytes(), 0, s.len())?;
        Ok((0..st.len())
            .map(|i| st.get(i as u32).to_string())
            .collect())
    }

    #[test]
    fn finds_the_strings_containing_a_needle_once_each() {
        let st = Strings::from_vec(
            ["ab", "xab", "a", "bab ab", "", "ab"]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        // "a" + "bab ab": the bytes "ab" across the boundary of strings 2 and 3 are no match;
        // string 3 holds two, and only its first is given.
        let got: Vec<(u32, usize)> = st.containing(b"ab").collect();
        assert_eq!(got, vec![(0, 0), (1, 1), (3, 1), (5, 0)]);
        assert_eq!(st.containing(b"zz").count(), 0);
        assert_eq!(st.position("ab"), Some(0));
        assert_eq!(st.position(""), Some(4));
        assert_eq!(st.position("bab ab"), Some(3));
        assert_eq!(st.position("b"), None);
        assert_eq!(st.containing(b"abxab").count(), 0);
        // Several at once, each the first of its kind, the slow way's answer.
        let long = "l".repeat(300);
        let st = Strings::from_vec(
            ["x", "ab", &long, "ab", "table", ""]
                .iter()
                .map(|s| s.to_string())
                .collect(),
        );
        let names = ["ab", "table", "", "missing", long.as_str(), "x"];
        let slow: Vec<Option<u32>> = names.iter().map(|n| st.position(n)).collect();
        assert_eq!(st.positions(&names), slow);
        assert_eq!(
            st.positions(&names),
            vec![Some(1), Some(4), Some(5), None, Some(2), Some(0)]
        );
    }

    #[test]
    fn decodes_escapes_and_surrogates() {
        let got = parse(r#"["<dummy>","a\"b\\c\/\n\t","\u00e9\u4e2d","\ud83d\ude00","lone \ud800 x","\udc00","héllo"]"#).unwrap();
        assert_eq!(
            got,
            vec![
                "<dummy>",
                "a\"b\\c/\n\t",
                "é中",
                "😀",
                "lone \u{FFFD} x",
                "\u{FFFD}",
                "héllo"
            ]
        );
    }

    #[test]
    fn many_lines_are_split_and_joined_in_order() {
        let n = 200_000;
        let mut s = String::from("[");
        for i in 0..n {
            if i > 0 {
                s.push_str(",\n");
            }
            s.push_str(&format!("\"s{i}\\n\""));
        }
        s.push(']');
        let got = parse(&s).unwrap();
        assert_eq!(got.len(), n);
        assert_eq!(got[123_456], "s123456\n");
    }

    #[test]
    fn rejects_malformed() {
        assert!(parse(r#"["a",1]"#).is_err());
        assert!(parse(r#"["a" "b"]"#).is_err());
        assert!(parse(r#"["a\q"]"#).is_err());
        assert!(parse(r#"["a",]"#).is_err());
        assert!(parse("[\"a\nb\"]").is_err());
        // A raw control character in a string is named wherever it stands, whether the
        // piece holds other control characters (the tab) or only newlines.
        for (text, at) in [("[\"ab\ncd\"]", 4), ("[\"a\",\t\"b\u{1}c\"]", 8)] {
            let e = parse(text).unwrap_err().to_string();
            assert!(
                e == format!("control character inside a string (at byte {at})"),
                "{text:?}: {e}"
            );
        }
        // Tabs and carriage returns between elements are whitespace.
        assert_eq!(parse("[\"a\",\t\r\n\"b\"]").unwrap(), vec!["a", "b"]);
    }
}
