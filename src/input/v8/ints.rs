//! Parse a JSON array of non-negative integers (the `nodes`, `edges` and `locations`
//! sections) straight from the input bytes, in parallel.
//!
//! The array is cut into chunks at commas; a batch of chunks is parsed on all cores, then
//! handed in order to a sequential consumer that scatters the values into columns. Memory is
//! bounded by one batch, whatever the file size, and each batch's input pages are released
//! once consumed.

use crate::error::ParseError;
use memchr::memchr;
use rayon::prelude::*;

/// Bytes of text per chunk; a chunk is one task for the thread pool.
const CHUNK_BYTES: usize = 2 << 20;
/// Chunks parsed before the consumer runs; bounds the temporary vectors to a few MB per core.
const BATCH_CHUNKS: usize = 16;

/// Parse `b[start..end]`, which must be a whole `[ … ]` array, calling `consume` with the
/// values in order (several calls, one per chunk). Every value must fit in a `u32`.
pub fn parse_u32_array(
    b: &[u8],
    start: usize,
    end: usize,
    release: &(dyn Fn(usize, usize) + Sync),
    consume: &mut dyn FnMut(&[u32]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    if b.get(start) != Some(&b'[') || end < start + 2 || b[end - 1] != b']' {
        return Err(ParseError::at(start, "expected an array of integers"));
    }
    let (lo, hi) = (start + 1, end - 1);
    let mut chunk_start = lo;
    // Output buffers are reused from batch to batch: fresh multi-MB vectors would each be a
    // new mapping from the kernel, zeroed page by page.
    let mut buffers: Vec<Vec<u32>> = (0..BATCH_CHUNKS).map(|_| Vec::new()).collect();
    while chunk_start < hi {
        // Cut up to BATCH_CHUNKS chunks, each ending just after a comma (or at the end).
        let mut bounds = Vec::with_capacity(BATCH_CHUNKS);
        let batch_start = chunk_start;
        while bounds.len() < BATCH_CHUNKS && chunk_start < hi {
            let nominal = chunk_start.saturating_add(CHUNK_BYTES).min(hi);
            let cut = if nominal >= hi {
                hi
            } else {
                match memchr(b',', &b[nominal..hi]) {
                    Some(k) => nominal + k + 1,
                    None => hi,
                }
            };
            bounds.push((chunk_start, cut));
            chunk_start = cut;
        }
        let results: Vec<Result<(), ParseError>> = bounds
            .par_iter()
            .zip(buffers.par_iter_mut())
            .map(|(&(s, e), buf)| parse_chunk(&b[s..e], s, e == hi, buf))
            .collect();
        for (r, values) in results.into_iter().zip(&buffers) {
            r?;
            consume(values)?;
        }
        release(batch_start, chunk_start);
    }
    Ok(())
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// Parse one chunk: `ws* int ws* (',' ws* int ws*)*`, ending with a comma unless `last`.
/// `base` is the chunk's offset in the file, for error positions. One pass, one branch per
/// byte in the common case (a digit, or a comma after a number). An eight-bytes-at-a-time
/// (SWAR) variant was measured slower on real snapshots (benches/phases.rs): V8's numbers
/// are short, and the byte loop's branches predict well.
pub fn parse_chunk(
    b: &[u8],
    base: usize,
    last: bool,
    out: &mut Vec<u32>,
) -> Result<(), ParseError> {
    out.clear();
    parse_chunk_from(b, base, last, out, 0, false, false)
}

fn parse_chunk_from(
    b: &[u8],
    base: usize,
    last: bool,
    out: &mut Vec<u32>,
    start: usize,
    need_comma: bool,
    after_comma: bool,
) -> Result<(), ParseError> {
    let n = b.len();
    let mut i = start;
    // After a number and before its comma.
    let mut need_comma = need_comma;
    let mut after_comma = after_comma;
    while i < n {
        let c = b[i];
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            if need_comma {
                return Err(ParseError::at(base + i, "expected ',' between integers"));
            }
            let s = i;
            let mut v = d as u64;
            i += 1;
            while i < n {
                let d = b[i].wrapping_sub(b'0');
                if d >= 10 {
                    break;
                }
                v = v.wrapping_mul(10).wrapping_add(d as u64);
                i += 1;
            }
            if i - s > 10 || v > u32::MAX as u64 {
                return Err(ParseError::at(
                    base + s,
                    "integer too large (more than 4294967295)",
                ));
            }
            out.push(v as u32);
            need_comma = true;
            after_comma = false;
        } else if c == b',' {
            if !need_comma {
                return Err(ParseError::at(base + i, "expected an integer, found ','"));
            }
            need_comma = false;
            after_comma = true;
            i += 1;
        } else if is_ws(c) {
            i += 1;
        } else {
            let what = if need_comma {
                "expected ',' or ']'"
            } else {
                "expected an integer"
            };
            return Err(ParseError::at(
                base + i,
                format!("{what}, found {}", show(c)),
            ));
        }
    }
    if last && after_comma {
        return Err(ParseError::at(base + n, "trailing comma before ']'"));
    }
    Ok(())
}

fn show(c: u8) -> String {
    if c.is_ascii_graphic() {
        format!("'{}'", c as char)
    } else {
        format!("byte 0x{c:02x}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Vec<u32>, ParseError> {
        let mut all = Vec::new();
        parse_u32_array(s.as_bytes(), 0, s.len(), &|_, _| {}, &mut |v| {
            all.extend_from_slice(v);
            Ok(())
        })?;
        Ok(all)
    }

    #[test]
    fn parses_arrays() {
        assert_eq!(parse("[]").unwrap(), Vec::<u32>::new());
        assert_eq!(parse("[ ]").unwrap(), Vec::<u32>::new());
        assert_eq!(
            parse("[0,1,2\n,3 , 4294967295]").unwrap(),
            vec![0, 1, 2, 3, u32::MAX]
        );
    }

    #[test]
    fn rejects_bad_values_with_offsets() {
        let e = parse("[1,-2]").unwrap_err();
        assert_eq!(e.offset, Some(3));
        assert!(parse("[1,4294967296]")
            .unwrap_err()
            .message
            .contains("too large"));
        assert!(parse("[1,99999999999999999999999]")
            .unwrap_err()
            .message
            .contains("too large"));
        assert!(parse("[1.5]").unwrap_err().message.contains("expected ','"));
        assert!(parse("[1,]")
            .unwrap_err()
            .message
            .contains("trailing comma"));
        assert!(parse("[1,,2]").is_err());
        assert!(parse("[\"a\"]").is_err());
    }

    #[test]
    fn chunked_parse_equals_simple_split() {
        // Big enough for several chunks and batches.
        let n = 3_000_000u32;
        let mut s = String::from("[");
        for i in 0..n {
            if i > 0 {
                s.push_str(if i % 7 == 0 { ",\n" } else { "," });
            }
            s.push_str(&(i.wrapping_mul(2654435761) % 1_000_000_007).to_string());
        }
        s.push(']');
        let got = parse(&s).unwrap();
        let want: Vec<u32> = (0..n)
            .map(|i| i.wrapping_mul(2654435761) % 1_000_000_007)
            .collect();
        assert_eq!(got, want);
    }
}
