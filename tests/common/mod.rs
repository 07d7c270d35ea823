//! Helpers shared by the integration tests: a builder for small synthetic snapshots (for
//! edge cases real programs do not produce on demand), fixture paths, and an independent
//! reader of real snapshots through serde_json (the slow, obvious oracle), and the JSON Schema
//! check every parsed report goes through (`schema`).
#![allow(dead_code)]

pub mod live;
pub mod schema;

use std::io::Read;
use std::path::{Path, PathBuf};

/// `heapdiff --format json ARGS`: its exit code one of `codes` (0; 1 where a gate may be
/// breached), its report parsed and validated against the schema.
pub fn json_report<S: AsRef<std::ffi::OsStr>>(args: &[S], codes: &[i32]) -> serde_json::Value {
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_heapdiff"))
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let argv: Vec<_> = args.iter().map(|a| a.as_ref().to_string_lossy()).collect();
    assert!(
        out.status.code().is_some_and(|c| codes.contains(&c)),
        "{argv:?}: {:?}: {}",
        out.status.code(),
        String::from_utf8_lossy(&out.stderr)
    );
    schema::parse(&out.stdout)
}

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
    let mut state: Vec<u64> = Vec::new();
    for rec in nodes.chunks(k) {
        state.push(di.map_or(0, |d| rec[d].as_u64().unwrap()));
        p.types
            .push(types[rec[ti].as_u64().unwrap() as usize].to_string());
        p.names
            .push(strings[rec[ni].as_u64().unwrap() as usize].to_string());
        p.ids.push(rec[ii].as_u64().unwrap());
        p.self_sizes.push(rec[si].as_u64().unwrap());
    }
    // The DOM state spread longhand (README "Class names"): repeat until nothing changes,
    // first attached, then detached, from native node to native node over every edge but
    // hidden and weak ones; a node's own mark stays.
    let edge_fields = meta["edge_fields"].as_array().unwrap().len();
    let edge_types: Vec<&str> = meta["edge_types"][0]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap())
        .collect();
    let ec = at("edge_count");
    let mut edges: Vec<(usize, usize)> = Vec::new();
    let raw_edges = v["edges"].as_array().unwrap();
    let mut next = 0;
    for (from, rec) in nodes.chunks(k).enumerate() {
        for _ in 0..rec[ec].as_u64().unwrap() {
            let e = &raw_edges[next * edge_fields..(next + 1) * edge_fields];
            next += 1;
            let ty = edge_types[e[0].as_u64().unwrap() as usize];
            if ty != "hidden" && ty != "weak" {
                edges.push((from, e[2].as_u64().unwrap() as usize / k));
            }
        }
    }
    let marked: Vec<bool> = state.iter().map(|&s| s != 0).collect();
    let native = |i: usize| p.types[i] == "native";
    for spread in [1, 2] {
        loop {
            let mut changed = false;
            for &(f, t) in &edges {
                if state[f] == spread && native(f) && native(t) && state[t] == 0 && !marked[t] {
                    state[t] = spread;
                    changed = true;
                }
            }
            if !changed {
                break;
            }
        }
    }
    p.detached = state.iter().map(|&s| s == 2).collect();
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
            "synthetic" if !name.is_empty() => name.clone(),
            "closure" if name.is_empty() => "(anonymous)()".into(),
            "closure" => format!("{name}()"),
            "object" | "native" => {
                let base = match (name.starts_with('<'), name.find(' ')) {
                    (true, Some(sp)) => format!("{}>", &name[..sp]),
                    _ if name.starts_with("system / Context / scope @") => {
                        "system / Context".to_string()
                    }
                    _ => name.clone(),
                };
                if self.detached[i] && self.types[i] == "native" {
                    format!("Detached {base}")
                } else {
                    base
                }
            }
            t => format!("({t})"),
        }
    }
}

