//! The streaming parser for both text layouts.
//!
//! One pass over the bytes, one line at a time (`memchr` for the newline); nothing is
//! collected per line. Addresses of all stacks go into one column, so a 200k-stack dump costs
//! two vectors, not 200k. No vector is sized from a number read from the input. Every error
//! names the byte offset of the token that is wrong.
//!
//! A slow, obvious parser built on `str::lines` and `split_whitespace` lives in the tests
//! below; property tests check the two agree.

use super::maps::parse_maps;
use super::unsample::Sampling;
use super::{Counts, Format, Profile, StackRecord, ThreadSummary};
use crate::error::ParseError;

/// Largest count accepted anywhere (objects or bytes): 2^60. A live heap of an exbibyte is
/// not real; a bigger number is corruption, and the bound keeps every later sum far from
/// overflowing 64 bits.
pub const MAX_COUNT: u64 = 1 << 60;

/// Largest sampling period accepted: 2^40 bytes (jemalloc's `lg_prof_sample` ≤ 40). jemalloc
/// accepts up to 63, but a mean of one sample per TiB samples nothing, and un-sampling with
/// such a period turns one sample into absurd estimates.
pub const MAX_SAMPLE_PERIOD: u64 = 1 << 40;

/// Most addresses accepted on one stack. jemalloc keeps at most 128 (`PROF_BT_MAX`),
/// gperftools 64; anything near this bound is not a backtrace.
pub const MAX_STACK_DEPTH: usize = 1024;

/// The mean sampling interval jeprof assumes when a legacy header names a sampled profile
/// type but no period (jeprof: "1-in-128KB sampling rate").
const LEGACY_DEFAULT_PERIOD: u64 = 128 * 1024;

/// Parse a jemalloc `heap_v2` or legacy (`heap profile:`) dump.
pub fn parse(bytes: &[u8]) -> Result<Profile, ParseError> {
    // jemalloc and gperftools end every line, the last included, with a newline (the maps
    // copy too); a dump cut anywhere else is truncated, however plausible its last line.
    if bytes.last().is_some_and(|&b| b != b'\n') {
        let start = bytes.iter().rposition(|&b| b == b'\n').map_or(0, |k| k + 1);
        return Err(ParseError::at(
            start,
            "file ends in the middle of a line (truncated?)",
        ));
    }
    let mut lines = Lines::new(bytes);
    let (start, header) = loop {
        match lines.next() {
            None => {
                return Err(ParseError::at(
                    bytes.len(),
                    "not a jemalloc heap profile: no header line",
                ))
            }
            Some((_, l)) if is_blank(l) => continue,
            Some(x) => break x,
        }
    };
    let lead = skip_ws(header, 0);
    let header_body = &header[lead..];
    if header_body.starts_with(b"heap_v2/") {
        parse_v2(bytes, lines, start + lead, header_body)
    } else if header_body.starts_with(b"heap profile:") {
        parse_legacy(bytes, lines, start + lead, header_body)
    } else {
        Err(ParseError::at(
            start + lead,
            "not a jemalloc heap profile: expected a `heap_v2/<period>` or `heap profile:` header",
        ))
    }
}

/// Lines of the input with their start offsets; `\n` and a trailing `\r` removed.
struct Lines<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Lines<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Lines { bytes, pos: 0 }
    }

    /// Offset where the next line starts (the end of the input when there is none).
    fn pos(&self) -> usize {
        self.pos
    }
}

