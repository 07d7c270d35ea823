//! V8 `.heapsnapshot` reader: from bytes to flat columns, one per node and edge field.
//!
//! The file is one JSON object; only `snapshot.meta` is read with a JSON parser. The big
//! integer sections are parsed in parallel straight from the input bytes (see [`ints`]), the
//! strings likewise ([`strings`]). Field positions come from `meta` (5, 6 or 7 node fields);
//! node and edge type names are mapped to fixed codes, with unknown types kept by name.

mod bytemask;
pub mod ints;
pub mod scan;
pub mod sizes;
pub mod strings;

use crate::error::ParseError;
use rayon::prelude::*;
pub use sizes::SelfSizes;
pub use strings::Strings;

/// Node type codes, fixed whatever order a file lists its types in. A type this list does
/// not know gets a code past the end, with its name in [`Snapshot::node_type_names`].
pub mod node_kind {
    pub const HIDDEN: u8 = 0;
    pub const ARRAY: u8 = 1;
    pub const STRING: u8 = 2;
    pub const OBJECT: u8 = 3;
    pub const CODE: u8 = 4;
    pub const CLOSURE: u8 = 5;
    pub const REGEXP: u8 = 6;
    pub const NUMBER: u8 = 7;
    pub const NATIVE: u8 = 8;
    pub const SYNTHETIC: u8 = 9;
    pub const CONS_STRING: u8 = 10;
    pub const SLICED_STRING: u8 = 11;
    pub const SYMBOL: u8 = 12;
    pub const BIGINT: u8 = 13;
    pub const OBJECT_SHAPE: u8 = 14;
    pub const NAMES: [&str; 15] = [
        "hidden",
        "array",
        "string",
        "object",
        "code",
        "closure",
        "regexp",
        "number",
        "native",
        "synthetic",
        "concatenated string",
        "sliced string",
        "symbol",
        "bigint",
        "object shape",
    ];
}

/// Edge type codes, fixed like [`node_kind`].
pub mod edge_kind {
    pub const CONTEXT: u8 = 0;
    pub const ELEMENT: u8 = 1;
    pub const PROPERTY: u8 = 2;
    pub const INTERNAL: u8 = 3;
    pub const HIDDEN: u8 = 4;
    pub const SHORTCUT: u8 = 5;
    pub const WEAK: u8 = 6;
    pub const NAMES: [&str; 7] = [
        "context", "element", "property", "internal", "hidden", "shortcut", "weak",
    ];
}

/// `(object_index, script_id, line, column)` of a closure's source position.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub node: u32,
    pub script_id: u32,
    pub line: u32,
    pub column: u32,
}

/// A parsed snapshot: columns of node and edge fields, strings, and what meta said.
#[derive(Debug, Default)]
pub struct Snapshot {
    pub node_type: Vec<u8>,
    pub node_name: Vec<u32>,
    pub node_id: Vec<u32>,
    pub self_size: SelfSizes,
    /// Edges owned by each node, in node order (turned into `first_edge` by the graph).
    pub edge_count: Vec<u32>,
    /// 0 unknown, 1 attached, 2 detached; empty when the file has no such field.
    pub detachedness: Vec<u8>,
    pub edge_type: Vec<u8>,
    /// A `strings` index, or the element / hidden index for those edge types.
    pub edge_name: Vec<u32>,
    /// Target node ordinal (the file's `to_node` offset divided by the node field count).
    pub edge_to: Vec<u32>,
    pub strings: Strings,
    pub locations: Vec<Location>,
    pub root: u32,
    pub node_type_names: Vec<String>,
    pub edge_type_names: Vec<String>,
    /// `meta.node_fields` as found, for diagnostics.
    pub node_fields: Vec<String>,
    /// Wall time of the parse steps, for `--timings`.
    pub timings: Vec<(&'static str, std::time::Duration)>,
}

impl Snapshot {
    pub fn node_count(&self) -> usize {
        self.node_type.len()
    }
    pub fn edge_count_total(&self) -> usize {
        self.edge_to.len()
    }
}

/// Read fields named in `meta` once, so the parse loop only looks up a small table.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum NodeField {
    Type,
    Name,
    Id,
    SelfSize,
    EdgeCount,
    Detachedness,
    Ignored,
}

