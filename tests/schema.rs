//! The JSON Schema of `--format json` (docs/schema/heapdiff-1.schema.json, `heapdiff/1`):
//! - every kind of report the committed fixtures give follows it and holds no key it does
//!   not name, and together they meet every property and enum value it promises but a
//!   listed few no fixture produces (so the schema can neither fall behind the model nor
//!   describe what the model never writes);
//! - it keeps what the schema as first published (heapdiff-1.baseline.schema.json) promised:
//!   keys are added, never renamed or removed.

mod common;

use common::fixture;
use common::schema::{self, branches, resolve, types, BASELINE, SCHEMA};
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::path::PathBuf;

fn path(rel: &str) -> String {
    fixture(rel).to_string_lossy().into_owned()
}

/// The JSON report of `heapdiff ARGS`, validated (exit 0, or 1 for a breached gate).
fn report(args: &[&str]) -> Value {
    common::json_report(args, &[0, 1])
}

/// Every report kind the fixtures give: V8 summary, comparison, series, two processes, a
/// profiler restart, a gate, `--ignore`, `--show-values`, a Chromium page, sizes past 4 GiB;
/// jemalloc pairs (exact, sampled, two processes) and one dump; each zoo case as a pair and
/// as a series.
fn every_report() -> Vec<(String, Value)> {
    let service = |n: u32| path(&format!("v8/service/s{n}.heapsnapshot.gz"));
    let (s1, s2, s3) = (service(1), service(2), service(3));
    let other = path("v8/service-other-process/s2.heapsnapshot.gz");
    let restart = |n: u32| path(&format!("v8/profiler-restart/s{n}.heapsnapshot.gz"));
    let dom = |n: u32| path(&format!("chromium/dom/s{n}.heapsnapshot.gz"));
    let big = |n: u32| path(&format!("v8/big-buffer/s{n}.heapsnapshot.gz"));
    let jem = |name: &str| path(&format!("jemalloc/{name}.heap"));
    let dir = tempfile::tempdir().unwrap();
    let ignore = dir.path().join("accepted.txt");
    std::fs::write(&ignore, "(string)\nCacheEntry\n").unwrap();
    let ignore = ignore.to_string_lossy().into_owned();

    let runs: Vec<(&str, Vec<String>)> = vec![
        ("summary", vec![s1.clone()]),
        ("comparison", vec![s1.clone(), s2.clone()]),
        ("series", vec![s1.clone(), s2.clone(), s3.clone()]),
        ("two processes", vec![s1.clone(), other]),
        ("profiler restart", vec![restart(1), restart(2)]),
        (
            "gate",
            ["--fail-if-growth", "1kB", "--fail-on", "low", &s1, &s2]
                .map(String::from)
                .to_vec(),
        ),
        (
            "--ignore",
            [
                "--fail-if-growth",
                "1MB",
                "--ignore",
                &ignore,
                &s1,
                &s2,
                &s3,
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "--show-values",
            vec!["--show-values".into(), s1.clone(), s2.clone()],
        ),
        ("chromium page", vec![dom(1), dom(2), dom(3)]),
        ("big buffer, pair", vec![big(1), big(2)]),
        ("big buffer, summary", vec![big(2)]),
        (
            "jemalloc pair",
            vec![jem("exact.before"), jem("exact.after")],
        ),
        (
            "jemalloc sampled pair",
            vec![jem("sampled.before"), jem("sampled.after")],
        ),
        (
            "jemalloc two processes",
            vec![jem("exact.before"), jem("proc2.after")],
        ),
        ("jemalloc dump", vec![jem("exact.after")]),
    ];
    let mut out: Vec<(String, Value)> = runs
        .into_iter()
        .map(|(name, args)| {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            (name.to_string(), report(&args))
        })
        .collect();
    for case in zoo_cases() {
        let snap = |n: u32| {
            case.join(format!("s{n}.heapsnapshot.gz"))
                .to_string_lossy()
                .into_owned()
        };
        let name = case.file_name().unwrap().to_string_lossy().into_owned();
        out.push((format!("zoo {name}, pair"), report(&[&snap(1), &snap(2)])));
        out.push((
            format!("zoo {name}, series"),
            report(&[&snap(1), &snap(2), &snap(3)]),
        ));
    }
    out
}

/// fixtures/zoo/{node,chromium}/CASE: the directories with a truth file.
fn zoo_cases() -> Vec<PathBuf> {
    let mut cases: Vec<PathBuf> = ["node", "chromium"]
        .iter()
        .flat_map(|side| std::fs::read_dir(fixture(&format!("zoo/{side}"))).unwrap())
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("truth.json").exists())
        .collect();
    cases.sort();
    assert!(cases.len() >= 20, "zoo cases: {cases:?}");
    cases
}

