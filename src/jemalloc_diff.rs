//! Comparing two jemalloc heap profiles: growth by symbolized stack, and a per-function table
//! with flat and cumulative deltas (the numbers `jeprof --text --base` prints).
//!
//! This module owns the comparison and its output data; parsing is
//! [`crate::input::jemalloc`]'s, names are [`crate::symbolize`]'s, rendering is the report's.
//!
//! Stacks are matched by their frames' function names, never by raw addresses, so two dumps
//! of one program from two processes (different ASLR bases) compare correctly; jeprof keys on
//! addresses and gets such pairs wrong. Two call sites in one chain of functions therefore
//! merge into one stack, as they do in `jeprof --text`.
//!
//! - **flat** of a function: bytes of the stacks whose innermost (non-allocator) frame it is.
//! - **cum** of a function: bytes of the stacks that contain it, counted once per stack even
//!   when it recurses.
//!
//! All numbers are integers (counts are rounded once per stack when un-sampled, see
//! [`unsample`](mod@crate::input::jemalloc::unsample)), so stacks add up to functions
//! exactly. Rows with no change are left out. Order is deterministic: by delta (descending),
//! then by name.

use crate::fasthash::FastMap;
use crate::input::jemalloc::{Profile, Sampling};
use crate::symbolize::{FrameId, SymbolizeOptions, SymbolizedProfile, Symbolizer};
use serde::Serialize;
use std::sync::Arc;

/// The comparison of two dumps (or one dump against nothing: see [`summarize`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JemallocDiff {
    /// Sampling period of each dump in bytes (`[before, after]`); 0 when exact.
    pub sample_period: [u64; 2],
    /// Sums over all stacks of the un-sampled counts (never the dumps' header totals).
    pub totals: Totals,
    /// Stacks whose bytes or objects changed, by `bytes_delta` descending.
    pub stacks: Vec<StackDelta>,
    /// Functions whose flat or cum bytes changed, by `flat_delta` then `cum_delta`
    /// descending, then name.
    pub functions: Vec<FunctionDelta>,
    /// Problems met while symbolizing (missing or changed modules), each once.
    pub warnings: Vec<String>,
}

/// Whole-profile sums.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Totals {
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_delta: i64,
    pub objects_before: u64,
    pub objects_after: u64,
    pub objects_delta: i64,
}

/// One symbolized stack's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct StackDelta {
    /// Function names, innermost first, allocator frames removed.
    pub frames: Vec<Name>,
    pub bytes_before: u64,
    pub bytes_after: u64,
    pub bytes_delta: i64,
    pub objects_before: u64,
    pub objects_after: u64,
    pub objects_delta: i64,
}

/// A function name in a stack row. Rows share one allocation per name (a 200k-stack diff
/// would otherwise allocate millions of copies); serializes as a plain string, escaped once
/// per name rather than once per frame (a 200k-stack JSON report holds millions of frames).
#[derive(Debug, Clone)]
pub struct Name(Arc<NameText>);

#[derive(Debug)]
struct NameText {
    text: Box<str>,
    /// `text` as a JSON string literal, quotes and escapes included.
    json: Box<serde_json::value::RawValue>,
}

impl Name {
    pub fn new(text: &str) -> Name {
        let literal = serde_json::to_string(text).unwrap_or_else(|_| "\"\"".to_string());
        let json = serde_json::value::RawValue::from_string(literal)
            .unwrap_or_else(|_| serde_json::value::RawValue::NULL.to_owned());
        Name(Arc::new(NameText {
            text: text.into(),
            json,
        }))
    }
    pub fn as_str(&self) -> &str {
        &self.0.text
    }
}