struct Meta {
    node_fields: Vec<String>,
    node_roles: Vec<NodeField>,
    node_type_map: Vec<u8>,
    node_type_names: Vec<String>,
    edge_roles: [usize; 3],
    edge_stride: usize,
    edge_type_map: Vec<u8>,
    edge_type_names: Vec<String>,
    location_stride: usize,
    location_roles: [usize; 4],
    node_count: Option<u64>,
    edge_count: Option<u64>,
    root_offset: u64,
}

fn str_list(v: &serde_json::Value, what: &str) -> Result<Vec<String>, ParseError> {
    v.as_array()
        .ok_or_else(|| ParseError::new(format!("snapshot.meta.{what} is not a list")))?
        .iter()
        .map(|x| {
            x.as_str()
                .map(str::to_owned)
                .ok_or_else(|| ParseError::new(format!("snapshot.meta.{what} holds a non-string")))
        })
        .collect()
}

/// Map a file's type names to our fixed codes, appending unknown names.
fn type_map(
    names: &[String],
    known: &[&str],
    what: &str,
) -> Result<(Vec<u8>, Vec<String>), ParseError> {
    let mut all: Vec<String> = known.iter().map(|s| s.to_string()).collect();
    let mut map = Vec::with_capacity(names.len());
    for n in names {
        let code = match all.iter().position(|k| k == n) {
            Some(c) => c,
            None => {
                all.push(n.clone());
                all.len() - 1
            }
        };
        if code > u8::MAX as usize {
            return Err(ParseError::new(format!(
                "snapshot.meta lists too many {what} types"
            )));
        }
        map.push(code as u8);
    }
    Ok((map, all))
}

fn parse_meta(b: &[u8], start: usize, end: usize) -> Result<Meta, ParseError> {
    let v: serde_json::Value = serde_json::from_slice(&b[start..end]).map_err(|e| {
        ParseError::at(start, format!("\"snapshot\" header is not valid JSON: {e}"))
    })?;
    let meta = v
        .get("meta")
        .ok_or_else(|| ParseError::at(start, "\"snapshot\" header has no \"meta\""))?;
    let field = |k: &str| {
        meta.get(k)
            .ok_or_else(|| ParseError::at(start, format!("snapshot.meta has no \"{k}\"")))
    };
    let node_fields = str_list(field("node_fields")?, "node_fields")?;
    let edge_fields = str_list(field("edge_fields")?, "edge_fields")?;
    let type_list = |k: &str| -> Result<Vec<String>, ParseError> {
        let first = field(k)?
            .get(0)
            .ok_or_else(|| ParseError::at(start, format!("snapshot.meta.{k} is empty")))?;
        str_list(first, k)
    };
    let node_types = type_list("node_types")?;
    let edge_types = type_list("edge_types")?;

    let node_roles: Vec<NodeField> = node_fields
        .iter()
        .map(|f| match f.as_str() {
            "type" => NodeField::Type,
            "name" => NodeField::Name,
            "id" => NodeField::Id,
            "self_size" => NodeField::SelfSize,
            "edge_count" => NodeField::EdgeCount,
            "detachedness" => NodeField::Detachedness,
            _ => NodeField::Ignored,
        })
        .collect();
    for (need, label) in [
        (NodeField::Type, "type"),
        (NodeField::Name, "name"),
        (NodeField::Id, "id"),
        (NodeField::SelfSize, "self_size"),
        (NodeField::EdgeCount, "edge_count"),
    ] {
        if node_roles.iter().filter(|r| **r == need).count() != 1 {
            return Err(ParseError::at(
                start,
                format!("snapshot.meta.node_fields must name \"{label}\" once"),
            ));
        }
    }
    let pos = |name: &str| {
        edge_fields.iter().position(|f| f == name).ok_or_else(|| {
            ParseError::at(
                start,
                format!("snapshot.meta.edge_fields has no \"{name}\""),
            )
        })
    };
    let edge_roles = [pos("type")?, pos("name_or_index")?, pos("to_node")?];
    let (node_type_map, node_type_names) = type_map(&node_types, &node_kind::NAMES, "node")?;
    let (edge_type_map, edge_type_names) = type_map(&edge_types, &edge_kind::NAMES, "edge")?;

    let (location_stride, location_roles) = match meta.get("location_fields") {
        Some(lf) => {
            let lf = str_list(lf, "location_fields")?;
            let p = |n: &str| lf.iter().position(|f| f == n);
            match (p("object_index"), p("script_id"), p("line"), p("column")) {
                (Some(a), Some(b), Some(c), Some(d)) => (lf.len(), [a, b, c, d]),
                _ => (0, [0; 4]),
            }
        }
        None => (0, [0; 4]),
    };
    let num = |k: &str| v.get(k).and_then(|x| x.as_u64());
    Ok(Meta {
        node_fields,
        node_roles,
        node_type_map,
        node_type_names,
        edge_roles,
        edge_stride: edge_fields.len(),
        edge_type_map,
        edge_type_names,
        location_stride,
        location_roles,
        node_count: num("node_count"),
        edge_count: num("edge_count"),
        root_offset: num("root_index").unwrap_or(0),
    })
}