#[test]
fn every_report_follows_the_schema_and_meets_all_of_it() {
    let schema = schema::load(SCHEMA);
    let reports = every_report();
    // Each report was validated as it was parsed; here, what they meet together.
    let mut met = BTreeSet::new();
    for (name, r) in &reports {
        let w = schema::walk(&schema, r);
        assert!(w.uncovered.is_empty(), "{name}: {:?}", w.uncovered);
        met.extend(w.met);
    }
    let modes: BTreeSet<&str> = reports
        .iter()
        .map(|(_, r)| r["mode"].as_str().unwrap())
        .collect();
    assert_eq!(modes.len(), 3, "{modes:?}");
    // Values the model has that no committed fixture produces: V8 edge types a retainer path
    // does not take (weak edges retain nothing; `none` is for a path that reaches no node),
    // owners the zoo's programs do not leak through, a timer kind, a collection purpose and a
    // growth shape none of them shows, a promise whose reactions share no one handler.
    let unreachable: BTreeSet<String> = [
        r#"/$defs/EdgeType = "weak""#,
        r#"/$defs/EdgeType = "none""#,
        r#"/$defs/Anchor = "runtime""#,
        r#"/$defs/Anchor = "stack""#,
        r#"/$defs/Anchor = "unnamed""#,
        r#"/$defs/Evidence/oneOf/0/properties/purpose = "values""#,
        r#"/$defs/Evidence/oneOf/2/properties/timer = "immediate""#,
        r#"/$defs/Evidence/oneOf/5/properties/handler"#,
        r#"/$defs/Growth = "last_step""#,
    ]
    .map(String::from)
    .into();
    let places = schema::places(&schema);
    let unmet: Vec<&String> = places
        .difference(&met)
        .filter(|p| !unreachable.contains(*p))
        .collect();
    assert!(
        unmet.is_empty(),
        "the schema promises what no report of the fixtures holds: {unmet:#?}"
    );
}

#[test]
fn a_key_the_schema_does_not_name_is_found() {
    let schema = schema::load(SCHEMA);
    let r = report(&[&path("v8/service/s1.heapsnapshot.gz")]);
    assert!(schema::uncovered_keys(&schema, &r).is_empty());
    let mut r = r;
    r["classes"][0]["new_key"] = json!(1);
    r["snapshots"][0]["stack_count"] = json!(1);
    r["snapshots"][0]["a/b"] = json!(1);
    assert_eq!(
        schema::uncovered_keys(&schema, &r),
        ["/classes/0/new_key", "/snapshots/0/a~1b"]
    );
    // Inside a tagged union, a key of another branch is not the taken branch's.
    let mut f = report(&[
        &path("v8/service/s1.heapsnapshot.gz"),
        &path("v8/service/s2.heapsnapshot.gz"),
    ]);
    let holder = &mut f["findings"][0]["holders"][0];
    assert_eq!(holder["holder"], "path", "{holder}");
    holder["target"] = json!("Window");
    assert_eq!(
        schema::uncovered_keys(&schema, &f),
        ["/findings/0/holders/0/target"]
    );
}

#[test]
#[should_panic(expected = "/totals/size_before")]
fn a_report_against_the_schema_fails_validation() {
    let mut r = report(&[
        &path("v8/service/s1.heapsnapshot.gz"),
        &path("v8/service/s2.heapsnapshot.gz"),
    ]);
    r["totals"]["size_before"] = json!(-1);
    schema::validate(&r);
}

// ---- compatibility with the schema as first published ----

/// The types a node allows, whether said by `type`, `const`, `enum` or its branches; `None`
/// when it allows any.
fn allowed_types(root: &Value, at: &str, node: &Value) -> Option<BTreeSet<String>> {
    if let Some(ts) = types(node) {
        return Some(ts.into_iter().map(String::from).collect());
    }
    let of = |v: &Value| schema::type_of(v).to_string();
    if let Some(c) = node.get("const") {
        return Some([of(c)].into());
    }
    if let Some(values) = node.get("enum").and_then(Value::as_array) {
        return Some(values.iter().map(of).collect());
    }
    let bs = branches(root, at, node);
    if bs.is_empty() {
        return None;
    }
    let mut all = BTreeSet::new();
    for (b_at, b) in bs {
        all.extend(allowed_types(root, &b_at, b)?);
    }
    Some(all)
}

