//! Helpers shared by the integration tests: a builder for small synthetic snapshots (for
//! edge cases real programs do not produce on demand), fixture paths, and an independent
//! reader of real snapshots through serde_json (the slow, obvious oracle).
#![allow(dead_code)]

use std::io::Read;
use std::path::{Path, PathBuf};

pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(rel)
}

/// Decompressed bytes of a committed `.gz` fixture.
pub fn gunzip_fixture(rel: &str) -> Vec<u8> {
    let f = std::fs::File::open(fixture(rel)).unwrap();
    let mut out = Vec::new();
    flate2::read::GzDecoder::new(f)
        .read_to_end(&mut out)
        .unwrap();
    out
}

/// One node of a synthetic snapshot.
pub struct SynthNode {
    pub ty: &'static str,
    pub name: String,
    pub id: u32,
    pub self_size: u32,
    pub detachedness: u32,
    /// (type, name or index, target ordinal)
    pub edges: Vec<(&'static str, String, usize)>,
}

/// A synthetic snapshot in V8's layout (7 node fields, V8's type lists).
#[derive(Default)]
pub struct Builder {
    pub nodes: Vec<SynthNode>,
}

const NODE_TYPES: [&str; 15] = [
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
const EDGE_TYPES: [&str; 7] = [
    "context", "element", "property", "internal", "hidden", "shortcut", "weak",
];

impl Builder {
    pub fn new() -> Builder {
        Builder::default()
    }
    /// Add a node; returns its ordinal.
    pub fn node(&mut self, ty: &'static str, name: &str, id: u32, self_size: u32) -> usize {
        self.nodes.push(SynthNode {
            ty,
            name: name.to_string(),
            id,
            self_size,
            detachedness: 0,
            edges: Vec::new(),
        });
        self.nodes.len() - 1
    }
    pub fn detached(&mut self, n: usize, state: u32) {
        self.nodes[n].detachedness = state;
    }
    /// Add an edge `from → to`. For `element`/`hidden` edges `name` is the index.
    pub fn edge(&mut self, from: usize, ty: &'static str, name: &str, to: usize) {
        self.nodes[from].edges.push((ty, name.to_string(), to));
    }
    pub fn json(&self) -> String {
        let mut strings: Vec<String> = vec!["<dummy>".into()];
        let mut string = |s: &str| -> usize {
            if let Some(i) = strings.iter().position(|x| x == s) {
                return i;
            }
            strings.push(s.to_string());
            strings.len() - 1
        };
        let mut node_vals = Vec::new();
        let mut edge_vals = Vec::new();
        for n in &self.nodes {
            let t = NODE_TYPES.iter().position(|x| *x == n.ty).unwrap();
            let nm = string(&n.name);
            node_vals.push(format!(
                "{t},{nm},{},{},{},0,{}",
                n.id,
                n.self_size,
                n.edges.len(),
                n.detachedness
            ));
            for (ety, ename, to) in &n.edges {
                let et = EDGE_TYPES.iter().position(|x| x == ety).unwrap();
                let en = if *ety == "element" || *ety == "hidden" {
                    ename.parse::<usize>().unwrap()
                } else {
                    string(ename)
                };
                edge_vals.push(format!("{et},{en},{}", to * 7));
            }
        }
        let strings: Vec<String> = strings
            .iter()
            .map(|s| serde_json::to_string(s).unwrap())
            .collect();
        format!(
            concat!(
                "{{\"snapshot\":{{\"meta\":{{\"node_fields\":[\"type\",\"name\",\"id\",\"self_size\",\"edge_count\",\"trace_node_id\",\"detachedness\"],",
                "\"node_types\":[{},\"string\",\"number\",\"number\",\"number\",\"number\",\"number\"],",
                "\"edge_fields\":[\"type\",\"name_or_index\",\"to_node\"],\"edge_types\":[{},\"string_or_number\",\"node\"],",
                "\"location_fields\":[\"object_index\",\"script_id\",\"line\",\"column\"]}},",
                "\"node_count\":{},\"edge_count\":{},\"trace_function_count\":0}},\n",
                "\"nodes\":[{}],\n\"edges\":[{}],\n\"trace_function_infos\":[],\n\"trace_tree\":[],\n\"samples\":[],\n\"locations\":[],\n\"strings\":[{}]}}\n"
            ),
            serde_json::to_string(&NODE_TYPES).unwrap(),
            serde_json::to_string(&EDGE_TYPES).unwrap(),
            self.nodes.len(),
            edge_vals.len(),
            node_vals.join(",\n"),
            edge_vals.join(",\n"),
            strings.join(",\n"),
        )
    }
    pub fn write(&self, dir: &Path, name: &str) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, self.json()).unwrap();
        p
    }
}

/// A real snapshot read the slow, obvious way: serde_json into a tree, then plain loops.
pub struct Plain {
    pub detached: Vec<bool>,
    pub types: Vec<String>,
    pub names: Vec<String>,
    pub ids: Vec<u64>,
    pub self_sizes: Vec<u64>,
}

pub fn read_plain(bytes: &[u8]) -> Plain {
    let v: serde_json::Value = serde_json::from_slice(bytes).unwrap();
    let meta = &v["snapshot"]["meta"];
    let fields: Vec<&str> = meta["node_fields"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let types: Vec<&str> = meta["node_types"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let strings: Vec<&str> = v["strings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap_or(""))
        .collect();
    let nodes = v["nodes"].as_array().unwrap();
    let k = fields.len();
    let at = |f: &str| fields.iter().position(|x| *x == f).unwrap();
    let (ti, ni, ii, si) = (at("type"), at("name"), at("id"), at("self_size"));
    let di = fields.iter().position(|x| *x == "detachedness");
    let mut p = Plain {
        detached: vec![],
        types: vec![],
        names: vec![],
        ids: vec![],
        self_sizes: vec![],
    };
    for rec in nodes.chunks(k) {
        p.detached
            .push(di.is_some_and(|d| rec[d].as_u64() == Some(2)));
        p.types
            .push(types[rec[ti].as_u64().unwrap() as usize].to_string());
        p.names
            .push(strings[rec[ni].as_u64().unwrap() as usize].to_string());
        p.ids.push(rec[ii].as_u64().unwrap());
        p.self_sizes.push(rec[si].as_u64().unwrap());
    }
    p
}

impl Plain {
    /// Class of node `i`, by the rules written out longhand (README "Class names").
    pub fn class(&self, i: usize) -> String {
        let name = &self.names[i];
        match self.types[i].as_str() {
            "hidden" => "(system)".into(),
            "code" => "(compiled code)".into(),
            "regexp" => "RegExp".into(),
            "closure" if name.is_empty() => "(anonymous)()".into(),
            "closure" => format!("{name}()"),
            "object" | "native" => {
                let base = match (name.starts_with('<'), name.find(' ')) {
                    (true, Some(sp)) => format!("{}>", &name[..sp]),
                    _ => name.clone(),
                };
                if self.detached[i] {
                    format!("Detached {base}")
                } else {
                    base
                }
            }
            t => format!("({t})"),
        }
    }
}
