//! Parse a JSON array of non-negative integers (the `nodes`, `edges` and `locations`
//! sections) straight from the input bytes into column vectors, on all cores.
//!
//! Two parallel passes over the section. The first cuts it into chunks of about
//! `CHUNK_BYTES`, each ending just after a comma, and counts the commas in each chunk, which
//! gives the index of every chunk's first value; each cut is then moved forward to the next
//! record boundary (a multiple of the record stride). The second pass parses every chunk on
//! its own into a caller-made [`RecordSink`], which writes whole records into that chunk's
//! slice of each column. There are no intermediate value buffers and no sequential consumer;
//! the columns are allocated once, exactly as long as the section's own comma count says —
//! never from a header claim.
//!
//! The number parser works on V8's own layout (`12,345\n,6`) 64 bytes at a time: SSE2
//! compares give bit masks of the block's digits, commas and newlines, the block is checked
//! at once (only those bytes, every newline followed by a comma), and the numbers are taken
//! comma by comma from the mask, each value an eight-digit multiply-add on one or two words
//! read at its start. The next number's start never waits for this one's digits, which keeps
//! the loop off the critical path of a byte-by-byte scan. Anything else (whitespace, bad
//! input, a chunk's last bytes) goes through a byte-at-a-time state machine that also
//! produces the error messages; the two hand over at any number.
//!
//! Values are 32-bit in the loop and the columns. The byte loop reads up to 64 bits: a value
//! of 4294967295 or more (a `self_size` of 4 GiB or more, in a real file) stands as
//! `u32::MAX` in its record, and the record goes to [`RecordSink::record_wide`] with the
//! real value, which only the fields that can hold it accept.

use crate::error::ParseError;
use memchr::memchr;
use rayon::prelude::*;
use std::ops::Range;

/// Bytes of text per chunk; a chunk is one task for the thread pool.
const CHUNK_BYTES: usize = 2 << 20;

/// How an integer section is cut: chunk byte ranges, the index of each chunk's first value
/// (a multiple of the stride), and the number of values in the whole array.
#[derive(Debug)]
pub struct Plan {
    pub chunks: Vec<Range<usize>>,
    pub first: Vec<usize>,
    pub values: usize,
    /// End of the array's content (the position of its `]`), which ends the last chunk.
    hi: usize,
}

impl Plan {
    /// Records (of `stride` values) in chunk `c`.
    pub fn records_in(&self, c: usize, stride: usize) -> usize {
        let end = self.first.get(c + 1).copied().unwrap_or(self.values);
        (end - self.first[c]) / stride
    }

    /// Cut `col` (one value per record) into one slice per chunk.
    pub fn split<'a, T>(&self, mut col: &'a mut [T], stride: usize) -> Vec<&'a mut [T]> {
        let mut out = Vec::with_capacity(self.chunks.len());
        for c in 0..self.chunks.len() {
            let n = self.records_in(c, stride).min(col.len());
            let (a, rest) = std::mem::take(&mut col).split_at_mut(n);
            out.push(a);
            col = rest;
        }
        out
    }
}

/// Receives the records of one chunk, in order.
pub trait RecordSink: Send {
    fn record(&mut self, rec: &[u32]) -> Result<(), ParseError>;

    /// A record holding values of 4294967295 or more: `rec` has `u32::MAX` in their
    /// places, `wide` their fields and values, in field order. Few files have any (a
    /// `self_size` of 4 GiB or more), so the parse loop keeps 32-bit values and hands such
    /// records over here, one at a time. By default a value that does not fit 32 bits is
    /// an error; `u32::MAX` itself is an ordinary value.
    fn record_wide(&mut self, rec: &[u32], wide: &[WideValue]) -> Result<(), ParseError> {
        match wide.iter().find(|w| w.value > u32::MAX as u64) {
            Some(w) => Err(w.too_large("integer")),
            None => self.record(rec),
        }
    }
}

impl<T: RecordSink> RecordSink for &mut T {
    #[inline(always)]
    fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
        (**self).record(rec)
    }
    fn record_wide(&mut self, rec: &[u32], wide: &[WideValue]) -> Result<(), ParseError> {
        (**self).record_wide(rec, wide)
    }
}

/// A value of 4294967295 or more in a record: its field, value, and byte offset in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WideValue {
    pub field: usize,
    pub value: u64,
    pub offset: usize,
}

impl WideValue {
    /// The error for `what` (e.g. `node 12's id`) holding this value where only 32 bits fit.
    pub fn too_large(&self, what: &str) -> ParseError {
        ParseError::at(
            self.offset,
            format!("{what} is too large: {} (more than 4294967295)", self.value),
        )
    }
}

/// The first pass over an integer array: its content (`lo..hi`, between the brackets) cut
/// into chunks ending just after a comma, and the commas in each chunk.
#[derive(Debug, Clone)]
pub struct Counted {
    lo: usize,
    hi: usize,
    raw: Vec<Range<usize>>,
    commas: Vec<usize>,
}

impl Counted {
    /// Position just after the array's `]`.
    pub fn end(&self) -> usize {
        self.hi + 1
    }
}

/// Chunks counted at once while looking for the end of an array: a wave. What the last wave
/// reads past the end (at most this many chunks) is the cost of not knowing the end first.
const WAVE_CHUNKS: usize = 16;