/// What names a branch of a union across versions: its tag values, or else its types.
fn branch_key(root: &Value, at: &str, b: &Value) -> String {
    let tags: Vec<String> = b
        .get("properties")
        .and_then(Value::as_object)
        .into_iter()
        .flatten()
        .filter_map(|(k, p)| Some(format!("{k}={}", p.get("const")?)))
        .collect();
    if tags.is_empty() {
        format!("{:?}", allowed_types(root, at, b))
    } else {
        tags.join(",")
    }
}

/// Where `new` breaks a promise of `old`: a property removed or renamed, a required key made
/// optional, a type widened (a reader of the old schema would meet a value it was told could
/// not occur), an enum value, a union branch or an item schema dropped, a constant changed.
/// Places are named by their JSON pointer in `old`.
fn broken_promises(old: &Value, new: &Value) -> Vec<String> {
    let mut w = Compare {
        old_root: old,
        new_root: new,
        done: BTreeSet::new(),
        out: Vec::new(),
    };
    w.compare("", old, "", new);
    w.out
}

struct Compare<'a> {
    old_root: &'a Value,
    new_root: &'a Value,
    /// Pairs of places compared: a definition used in two places is compared once.
    done: BTreeSet<(String, String)>,
    out: Vec<String>,
}

impl<'a> Compare<'a> {
    fn compare(&mut self, old_at: &str, old: &'a Value, new_at: &str, new: &'a Value) {
        let (old_root, new_root) = (self.old_root, self.new_root);
        let (at, o) = resolve(old_root, old_at.to_string(), old);
        let (n_at, n) = resolve(new_root, new_at.to_string(), new);
        if !self.done.insert((at.clone(), n_at.clone())) {
            return;
        }
        let at_or_root = if at.is_empty() { "(root)" } else { at.as_str() };
        let out = &mut self.out;
        match (
            allowed_types(old_root, &at, o),
            allowed_types(new_root, &n_at, n),
        ) {
            (Some(_), None) => out.push(format!("{at_or_root}: now allows any type")),
            (Some(ot), Some(nt)) => {
                for t in nt.difference(&ot) {
                    if !(t == "integer" && ot.contains("number")) {
                        out.push(format!("{at_or_root}: type {t} is new (was {ot:?})"));
                    }
                }
            }
            _ => {}
        }
        if let Some(c) = o.get("const") {
            if n.get("const") != Some(c) {
                out.push(format!("{at_or_root}: const {c} changed"));
            }
        }
        for v in o
            .get("enum")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let kept = n
                .get("enum")
                .and_then(Value::as_array)
                .is_some_and(|vs| vs.contains(v));
            if !kept {
                out.push(format!("{at_or_root}: enum value {v} removed"));
            }
        }
        let required = |s: &Value| -> BTreeSet<String> {
            s.get("required")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(|k| k.as_str().map(String::from))
                .collect()
        };
        for k in required(o).difference(&required(n)) {
            out.push(format!("{at_or_root}: {k} no longer required"));
        }
        // Below: the same promises, one level down.
        let mut below: Vec<(String, &'a Value, String, &'a Value)> = Vec::new();
        for (k, op) in o
            .get("properties")
            .and_then(Value::as_object)
            .into_iter()
            .flatten()
        {
            let here = format!("{at}/properties/{k}");
            match n.get("properties").and_then(|p| p.get(k)) {
                Some(np) => below.push((here, op, format!("{n_at}/properties/{k}"), np)),
                None => out.push(format!("{here}: removed or renamed")),
            }
        }
        if let Some(oi) = o.get("items") {
            match n.get("items") {
                Some(ni) => below.push((format!("{at}/items"), oi, format!("{n_at}/items"), ni)),
                None => out.push(format!("{at_or_root}: items no longer described")),
            }
        }
        let old_tuple = o.get("prefixItems").and_then(Value::as_array);
        for (i, oi) in old_tuple.into_iter().flatten().enumerate() {
            match n.get("prefixItems").and_then(|p| p.get(i)) {
                Some(ni) => below.push((
                    format!("{at}/prefixItems/{i}"),
                    oi,
                    format!("{n_at}/prefixItems/{i}"),
                    ni,
                )),
                None => out.push(format!("{at_or_root}: tuple item {i} removed")),
            }
        }
        let new_branches = branches(new_root, &n_at, n);
        for (ob_at, ob) in branches(old_root, &at, o) {
            let key = branch_key(old_root, &ob_at, ob);
            match new_branches
                .iter()
                .find(|(nb_at, nb)| branch_key(new_root, nb_at, nb) == key)
            {
                Some((nb_at, nb)) => below.push((ob_at, ob, nb_at.clone(), nb)),
                None => out.push(format!("{ob_at}: branch {key} removed")),
            }
        }
        for (o_at, o, n_at, n) in below {
            self.compare(&o_at, o, &n_at, n);
        }
    }
}