impl<'a> Iterator for Lines<'a> {
    type Item = (usize, &'a [u8]);

    fn next(&mut self) -> Option<Self::Item> {
        if self.pos >= self.bytes.len() {
            return None;
        }
        let start = self.pos;
        let rest = &self.bytes[start..];
        let (line, next) = match memchr::memchr(b'\n', rest) {
            Some(i) => (&rest[..i], start + i + 1),
            None => (rest, self.bytes.len()),
        };
        self.pos = next;
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        Some((start, line))
    }
}

fn is_blank(line: &[u8]) -> bool {
    line.iter().all(|b| b.is_ascii_whitespace())
}

fn skip_ws(line: &[u8], mut i: usize) -> usize {
    while i < line.len() && (line[i] == b' ' || line[i] == b'\t') {
        i += 1;
    }
    i
}

/// Whether `line` (already left-trimmed) starts the mappings section.
fn is_maps_marker(line: &[u8]) -> bool {
    line.starts_with(b"MAPPED_LIBRARIES:") || line.starts_with(b"--- Memory map:")
}

/// A decimal count at `line[*i..]`; `base` is the line's offset in the input.
fn parse_count(line: &[u8], i: &mut usize, base: usize, what: &str) -> Result<u64, ParseError> {
    let start = *i;
    let mut v: u64 = 0;
    while *i < line.len() && line[*i].is_ascii_digit() {
        let d = u64::from(line[*i] - b'0');
        v = v
            .checked_mul(10)
            .and_then(|v| v.checked_add(d))
            .ok_or_else(|| ParseError::at(base + start, format!("{what} does not fit 64 bits")))?;
        *i += 1;
    }
    if *i == start {
        return Err(ParseError::at(
            base + start,
            format!(
                "expected {what} (a decimal number), found {}",
                show_token(&line[start..])
            ),
        ));
    }
    if v > MAX_COUNT {
        return Err(ParseError::at(
            base + start,
            format!("absurd {what} {v} (more than 2^60)"),
        ));
    }
    Ok(v)
}

fn expect_byte(line: &[u8], i: &mut usize, base: usize, want: u8) -> Result<(), ParseError> {
    *i = skip_ws(line, *i);
    if line.get(*i) == Some(&want) {
        *i += 1;
        Ok(())
    } else {
        Err(ParseError::at(
            base + *i,
            format!(
                "expected `{}`, found {}",
                want as char,
                show_token(&line[(*i).min(line.len())..])
            ),
        ))
    }
}

/// `curobjs: curbytes [accumobjs: accumbytes]`, whitespace-tolerant (gperftools pads).
fn parse_counts(line: &[u8], i: &mut usize, base: usize) -> Result<Counts, ParseError> {
    *i = skip_ws(line, *i);
    let curobjs = parse_count(line, i, base, "object count")?;
    expect_byte(line, i, base, b':')?;
    *i = skip_ws(line, *i);
    let curbytes = parse_count(line, i, base, "byte count")?;
    expect_byte(line, i, base, b'[')?;
    *i = skip_ws(line, *i);
    let accumobjs = parse_count(line, i, base, "accumulated object count")?;
    expect_byte(line, i, base, b':')?;
    *i = skip_ws(line, *i);
    let accumbytes = parse_count(line, i, base, "accumulated byte count")?;
    expect_byte(line, i, base, b']')?;
    Ok(Counts {
        curobjs,
        curbytes,
        accumobjs,
        accumbytes,
    })
}

/// Value of each byte as a hex digit; [`NOT_HEX`] for any other byte.
const HEX: [u8; 256] = {
    let mut t = [NOT_HEX; 256];
    let mut i = 0;
    while i < 10 {
        t[b'0' as usize + i] = i as u8;
        i += 1;
    }
    let mut i = 0;
    while i < 6 {
        t[b'a' as usize + i] = 10 + i as u8;
        t[b'A' as usize + i] = 10 + i as u8;
        i += 1;
    }
    t
};
const NOT_HEX: u8 = 0xff;

/// Space-separated hex addresses (`0x` optional, as jeprof accepts) from `line[i..]` to the
/// end, appended to `out`. One pass per token: digits are accumulated as they are checked.
fn parse_addresses(
    line: &[u8],
    mut i: usize,
    base: usize,
    out: &mut Vec<u64>,
) -> Result<usize, ParseError> {
    let mut n = 0usize;
    loop {
        i = skip_ws(line, i);
        if i >= line.len() {
            return Ok(n);
        }
        let tok_start = i;
        if line[i] == b'0' && matches!(line.get(i + 1), Some(b'x' | b'X')) {
            i += 2;
        }
        let digits_start = i;
        let mut v: u64 = 0;
        while i < line.len() {
            let c = line[i];
            let d = HEX[c as usize];
            if d == NOT_HEX {
                if c == b' ' || c == b'\t' {
                    break;
                }
                let end = tok_start
                    + line[tok_start..]
                        .iter()
                        .position(|&b| b == b' ' || b == b'\t')
                        .unwrap_or(line.len() - tok_start);
                return Err(ParseError::at(
                    base + tok_start,
                    format!("non-hex address {}", show_token(&line[tok_start..end])),
                ));
            }
            v = (v << 4) | u64::from(d);
            i += 1;
        }
        let digits = i - digits_start;
        if digits == 0 {
            return Err(ParseError::at(
                base + tok_start,
                "truncated stack: address `0x` has no digits",
            ));
        }
        if digits > 16 {
            return Err(ParseError::at(
                base + tok_start,
                format!(
                    "address {} does not fit 64 bits",
                    show_token(&line[tok_start..i])
                ),
            ));
        }
        n += 1;
        if n > MAX_STACK_DEPTH {
            return Err(ParseError::at(
                base + tok_start,
                format!("absurd stack: more than {MAX_STACK_DEPTH} addresses"),
            ));
        }
        out.push(v);
    }
}

/// At most 40 bytes of the input, quoted, for an error message.
fn show_token(rest: &[u8]) -> String {
    let end = rest
        .iter()
        .position(|&b| b == b' ' || b == b'\t')
        .unwrap_or(rest.len())
        .min(40);
    if end == 0 {
        return if rest.is_empty() {
            "end of line".to_string()
        } else {
            "whitespace".to_string()
        };
    }
    format!("`{}`", String::from_utf8_lossy(&rest[..end]))
}

/// The sampling period of `heap_v2/<period>` (threaded layout).
fn v2_sampling(period: u64) -> Sampling {
    if period <= 1 {
        Sampling::Unsampled
    } else {
        Sampling::Poisson { period }
    }
}

fn check_period(period: u64, at: usize) -> Result<u64, ParseError> {
    if period > MAX_SAMPLE_PERIOD {
        return Err(ParseError::at(
            at,
            format!("absurd sampling period {period} (more than 2^40 bytes)"),
        ));
    }
    Ok(period)
}

/// A thread line `t*: …` or `t<N>: …` (left-trimmed `line` starting at `t`). Returns the
/// thread (`None` for `*`), the counts and the rest of the line after `]`.
fn parse_thread_line(line: &[u8], base: usize) -> Result<(Option<u64>, Counts, &[u8]), ParseError> {
    let mut i = 1;
    let thread = if line.get(1) == Some(&b'*') {
        i = 2;
        None
    } else {
        Some(parse_count(line, &mut i, base, "thread id")?)
    };
    expect_byte(line, &mut i, base, b':')?;
    let counts = parse_counts(line, &mut i, base)?;
    Ok((thread, counts, &line[i..]))
}

fn parse_v2(
    bytes: &[u8],
    mut lines: Lines<'_>,
    header_at: usize,
    header: &[u8],
) -> Result<Profile, ParseError> {
    let mut i = b"heap_v2/".len();
    let period = parse_count(header, &mut i, header_at, "sampling period")?;
    check_period(period, header_at + b"heap_v2/".len())?;
    if !is_blank(&header[i..]) {
        return Err(ParseError::at(
            header_at + i,
            format!(
                "unexpected {} after the sampling period",
                show_token(&header[i..])
            ),
        ));
    }

    let mut profile = Profile {
        format: Format::HeapV2,
        sampling: v2_sampling(period),
        header: Counts::default(),
        threads: Vec::new(),
        mappings: None,
        addrs: Vec::new(),
        stacks: Vec::new(),
    };
    let mut seen_header_total = false;
    // The stack whose `@` line was read last: its start in `addrs`, its line offset, and
    // whether its `t*` line has been seen.
    let mut open: Option<(usize, usize, bool)> = None;

    while let Some((at, raw)) = lines.next() {
        let lead = skip_ws(raw, 0);
        let line = &raw[lead..];
        let base = at + lead;
        if is_blank(line) {
            continue;
        }
        if is_maps_marker(line) {
            close_stack(&open, at)?;
            open = None;
            let maps_at = lines.pos();
            profile.mappings = Some(parse_maps(&bytes[maps_at..], maps_at)?);
            break;
        }
        match line[0] {
            b'@' => {
                if !seen_header_total {
                    return Err(ParseError::at(
                        base,
                        "stack before the header's `t*:` line",
                    ));
                }
                close_stack(&open, base)?;
                let first = profile.addrs.len();
                parse_addresses(line, 1, base, &mut profile.addrs)?;
                open = Some((first, base, false));
            }
            b't' => {
                let (thread, counts, rest) = parse_thread_line(line, base)?;
                let rest_at = base + (line.len() - rest.len());
                match (&mut open, thread) {
                    (None, None) => {
                        if seen_header_total {
                            return Err(ParseError::at(base, "second `t*:` line in the header"));
                        }
                        expect_end(rest, rest_at)?;
                        profile.header = counts;
                        seen_header_total = true;
                    }
                    (None, Some(thread)) => {
                        if !seen_header_total {
                            return Err(ParseError::at(
                                base,
                                "per-thread line before the header's `t*:` line",
                            ));
                        }
                        profile.threads.push(ThreadSummary {
                            thread,
                            counts,
                            name: thread_name(rest),
                        });
                    }
                    (Some((first, stack_at, seen_total)), None) => {
                        if *seen_total {
                            return Err(ParseError::at(
                                base,
                                "second `t*:` line for one stack",
                            ));
                        }
                        expect_end(rest, rest_at)?;
                        *seen_total = true;
                        profile.stacks.push(StackRecord {
                            first: *first,
                            len: profile.addrs.len() - *first,
                            counts,
                            offset: *stack_at as u64,
                        });
                    }
                    (Some((_, _, seen_total)), Some(_)) => {
                        if !*seen_total {
                            return Err(ParseError::at(
                                base,
                                "per-thread line before the stack's `t*:` line",
                            ));
                        }
                        expect_end(rest, rest_at)?;
                    }
                }
            }
            _ => {
                return Err(ParseError::at(
                    base,
                    format!(
                        "unexpected line starting {} (expected `@`, `t*:`, `t<N>:` or MAPPED_LIBRARIES:)",
                        show_token(line)
                    ),
                ))
            }
        }
    }
    close_stack(&open, bytes.len())?;
    if !seen_header_total {
        return Err(ParseError::at(
            bytes.len(),
            "truncated profile: the header has no `t*:` line",
        ));
    }
    Ok(profile)
}

/// Error if the stack opened at `open` never got its `t*` counts.
fn close_stack(open: &Option<(usize, usize, bool)>, at: usize) -> Result<(), ParseError> {
    match open {
        Some((_, stack_at, false)) => Err(ParseError::at(
            at,
            format!("truncated stack: the stack at byte {stack_at} has no `t*:` counts"),
        )),
        _ => Ok(()),
    }
}

fn expect_end(rest: &[u8], at: usize) -> Result<(), ParseError> {
    let i = skip_ws(rest, 0);
    if i == rest.len() {
        Ok(())
    } else {
        Err(ParseError::at(
            at + i,
            format!("unexpected {} after the counts", show_token(&rest[i..])),
        ))
    }
}

/// The thread name after a header `t<N>:` line's counts: everything after one space,
/// trailing whitespace removed.
fn thread_name(rest: &[u8]) -> Option<String> {
    let name = rest.strip_prefix(b" ").unwrap_or(rest);
    let end = name
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |p| p + 1);
    let name = &name[..end];
    (!name.is_empty()).then(|| String::from_utf8_lossy(name).into_owned())
}