/// Where a synthetic heap's snapshot was written from.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Taken {
    /// While idle (a signal, the inspector): only the embedder keeps the program's scopes.
    Idle,
    /// From running code (`v8.writeHeapSnapshot()` in a handler or at top level): the stack
    /// and a handle scope hold the module scope and some values directly.
    Running,
}

/// A synthetic heap laid out as V8 writes one, for edge cases real programs do not produce
/// on demand. Node: the synthetic root holds `(GC roots)` (with its subroots), the global
/// object by a shortcut edge, and `Node / Environment`; a program's module scope is a
/// `system / Context` whose `previous` is the `NativeContext`, referenced by the module's
/// functions (whose `SharedFunctionInfo` names the script), and kept alive by an embedder
/// handle (a server's listener) — or, mid-execution, by the stack. Chromium: the root holds
/// only `(GC roots)`; the page's `Window` hangs under `(Global handles)` →
/// `V8PerContextData` → `NativeContext`, and script-level `let`/`const` live in a script
/// context listed in the `ScriptContextTable`.
pub struct V8Heap {
    pub b: Builder,
    pub root: usize,
    pub gc_roots: usize,
    pub stack: usize,
    pub handles: usize,
    pub global_handles: usize,
    pub native_context: usize,
    pub global: usize,
    /// The program's top-level scope (Node: a module scope; Chromium: a script context).
    pub scope: usize,
    next_id: u32,
    stack_slots: u32,
}