/// Find the end of the integer array that opens at `b[start]` and count its commas, in one
/// parallel pass, a wave of chunks at a time: the end is the first `]` (any other bracket or
/// quote inside is for the integer parser to report). `release` is told which bytes have
/// been passed.
pub fn count_to_end(
    b: &[u8],
    start: usize,
    release: &dyn Fn(usize, usize),
) -> Result<Counted, ParseError> {
    count_in_waves(b, start, release, WAVE_CHUNKS)
}

/// [`count_to_end`] with `wave_chunks` chunks per wave (tests use small waves).
fn count_in_waves(
    b: &[u8],
    start: usize,
    release: &dyn Fn(usize, usize),
    wave_chunks: usize,
) -> Result<Counted, ParseError> {
    if b.get(start) != Some(&b'[') {
        return Err(ParseError::at(start, "expected an array of integers"));
    }
    let lo = start + 1;
    let (mut raw, mut commas) = (Vec::new(), Vec::new());
    let mut s = lo;
    loop {
        let mut wave = Vec::with_capacity(wave_chunks);
        let mut p = s;
        while wave.len() < wave_chunks && p < b.len() {
            let nominal = p.saturating_add(CHUNK_BYTES);
            let cut = if nominal >= b.len() {
                b.len()
            } else {
                memchr(b',', &b[nominal..]).map_or(b.len(), |k| nominal + k + 1)
            };
            wave.push(p..cut);
            p = cut;
        }
        if wave.is_empty() {
            return Err(ParseError::at(b.len(), "file ends inside a value"));
        }
        let found: Vec<(Option<usize>, usize)> = wave
            .par_iter()
            .map(|r| {
                let chunk = &b[r.clone()];
                let close = memchr(b']', chunk);
                let upto = close.unwrap_or(chunk.len());
                (
                    close.map(|k| r.start + k),
                    bytecount::count(&chunk[..upto], b','),
                )
            })
            .collect();
        for (r, (close, c)) in wave.iter().zip(found) {
            commas.push(c);
            match close {
                Some(hi) => {
                    raw.push(r.start..hi);
                    return Ok(Counted {
                        lo,
                        hi,
                        raw,
                        commas,
                    });
                }
                None => raw.push(r.clone()),
            }
        }
        release(s, p);
        s = p;
    }
}

/// Count the array `b[start..end]` (a whole `[ … ]`), whose end is known.
fn count_known(b: &[u8], start: usize, end: usize) -> Result<Counted, ParseError> {
    if b.get(start) != Some(&b'[') || end < start + 2 || end > b.len() || b[end - 1] != b']' {
        return Err(ParseError::at(start, "expected an array of integers"));
    }
    let (lo, hi) = (start + 1, end - 1);
    let mut raw = Vec::new();
    let mut s = lo;
    loop {
        let nominal = s.saturating_add(CHUNK_BYTES);
        let cut = if nominal >= hi {
            hi
        } else {
            memchr(b',', &b[nominal..hi]).map_or(hi, |k| nominal + k + 1)
        };
        raw.push(s..cut);
        s = cut;
        if s >= hi {
            break;
        }
    }
    let commas: Vec<usize> = raw
        .par_iter()
        .map(|r| bytecount::count(&b[r.clone()], b','))
        .collect();
    Ok(Counted {
        lo,
        hi,
        raw,
        commas,
    })
}

/// Cut the array `b[start..end]` (a whole `[ … ]`) for records of `stride` values.
pub fn plan(b: &[u8], start: usize, end: usize, stride: usize) -> Result<Plan, ParseError> {
    Ok(align(b, &count_known(b, start, end)?, stride))
}

/// The chunks of a counted array for records of `stride` values.
pub fn align(b: &[u8], counted: &Counted, stride: usize) -> Plan {
    let stride = stride.max(1);
    let Counted {
        lo,
        hi,
        ref raw,
        ref commas,
    } = *counted;
    let total_commas: usize = commas.iter().sum();
    let empty = b[lo..hi]
        .iter()
        .all(|c| matches!(c, b' ' | b'\n' | b'\r' | b'\t'));
    let values = if empty { 0 } else { total_commas + 1 };

    // Move each inner cut forward to a record boundary; a cut that would pass the next one
    // is dropped (its chunk merges into the previous).
    let mut chunks = Vec::with_capacity(raw.len());
    let mut first = Vec::with_capacity(raw.len());
    let (mut cur_start, mut cur_first) = (lo, 0usize);
    let mut seen = 0usize;
    for (k, r) in raw.iter().enumerate().skip(1) {
        seen += commas[k - 1];
        let skip = (stride - seen % stride) % stride;
        let mut need = skip;
        let mut cut = r.start;
        let limit = raw.get(k + 1).map_or(hi, |n| n.start);
        while need > 0 && cut < limit {
            match memchr(b',', &b[cut..limit]) {
                Some(p) => {
                    cut += p + 1;
                    need -= 1;
                }
                None => cut = limit,
            }
        }
        if need > 0 || cut >= limit {
            continue;
        }
        chunks.push(cur_start..cut);
        first.push(cur_first);
        cur_start = cut;
        cur_first = seen + skip;
    }
    chunks.push(cur_start..hi);
    first.push(cur_first);
    Plan {
        chunks,
        first,
        values,
        hi,
    }
}