/// The sampling a legacy header declares, following jeprof's `ReadHeapProfile`: the type
/// after `@` (`heap_v2/<p>` Poisson, `heap/<p>` or `heap` uniform with mean p/2,
/// `heapprofile` or a non-heap type unsampled); no type at all means uniform 128 KiB sampling
/// when in-use equals allocated (old remote profiles), unsampled otherwise.
fn legacy_sampling(
    header: &[u8],
    mut i: usize,
    base: usize,
    counts: Counts,
) -> Result<Sampling, ParseError> {
    i = skip_ws(header, i);
    if i >= header.len() {
        let remote = counts.curobjs == counts.accumobjs && counts.curbytes == counts.accumbytes;
        return Ok(if remote {
            Sampling::Uniform {
                mean: LEGACY_DEFAULT_PERIOD,
            }
        } else {
            Sampling::Unsampled
        });
    }
    if header[i] != b'@' {
        return Err(ParseError::at(
            base + i,
            format!(
                "expected `@` or the end of the header, found {}",
                show_token(&header[i..])
            ),
        ));
    }
    i = skip_ws(header, i + 1);
    let type_start = i;
    while i < header.len() && !matches!(header[i], b'/' | b' ' | b'\t') {
        i += 1;
    }
    let kind = &header[type_start..i];
    let period = if header.get(i) == Some(&b'/') {
        i += 1;
        let at = base + i;
        Some(check_period(
            parse_count(header, &mut i, base, "sampling period")?,
            at,
        )?)
    } else {
        None
    };
    if !is_blank(&header[i..]) {
        return Err(ParseError::at(
            base + i,
            format!("unexpected {} in the header", show_token(&header[i..])),
        ));
    }
    let contains = |needle: &[u8]| kind.windows(needle.len()).any(|w| w == needle);
    Ok(if kind == b"heapprofile" || !contains(b"heap") {
        Sampling::Unsampled
    } else if contains(b"_v2") {
        match period {
            Some(p) => v2_sampling(p),
            None => Sampling::Poisson {
                period: LEGACY_DEFAULT_PERIOD,
            },
        }
    } else {
        match period {
            Some(0) | None => Sampling::Uniform {
                mean: LEGACY_DEFAULT_PERIOD,
            },
            Some(p) => Sampling::Uniform {
                mean: (p / 2).max(1),
            },
        }
    })
}