/// Parse a whole snapshot. `release` is told which byte ranges are no longer needed.
pub fn parse(b: &[u8], release: &(dyn Fn(usize, usize) + Sync)) -> Result<Snapshot, ParseError> {
    let t = std::time::Instant::now();
    let sections = scan::top_level_sections(b, release)?;
    let scan_time = t.elapsed();
    let find = |k: &str| sections.iter().find(|s| s.key == k);
    let need = |k: &str| {
        find(k).ok_or_else(|| {
            if find("snapshot").is_none() {
                ParseError::new("JSON but not a V8 heap snapshot (no \"snapshot\" header)")
            } else {
                ParseError::new(format!("snapshot has no \"{k}\" section"))
            }
        })
    };
    let head = need("snapshot")?;
    let (nodes_sec, edges_sec, strings_sec) = (need("nodes")?, need("edges")?, need("strings")?);
    let meta = parse_meta(b, head.start, head.end)?;

    let ((nodes, edges), (strings, locations)) = rayon::join(
        || {
            rayon::join(
                || {
                    let t = std::time::Instant::now();
                    parse_nodes(b, nodes_sec, &meta, release).map(|s| (s, t.elapsed()))
                },
                || {
                    let t = std::time::Instant::now();
                    parse_edges(b, edges_sec, &meta, release).map(|e| (e, t.elapsed()))
                },
            )
        },
        || {
            rayon::join(
                || strings::parse_strings(b, strings_sec.start, strings_sec.end),
                || match find("locations") {
                    Some(sec) if meta.location_stride > 0 => {
                        parse_locations(b, sec, &meta, release)
                    }
                    _ => Ok(Vec::new()),
                },
            )
        },
    );
    let (mut snap, nodes_time) = nodes?;
    let ((edge_type, edge_name, edge_to), edges_time) = edges?;
    snap.timings = vec![
        ("scan sections", scan_time),
        ("parse nodes", nodes_time),
        ("parse edges", edges_time),
    ];
    snap.edge_type = edge_type;
    snap.edge_name = edge_name;
    snap.edge_to = edge_to;
    snap.strings = strings?;
    snap.locations = locations?;
    snap.node_type_names = meta.node_type_names.clone();
    snap.edge_type_names = meta.edge_type_names.clone();
    snap.node_fields = meta.node_fields.clone();
    validate(&mut snap, &meta, nodes_sec.start, edges_sec.start)?;
    Ok(snap)
}

/// Exact division by the node stride without a `div` per edge: `offset / stride` if it
/// divides evenly. The quotient is the high half of `offset × ⌈2^64 / stride⌉`, exact for
/// every 32-bit offset (Lemire, Kaser and Kurz, "Faster remainder by direct computation").
#[derive(Clone, Copy)]
struct Stride {
    d: u32,
    magic: u64,
}

impl Stride {
    fn new(d: u32) -> Stride {
        let d = d.max(1);
        // For d = 1 the magic would be 2^64; `ordinal` returns the offset itself instead.
        let magic = if d == 1 { 0 } else { u64::MAX / d as u64 + 1 };
        Stride { d, magic }
    }

