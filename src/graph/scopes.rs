//! Scopes and scripts: which nodes are a program's own roots — its global objects and the
//! top-level scopes of its modules and scripts — and which scopes and objects belong to the
//! runtime (Node's `node:` modules, V8 and Blink internals) rather than to the program.
//!
//! What a snapshot shows (Node 20, Chromium 156):
//! - A closure has internal edges `context` (its scope, a `system / Context`) and `shared`
//!   (its `SharedFunctionInfo`), which points at its `Script` (`script_or_debug_info` in
//!   Node 20, `script` in newer V8); a Script's `name` edge is its URL (`/srv/app.js`,
//!   `node:internal/timers`, `https://…/app.js`).
//! - A context's `previous` edge leads to its enclosing scope. In Node every file is wrapped
//!   in a function, so a context whose `previous` is the `NativeContext` is a module scope
//!   (CommonJS). In a page, a top-level function's context also hangs from the
//!   `NativeContext`, so there only the script contexts listed in the `ScriptContextTable`
//!   (a classic script's `let`/`const`) are top-level scopes, and ES module scopes.
//! - Global objects are `global` (Node) and `Window …` (Chromium), wherever they hang.
//!
//! One pass over the closures finds the top-level scopes and their scripts; everything
//! else is looked up per node, for the few nodes an owner rule asks about.

use super::HeapGraph;
use crate::fasthash::FastMap;
use crate::input::v8::{edge_kind, node_kind};

/// The string ids of the edge names scopes are found by (`None`: not in this snapshot).
#[derive(Debug, Clone, Default)]
pub struct Vocab {
    pub context: Option<u32>,
    pub shared: Option<u32>,
    pub script: Option<u32>,
    pub script_or_debug_info: Option<u32>,
    pub previous: Option<u32>,
    pub name: Option<u32>,
    pub map: Option<u32>,
    pub constructor: Option<u32>,
    pub this: Option<u32>,
    pub extension: Option<u32>,
    pub value: Option<u32>,
    pub exports: Option<u32>,
}

impl Vocab {
    pub fn of(g: &HeapGraph) -> Vocab {
        let ids = string_ids(
            g,
            &[
                "context",
                "shared",
                "script",
                "script_or_debug_info",
                "previous",
                "name",
                "map",
                "constructor",
                "this",
                "extension",
                "value",
                "exports",
            ],
        );
        Vocab {
            context: ids[0],
            shared: ids[1],
            script: ids[2],
            script_or_debug_info: ids[3],
            previous: ids[4],
            name: ids[5],
            map: ids[6],
            constructor: ids[7],
            this: ids[8],
            extension: ids[9],
            value: ids[10],
            exports: ids[11],
        }
    }
}

/// The string index of each of `names` in `g` (`None` when absent): one pass over the
/// strings. V8 writes each distinct string once, so one index per name is enough.
pub fn string_ids(g: &HeapGraph, names: &[&str]) -> Vec<Option<u32>> {
    g.string_ids(names)
}

/// Whose code a scope or object is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Owner {
    /// The program's (its files, its libraries).
    Program,
    /// The runtime's: Node's `node:` modules, V8 and the embedder.
    Runtime,
}

/// Whether a script URL is the runtime's: Node's built-in modules (`node:…`), V8's own
/// scripts (no name), browser extensions and DevTools.
pub fn is_runtime_script(url: &str) -> bool {
    const RUNTIME_PREFIXES: &[&str] = &[
        "node:",
        "internal/",
        "chrome-extension:",
        "chrome:",
        "devtools:",
        "extensions::",
        "v8/",
    ];
    url.is_empty() || RUNTIME_PREFIXES.iter().any(|p| url.starts_with(p))
}

/// Class names of global objects (Node's `global`, a page's `Window`).
pub fn is_global_class(name: &str) -> bool {
    name == "global"
        || name == "Window"
        || name.starts_with("Window / ")
        || name.starts_with("Window [JSGlobalObject]")
}