/// Parse every chunk of `plan` into its sink (one per chunk, in chunk order), releasing each
/// chunk's input pages once parsed. The first error in file order wins.
pub fn parse_records<S: RecordSink>(
    b: &[u8],
    plan: &Plan,
    stride: usize,
    sinks: Vec<S>,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<(), ParseError> {
    parse_records_with(b, plan, stride, sinks, release, wide_available())
}

/// Whether this CPU converts numbers eight at a time ([`wide`]).
fn wide_available() -> bool {
    #[cfg(target_arch = "x86_64")]
    return wide::available();
    #[cfg(not(target_arch = "x86_64"))]
    false
}

/// [`parse_records`], converting eight numbers at a time only if `wide` (and available).
fn parse_records_with<S: RecordSink>(
    b: &[u8],
    plan: &Plan,
    stride: usize,
    sinks: Vec<S>,
    release: &(dyn Fn(usize, usize) + Sync),
    wide: bool,
) -> Result<(), ParseError> {
    let wide = wide && wide_available();
    let stride = stride.max(1);
    let results: Vec<Result<(), ParseError>> = plan
        .chunks
        .par_iter()
        .zip(sinks.into_par_iter())
        .map(|(r, mut sink)| {
            let res = parse_chunk(
                &b[r.clone()],
                r.start,
                r.end == plan.hi,
                stride,
                &mut sink,
                wide,
            );
            release(r.start, r.end);
            res
        })
        .collect();
    results.into_iter().collect()
}

/// Parse the whole array only to find its first syntax error (used before reporting a
/// value count that does not fit the record layout, so a syntax error is named first).
pub fn check_syntax(b: &[u8], plan: &Plan) -> Result<(), ParseError> {
    struct Discard;
    impl RecordSink for Discard {
        fn record(&mut self, _: &[u32]) -> Result<(), ParseError> {
            Ok(())
        }
        fn record_wide(&mut self, _: &[u32], _: &[WideValue]) -> Result<(), ParseError> {
            Ok(())
        }
    }
    let sinks = plan.chunks.iter().map(|_| Discard).collect();
    parse_records(b, plan, 1, sinks, &|_, _| {})
}

/// Values waiting to be handed on as records, at most (plus one block's worth).
const PENDING: usize = 4096;

/// Gathers values into records of `stride` and hands the full records to the sink in
/// batches: the parse loop only appends to a buffer, and the sink runs over whole records.
struct Records<'s, S> {
    buf: Box<[u32; PENDING + 64]>,
    len: usize,
    stride: usize,
    sink: &'s mut S,
    /// Values of 4294967295 or more in `buf` (where they stand as `u32::MAX`): their
    /// positions in `buf`, values and byte offsets, in order.
    wide: Vec<(usize, u64, usize)>,
}

impl<S: RecordSink> Records<'_, S> {
    fn new(stride: usize, sink: &mut S) -> Records<'_, S> {
        Records {
            buf: Box::new([0; PENDING + 64]),
            len: 0,
            stride,
            sink,
            wide: Vec::new(),
        }
    }

    #[inline(always)]
    fn put(&mut self, v: u32) -> Result<(), ParseError> {
        self.buf[self.len] = v;
        self.len += 1;
        self.check()
    }

    /// A value of 4294967295 or more (`offset`: where it starts in the file).
    #[cold]
    #[inline(never)]
    fn put_wide(&mut self, v: u64, offset: usize) -> Result<(), ParseError> {
        self.wide.push((self.len, v, offset));
        self.put(u32::MAX)
    }

    /// Flush once the buffer holds `PENDING` values or more.
    #[inline(always)]
    fn check(&mut self) -> Result<(), ParseError> {
        if self.len >= PENDING {
            self.flush()
        } else {
            Ok(())
        }
    }

    /// Hand every complete record to the sink; an incomplete one stays.
    #[inline(never)]
    fn flush(&mut self) -> Result<(), ParseError> {
        let whole = self.len - self.len % self.stride;
        let vals = &self.buf[..whole];
        let res = if !self.wide.is_empty() {
            self.flush_wide(whole)
        } else {
            match self.stride {
                3 => vals
                    .as_chunks::<3>()
                    .0
                    .iter()
                    .try_for_each(|r| self.sink.record(r)),
                7 => vals
                    .as_chunks::<7>()
                    .0
                    .iter()
                    .try_for_each(|r| self.sink.record(r)),
                _ => vals
                    .chunks_exact(self.stride)
                    .try_for_each(|r| self.sink.record(r)),
            }
        };
        self.buf.copy_within(whole..self.len, 0);
        self.len -= whole;
        res
    }

    /// [`Records::flush`] of the first `whole` values when some are wide: the records that
    /// hold one go to [`RecordSink::record_wide`]. Wide values of the incomplete record
    /// stay, moved with it.
    #[cold]
    fn flush_wide(&mut self, whole: usize) -> Result<(), ParseError> {
        let stride = self.stride;
        let mut k = 0;
        let mut res = Ok(());
        for (r, rec) in self.buf[..whole].chunks_exact(stride).enumerate() {
            let (lo, hi) = (r * stride, (r + 1) * stride);
            let from = k;
            while k < self.wide.len() && self.wide[k].0 < hi {
                k += 1;
            }
            res = if from == k {
                self.sink.record(rec)
            } else {
                let wide: Vec<WideValue> = self.wide[from..k]
                    .iter()
                    .map(|&(at, value, offset)| WideValue {
                        field: at - lo,
                        value,
                        offset,
                    })
                    .collect();
                self.sink.record_wide(rec, &wide)
            };
            if res.is_err() {
                break;
            }
        }
        self.wide.retain(|w| w.0 >= whole);
        for w in &mut self.wide {
            w.0 -= whole;
        }
        res
    }

    /// Values of a record not yet complete.
    fn partial(&self) -> usize {
        self.len % self.stride
    }
}