    #[inline(always)]
    fn ordinal(self, offset: u32) -> Option<u32> {
        if self.d == 1 {
            return Some(offset);
        }
        let q = ((self.magic as u128 * offset as u128) >> 64) as u32;
        (q * self.d == offset).then_some(q)
    }
}

/// Plan an integer section for records of `stride` values, and check that its value count
/// fits that layout (after any syntax error, which is named first).
fn plan_section(
    b: &[u8],
    sec: &scan::Section,
    stride: usize,
    what: &str,
    unit: &str,
) -> Result<ints::Plan, ParseError> {
    let plan = match &sec.counted {
        Some(c) => ints::align(b, c, stride),
        None => ints::plan(b, sec.start, sec.end, stride)?,
    };
    if stride == 0 || plan.values % stride != 0 {
        ints::check_syntax(b, &plan)?;
        return Err(ParseError::at(
            sec.start,
            format!(
                "the \"{what}\" array holds {} numbers, not a multiple of the {stride} {unit}",
                plan.values
            ),
        ));
    }
    Ok(plan)
}

/// One chunk's share of the node columns.
struct NodeSink<'a> {
    first: usize,
    at: usize,
    fields: [usize; 5],
    detached_at: Option<usize>,
    type_map: &'a [u8],
    node_type: &'a mut [u8],
    node_name: &'a mut [u32],
    node_id: &'a mut [u32],
    self_size: &'a mut [u32],
    edge_count: &'a mut [u32],
    detachedness: Option<&'a mut [u8]>,
    /// `(node, size)` of the chunk's nodes whose `self_size` needs 64 bits (their column
    /// entry is [`SelfSizes::WIDE`]).
    wide_sizes: Vec<(u32, u64)>,
}

impl ints::RecordSink for NodeSink<'_> {
    #[inline(always)]
    fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
        let i = self.at;
        let [ti, ni, ii, si, ei] = self.fields;
        let Some(code) = self.type_map.get(rec[ti] as usize) else {
            return Err(ParseError::new(format!(
                "node {} has type {}, but meta lists {} node types",
                self.first + i,
                rec[ti],
                self.type_map.len()
            )));
        };
        if i >= self.node_type.len() {
            return Err(ParseError::new(
                "the \"nodes\" array holds more records than counted",
            ));
        }
        self.node_type[i] = *code;
        self.node_name[i] = rec[ni];
        self.node_id[i] = rec[ii];
        self.self_size[i] = rec[si];
        self.edge_count[i] = rec[ei];
        if let (Some(d), Some(col)) = (self.detached_at, self.detachedness.as_deref_mut()) {
            col[i] = rec[d].min(2) as u8;
        }
        self.at = i + 1;
        Ok(())
    }

    fn record_wide(&mut self, rec: &[u32], wide: &[ints::WideValue]) -> Result<(), ParseError> {
        let [ti, ni, ii, si, ei] = self.fields;
        let node = self.first + self.at;
        for w in wide {
            let name = match w.field {
                f if f == si => continue,
                f if f == ti => "type",
                f if f == ni => "name",
                f if f == ii => "id",
                f if f == ei => "edge_count",
                f if Some(f) == self.detached_at => "detachedness",
                // A field heapdiff does not read (`trace_node_id`, newer ones).
                _ => continue,
            };
            if w.value > u32::MAX as u64 {
                return Err(w.too_large(&format!("node {node}'s {name}")));
            }
        }
        self.record(rec)?;
        if let Some(w) = wide.iter().find(|w| w.field == si) {
            self.wide_sizes.push((node as u32, w.value));
        }
        Ok(())
    }
}