impl std::ops::Deref for Name {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl std::fmt::Display for Name {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq for Name {
    fn eq(&self, other: &Name) -> bool {
        self.as_str() == other.as_str()
    }
}

impl Eq for Name {}

impl PartialEq<str> for Name {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Name {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl Serialize for Name {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        // serde_json (the one serializer of reports) writes a raw value as it is.
        self.0.json.serialize(s)
    }
}

/// One function's change.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FunctionDelta {
    /// Bare function name (or `module+0xoffset` when it could not be resolved).
    pub name: String,
    /// Source file of the location in this function that carries most of the change (for a
    /// leaking function: the allocation or call site), when DWARF knows it.
    pub file: Option<String>,
    pub line: Option<u32>,
    /// Bytes delta of stacks whose innermost frame is this function.
    pub flat_delta: i64,
    /// Bytes delta of stacks containing this function (once per stack).
    pub cum_delta: i64,
}

/// Symbolize both parsed profiles with one [`Symbolizer`] (so modules and
/// addresses are resolved once) and compare them.
pub fn diff_profiles(before: &Profile, after: &Profile, options: SymbolizeOptions) -> JemallocDiff {
    let mut sym = Symbolizer::new(options);
    let b = sym.symbolize(before);
    let a = sym.symbolize(after);
    diff(&sym, &b, &a)
}

/// One dump on its own: every stack as growth from nothing.
pub fn summarize(sym: &Symbolizer, profile: &SymbolizedProfile) -> JemallocDiff {
    let empty = SymbolizedProfile {
        stacks: Vec::new(),
        sampling: profile.sampling,
    };
    diff(sym, &empty, profile)
}

/// Un-sampled live bytes and objects of one side.
#[derive(Debug, Clone, Copy, Default)]
struct Side {
    bytes: u64,
    objects: u64,
}

fn delta(before: u64, after: u64) -> i64 {
    let d = i128::from(after) - i128::from(before);
    d.clamp(i128::from(i64::MIN), i128::from(i64::MAX)) as i64
}

fn period(s: Sampling) -> u64 {
    match s {
        Sampling::Unsampled => 0,
        Sampling::Poisson { period } => period,
        Sampling::Uniform { mean } => mean,
    }
}

/// Compare two profiles symbolized by `sym`.
pub fn diff(
    sym: &Symbolizer,
    before: &SymbolizedProfile,
    after: &SymbolizedProfile,
) -> JemallocDiff {
    // Function names as small ids: frames that differ only in file, line or inlining share a
    // name, and stacks are matched on names.
    let mut table = NameTable::new(sym);
    let mut merged: FastMap<Box<[u32]>, [Side; 2]> = FastMap::default();
    merged.reserve(before.stacks.len().max(after.stacks.len()));
    let mut key: Vec<u32> = Vec::new();
    for (side, profile) in [before, after].into_iter().enumerate() {
        for s in &profile.stacks {
            key.clear();
            key.extend(s.frames.iter().map(|&f| table.name_of(f)));
            // Look up by slice first: a boxed key is allocated only for a new stack.
            let e = match merged.get_mut(key.as_slice()) {
                Some(e) => e,
                None => merged.entry(key.as_slice().into()).or_default(),
            };
            e[side].bytes = e[side].bytes.saturating_add(s.bytes);
            e[side].objects = e[side].objects.saturating_add(s.objects);
        }
    }

    let mut totals = Totals {
        bytes_before: before.total_bytes(),
        bytes_after: after.total_bytes(),
        objects_before: before.total_objects(),
        objects_after: after.total_objects(),
        ..Totals::default()
    };
    totals.bytes_delta = delta(totals.bytes_before, totals.bytes_after);
    totals.objects_delta = delta(totals.objects_before, totals.objects_after);

    let NameTable {
        names, frame_name, ..
    } = table;

    // Per function: flat and cum, each stack counted once per function (`stamp` marks the
    // names already counted for the current stack).
    let mut flat = vec![0i64; names.len()];
    let mut cum = vec![0i64; names.len()];
    let mut stamp = vec![usize::MAX; names.len()];
    // Changed stacks, sorted on compact rows before any name is copied out.
    let mut rows: Vec<(i64, i64, &[u32], Side, Side)> = Vec::new();
    for (i, (k, [b, a])) in merged.iter().enumerate() {
        let bytes_delta = delta(b.bytes, a.bytes);
        let objects_delta = delta(b.objects, a.objects);
        if bytes_delta == 0 && objects_delta == 0 {
            continue;
        }
        if let Some(&inner) = k.first() {
            flat[inner as usize] = flat[inner as usize].saturating_add(bytes_delta);
        }
        for &n in k.iter() {
            if stamp[n as usize] != i {
                stamp[n as usize] = i;
                cum[n as usize] = cum[n as usize].saturating_add(bytes_delta);
            }
        }
        rows.push((bytes_delta, objects_delta, k, *b, *a));
    }
    // Ties are broken by the frames' names, compared through each name's rank in name
    // order (the same order as comparing the strings, without touching them). Keys are
    // distinct name sequences, so this order is total and the unstable sort deterministic.
    let mut by_name: Vec<u32> = (0..names.len() as u32).collect();
    by_name.sort_unstable_by_key(|&n| names[n as usize]);
    let mut rank = vec![0u32; names.len()];
    for (r, &n) in by_name.iter().enumerate() {
        rank[n as usize] = r as u32;
    }
    rows.sort_unstable_by(|x, y| {
        y.0.cmp(&x.0).then(y.1.cmp(&x.1)).then_with(|| {
            let xs = x.2.iter().map(|&n| rank[n as usize]);
            xs.cmp(y.2.iter().map(|&n| rank[n as usize]))
        })
    });
    let shared: Vec<Name> = names.iter().map(|n| Name::new(n)).collect();
    let stacks: Vec<StackDelta> = rows
        .iter()
        .map(|&(bytes_delta, objects_delta, k, b, a)| StackDelta {
            frames: k.iter().map(|&n| shared[n as usize].clone()).collect(),
            bytes_before: b.bytes,
            bytes_after: a.bytes,
            bytes_delta,
            objects_before: b.objects,
            objects_after: a.objects,
            objects_delta,
        })
        .collect();

    let locations = best_locations(sym, before, after, &frame_name, names.len());
    let mut functions: Vec<FunctionDelta> = (0..names.len())
        .filter(|&n| flat[n] != 0 || cum[n] != 0)
        .map(|n| {
            let (file, line) = locations[n]
                .map(|f| {
                    let fr = sym.frame(f);
                    (fr.file.clone(), fr.line)
                })
                .unwrap_or((None, None));
            FunctionDelta {
                name: names[n].to_string(),
                file,
                line,
                flat_delta: flat[n],
                cum_delta: cum[n],
            }
        })
        .collect();
    functions.sort_by(|x, y| {
        y.flat_delta
            .cmp(&x.flat_delta)
            .then(y.cum_delta.cmp(&x.cum_delta))
            .then_with(|| x.name.cmp(&y.name))
    });

    JemallocDiff {
        sample_period: [period(before.sampling), period(after.sampling)],
        totals,
        stacks,
        functions,
        warnings: sym.warnings().to_vec(),
    }
}

/// Function names of frames, interned on first use.
struct NameTable<'a> {
    frames: &'a [crate::symbolize::Frame],
    names: Vec<&'a str>,
    ids: FastMap<&'a str, u32>,
    /// Name id of each frame id; `u32::MAX` until first seen.
    frame_name: Vec<u32>,
}

impl<'a> NameTable<'a> {
    fn new(sym: &'a Symbolizer) -> Self {
        NameTable {
            frames: sym.frames(),
            names: Vec::new(),
            ids: FastMap::default(),
            frame_name: vec![u32::MAX; sym.frames().len()],
        }
    }