/// Parse one chunk, handing `sink` each complete record.
#[inline(never)]
fn parse_chunk<S: RecordSink>(
    b: &[u8],
    base: usize,
    last: bool,
    stride: usize,
    sink: &mut S,
    wide: bool,
) -> Result<(), ParseError> {
    let mut recs = Records::new(stride, sink);
    #[cfg(target_arch = "x86_64")]
    let scanned = if wide {
        // SAFETY: the CPU has the features `scan_wide` is compiled for.
        unsafe { scan_wide(b, base, last, &mut recs) }
    } else {
        scan_values::<S, false>(b, base, last, &mut recs)
    };
    #[cfg(not(target_arch = "x86_64"))]
    let scanned = {
        let _ = wide;
        scan_values::<S, false>(b, base, last, &mut recs)
    };
    // The values before a syntax error come earlier in the file: their errors win.
    recs.flush()?;
    scanned?;
    if recs.partial() != 0 {
        return Err(ParseError::at(
            base + b.len(),
            "the array ends inside a record",
        ));
    }
    Ok(())
}

/// [`scan_values`] with the block conversion of [`wide`].
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2")]
fn scan_wide<S: RecordSink>(
    b: &[u8],
    base: usize,
    last: bool,
    out: &mut Records<'_, S>,
) -> Result<(), ParseError> {
    scan_values::<S, true>(b, base, last, out)
}

const ONES: u64 = 0x0101_0101_0101_0101;

/// The value of the first `len` bytes of `w` (1 ..= 8 ASCII digits, first digit lowest).
#[inline(always)]
fn digits_value(w: u64, len: usize) -> u32 {
    // Borrows from the bytes after the digits only run upwards, into bytes shifted out here;
    // the zero bytes shifted in become leading zeros.
    let d = w.wrapping_sub(ONES * 0x30) << (8 * (8 - len));
    // Pairs, then quads, then all eight: each step multiplies the left part and adds.
    let d = d.wrapping_mul(10).wrapping_add(d >> 8);
    let lanes = 0x0000_00ff_0000_00ff;
    let d = ((d & lanes).wrapping_mul(100 + (1_000_000 << 32)))
        .wrapping_add(((d >> 16) & lanes).wrapping_mul(1 + (10_000 << 32)))
        >> 32;
    d as u32
}

/// Bytes `fast_run` needs past a block's start: the block and a two-word number read that
/// starts at its end (64 + 16 would do; a round window keeps every offset check away).
const RUN_TAIL: usize = 96;

/// Bit masks of one 64-byte block: its digits, commas and newlines (bit j = byte j).
#[derive(Clone, Copy)]
struct BlockMasks {
    digits: u64,
    commas: u64,
    newlines: u64,
}

#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn block_masks(block: &[u8; 64]) -> BlockMasks {
    use std::arch::x86_64::*;
    let (mut digits, mut commas, mut newlines) = (0u64, 0u64, 0u64);
    for k in 0..4 {
        // SAFETY: SSE2 is part of every x86_64 target; the load reads 16 of the block's
        // 64 bytes (unaligned loads are allowed).
        unsafe {
            let v = _mm_loadu_si128(block.as_ptr().add(16 * k) as *const __m128i);
            let d = _mm_and_si128(
                _mm_cmpgt_epi8(v, _mm_set1_epi8(b'0' as i8 - 1)),
                _mm_cmplt_epi8(v, _mm_set1_epi8(b'9' as i8 + 1)),
            );
            let c = _mm_cmpeq_epi8(v, _mm_set1_epi8(b',' as i8));
            let l = _mm_cmpeq_epi8(v, _mm_set1_epi8(b'\n' as i8));
            digits |= (_mm_movemask_epi8(d) as u16 as u64) << (16 * k);
            commas |= (_mm_movemask_epi8(c) as u16 as u64) << (16 * k);
            newlines |= (_mm_movemask_epi8(l) as u16 as u64) << (16 * k);
        }
    }
    BlockMasks {
        digits,
        commas,
        newlines,
    }
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn block_masks(block: &[u8; 64]) -> BlockMasks {
    let (mut digits, mut commas, mut newlines) = (0u64, 0u64, 0u64);
    for (j, &c) in block.iter().enumerate() {
        digits |= (c.is_ascii_digit() as u64) << j;
        commas |= ((c == b',') as u64) << j;
        newlines |= ((c == b'\n') as u64) << j;
    }
    BlockMasks {
        digits,
        commas,
        newlines,
    }
}

#[inline(always)]
fn word(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("eight bytes"))
}