fn parse_legacy(
    bytes: &[u8],
    mut lines: Lines<'_>,
    header_at: usize,
    header: &[u8],
) -> Result<Profile, ParseError> {
    let mut i = b"heap profile:".len();
    let counts = parse_counts(header, &mut i, header_at)?;
    let sampling = legacy_sampling(header, i, header_at, counts)?;
    let mut profile = Profile {
        format: Format::Legacy,
        sampling,
        header: counts,
        threads: Vec::new(),
        mappings: None,
        addrs: Vec::new(),
        stacks: Vec::new(),
    };
    while let Some((at, raw)) = lines.next() {
        let lead = skip_ws(raw, 0);
        let line = &raw[lead..];
        let base = at + lead;
        if is_blank(line) {
            continue;
        }
        if is_maps_marker(line) {
            let maps_at = lines.pos();
            profile.mappings = Some(parse_maps(&bytes[maps_at..], maps_at)?);
            break;
        }
        let mut i = 0;
        let counts = parse_counts(line, &mut i, base)?;
        i = skip_ws(line, i);
        if line.get(i) != Some(&b'@') {
            return Err(ParseError::at(
                base + i,
                format!(
                    "truncated stack: expected `@` and addresses after the counts, found {}",
                    show_token(&line[i.min(line.len())..])
                ),
            ));
        }
        let first = profile.addrs.len();
        let n = parse_addresses(line, i + 1, base, &mut profile.addrs)?;
        profile.stacks.push(StackRecord {
            first,
            len: n,
            counts,
            offset: base as u64,
        });
    }
    Ok(profile)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::jemalloc::{Mapping, Stack};
    use proptest::prelude::*;

    /// The slow, obvious parser: whole-string lines, `split_whitespace`, `str::parse`. It
    /// reads only well-formed input (returns `None` otherwise) and gives, per stack, the
    /// addresses and the `t*` counts, plus the header and thread names.
    type RefStack = (Vec<u64>, Counts);
    /// Header counts, (thread, name) pairs, stacks.
    type Summary = (Counts, Vec<(u64, Option<String>)>, Vec<RefStack>);
    fn reference(text: &str) -> Option<Summary> {
        fn counts(words: &[&str]) -> Option<Counts> {
            // ["N:", "N", "N:", "N"] once brackets are blanked out
            let n = |s: &str| s.trim_end_matches(':').parse().ok();
            Some(Counts {
                curobjs: n(words.first()?)?,
                curbytes: n(words.get(1)?)?,
                accumobjs: n(words.get(2)?)?,
                accumbytes: n(words.get(3)?)?,
            })
        }
        let addr = |s: &str| u64::from_str_radix(s.trim_start_matches("0x"), 16).ok();
        let text = text.replace(['[', ']'], " ");
        let mut lines = text.lines();
        let first = lines.next()?;
        let mut header = Counts::default();
        let mut threads = Vec::new();
        let mut stacks: Vec<RefStack> = Vec::new();
        if first.starts_with("heap_v2/") {
            let mut cur: Option<Vec<u64>> = None;
            for l in lines {
                if l.starts_with("MAPPED_LIBRARIES:") {
                    break;
                }
                let words: Vec<&str> = l.split_whitespace().collect();
                match words.first() {
                    None => {}
                    Some(&"@") => {
                        cur = Some(words[1..].iter().map(|w| addr(w)).collect::<Option<_>>()?)
                    }
                    Some(w) if w.starts_with('t') => {
                        let c = counts(&words[1..5])?;
                        match (&cur, *w == "t*:") {
                            (None, true) => header = c,
                            (None, false) => {
                                let id = w[1..w.len() - 1].parse().ok()?;
                                let name = words[5..].join(" ");
                                threads.push((id, (!name.is_empty()).then_some(name)));
                            }
                            (Some(a), true) => stacks.push((a.clone(), c)),
                            (Some(_), false) => {}
                        }
                    }
                    _ => return None,
                }
            }
        } else {
            let words: Vec<&str> = first.split_whitespace().collect();
            header = counts(&words[2..6])?;
            for l in lines {
                if l.starts_with("MAPPED_LIBRARIES:") {
                    break;
                }
                let words: Vec<&str> = l.split_whitespace().collect();
                if words.is_empty() {
                    continue;
                }
                let c = counts(&words[0..4])?;
                let a = words[5..].iter().map(|w| addr(w)).collect::<Option<_>>()?;
                stacks.push((a, c));
            }
        }
        Some((header, threads, stacks))
    }

    fn summary(p: &Profile) -> Summary {
        (
            p.header,
            p.threads
                .iter()
                .map(|t| (t.thread, t.name.clone()))
                .collect(),
            p.stacks()
                .map(|s: Stack<'_>| (s.addrs.to_vec(), s.counts))
                .collect(),
        )
    }

    const V2: &str = "heap_v2/524288\n  t*: 3: 3000 [0: 0]\n  t0: 2: 2000 [0: 0] main thread\n  t1: 1: 1000 [0: 0]\n@ 0x10 0x20 0x30\n  t*: 2: 2000 [0: 0]\n  t0: 2: 2000 [0: 0]\n@ 0x11 0x21\n  t*: 1: 1000 [0: 0]\n  t1: 1: 1000 [0: 0]\n\nMAPPED_LIBRARIES:\n00400000-00401000 r-xp 00000000 fe:00 42 /bin/prog\n";

    #[test]
    fn parses_v2() {
        let p = parse(V2.as_bytes()).expect("parses");
        assert_eq!(p.format, Format::HeapV2);
        assert_eq!(p.sampling, Sampling::Poisson { period: 524288 });
        assert_eq!(p.header.curbytes, 3000);
        assert_eq!(p.threads.len(), 2);
        assert_eq!(p.threads[0].name.as_deref(), Some("main thread"));
        assert_eq!(p.threads[1].name, None);
        assert_eq!(p.stack_count(), 2);
        let s = p.stack(0).expect("stack 0");
        assert_eq!(s.addrs, &[0x10, 0x20, 0x30]);
        assert_eq!(s.counts.curobjs, 2);
        assert_eq!(s.offset, V2.find('@').expect("@") as u64);
        let maps = p.mappings.as_ref().expect("maps");
        assert_eq!(
            maps[0],
            Mapping {
                start: 0x400000,
                end: 0x401000,
                perms: *b"r-xp",
                offset: 0,
                dev: "fe:00".into(),
                inode: 42,
                path: "/bin/prog".into(),
                deleted: false,
            }
        );
        assert_eq!(summary(&p), reference(V2).expect("reference reads it"));
    }

    #[test]
    fn crlf_and_blank_lines_are_fine() {
        let text = V2.replace('\n', "\r\n").replace("@ 0x11", "\r\n\r\n@ 0x11");
        let p = parse(text.as_bytes()).expect("parses");
        assert_eq!(p.stack_count(), 2);
        assert_eq!(p.threads[0].name.as_deref(), Some("main thread"));
    }

    #[test]
    fn legacy_sampling_follows_jeprof() {
        let s = |h: &str| parse(format!("{h}\n").as_bytes()).expect("parses").sampling;
        assert_eq!(
            s("heap profile: 1: 2 [3: 4] @ heap_v2/524288"),
            Sampling::Poisson { period: 524288 }
        );
        assert_eq!(
            s("heap profile: 1: 2 [3: 4] @ heap_v2/1"),
            Sampling::Unsampled
        );
        assert_eq!(
            s("heap profile: 1: 2 [3: 4] @ heapprofile"),
            Sampling::Unsampled
        );
        assert_eq!(s("heap profile: 1: 2 [3: 4] @ growth"), Sampling::Unsampled);
        assert_eq!(
            s("heap profile:   1:  2 [  3:  4] @ heap/262144"),
            Sampling::Uniform { mean: 131072 }
        );
        assert_eq!(
            s("heap profile: 1: 2 [3: 4] @ heap"),
            Sampling::Uniform { mean: 131072 }
        );
        assert_eq!(
            s("heap profile: 1: 2 [1: 2]"),
            Sampling::Uniform { mean: 131072 }
        );
        assert_eq!(s("heap profile: 1: 2 [3: 4]"), Sampling::Unsampled);
    }

    fn v2_text(stacks: &[(Vec<u64>, Counts)], names: &[Option<String>]) -> String {
        let mut t = String::from("heap_v2/524288\n  t*: 0: 0 [0: 0]\n");
        for (i, n) in names.iter().enumerate() {
            t += &format!("  t{i}: 0: 0 [0: 0]");
            if let Some(n) = n {
                t += &format!(" {n}");
            }
            t.push('\n');
        }
        for (a, c) in stacks {
            t.push('@');
            for x in a {
                t += &format!(" {x:#x}");
            }
            t += &format!(
                "\n  t*: {}: {} [{}: {}]\n  t0: {}: {} [{}: {}]\n",
                c.curobjs,
                c.curbytes,
                c.accumobjs,
                c.accumbytes,
                c.curobjs,
                c.curbytes,
                c.accumobjs,
                c.accumbytes
            );
        }
        t
    }

    fn legacy_text(stacks: &[(Vec<u64>, Counts)]) -> String {
        let mut t = String::from("heap profile:   0:    0 [   0:    0] @ heap_v2/524288\n");
        for (a, c) in stacks {
            t += &format!(
                "{:6}: {:8} [{:6}: {:8}] @",
                c.curobjs, c.curbytes, c.accumobjs, c.accumbytes
            );
            for x in a {
                t += &format!(" 0x{x:016x}");
            }
            t.push('\n');
        }
        t
    }

    fn arb_counts() -> impl Strategy<Value = Counts> {
        (0..MAX_COUNT, 0..MAX_COUNT, 0u64..1000, 0u64..1_000_000).prop_map(|(a, b, c, d)| Counts {
            curobjs: a,
            curbytes: b,
            accumobjs: c,
            accumbytes: d,
        })
    }

    proptest! {
        #[test]
        fn fast_parser_agrees_with_reference(
            stacks in prop::collection::vec((prop::collection::vec(any::<u64>(), 1..12), arb_counts()), 0..20),
            names in prop::collection::vec(prop::option::of("[a-z]{1,6}( [a-z0-9]{1,6}){0,3}"), 0..4),
            legacy in any::<bool>(),
        ) {
            let text = if legacy { legacy_text(&stacks) } else { v2_text(&stacks, &names) };
            let fast = parse(text.as_bytes()).expect("well-formed input parses");
            prop_assert_eq!(summary(&fast), reference(&text).expect("reference reads it"));
        }

        #[test]
        fn never_panics_on_mangled_input(
            stacks in prop::collection::vec((prop::collection::vec(any::<u64>(), 1..6), arb_counts()), 1..5),
            cut in any::<prop::sample::Index>(),
            flip in any::<prop::sample::Index>(),
            byte in any::<u8>(),
        ) {
            let mut text = v2_text(&stacks, &[Some("a b".into())]).into_bytes();
            let f = flip.index(text.len());
            text[f] = byte;
            text.truncate(cut.index(text.len() + 1));
            // Whatever the outcome, an error carries an offset inside (or at the end of) the input.
            if let Err(e) = parse(&text) {
                prop_assert!(e.offset.is_some_and(|o| o as usize <= text.len()), "{e}");
            }
        }
    }
}