#[test]
fn the_schema_keeps_every_promise_of_the_first_published_one() {
    let baseline = schema::load(BASELINE);
    let current = schema::load(SCHEMA);
    jsonschema::draft202012::new(&baseline).unwrap_or_else(|e| panic!("{BASELINE}: {e}"));
    assert_eq!(baseline["title"], "heapdiff/1");
    let broken = broken_promises(&baseline, &current);
    assert!(
        broken.is_empty(),
        "{SCHEMA} breaks what {BASELINE} promised (keys are added, never renamed or \
         removed):\n  {}",
        broken.join("\n  ")
    );
}

/// The compatibility walker on edits of the schema: what breaks a reader is found, what
/// only adds is not.
#[test]
fn the_compatibility_walker_finds_breaking_edits() {
    let base = schema::load(SCHEMA);
    let after = |edit: &dyn Fn(&mut Value)| {
        let mut s = base.clone();
        edit(&mut s);
        broken_promises(&base, &s)
    };
    let defs = "/$defs";
    // Renamed.
    assert_eq!(
        after(&|s| {
            let props = s
                .pointer_mut("/$defs/ClassRow/properties")
                .unwrap()
                .as_object_mut()
                .unwrap();
            let p = props.remove("count_after").unwrap();
            props.insert("count_now".into(), p);
        }),
        [format!(
            "{defs}/ClassRow/properties/count_after: removed or renamed"
        )]
    );
    // Removed in a branch of a tagged union.
    assert_eq!(
        after(&|s| {
            s.pointer_mut("/$defs/Evidence/oneOf/2/properties")
                .unwrap()
                .as_object_mut()
                .unwrap()
                .remove("object_class");
        }),
        [format!(
            "{defs}/Evidence/oneOf/2/properties/object_class: removed or renamed"
        )]
    );
    // A branch dropped.
    assert_eq!(
        after(&|s| {
            s.pointer_mut("/$defs/Holder/oneOf")
                .unwrap()
                .as_array_mut()
                .unwrap()
                .pop();
        }),
        [format!(
            r#"{defs}/Holder/oneOf/2: branch holder="callback" removed"#
        )]
    );
    // An enum value dropped.
    assert_eq!(
        after(&|s| {
            s.pointer_mut("/$defs/Kind/enum")
                .unwrap()
                .as_array_mut()
                .unwrap()
                .retain(|v| v != "cache");
        }),
        [format!(r#"{defs}/Kind: enum value "cache" removed"#)]
    );
    // Made optional.
    assert_eq!(
        after(&|s| {
            s.pointer_mut("/$defs/PathStep/required")
                .unwrap()
                .as_array_mut()
                .unwrap()
                .retain(|v| v != "node");
        }),
        [format!("{defs}/PathStep: node no longer required")]
    );
    // Made nullable.
    assert_eq!(
        after(&|s| {
            s["$defs"]["SnapshotInfo"]["properties"]["node_count"]["type"] =
                json!(["integer", "null"]);
        }),
        [format!(
            r#"{defs}/SnapshotInfo/properties/node_count: type null is new (was {{"integer"}})"#
        )]
    );
    // Added: a key, an enum value, a branch; a nullable key made always present.
    assert_eq!(
        after(&|s| {
            s["$defs"]["ClassRow"]["properties"]["new_count"] = json!({"type": "integer"});
            s["$defs"]["Kind"]["enum"]
                .as_array_mut()
                .unwrap()
                .push(json!("new_kind"));
            s["$defs"]["Holder"]["oneOf"]
                .as_array_mut()
                .unwrap()
                .push(json!({"type": "object", "properties": {"holder": {"const": "new"}}}));
            s["$defs"]["FunctionDelta"]["properties"]["file"]["type"] = json!("string");
        }),
        Vec::<String>::new()
    );
}