/// The fast path for V8's own layout, `123,45\n,6,…`: from `i` (the first digit of a
/// number) take every number that is 1–10 digits and below 4294967295, optionally followed
/// by a newline, then a comma, and return where the first one that is not starts (the byte loop takes it from
/// there, with its error messages). Commas are found 64 bytes at a time from a bit mask, so
/// the next number's start never waits for this number's digits: each value is computed off
/// the critical path. Each block is checked at once: its bytes must all be digits, commas
/// or newlines, and every newline must be followed by a comma.
#[inline(always)]
fn fast_run<S: RecordSink, const WIDE: bool>(
    b: &[u8],
    i: usize,
    out: &mut Records<'_, S>,
) -> Result<usize, ParseError> {
    let mut start = i;
    while start + RUN_TAIL <= b.len() {
        // The block and the bytes a number read from it may reach past its end, as one
        // fixed-size window: offsets inside it need no bounds checks.
        let win: &[u8; RUN_TAIL] = b[start..start + RUN_TAIL].try_into().expect("window");
        let block: &[u8; 64] = win[..64].try_into().expect("64 bytes");
        let m = block_masks(block);
        // Only commas before the first byte that breaks the layout; a newline must be
        // followed by a comma (a newline in the block's last byte counts as breaking it).
        let odd = !(m.digits | m.commas | m.newlines) | (m.newlines & !(m.commas >> 1));
        let usable = if odd == 0 {
            u64::MAX
        } else {
            (1u64 << odd.trailing_zeros()) - 1
        };
        let mut commas = m.commas & usable;
        if commas == 0 {
            break;
        }
        // Bit j: byte j - 1 is a newline. (The byte before the block is not one: a newline
        // in a block's last byte ends the fast path.)
        let newline_before = m.newlines << 1;
        // Every number before the last usable comma at once, where the CPU can and each
        // has at most eight digits.
        #[cfg(target_arch = "x86_64")]
        if WIDE {
            let last_comma = 63 - commas.leading_zeros();
            let before = (1u64 << last_comma) - 1;
            let d = m.digits & before;
            let ends = d & !(d >> 1);
            let starts = d & !(d << 1);
            let n = commas.count_ones();
            if ends.count_ones() == n && starts.count_ones() == n {
                let len = out.len;
                // SAFETY: the features are enabled where WIDE is; the buffer has 64 spare
                // slots past `len` (it is flushed at `PENDING`), and n <= 32.
                let ok = unsafe {
                    wide::convert(block, starts, ends, n as usize, &mut out.buf[len..len + 64])
                };
                if ok {
                    out.len = len + n as usize;
                    out.check()?;
                    start += last_comma as usize + 1;
                    if usable != u64::MAX {
                        break;
                    }
                    continue;
                }
            }
        }
        // Start of the current number, in the window.
        let mut s = 0usize;
        let mut taken_all = true;
        while commas != 0 {
            let at = commas.trailing_zeros() as usize;
            commas &= commas - 1;
            let digits = at - s - ((newline_before >> at) & 1) as usize;
            let v = match digits {
                1..=8 => digits_value(word(win, s), digits),
                9 | 10 => {
                    let high = digits_value(word(win, s), 8) as u64;
                    let v = high * [10, 100][digits - 9]
                        + digits_value(word(win, s + 8), digits - 8) as u64;
                    // u32::MAX and up: the byte loop takes it ([`Records::put_wide`]).
                    if v >= u32::MAX as u64 {
                        taken_all = false;
                        break;
                    }
                    v as u32
                }
                _ => {
                    taken_all = false;
                    break;
                }
            };
            out.put(v)?;
            s = at + 1;
        }
        start += s;
        if !taken_all || usable != u64::MAX {
            break;
        }
    }
    Ok(start)
}

/// Eight numbers at a time with AVX-512: each number's last eight bytes are gathered into
/// a 64-bit lane (bytes before its first digit zeroed), then pairs, quads and halves are
/// combined by multiply-adds, all lanes at once.
#[cfg(target_arch = "x86_64")]
mod wide {
    use std::arch::x86_64::*;

    /// Whether this CPU has what [`convert`] uses (checked once).
    pub fn available() -> bool {
        use std::sync::OnceLock;
        static OK: OnceLock<bool> = OnceLock::new();
        *OK.get_or_init(|| {
            is_x86_feature_detected!("avx512f")
                && is_x86_feature_detected!("avx512bw")
                && is_x86_feature_detected!("avx512dq")
                && is_x86_feature_detected!("avx512vl")
                && is_x86_feature_detected!("avx512vbmi")
                && is_x86_feature_detected!("avx512vbmi2")
        })
    }

