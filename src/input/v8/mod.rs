//! V8 `.heapsnapshot` reader: from bytes to flat columns, one per node and edge field.
//!
//! The file is one JSON object; only `snapshot.meta` is read with a JSON parser. The big
//! integer sections are parsed in parallel straight from the input bytes (see [`ints`]), the
//! strings likewise ([`strings`]). Field positions come from `meta` (5, 6 or 7 node fields);
//! node and edge type names are mapped to fixed codes, with unknown types kept by name.

pub mod ints;
pub mod scan;
pub mod strings;

use crate::error::ParseError;
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
    pub self_size: Vec<u32>,
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

/// Feed whole records of `stride` values to `f`, carrying a partial record over from one
/// chunk to the next.
fn for_each_record(
    stride: usize,
    carry: &mut Vec<u32>,
    mut vals: &[u32],
    f: &mut impl FnMut(&[u32]) -> Result<(), ParseError>,
) -> Result<(), ParseError> {
    if !carry.is_empty() {
        let take = (stride - carry.len()).min(vals.len());
        carry.extend_from_slice(&vals[..take]);
        vals = &vals[take..];
        if carry.len() < stride {
            return Ok(());
        }
        f(carry)?;
        carry.clear();
    }
    let mut recs = vals.chunks_exact(stride);
    for rec in &mut recs {
        f(rec)?;
    }
    carry.extend_from_slice(recs.remainder());
    Ok(())
}

/// `offset / stride` if it divides evenly; the usual strides are constants so that the
/// compiler turns the division into a multiply.
#[inline]
fn ordinal(offset: u32, stride: u32) -> Option<u32> {
    let (q, r) = match stride {
        7 => (offset / 7, offset % 7),
        6 => (offset / 6, offset % 6),
        5 => (offset / 5, offset % 5),
        s => (offset / s, offset % s),
    };
    (r == 0).then_some(q)
}