impl V8Heap {
    fn base(chromium: bool) -> V8Heap {
        let mut b = Builder::new();
        let root = b.node("synthetic", "", 1, 0);
        let gc_roots = b.node("synthetic", "(GC roots)", 3, 0);
        b.edge(root, "element", "1", gc_roots);
        let sub = |b: &mut Builder, name: &str, id: u32, idx: &str| {
            let n = b.node("synthetic", name, id, 0);
            b.edge(gc_roots, "element", idx, n);
            n
        };
        let _strong = sub(&mut b, "(Strong roots)", 5, "1");
        let stack = sub(&mut b, "(Stack roots)", 7, "2");
        let handles = sub(&mut b, "(Handle scope)", 9, "3");
        let global_handles = sub(&mut b, "(Global handles)", 11, "4");
        let native_context = b.node(
            if chromium { "native" } else { "hidden" },
            if chromium {
                "system / NativeContext / https://shop.test"
            } else {
                "system / NativeContext"
            },
            13,
            1244,
        );
        let global = b.node(
            "object",
            if chromium {
                "Window [JSGlobalObject] / https://shop.test"
            } else {
                "global"
            },
            15,
            40,
        );
        b.edge(native_context, "internal", "global_object", global);
        let mut h = V8Heap {
            b,
            root,
            gc_roots,
            stack,
            handles,
            global_handles,
            native_context,
            global,
            scope: 0,
            next_id: 101,
            stack_slots: 0,
        };
        if chromium {
            // (Global handles) → V8PerContextData → NativeContext; the script context table.
            let per_context = h.obj("native", "V8PerContextData", 64);
            h.b.edge(global_handles, "element", "1", per_context);
            h.b.edge(per_context, "internal", "context_", native_context);
            let table = h.obj("native", "system / ScriptContextTable", 80);
            h.b.edge(native_context, "internal", "script_context_table", table);
            let scope = h.obj("object", "system / Context / scope @457", 20);
            h.b.edge(table, "hidden", "1", scope);
            h.b.edge(scope, "internal", "previous", native_context);
            h.scope = scope;
        } else {
            let env = h.b.node("synthetic", "Node / Environment", 17, 0);
            h.b.edge(root, "element", "2", env);
            h.b.edge(root, "shortcut", "3", global);
            h.b.edge(global, "internal", "native_context", native_context);
            h.b.edge(global_handles, "element", "1", native_context);
            let scope = h.obj("object", "system / Context", 64);
            h.b.edge(scope, "internal", "previous", native_context);
            h.scope = scope;
            // The module's request handler, kept by the server: an embedder handle.
            let handler = h.function("handleRequest", "/srv/app.js");
            h.b.edge(handler, "internal", "context", scope);
            let wrap = h.obj("native", "Node / TCPServerWrap", 96);
            h.b.edge(env, "element", "1", wrap);
            let server = h.obj("object", "Server", 56);
            h.b.edge(wrap, "internal", "owner_symbol", server);
            let events = h.obj("object", "Object", 32);
            h.b.edge(server, "property", "_events", events);
            h.b.edge(events, "property", "request", handler);
        }
        h
    }
    /// A Node process's heap, with one module scope.
    pub fn node(taken: Taken) -> V8Heap {
        let mut h = V8Heap::base(false);
        if taken == Taken::Running {
            let scope = h.scope;
            h.on_stack(scope);
        }
        h
    }
    /// A Chromium page's heap: only `(GC roots)` under the root.
    pub fn chromium() -> V8Heap {
        V8Heap::base(true)
    }
    /// A fresh id (odd, as V8 numbers heap objects).
    pub fn id(&mut self) -> u32 {
        self.next_id += 2;
        self.next_id
    }
    /// Use ids from `from` on (so that objects of two snapshots match, or do not).
    pub fn ids_from(&mut self, from: u32) {
        self.next_id = from | 1;
    }
    pub fn obj(&mut self, ty: &'static str, name: &str, size: u32) -> usize {
        let id = self.id();
        self.b.node(ty, name, id, size)
    }
    /// A closure with its `SharedFunctionInfo` and script.
    pub fn function(&mut self, name: &str, script: &str) -> usize {
        let f = self.obj("closure", name, 64);
        let sfi = self.obj("code", name, 56);
        self.b.edge(f, "internal", "shared", sfi);
        let sc = self.obj("code", script, 144);
        self.b.edge(sfi, "internal", "script_or_debug_info", sc);
        f
    }
    /// A variable of the program's top-level scope.
    pub fn var(&mut self, name: &str, ty: &'static str, class: &str) -> usize {
        let n = self.obj(ty, class, 32);
        let scope = self.scope;
        self.b.edge(scope, "context", name, n);
        n
    }
    /// A property of the global object.
    pub fn global_prop(&mut self, name: &str, ty: &'static str, class: &str) -> usize {
        let n = self.obj(ty, class, 32);
        let g = self.global;
        self.b.edge(g, "property", name, n);
        n
    }
    /// A stack slot of the running code holds `n` (an internal edge of `(Stack roots)`, and
    /// a handle of `(Handle scope)`).
    pub fn on_stack(&mut self, n: usize) {
        self.stack_slots += 1;
        let (stack, handles, slot) = (self.stack, self.handles, self.stack_slots.to_string());
        self.b.edge(stack, "internal", &slot, n);
        self.b.edge(handles, "internal", &slot, n);
    }
    /// A Map holding `values` under string keys, laid out as V8 does (entries of three
    /// slots: key, value, chain); returns the value nodes.
    pub fn map_entries(&mut self, map: usize, values: &[(u32, &str)]) -> Vec<usize> {
        let table = self.obj("array", "", 16 + 24 * values.len() as u32);
        self.b.edge(map, "internal", "table", table);
        let mut out = Vec::new();
        for (i, (id, class)) in values.iter().enumerate() {
            let key = self.b.node("string", &format!("key:{id}"), id + 1, 32);
            let v = self.b.node("object", class, *id, 40);
            let slot = 5 + 3 * i;
            self.b.edge(table, "internal", &slot.to_string(), key);
            self.b.edge(table, "internal", &(slot + 1).to_string(), v);
            out.push(v);
        }
        out
    }
    pub fn write(&self, dir: &Path, name: &str) -> String {
        self.b.write(dir, name).to_string_lossy().into_owned()
    }
}