    /// The `n` numbers of `block` whose first digits are the bits of `starts` and last
    /// digits the bits of `ends`, in order, into `out[..n]` (`out` has room for 64).
    /// `false`, with `out` to be ignored, if one has more than eight digits.
    #[target_feature(enable = "avx512f,avx512bw,avx512dq,avx512vl,avx512vbmi,avx512vbmi2")]
    pub fn convert(block: &[u8; 64], starts: u64, ends: u64, n: usize, out: &mut [u32]) -> bool {
        assert!(n <= 32 && out.len() >= 64);
        // SAFETY: every load and store below is of a local array, `block` or `out[..64]`.
        unsafe {
            let iota = _mm512_set_epi8(
                63, 62, 61, 60, 59, 58, 57, 56, 55, 54, 53, 52, 51, 50, 49, 48, 47, 46, 45, 44, 43,
                42, 41, 40, 39, 38, 37, 36, 35, 34, 33, 32, 31, 30, 29, 28, 27, 26, 25, 24, 23, 22,
                21, 20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0,
            );
            let mut e = [0u8; 64];
            let mut s = [0u8; 64];
            _mm512_storeu_si512(
                e.as_mut_ptr() as *mut _,
                _mm512_maskz_compress_epi8(ends, iota),
            );
            _mm512_storeu_si512(
                s.as_mut_ptr() as *mut _,
                _mm512_maskz_compress_epi8(starts, iota),
            );
            let text = _mm512_loadu_si512(block.as_ptr() as *const _);
            let zero = _mm512_setzero_si512();
            let ones = _mm512_set1_epi64(0x0101_0101_0101_0101);
            // Byte j of a lane: table index 64 + end - 7 + j (indexes below 64 read zeros).
            let steps = _mm512_set1_epi64(0x0706_0504_0302_0100 + 57 * 0x0101_0101_0101_0101);
            let sixty_four = _mm512_set1_epi8(64);
            let ascii0 = _mm512_set1_epi8(b'0' as i8);
            let tens = _mm512_set1_epi16(0x010a); // (10, 1) per byte pair
            let hundreds = _mm512_set1_epi32(0x0001_0064); // (100, 1) per word pair
            let ten_thousand = _mm512_set1_epi64(10_000);
            let mut k = 0;
            while k < n {
                let ek = _mm512_cvtepu8_epi64(_mm_loadl_epi64(e.as_ptr().add(k) as *const _));
                let sk = _mm512_cvtepu8_epi64(_mm_loadl_epi64(s.as_ptr().add(k) as *const _));
                let idx = _mm512_add_epi64(_mm512_mullo_epi64(ek, ones), steps);
                let first = _mm512_add_epi8(_mm512_mullo_epi64(sk, ones), sixty_four);
                // Only lanes of real numbers count (the last group may be short).
                let lanes: __mmask8 = if n - k >= 8 {
                    0xff
                } else {
                    (1u8 << (n - k)) - 1
                };
                let len = _mm512_sub_epi64(ek, sk);
                if _mm512_mask_cmpgt_epu64_mask(lanes, len, _mm512_set1_epi64(7)) != 0 {
                    return false;
                }
                let bytes = _mm512_permutex2var_epi8(zero, idx, text);
                let keep = _mm512_cmpge_epu8_mask(idx, first);
                let digits = _mm512_maskz_sub_epi8(keep, bytes, ascii0);
                let pairs = _mm512_maddubs_epi16(digits, tens);
                let quads = _mm512_madd_epi16(pairs, hundreds);
                let v = _mm512_add_epi64(
                    _mm512_mul_epu32(quads, ten_thousand),
                    _mm512_srli_epi64(quads, 32),
                );
                _mm256_storeu_si256(out.as_mut_ptr().add(k) as *mut _, _mm512_cvtepi64_epi32(v));
                k += 8;
            }
        }
        true
    }
}

#[inline]
fn is_ws(c: u8) -> bool {
    matches!(c, b' ' | b'\n' | b'\r' | b'\t')
}