/// The top-level scopes and global objects of one snapshot.
#[derive(Debug, Default)]
pub struct Scopes {
    pub vocab: Vocab,
    /// Top-level scope contexts (module scopes, script contexts) and whose they are.
    pub top_level: FastMap<u32, Owner>,
    /// Global objects (`global`, `Window …`).
    pub globals: Vec<u32>,
    /// The `Script` node of each script id of `locations`.
    pub script_of_id: FastMap<u32, u32>,
    /// ES module exports: the `Cell` of each exported binding and the string id of its name.
    pub export_cells: FastMap<u32, u32>,
    /// What each class is, for the owner rule (`role` bits), by class index.
    class_roles: Vec<u8>,
}

/// Bits of `Scopes::class_roles`.
mod role {
    pub const GLOBAL: u8 = 1;
    pub const MODULE: u8 = 2;
    pub const DOM: u8 = 4;
    pub const CONTEXT: u8 = 8;
    pub const RUNTIME: u8 = 16;
}

impl Scopes {
    /// Find the top-level scopes (one pass over the closures and the script context
    /// tables) and the global objects.
    pub fn find(g: &HeapGraph) -> Scopes {
        let vocab = Vocab::of(g);
        let node_heap = g
            .node(g.root)
            .edges()
            .any(|(_, t)| t.kind() == node_kind::SYNTHETIC && t.name() == "Node / Environment")
            || g.node(g.root).edges().any(|(e, t)| {
                g.edge_type[e as usize] == edge_kind::SHORTCUT && t.name() == "global"
            });
        let class_roles = g
            .class_names
            .iter()
            .map(|c| {
                let mut r = 0;
                if is_global_class(c) {
                    r |= role::GLOBAL;
                }
                if c == "Module" {
                    r |= role::MODULE;
                }
                if crate::trace::owner::is_dom_class(c) {
                    r |= role::DOM;
                }
                if c.starts_with("system / Context") {
                    r |= role::CONTEXT;
                }
                if crate::trace::owner::RUNTIME_CLASSES.contains(&c.as_str()) {
                    r |= role::RUNTIME;
                }
                r
            })
            .collect();
        let mut s = Scopes {
            vocab,
            class_roles,
            ..Default::default()
        };
        // Script ids of the closures that have a location.
        let mut script_id_of: FastMap<u32, u32> = FastMap::default();
        for l in &g.locations {
            if g.node_type.get(l.node as usize) == Some(&node_kind::CLOSURE) {
                script_id_of.insert(l.node, l.script_id);
            }
        }
        let mut checked: FastMap<u32, bool> = FastMap::default();
        let mut runtime_script: FastMap<u32, bool> = FastMap::default();
        // Per class and per name string: one lookup per node, no string work.
        let names = string_ids(
            g,
            &["system / SourceTextModule", "system / ScriptContextTable"],
        );
        let (module_name, table_name) = (names[0], names[1]);
        for v in 0..g.node_count() as u32 {
            let kind = g.node_type[v as usize];
            if kind == node_kind::CLOSURE {
                let script = s.script_of_function(g, v);
                if let (Some(script), Some(&id)) = (script, script_id_of.get(&v)) {
                    s.script_of_id.entry(id).or_insert(script);
                }
                let Some(ctx) = s.edge_to(g, v, edge_kind::INTERNAL, s.vocab.context) else {
                    continue;
                };
                let top = *checked.entry(ctx).or_insert_with(|| {
                    is_module_context(g, &s.vocab, ctx)
                        || (node_heap && is_native_context_child(g, &s.vocab, ctx))
                });
                if top {
                    let runtime = script.is_none_or(|sc| {
                        *runtime_script
                            .entry(sc)
                            .or_insert_with(|| is_runtime_script(script_url(g, &s.vocab, sc)))
                    });
                    let owner = if runtime {
                        Owner::Runtime
                    } else {
                        Owner::Program
                    };
                    // A scope shared by program and runtime functions is the program's.
                    let e = s.top_level.entry(ctx).or_insert(owner);
                    if owner == Owner::Program {
                        *e = Owner::Program;
                    }
                }
            } else if (kind == node_kind::OBJECT || kind == node_kind::NATIVE)
                && s.is_global_class(g.class_of[v as usize])
            {
                s.globals.push(v);
            } else if Some(g.node_name[v as usize]) == module_name {
                s.find_exports(g, v);
            } else if Some(g.node_name[v as usize]) == table_name {
                // A page's script contexts (one per classic script with let/const).
                for (_, c) in g.node(v).edges() {
                    if c.name().starts_with("system / Context") {
                        s.top_level.insert(c.i, Owner::Program);
                    }
                }
            }
        }
        s
    }