    fn name_of(&mut self, id: FrameId) -> u32 {
        let slot = &mut self.frame_name[id as usize];
        if *slot == u32::MAX {
            let n = self.frames[id as usize].function.as_str();
            let names = &mut self.names;
            *slot = *self.ids.entry(n).or_insert_with(|| {
                names.push(n);
                (names.len() - 1) as u32
            });
        }
        *slot
    }
}

/// Per function name, the frame (a source location in it) whose stacks carry the largest
/// absolute bytes delta; only frames with a file are candidates. Ties go to the smaller
/// (file, line), so the choice does not depend on hash order.
fn best_locations(
    sym: &Symbolizer,
    before: &SymbolizedProfile,
    after: &SymbolizedProfile,
    frame_name: &[u32],
    name_count: usize,
) -> Vec<Option<FrameId>> {
    // Net bytes per frame, each frame counted once per stack (`stamp` holds the last stack
    // that counted it).
    let n = sym.frames().len();
    let mut weight = vec![0i64; n];
    let mut stamp = vec![u32::MAX; n];
    let mut stack_no = 0u32;
    for (sign, profile) in [(-1i64, before), (1, after)] {
        for s in &profile.stacks {
            for &f in s.frames.iter() {
                if stamp[f as usize] == stack_no {
                    continue;
                }
                stamp[f as usize] = stack_no;
                let w = &mut weight[f as usize];
                *w = w.saturating_add(sign.saturating_mul(s.bytes as i64));
            }
            stack_no = stack_no.wrapping_add(1);
        }
    }
    let mut best: Vec<Option<(i64, FrameId)>> = vec![None; name_count];
    for (f, &w) in weight.iter().enumerate() {
        let f = f as FrameId;
        let n = frame_name[f as usize];
        if n == u32::MAX || w == 0 || sym.frame(f).file.is_none() {
            continue;
        }
        let slot = &mut best[n as usize];
        let better = match *slot {
            None => true,
            Some((bw, bf)) => {
                let (a, b) = (sym.frame(f), sym.frame(bf));
                w.unsigned_abs() > bw.unsigned_abs()
                    || (w.unsigned_abs() == bw.unsigned_abs()
                        && (&a.file, a.line) < (&b.file, b.line))
            }
        };
        if better {
            *slot = Some((w, f));
        }
    }
    best.into_iter().map(|b| b.map(|(_, f)| f)).collect()
}

/// The slow, obvious per-function table: for each stack (names innermost first, bytes delta),
/// flat goes to the first name, cum to every distinct name. Kept as the oracle for [`diff`].
pub fn function_table_reference(
    stacks: &[(Vec<String>, i64)],
) -> std::collections::BTreeMap<String, (i64, i64)> {
    let mut out: std::collections::BTreeMap<String, (i64, i64)> = std::collections::BTreeMap::new();
    for (names, d) in stacks {
        if let Some(first) = names.first() {
            out.entry(first.clone()).or_default().0 += d;
        }
        let distinct: std::collections::BTreeSet<&String> = names.iter().collect();
        for n in distinct {
            out.entry(n.clone()).or_default().1 += d;
        }
    }
    out.retain(|_, v| *v != (0, 0));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::symbolize::{Frame, SymbolizedStack};
    use proptest::prelude::*;

    fn frame(name: &str, line: u32) -> Frame {
        Frame {
            function: name.to_string(),
            file: Some(format!("{name}.c")),
            line: Some(line),
            module: "prog".into(),
            inlined: false,
            allocator: false,
            resolved: true,
        }
    }

    fn profile(sym: &mut Symbolizer, stacks: &[(&[(&str, u32)], u64)]) -> SymbolizedProfile {
        SymbolizedProfile {
            stacks: stacks
                .iter()
                .map(|(fs, bytes)| SymbolizedStack {
                    frames: fs.iter().map(|(n, l)| sym.intern(frame(n, *l))).collect(),
                    objects: bytes / 16,
                    bytes: *bytes,
                })
                .collect(),
            sampling: Sampling::Unsampled,
        }
    }

    #[test]
    fn flat_cum_and_recursion() {
        let mut sym = Symbolizer::new(SymbolizeOptions::addresses_only());
        let before = profile(&mut sym, &[(&[("leaf", 1), ("main", 9)], 160)]);
        let after = profile(
            &mut sym,
            &[
                (&[("leaf", 1), ("main", 9)], 480),
                // Same names, another line: the same stack.
                (&[("leaf", 2), ("main", 9)], 160),
                // Recursion: `rec` counted once in cum.
                (&[("rec", 5), ("rec", 6), ("main", 10)], 320),
            ],
        );
        let d = diff(&sym, &before, &after);
        assert_eq!(d.totals.bytes_delta, 800);
        assert_eq!(d.stacks.len(), 2);
        assert_eq!(d.stacks[0].frames, ["leaf", "main"]);
        assert_eq!(d.stacks[0].bytes_delta, 480);
        assert_eq!(d.stacks[0].bytes_before, 160);
        assert_eq!(d.stacks[1].frames, ["rec", "rec", "main"]);
        let f = |n: &str| d.functions.iter().find(|f| f.name == n).expect(n);
        assert_eq!((f("leaf").flat_delta, f("leaf").cum_delta), (480, 480));
        assert_eq!((f("rec").flat_delta, f("rec").cum_delta), (320, 320));
        assert_eq!((f("main").flat_delta, f("main").cum_delta), (0, 800));
        assert_eq!(d.functions[0].name, "leaf");
        // leaf's line 1 carries +320, line 2 +160: line 1 is where the growth is.
        assert_eq!(f("leaf").line, Some(1));
        assert_eq!(f("main").line, Some(9));
    }

    #[test]
    fn unchanged_rows_are_dropped_and_order_is_stable() {
        let mut sym = Symbolizer::new(SymbolizeOptions::addresses_only());
        let s: &[(&[(&str, u32)], u64)] =
            &[(&[("a", 1)], 100), (&[("b", 1)], 100), (&[("c", 1)], 50)];
        let before = profile(&mut sym, &s[2..]);
        let after = profile(&mut sym, s);
        let d = diff(&sym, &before, &after);
        let names: Vec<_> = d.stacks.iter().map(|s| s.frames[0].as_str()).collect();
        assert_eq!(names, ["a", "b"], "ties by name; unchanged c dropped");
        let fnames: Vec<_> = d.functions.iter().map(|f| f.name.as_str()).collect();
        assert_eq!(fnames, ["a", "b"]);
    }

    proptest! {
        #[test]
        fn function_table_matches_reference(
            before in prop::collection::vec((prop::collection::vec(0usize..6, 1..6), 0u64..10_000), 0..12),
            after in prop::collection::vec((prop::collection::vec(0usize..6, 1..6), 0u64..10_000), 0..12),
        ) {
            let names = ["a", "b", "c", "d", "e", "f"];
            let mut sym = Symbolizer::new(SymbolizeOptions::addresses_only());
            let mut side = |stacks: &[(Vec<usize>, u64)]| SymbolizedProfile {
                stacks: stacks.iter().map(|(fs, bytes)| SymbolizedStack {
                    // Two lines per name, so frames differ where names do not.
                    frames: fs.iter().enumerate().map(|(j, &n)| sym.intern(frame(names[n], (j % 2) as u32))).collect(),
                    objects: 1,
                    bytes: *bytes,
                }).collect(),
                sampling: Sampling::Unsampled,
            };
            let (b, a) = (side(&before), side(&after));
            let d = diff(&sym, &b, &a);
            let mut rows: Vec<(Vec<String>, i64)> = Vec::new();
            for (sign, stacks) in [(-1i64, &before), (1, &after)] {
                for (fs, bytes) in stacks.iter() {
                    rows.push((fs.iter().map(|&n| names[n].to_string()).collect(), sign * *bytes as i64));
                }
            }
            let want = function_table_reference(&rows);
            let got: std::collections::BTreeMap<String, (i64, i64)> =
                d.functions.iter().map(|f| (f.name.clone(), (f.flat_delta, f.cum_delta))).collect();
            prop_assert_eq!(got, want);
            let stack_sum: i64 = d.stacks.iter().map(|s| s.bytes_delta).sum();
            prop_assert_eq!(stack_sum, d.totals.bytes_delta);
        }
    }
}