fn parse_nodes(
    b: &[u8],
    sec: &scan::Section,
    meta: &Meta,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<Snapshot, ParseError> {
    let stride = meta.node_roles.len();
    let at = |role: NodeField| meta.node_roles.iter().position(|r| *r == role);
    let (Some(ti), Some(ni), Some(ii), Some(si), Some(ei)) = (
        at(NodeField::Type),
        at(NodeField::Name),
        at(NodeField::Id),
        at(NodeField::SelfSize),
        at(NodeField::EdgeCount),
    ) else {
        return Err(ParseError::at(sec.start, "node fields missing from meta"));
    };
    let di = at(NodeField::Detachedness);
    let plan = plan_section(b, sec, stride, "nodes", "node fields")?;
    // Exactly as many records as the section holds numbers for: the counts come from the
    // bytes, not from a header.
    let n = plan.values / stride;
    let mut self_size = vec![0; n];
    let mut s = Snapshot {
        node_type: vec![0; n],
        node_name: vec![0; n],
        node_id: vec![0; n],
        // One slot more than nodes: the edge index appends the total in place
        // (`csr::build_edge_index`), which would otherwise move a full column to grow it.
        edge_count: {
            let mut v = vec![0; n + 1];
            v.truncate(n);
            v
        },
        detachedness: if di.is_some() { vec![0; n] } else { Vec::new() },
        ..Default::default()
    };
    let mut detached: Vec<Option<&mut [u8]>> = if di.is_some() {
        plan.split(&mut s.detachedness, stride)
            .into_iter()
            .map(Some)
            .collect()
    } else {
        plan.chunks.iter().map(|_| None).collect()
    };
    let mut sinks = Vec::with_capacity(plan.chunks.len());
    let mut ty = plan.split(&mut s.node_type, stride).into_iter();
    let mut name = plan.split(&mut s.node_name, stride).into_iter();
    let mut id = plan.split(&mut s.node_id, stride).into_iter();
    let mut size = plan.split(&mut self_size, stride).into_iter();
    let mut ec = plan.split(&mut s.edge_count, stride).into_iter();
    for (c, det) in detached.iter_mut().enumerate() {
        sinks.push(NodeSink {
            first: plan.first[c] / stride,
            at: 0,
            fields: [ti, ni, ii, si, ei],
            detached_at: di,
            type_map: &meta.node_type_map,
            node_type: ty.next().unwrap_or_default(),
            node_name: name.next().unwrap_or_default(),
            node_id: id.next().unwrap_or_default(),
            self_size: size.next().unwrap_or_default(),
            edge_count: ec.next().unwrap_or_default(),
            detachedness: det.take(),
            wide_sizes: Vec::new(),
        });
    }
    ints::parse_records(b, &plan, stride, sinks.iter_mut().collect(), release)?;
    // Chunks in node order: the side table comes out sorted.
    let wide = sinks.into_iter().flat_map(|k| k.wide_sizes).collect();
    s.self_size = SelfSizes::from_parts(self_size, wide);
    Ok(s)
}

type EdgeColumns = (Vec<u8>, Vec<u32>, Vec<u32>);

/// One chunk's share of the edge columns.
struct EdgeSink<'a> {
    first: usize,
    at: usize,
    fields: [usize; 3],
    node_stride: Stride,
    type_map: &'a [u8],
    edge_type: &'a mut [u8],
    edge_name: &'a mut [u32],
    edge_to: &'a mut [u32],
}

impl ints::RecordSink for EdgeSink<'_> {
    #[inline(always)]
    fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
        let i = self.at;
        let [ti, ni, toi] = self.fields;
        let e = self.first + i;
        let Some(code) = self.type_map.get(rec[ti] as usize) else {
            return Err(ParseError::new(format!(
                "edge {e} has type {}, but meta lists {} edge types",
                rec[ti],
                self.type_map.len()
            )));
        };
        let Some(to) = self.node_stride.ordinal(rec[toi]) else {
            return Err(ParseError::new(format!(
                "edge {e} has to_node {}, which is not a multiple of the {} node fields",
                rec[toi], self.node_stride.d
            )));
        };
        if i >= self.edge_type.len() {
            return Err(ParseError::new(
                "the \"edges\" array holds more records than counted",
            ));
        }
        self.edge_type[i] = *code;
        self.edge_name[i] = rec[ni];
        self.edge_to[i] = to;
        self.at = i + 1;
        Ok(())
    }

    fn record_wide(&mut self, rec: &[u32], wide: &[ints::WideValue]) -> Result<(), ParseError> {
        let e = self.first + self.at;
        for w in wide.iter().filter(|w| w.value > u32::MAX as u64) {
            let name = match self.fields.iter().position(|&f| f == w.field) {
                Some(0) => "type",
                Some(1) => "name_or_index",
                Some(_) => "to_node",
                None => continue,
            };
            return Err(w.too_large(&format!("edge {e}'s {name}")));
        }
        self.record(rec)
    }
}