/// Parse one chunk: `ws* int ws* (',' ws* int ws*)*`, ending with a comma unless `last`,
/// handing each value to `out`. `base` is the chunk's offset in the file, for errors.
/// Always inlined into [`parse_chunk`], so that the sink is inlined too.
#[inline(always)]
fn scan_values<S: RecordSink, const WIDE: bool>(
    b: &[u8],
    base: usize,
    last: bool,
    out: &mut Records<'_, S>,
) -> Result<(), ParseError> {
    let n = b.len();
    let mut i = 0;
    // After a number and before its comma.
    let mut need_comma = false;
    let mut after_comma = false;
    while i < n {
        if !need_comma && i + RUN_TAIL <= n && b[i].is_ascii_digit() {
            let stop = fast_run::<S, WIDE>(b, i, out)?;
            if stop > i {
                // `fast_run` stops at the start of a number it did not take.
                i = stop;
                after_comma = true;
                continue;
            }
        }
        let c = b[i];
        let d = c.wrapping_sub(b'0');
        if d < 10 {
            if need_comma {
                return Err(ParseError::at(base + i, "expected ',' between integers"));
            }
            let s = i;
            let mut v = Some(d as u64);
            i += 1;
            while i < n {
                let d = b[i].wrapping_sub(b'0');
                if d >= 10 {
                    break;
                }
                v = v.and_then(|v| v.checked_mul(10)?.checked_add(d as u64));
                i += 1;
            }
            match v {
                // u32::MAX too: in a column it may stand for a wider value.
                Some(v) if v >= u32::MAX as u64 => out.put_wide(v, base + s)?,
                Some(v) => out.put(v as u32)?,
                None => {
                    return Err(ParseError::at(
                        base + s,
                        "integer too large (more than 18446744073709551615)",
                    ))
                }
            }
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

/// Parse a whole array into one vector (for tests and small sections).
pub fn parse_all(b: &[u8], start: usize, end: usize) -> Result<Vec<u32>, ParseError> {
    parse_all_with(b, start, end, true)
}

/// [`parse_all`], converting eight numbers at a time only if `wide`.
fn parse_all_with(b: &[u8], start: usize, end: usize, wide: bool) -> Result<Vec<u32>, ParseError> {
    struct Into<'a>(&'a mut [u32], usize);
    impl RecordSink for Into<'_> {
        fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
            let slot = self
                .0
                .get_mut(self.1)
                .ok_or_else(|| ParseError::new("more values than counted"))?;
            *slot = rec[0];
            self.1 += 1;
            Ok(())
        }
    }
    let plan = plan(b, start, end, 1)?;
    let mut out = vec![0u32; plan.values];
    let sinks = plan
        .split(&mut out, 1)
        .into_iter()
        .map(|s| Into(s, 0))
        .collect();
    parse_records_with(b, &plan, 1, sinks, &|_, _| {}, wide)?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parse `s` both ways (eight numbers at a time where the CPU can, and one at a time);
    /// both must agree, errors included.
    fn parse(s: &str) -> Result<Vec<u32>, ParseError> {
        let wide = parse_all_with(s.as_bytes(), 0, s.len(), true);
        let narrow = parse_all_with(s.as_bytes(), 0, s.len(), false);
        assert_eq!(
            format!("{wide:?}"),
            format!("{narrow:?}"),
            "the two number converters differ"
        );
        wide
    }

    #[test]
    fn parses_arrays() {
        assert_eq!(parse("[]").unwrap(), Vec::<u32>::new());
        assert_eq!(parse("[ ]").unwrap(), Vec::<u32>::new());
        assert_eq!(
            parse("[0,1,2\n,3 , 4294967295]").unwrap(),
            vec![0, 1, 2, 3, u32::MAX]
        );
        assert_eq!(
            parse("[12345678,1234567,00012,99999999,7\n,8,0]").unwrap(),
            vec![12345678, 1234567, 12, 99999999, 7, 8, 0]
        );
        // Eight, nine and ten digits, each followed by enough bytes for the two-word path.
        assert_eq!(
            parse("[12345678,123456789\n,4294967295,0000000001,99999999,0,0,0,0,0]").unwrap(),
            vec![12345678, 123456789, u32::MAX, 1, 99999999, 0, 0, 0, 0, 0]
        );
        assert!(parse("[4294967296,0,0,0,0,0,0,0]").is_err());
        assert!(parse("[12345678901,0,0,0,0,0,0]").is_err());
    }

    #[test]
    fn swar_digits_match_the_byte_loop() {
        for s in [
            "0,", "7\n,", "12,3", "999,", "1234567,", "12345678", "0000001,", "5]",
        ] {
            let mut w = [b' '; 8];
            w[..s.len()].copy_from_slice(s.as_bytes());
            let w = u64::from_le_bytes(w);
            let len = s.bytes().take_while(u8::is_ascii_digit).count();
            let want: u32 = s[..len].parse().unwrap();
            assert_eq!(digits_value(w, len), want, "{s}");
        }
    }

    #[test]
    fn block_masks_mark_digits_commas_and_newlines() {
        let mut block = [b'7'; 64];
        block[..12].copy_from_slice(b"0,9\n,/:\xff\xb0 5,");
        block[63] = b',';
        let m = block_masks(&block);
        let bits = |f: fn(u8) -> bool| {
            (0..64)
                .filter(|&j| f(block[j]))
                .fold(0u64, |acc, j| acc | 1 << j)
        };
        assert_eq!(m.digits, bits(|c| c.is_ascii_digit()));
        assert_eq!(m.commas, bits(|c| c == b','));
        assert_eq!(m.newlines, bits(|c| c == b'\n'));
        assert_eq!(m.commas, 1 << 1 | 1 << 4 | 1 << 11 | 1 << 63);
    }

    /// The block fast path and the byte loop hand over to each other wherever the layout
    /// breaks: spaces, blank lines, long numbers, a newline at a block's last byte.
    #[test]
    fn fast_path_hands_over_anywhere() {
        let (mut text, mut want) = (String::from("["), Vec::new());
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        for k in 0..200_000u32 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = match x % 7 {
                0 => (x >> 8) as u32,       // up to ten digits
                1 => (x >> 40) as u32 % 10, // one digit
                _ => (x >> 20) as u32 % 100_000_000,
            };
            if k > 0 {
                text.push_str(match (x >> 3) % 41 {
                    0 => " , ",
                    1 => "\n\n,",
                    2 => ",\n",
                    3 => "\t,",
                    4..=12 => "\n,",
                    _ => ",",
                });
            }
            if (x >> 9).is_multiple_of(97) {
                text.push_str(&format!("{v:0>10}"));
            } else {
                text.push_str(&v.to_string());
            }
            want.push(v);
        }
        text.push(']');
        assert_eq!(parse(&text).unwrap(), want);
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
        let e = parse("[10000000,20000000,3x000000,4]").unwrap_err();
        assert_eq!(e.offset, Some(20));
    }

    /// A long array in V8's layout, cut into many chunks with cuts moved to record starts.
    fn v8_like(records: u32, stride: u32) -> (String, Vec<u32>) {
        let mut s = String::from("[");
        let mut want = Vec::new();
        for r in 0..records {
            if r > 0 {
                s.push(',');
            }
            for f in 0..stride {
                let v = (r.wrapping_mul(2654435761) ^ f.wrapping_mul(40503))
                    % [10, 1000, 100_000_000, 4_000_000_000][(f % 4) as usize];
                if f > 0 {
                    s.push(',');
                }
                s.push_str(&v.to_string());
                want.push(v);
            }
            s.push('\n');
        }
        s.push(']');
        (s, want)
    }

    #[test]
    fn counting_to_the_end_equals_counting_a_known_array() {
        let (s, _) = v8_like(300_000, 3);
        let tail = format!("{{\"a\":{s},\"b\":[1,2]}}");
        let b = tail.as_bytes();
        let start = 5;
        let known = count_known(b, start, start + s.len()).unwrap();
        assert!(known.raw.len() >= 2, "{} chunks", known.raw.len());
        // Waves that end exactly at the last chunk, one before, and far past it.
        for wave in [1, known.raw.len() - 1, known.raw.len(), 100] {
            let found = count_in_waves(b, start, &|_, _| {}, wave).unwrap();
            assert_eq!(found.end(), start + s.len());
            assert_eq!(found.raw, known.raw, "wave {wave}");
            assert_eq!(found.commas, known.commas, "wave {wave}");
        }
        assert!(count_to_end(b"[1,2,3", 0, &|_, _| {}).is_err());
    }

    #[test]
    fn chunked_parse_equals_simple_split() {
        let (s, want) = v8_like(700_000, 1);
        assert_eq!(parse(&s).unwrap(), want);
    }

    #[test]
    fn records_never_straddle_chunks() {
        struct Rows<'a>(&'a mut [[u32; 7]], usize);
        impl RecordSink for Rows<'_> {
            fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
                self.0[self.1].copy_from_slice(rec);
                self.1 += 1;
                Ok(())
            }
        }
        let (s, want) = v8_like(400_000, 7);
        let b = s.as_bytes();
        let plan = plan(b, 0, b.len(), 7).unwrap();
        assert!(plan.chunks.len() > 4, "{} chunks", plan.chunks.len());
        assert_eq!(plan.values, want.len());
        assert!(plan.first.iter().all(|f| f % 7 == 0));
        let mut rows = vec![[0u32; 7]; plan.values / 7];
        let sinks = plan
            .split(&mut rows, 7)
            .into_iter()
            .map(|r| Rows(r, 0))
            .collect();
        parse_records(b, &plan, 7, sinks, &|_, _| {}).unwrap();
        assert_eq!(rows.concat(), want);
    }

    /// Rows of seven 64-bit values: wide values come through `record_wide`.
    struct Rows64<'a>(&'a mut [[u64; 7]], usize);
    impl RecordSink for Rows64<'_> {
        fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
            for (x, &v) in self.0[self.1].iter_mut().zip(rec) {
                *x = v as u64;
            }
            self.1 += 1;
            Ok(())
        }
        fn record_wide(&mut self, rec: &[u32], wide: &[WideValue]) -> Result<(), ParseError> {
            let at = self.1;
            self.record(rec)?;
            for w in wide {
                assert_eq!(rec[w.field], u32::MAX, "a wide value's place");
                self.0[at][w.field] = w.value;
            }
            Ok(())
        }
    }

    /// Parse `text` (records of seven) into 64-bit rows, both ways; both must agree.
    fn parse_rows64(text: &str) -> Result<Vec<u64>, ParseError> {
        let b = text.as_bytes();
        let plan = plan(b, 0, b.len(), 7)?;
        let mut results = Vec::new();
        for wide in [true, false] {
            let mut rows = vec![[0u64; 7]; plan.values / 7];
            let sinks = plan
                .split(&mut rows, 7)
                .into_iter()
                .map(|r| Rows64(r, 0))
                .collect();
            results.push(
                parse_records_with(b, &plan, 7, sinks, &|_, _| {}, wide).map(|_| rows.concat()),
            );
        }
        let narrow = results.pop().unwrap();
        let wide = results.pop().unwrap();
        assert_eq!(format!("{wide:?}"), format!("{narrow:?}"));
        wide
    }

    /// Values of 4294967295 and more anywhere — at chunk cuts, batch ends, in the fast
    /// path's blocks — reach the sink with their records, exact up to 2^64 - 1.
    #[test]
    fn wide_values_reach_the_sink_exactly() {
        let (mut text, mut want) = (String::from("["), Vec::new());
        let mut x = 0x2545_f491_4f6c_dd1du64;
        for k in 0..700_000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let v = match x % 997 {
                0 => u32::MAX as u64,
                1 => u64::MAX - (x >> 40),
                2..=4 => (5 << 30) + (x >> 48),
                5 => 1 << 32,
                _ => (x >> 20) % 100_000_000,
            };
            if k > 0 {
                text.push_str(if k % 7 == 0 { "\n," } else { "," });
            }
            text.push_str(&v.to_string());
            want.push(v);
        }
        text.push(']');
        assert!(want.iter().filter(|&&v| v >= u32::MAX as u64).count() > 3000);
        assert_eq!(parse_rows64(&text).unwrap(), want);

        // Past 64 bits: an error at the number.
        let e = parse_rows64("[1,2,3,18446744073709551616,5,6,7]").unwrap_err();
        assert_eq!(e.offset, Some(7));
        assert!(e.message.contains("too large"), "{}", e.message);
        // A sink that takes only 32 bits names the value (u32::MAX itself is one).
        assert_eq!(parse("[4294967295]").unwrap(), vec![u32::MAX]);
        let e = parse("[0,4294967296]").unwrap_err();
        assert_eq!(e.offset, Some(3));
        assert!(e
            .message
            .contains("too large: 4294967296 (more than 4294967295)"));
    }
}