    fn has_role(&self, class: u32, r: u8) -> bool {
        self.class_roles
            .get(class as usize)
            .is_some_and(|&x| x & r != 0)
    }
    /// Whether class index `class` is a global object's (`global`, `Window …`).
    pub fn is_global_class(&self, class: u32) -> bool {
        self.has_role(class, role::GLOBAL)
    }
    /// Whether class index `class` is CommonJS's `Module`.
    pub fn is_module_class(&self, class: u32) -> bool {
        self.has_role(class, role::MODULE)
    }
    /// Whether class index `class` is a DOM node's (or a global's), not an embedder internal.
    pub fn is_dom_class(&self, class: u32) -> bool {
        self.has_role(class, role::DOM)
    }
    /// Whether class index `class` is a scope (`system / Context…`).
    pub fn is_context_class(&self, class: u32) -> bool {
        self.has_role(class, role::CONTEXT)
    }
    /// Whether class index `class` is one of the runtime's bookkeeping classes.
    pub fn is_runtime_class(&self, class: u32) -> bool {
        self.has_role(class, role::RUNTIME)
    }

    /// The exported bindings of an ES module: its first field is the table of its exports
    /// (an ordered hash table of export name → `Cell`, key and value in adjacent slots).
    fn find_exports(&mut self, g: &HeapGraph, module: u32) {
        let Some(table) = g
            .node(module)
            .edges()
            .find(|(e, t)| {
                g.edge_type[*e as usize] == edge_kind::HIDDEN
                    && g.edge_name[*e as usize] == 0
                    && t.kind() == node_kind::ARRAY
            })
            .map(|(_, t)| t.i)
        else {
            return;
        };
        let mut slots: Vec<(u32, u32)> = g
            .node(table)
            .edges()
            .filter(|(e, _)| g.edge_type[*e as usize] == edge_kind::INTERNAL)
            .filter_map(|(e, t)| Some((g.strings.get(g.edge_name[e as usize]).parse().ok()?, t.i)))
            .collect();
        slots.sort_unstable();
        for w in slots.windows(2) {
            let ((ks, key), (vs, cell)) = (w[0], w[1]);
            if vs == ks + 1
                && g.node_type[key as usize] == node_kind::STRING
                && g.node(cell).name() == "system / Cell"
            {
                self.export_cells.insert(cell, g.node_name[key as usize]);
            }
        }
    }

    /// The target of `v`'s first edge of type `t` named `name`.
    pub fn edge_to(&self, g: &HeapGraph, v: u32, t: u8, name: Option<u32>) -> Option<u32> {
        let name = name?;
        let i = v as usize;
        (g.first_edge[i] as usize..g.first_edge[i + 1] as usize)
            .find(|&e| g.edge_type[e] == t && g.edge_name[e] == name)
            .map(|e| g.edge_to[e])
    }

    /// The `Script` node of closure `f`, if the snapshot links it.
    pub fn script_of_function(&self, g: &HeapGraph, f: u32) -> Option<u32> {
        let shared = self.edge_to(g, f, edge_kind::INTERNAL, self.vocab.shared)?;
        self.edge_to(
            g,
            shared,
            edge_kind::INTERNAL,
            self.vocab.script_or_debug_info,
        )
        .or_else(|| self.edge_to(g, shared, edge_kind::INTERNAL, self.vocab.script))
        .filter(|&sc| g.node_type[sc as usize] == node_kind::CODE)
    }

    /// Whether context `ctx` is a module or script scope, and whose.
    pub fn top_level_owner(&self, ctx: u32) -> Option<Owner> {
        self.top_level.get(&ctx).copied()
    }