fn parse_nodes(
    b: &[u8],
    sec: &scan::Section,
    meta: &Meta,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<Snapshot, ParseError> {
    let stride = meta.node_roles.len();
    // Capacity is bounded by what the section can hold (each value takes at least two bytes),
    // never by the header's claim alone.
    let fits = (sec.end - sec.start) / (2 * stride.max(1));
    let cap = meta.node_count.map_or(fits, |c| (c as usize).min(fits));
    let mut s = Snapshot {
        node_type: Vec::with_capacity(cap),
        node_name: Vec::with_capacity(cap),
        node_id: Vec::with_capacity(cap),
        self_size: Vec::with_capacity(cap),
        edge_count: Vec::with_capacity(cap),
        ..Default::default()
    };
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
    if di.is_some() {
        s.detachedness.reserve_exact(cap);
    }
    let tmap = &meta.node_type_map;
    let mut carry = Vec::with_capacity(stride);
    let mut total = 0usize;
    let mut record = |rec: &[u32]| -> Result<(), ParseError> {
        let code = *tmap.get(rec[ti] as usize).ok_or_else(|| {
            ParseError::new(format!(
                "node {} has type {}, but meta lists {} node types",
                s.node_type.len(),
                rec[ti],
                tmap.len()
            ))
        })?;
        s.node_type.push(code);
        s.node_name.push(rec[ni]);
        s.node_id.push(rec[ii]);
        s.self_size.push(rec[si]);
        s.edge_count.push(rec[ei]);
        if let Some(di) = di {
            s.detachedness.push(rec[di].min(2) as u8);
        }
        Ok(())
    };
    ints::parse_u32_array(b, sec.start, sec.end, release, &mut |vals| {
        total += vals.len();
        for_each_record(stride, &mut carry, vals, &mut record)
    })?;
    if !carry.is_empty() {
        return Err(ParseError::at(
            sec.start,
            format!("the \"nodes\" array holds {total} numbers, not a multiple of the {stride} node fields"),
        ));
    }
    Ok(s)
}

type EdgeColumns = (Vec<u8>, Vec<u32>, Vec<u32>);

fn parse_edges(
    b: &[u8],
    sec: &scan::Section,
    meta: &Meta,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<EdgeColumns, ParseError> {
    let stride = meta.edge_stride;
    let node_stride = meta.node_roles.len() as u32;
    let fits = (sec.end - sec.start) / (2 * stride.max(1));
    let cap = meta.edge_count.map_or(fits, |c| (c as usize).min(fits));
    let (mut et, mut en, mut eto) = (
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
        Vec::with_capacity(cap),
    );
    let [ti, ni, toi] = meta.edge_roles;
    let tmap = &meta.edge_type_map;
    let mut carry = Vec::with_capacity(stride);
    let mut total = 0usize;
    let mut record = |rec: &[u32]| -> Result<(), ParseError> {
        let e = et.len();
        let code = *tmap.get(rec[ti] as usize).ok_or_else(|| {
            ParseError::new(format!(
                "edge {e} has type {}, but meta lists {} edge types",
                rec[ti],
                tmap.len()
            ))
        })?;
        let to = ordinal(rec[toi], node_stride).ok_or_else(|| {
            ParseError::new(format!(
                "edge {e} has to_node {}, which is not a multiple of the {node_stride} node fields",
                rec[toi]
            ))
        })?;
        et.push(code);
        en.push(rec[ni]);
        eto.push(to);
        Ok(())
    };
    ints::parse_u32_array(b, sec.start, sec.end, release, &mut |vals| {
        total += vals.len();
        for_each_record(stride, &mut carry, vals, &mut record)
    })?;
    if !carry.is_empty() {
        return Err(ParseError::at(
            sec.start,
            format!("the \"edges\" array holds {total} numbers, not a multiple of the {stride} edge fields"),
        ));
    }
    Ok((et, en, eto))
}

fn parse_locations(
    b: &[u8],
    sec: &scan::Section,
    meta: &Meta,
    release: &(dyn Fn(usize, usize) + Sync),
) -> Result<Vec<Location>, ParseError> {
    let stride = meta.location_stride;
    let node_stride = meta.node_roles.len() as u32;
    let mut out = Vec::new();
    let mut rec = vec![0u32; stride];
    let mut k = 0;
    ints::parse_u32_array(b, sec.start, sec.end, release, &mut |vals| {
        for &v in vals {
            rec[k] = v;
            k += 1;
            if k == stride {
                k = 0;
                let [o, s, l, c] = meta.location_roles;
                if rec[o] % node_stride == 0 {
                    out.push(Location {
                        node: rec[o] / node_stride,
                        script_id: rec[s],
                        line: rec[l],
                        column: rec[c],
                    });
                }
            }
        }
        Ok(())
    })?;
    Ok(out)
}

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
    if n >= u32::MAX as usize || m >= u32::MAX as usize {
        return Err(ParseError::new(
            "snapshot has more than 4 billion nodes or edges",
        ));
    }
    let owned: u64 = s.edge_count.iter().map(|&c| c as u64).sum();
    if owned != m as u64 {
        return Err(ParseError::at(
            nodes_at,
            format!("nodes own {owned} edges in total but the \"edges\" array holds {m}"),
        ));
    }
    if let Some(e) = s.edge_to.iter().position(|&t| t as usize >= n) {
        return Err(ParseError::at(
            edges_at,
            format!(
                "edge {e} points to node {} but there are only {n} nodes",
                s.edge_to[e]
            ),
        ));
    }
    let strings = s.strings.len() as u32;
    if let Some(i) = s.node_name.iter().position(|&x| x >= strings) {
        return Err(ParseError::at(
            nodes_at,
            format!(
                "node {i} names string {} but there are only {strings} strings",
                s.node_name[i]
            ),
        ));
    }
    let named = |t: u8| t != edge_kind::ELEMENT && t != edge_kind::HIDDEN;
    if let Some(e) = (0..m).find(|&e| named(s.edge_type[e]) && s.edge_name[e] >= strings) {
        return Err(ParseError::at(
            edges_at,
            format!(
                "edge {e} names string {} but there are only {strings} strings",
                s.edge_name[e]
            ),
        ));
    }
    let stride = meta.node_roles.len() as u64;
    if meta.root_offset % stride != 0 || meta.root_offset / stride >= n as u64 {
        return Err(ParseError::new(format!(
            "snapshot.root_index {} is not a node",
            meta.root_offset
        )));
    }
    s.root = (meta.root_offset / stride) as u32;
    s.locations.retain(|l| (l.node as usize) < n);
    Ok(())
}