fn parse_edges(
    b: &[u8],
    sec: &scan::Section,
    meta: &Meta,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<EdgeColumns, ParseError> {
    let stride = meta.edge_stride;
    let plan = plan_section(b, sec, stride, "edges", "edge fields")?;
    let m = plan.values / stride.max(1);
    let (mut et, mut en, mut eto) = (vec![0u8; m], vec![0u32; m], vec![0u32; m]);
    let sinks: Vec<EdgeSink> = plan
        .split(&mut et, stride)
        .into_iter()
        .zip(plan.split(&mut en, stride))
        .zip(plan.split(&mut eto, stride))
        .enumerate()
        .map(|(c, ((t, n), to))| EdgeSink {
            first: plan.first[c] / stride,
            at: 0,
            fields: meta.edge_roles,
            node_stride: Stride::new(meta.node_roles.len() as u32),
            type_map: &meta.edge_type_map,
            edge_type: t,
            edge_name: n,
            edge_to: to,
        })
        .collect();
    ints::parse_records(b, &plan, stride, sinks, release)?;
    Ok((et, en, eto))
}

/// One chunk's closure positions (few, so each chunk collects its own).
struct LocationSink {
    roles: [usize; 4],
    node_stride: Stride,
    out: Vec<Location>,
}

impl ints::RecordSink for LocationSink {
    fn record(&mut self, rec: &[u32]) -> Result<(), ParseError> {
        let [o, s, l, c] = self.roles;
        if let Some(node) = self.node_stride.ordinal(rec[o]) {
            self.out.push(Location {
                node,
                script_id: rec[s],
                line: rec[l],
                column: rec[c],
            });
        }
        Ok(())
    }

    fn record_wide(&mut self, rec: &[u32], wide: &[ints::WideValue]) -> Result<(), ParseError> {
        let names = ["object_index", "script_id", "line", "column"];
        for w in wide.iter().filter(|w| w.value > u32::MAX as u64) {
            if let Some(k) = self.roles.iter().position(|&f| f == w.field) {
                return Err(w.too_large(&format!("a location's {}", names[k])));
            }
        }
        self.record(rec)
    }
}

fn parse_locations(
    b: &[u8],
    sec: &scan::Section,
    meta: &Meta,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Location>, ParseError> {
    let stride = meta.location_stride;
    let plan = plan_section(b, sec, stride, "locations", "location fields")?;
    let mut parts: Vec<LocationSink> = plan
        .chunks
        .iter()
        .map(|_| LocationSink {
            roles: meta.location_roles,
            node_stride: Stride::new(meta.node_roles.len() as u32),
            out: Vec::new(),
        })
        .collect();
    ints::parse_records(b, &plan, stride, parts.iter_mut().collect(), release)?;
    Ok(parts.into_iter().flat_map(|p| p.out).collect())
}

/// The first index below `len` where `bad` holds, checked on all cores.
/// Each block is tested with a branch-free OR (which the compiler
/// vectorises) and only a failing block is searched for its first index;
/// rayon's `position_first` would pay a shared-state check per element.
fn first_where(len: usize, bad: impl Fn(usize) -> bool + Sync) -> Option<usize> {
    const BLOCK: usize = 1 << 16;
    let blocks = len.div_ceil(BLOCK);
    (0..blocks).into_par_iter().find_map_first(|b| {
        let range = b * BLOCK..len.min((b + 1) * BLOCK);
        if range.clone().fold(false, |acc, i| acc | bad(i)) {
            range.into_iter().find(|&i| bad(i))
        } else {
            None
        }
    })
}

/// The largest sum of self sizes a snapshot may have: 2^53 bytes (9 PB, beyond any heap a
/// 64-bit machine addresses). Every size, total and difference heapdiff computes is then
/// exact in a 64-bit integer, signed or not, and in a JSON number read as a double.
pub const MAX_TOTAL_SIZE: u64 = 1 << 53;

/// Cross-check the columns against each other and the header; every index that later code
/// follows is proven in range here.
fn validate(
    s: &mut Snapshot,
    meta: &Meta,
    nodes_at: usize,
    edges_at: usize,
) -> Result<(), ParseError> {
    let n = s.node_count();
    let m = s.edge_count_total();
    if let Some(c) = meta.node_count {
        if c != n as u64 {
            return Err(ParseError::at(
                nodes_at,
                format!("snapshot.node_count says {c} nodes but the \"nodes\" array holds {n}"),
            ));
        }
    }
    if let Some(c) = meta.edge_count {
        if c != m as u64 {
            return Err(ParseError::at(
                edges_at,
                format!("snapshot.edge_count says {c} edges but the \"edges\" array holds {m}"),
            ));
        }
    }
    if n == 0 {
        return Err(ParseError::at(nodes_at, "snapshot has no nodes"));
    }
    // Node numbers keep their top bit free (the dominators mark entries with it).
    if n >= 1 << 31 || m >= u32::MAX as usize {
        return Err(ParseError::new(
            "snapshot has more than 2 billion nodes or 4 billion edges",
        ));
    }
    let owned: u64 = s.edge_count.par_iter().map(|&c| c as u64).sum();
    if owned != m as u64 {
        return Err(ParseError::at(
            nodes_at,
            format!("nodes own {owned} edges in total but the \"edges\" array holds {m}"),
        ));
    }
    match s.self_size.total() {
        Some(t) if t <= MAX_TOTAL_SIZE => {}
        _ => {
            return Err(ParseError::at(
                nodes_at,
                format!(
                    "the nodes' self sizes add up to more than {MAX_TOTAL_SIZE} bytes (2^53, 9 PB)"
                ),
            ))
        }
    }
    if let Some(e) = first_where(m, |e| s.edge_to[e] as usize >= n) {
        return Err(ParseError::at(
            edges_at,
            format!(
                "edge {e} points to node {} but there are only {n} nodes",
                s.edge_to[e]
            ),
        ));
    }
    // V8 numbers strings with an `int`; past 2^32 the indexes below could not name them.
    let Ok(strings) = u32::try_from(s.strings.len()) else {
        return Err(ParseError::new("snapshot has more than 4 billion strings"));
    };
    if let Some(i) = first_where(n, |i| s.node_name[i] >= strings) {
        return Err(ParseError::at(
            nodes_at,
            format!(
                "node {i} names string {} but there are only {strings} strings",
                s.node_name[i]
            ),
        ));
    }
    let named = |t: u8| t != edge_kind::ELEMENT && t != edge_kind::HIDDEN;
    if let Some(e) = first_where(m, |e| named(s.edge_type[e]) & (s.edge_name[e] >= strings)) {
        return Err(ParseError::at(
            edges_at,
            format!(
                "edge {e} names string {} but there are only {strings} strings",
                s.edge_name[e]
            ),
        ));
    }
    let stride = meta.node_roles.len() as u64;
    if !meta.root_offset.is_multiple_of(stride) || meta.root_offset / stride >= n as u64 {
        return Err(ParseError::new(format!(
            "snapshot.root_index {} is not a node",
            meta.root_offset
        )));
    }
    s.root = (meta.root_offset / stride) as u32;
    s.locations.retain(|l| (l.node as usize) < n);
    // Looked up by node (V8 writes them in node order; a file that does not is sorted).
    if !s.locations.is_sorted_by_key(|l| l.node) {
        s.locations.sort_by_key(|l| l.node);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    /// A minimal snapshot: a synthetic root with one element edge to each of `sizes.len()`
    /// native nodes, whose `self_size` fields are the given text.
    fn minimal(sizes: &[&str]) -> String {
        let mut nodes = format!("9,1,1,0,{},0,0", sizes.len());
        let mut edges = Vec::new();
        for (k, size) in sizes.iter().enumerate() {
            nodes.push_str(&format!("\n,8,2,{},{size},0,0,0", 3 + 2 * k));
            edges.push(format!("1,{k},{}", 7 * (k + 1)));
        }
        format!(
            concat!(
                r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"#,
                r#""node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic"]],"#,
                r#""edge_fields":["type","name_or_index","to_node"],"#,
                r#""edge_types":[["context","element","property","internal","hidden","shortcut","weak"]]}},"#,
                r#""node_count":{},"edge_count":{}}},"nodes":[{}],"edges":[{}],"#,
                r#""strings":["","(root)","system / JSArrayBufferData"]}}"#
            ),
            sizes.len() + 1,
            sizes.len(),
            nodes,
            edges.join(","),
        )
    }

    /// `self_size` is a `size_t` in V8: 2^40 (and the sentinel's own value, and 2^32) are
    /// sizes; past 64 bits is an error at the number.
    #[test]
    fn self_sizes_take_64_bits() {
        let text = minimal(&["1099511627776", "4294967295", "4294967296", "12"]);
        let snap = super::parse(text.as_bytes(), &|_, _| {}).unwrap();
        let got: Vec<u64> = (0..5).map(|v| snap.self_size.get(v)).collect();
        assert_eq!(got, [0, 1 << 40, u32::MAX as u64, 1 << 32, 12]);
        assert_eq!(snap.self_size.column()[1], super::SelfSizes::WIDE);
        let g = crate::graph::HeapGraph::build(snap);
        let total = (1 << 40) + u32::MAX as u64 + (1 << 32) + 12;
        assert_eq!(g.total_size(), total);
        assert_eq!(g.retained_size[0], total);
        assert_eq!(g.retained_size[1], 1 << 40);
        let c = g
            .class_names
            .iter()
            .position(|n| n == "system / JSArrayBufferData");
        let stats = g.class_stats[c.unwrap()];
        assert_eq!(
            (stats.count, stats.self_size, stats.retained_size),
            (4, total, total)
        );

        let text = minimal(&["12", "18446744073709551616"]);
        let e = super::parse(text.as_bytes(), &|_, _| {}).unwrap_err();
        assert_eq!(
            e.offset,
            text.find("18446744073709551616").map(|p| p as u64)
        );
        assert!(e.message.contains("integer too large"), "{}", e.message);
    }

    /// Other node and edge fields are 32-bit in V8 and here: a wider value names its field.
    #[test]
    fn other_fields_stay_32_bit() {
        let text = minimal(&["12", "7"]).replace(",8,2,5,7,", ",8,2,4294967301,7,");
        let e = super::parse(text.as_bytes(), &|_, _| {}).unwrap_err();
        assert_eq!(e.offset, text.find("4294967301").map(|p| p as u64));
        assert_eq!(
            e.message,
            "node 2's id is too large: 4294967301 (more than 4294967295)"
        );
        let text = minimal(&["12", "7"]).replace("1,1,14", "1,1,4294967303");
        let e = super::parse(text.as_bytes(), &|_, _| {}).unwrap_err();
        assert_eq!(e.offset, text.find("4294967303").map(|p| p as u64));
        assert_eq!(
            e.message,
            "edge 1's to_node is too large: 4294967303 (more than 4294967295)"
        );
        // Two sizes each fine, together past 2^53.
        let half = (super::MAX_TOTAL_SIZE / 2 + 1).to_string();
        let e = super::parse(minimal(&[&half, &half]).as_bytes(), &|_, _| {}).unwrap_err();
        assert!(e.message.contains("add up to more than"), "{}", e.message);
        let ok = (super::MAX_TOTAL_SIZE / 2).to_string();
        assert!(super::parse(minimal(&[&ok, &ok]).as_bytes(), &|_, _| {}).is_ok());
    }

    #[test]
    fn stride_division_is_exact() {
        for d in 1..=9u32 {
            let s = super::Stride::new(d);
            let every_7919th = (1..=u32::MAX / 7919).step_by(4099).map(|k| k * 7919);
            let probes = (0..5000u32).chain([u32::MAX - 9, u32::MAX - 1, u32::MAX, 1 << 31]);
            for x in probes.chain(every_7919th) {
                let want = (x % d == 0).then_some(x / d);
                assert_eq!(s.ordinal(x), want, "{x} / {d}");
            }
        }
    }
}