    /// Whose code the scope `ctx` (any context) belongs to: its top-level scope's owner,
    /// found up its `previous` chain. `None` when the chain reaches no known scope.
    pub fn scope_owner(&self, g: &HeapGraph, ctx: u32) -> Option<Owner> {
        let mut c = ctx;
        for _ in 0..MAX_SCOPE_DEPTH {
            if let Some(o) = self.top_level_owner(c) {
                return Some(o);
            }
            c = self.edge_to(g, c, edge_kind::INTERNAL, self.vocab.previous)?;
        }
        None
    }

    /// Whose code made object `v`: the script of its constructor (object → `map` →
    /// `constructor`). `None` for objects whose map names no constructor function.
    pub fn object_owner(&self, g: &HeapGraph, v: u32) -> Option<Owner> {
        let f = match g.node_type[v as usize] {
            node_kind::CLOSURE => v,
            node_kind::OBJECT => {
                let map = self.edge_to(g, v, edge_kind::INTERNAL, self.vocab.map)?;
                self.edge_to(g, map, edge_kind::INTERNAL, self.vocab.constructor)
                    .filter(|&c| g.node_type[c as usize] == node_kind::CLOSURE)?
            }
            _ => return None,
        };
        let script = self.script_of_function(g, f)?;
        Some(if is_runtime_script(script_url(g, &self.vocab, script)) {
            Owner::Runtime
        } else {
            Owner::Program
        })
    }

    /// `(script URL, line, column)` of a function, 1-based line and column, from the
    /// snapshot's `locations`.
    pub fn location<'g>(&self, g: &'g HeapGraph, f: u32) -> Option<(&'g str, u32, u32)> {
        let at = g.locations.binary_search_by_key(&f, |l| l.node).ok()?;
        let l = &g.locations[at];
        let script = match self.script_of_id.get(&l.script_id) {
            Some(&s) => s,
            None => self.script_of_function(g, f)?,
        };
        Some((script_url(g, &self.vocab, script), l.line + 1, l.column + 1))
    }
}

/// How far up a `previous` chain a scope's top level is looked for.
const MAX_SCOPE_DEPTH: usize = 64;

/// Whether `ctx` is an ES module's scope (its `extension` is the module).
fn is_module_context(g: &HeapGraph, vocab: &Vocab, ctx: u32) -> bool {
    let Some(extension) = vocab.extension else {
        return false;
    };
    g.node(ctx).name().starts_with("system / Context")
        && g.node(ctx).edges().any(|(e, t)| {
            g.edge_type[e as usize] == edge_kind::INTERNAL
                && g.edge_name[e as usize] == extension
                && t.name() == "system / SourceTextModule"
        })
}

/// Whether `ctx` is a context whose enclosing scope is the native context.
fn is_native_context_child(g: &HeapGraph, vocab: &Vocab, ctx: u32) -> bool {
    if !g.node(ctx).name().starts_with("system / Context") {
        return false;
    }
    let Some(previous) = vocab.previous else {
        return false;
    };
    g.node(ctx).edges().any(|(e, t)| {
        g.edge_type[e as usize] == edge_kind::INTERNAL
            && g.edge_name[e as usize] == previous
            && t.name().starts_with("system / NativeContext")
    })
}

/// The URL of a `Script` node: its `name` edge's string, or the node's own name (Node
/// names Script nodes by their URL).
pub fn script_url<'g>(g: &'g HeapGraph, vocab: &Vocab, script: u32) -> &'g str {
    if let Some(name) = vocab.name {
        let i = script as usize;
        for e in g.first_edge[i] as usize..g.first_edge[i + 1] as usize {
            if g.edge_type[e] == edge_kind::INTERNAL && g.edge_name[e] == name {
                let t = g.edge_to[e] as usize;
                if g.node_type[t] == node_kind::STRING {
                    return g.strings.get(g.node_name[t]);
                }
            }
        }
    }
    let n = g.node(script).name();
    n.strip_prefix("system / Script / ").unwrap_or(n)
}
