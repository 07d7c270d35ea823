//! Sizes of 4 GiB and more, end to end. `fixtures/v8/big-buffer` holds two snapshots of one
//! Node process (`fixtures/v8/programs/big-buffer.js`): `s1` with one 5 GiB `ArrayBuffer` in
//! the module-level array `buffers`, `s2` with a second. V8 writes each backing store as a
//! `system / JSArrayBufferData` node (no edges) whose `self_size` is 5,368,709,120; the same
//! class holds 31 small buffers of Node's own, 10,613 bytes in both snapshots. Totals are
//! checked against the sum of the `self_size` fields read by serde_json. A hand-built
//! snapshot adds a self size of 2^40 (loads) and one of 2^64 (one error line, exit 2).

mod common;

use assert_cmd::Command;
use common::{fixture, gunzip_fixture, read_plain};
use serde_json::Value;

const BUFFER: u64 = 5 << 30; // 5,368,709,120
const NODE_BUFFERS: u64 = 10_613;
const CLASS: &str = "system / JSArrayBufferData";

fn s1() -> String {
    fixture("v8/big-buffer/s1.heapsnapshot.gz")
        .to_string_lossy()
        .into_owned()
}

fn s2() -> String {
    fixture("v8/big-buffer/s2.heapsnapshot.gz")
        .to_string_lossy()
        .into_owned()
}

/// Exit code, stdout and stderr of `heapdiff args`.
fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::cargo_bin("heapdiff")
        .unwrap()
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json(args: &[&str]) -> Value {
    common::json_report(args, &[0, 1])
}

fn class<'a>(r: &'a Value, name: &str) -> &'a Value {
    r["classes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == name)
        .unwrap_or_else(|| panic!("class {name} not in report"))
}

/// The sum of all self sizes, and of the backing stores', read the slow, obvious way.
fn plain_totals(rel: &str) -> (u64, u64, u64) {
    let p = read_plain(&gunzip_fixture(rel));
    let total = p.self_sizes.iter().sum();
    let stores: Vec<u64> = (0..p.ids.len())
        .filter(|&i| p.self_sizes[i] > 0 && p.class(i) == CLASS)
        .map(|i| p.self_sizes[i])
        .collect();
    (total, stores.len() as u64, stores.iter().sum())
}

#[test]
fn snapshots_with_5_gib_buffers_load_with_exact_sizes() {
    for (rel, path, buffers) in [
        ("v8/big-buffer/s1.heapsnapshot.gz", s1(), 1),
        ("v8/big-buffer/s2.heapsnapshot.gz", s2(), 2),
    ] {
        let (total, count, stores) = plain_totals(rel);
        assert_eq!(stores, buffers * BUFFER + NODE_BUFFERS, "{rel}");
        let r = json(&[&path]);
        assert_eq!(r["snapshots"][0]["total_size"], total, "{rel}");
        let c = class(&r, CLASS);
        assert_eq!(c["count_after"], count);
        assert_eq!(c["self_size_after"], stores);
        // Backing stores have no edges: each is its own topmost instance, retaining itself.
        assert_eq!(c["retained_size_after"], stores);
        // The root's dominator subtree is the whole heap; its first child here is `global`,
        // which holds everything the program made, the buffers included.
        let top = &r["dominators"][0];
        assert_eq!(top["class"], "global");
        assert!(top["retained_size"].as_u64().unwrap() > buffers * BUFFER);
        assert!(top["retained_size"].as_u64().unwrap() < total);
    }
    assert_eq!(
        plain_totals("v8/big-buffer/s1.heapsnapshot.gz").0,
        5_371_643_878
    );
    assert_eq!(
        plain_totals("v8/big-buffer/s2.heapsnapshot.gz").0,
        10_740_354_934
    );
}

#[test]
fn the_pair_grows_by_one_buffer() {
    let r = json(&[&s1(), &s2()]);
    let (before, _, _) = plain_totals("v8/big-buffer/s1.heapsnapshot.gz");
    let (after, _, _) = plain_totals("v8/big-buffer/s2.heapsnapshot.gz");
    assert_eq!(r["totals"]["size_before"], before);
    assert_eq!(r["totals"]["size_after"], after);
    assert_eq!(r["totals"]["size_delta"], after - before);
    assert_eq!(
        after - before,
        BUFFER + 1_936,
        "the buffer, and 1,936 bytes of JS"
    );
    assert_eq!(r["ids_comparable"], true);
    // By id: the new 5 GiB store, and one 2-byte buffer of Node's replaced by another.
    let c = class(&r, CLASS);
    assert_eq!(c["added_count"], 2);
    assert_eq!(c["added_size"], BUFFER + 2);
    assert_eq!(c["removed_count"], 1);
    assert_eq!(c["removed_size"], 2);
    assert_eq!(c["size_delta"], BUFFER);
    assert_eq!(c["retained_size_before"], BUFFER + NODE_BUFFERS);
    assert_eq!(c["retained_size_after"], 2 * BUFFER + NODE_BUFFERS);
    // Who holds it: `buffers`, one new store on the path, two stores retained after it.
    let p = &c["retainer_paths"][0];
    let owner_part: Vec<(&str, &str)> = p["path"].as_array().unwrap()
        [p["owner_start"].as_u64().unwrap() as usize..]
        .iter()
        .map(|s| (s["edge"].as_str().unwrap(), s["node"].as_str().unwrap()))
        .collect();
    assert_eq!(
        owner_part,
        [
            ("buffers", "Array"),
            ("[]", "ArrayBuffer"),
            ("backing_store", CLASS)
        ]
    );
    assert_eq!(
        (&p["count"], &p["size"]),
        (&Value::from(1), &Value::from(BUFFER))
    );
    assert_eq!(p["retained_size_before"], BUFFER);
    assert_eq!(p["retained_size_after"], 2 * BUFFER);
    // The ArrayBuffer objects (88 bytes each) retain their stores.
    let a = class(&r, "ArrayBuffer");
    assert_eq!(a["size_delta"], 88);
    assert_eq!(a["retainer_paths"][0]["size"], BUFFER + 88);
    assert_eq!(
        a["retainer_paths"][0]["retained_size_after"],
        2 * (BUFFER + 88)
    );
}

#[test]
fn the_growth_gate_compares_64_bit_sizes() {
    let gate = |extra: &[&str]| -> (i32, Value) {
        let mut args = vec!["--format", "json"];
        args.extend_from_slice(extra);
        let (s1, s2) = (s1(), s2());
        args.extend([s1.as_str(), s2.as_str()]);
        let (code, out, err) = run(&args);
        assert!(err.is_empty(), "{err}");
        (code, common::schema::parse(out.as_bytes())["gate"].clone())
    };
    let growth = BUFFER + 1_936;
    let (code, g) = gate(&["--fail-if-growth", "4GB"]);
    assert_eq!(code, 1);
    assert_eq!(
        g["reasons"][0],
        "total growth +5.37 GB exceeds --fail-if-growth 4.00 GB"
    );
    assert_eq!(gate(&["--fail-if-growth", "6GB"]).0, 0);
    // Exactly at the growth passes; one byte below breaches.
    assert_eq!(gate(&["--fail-if-growth", &growth.to_string()]).0, 0);
    assert_eq!(gate(&["--fail-if-growth", &(growth - 1).to_string()]).0, 1);
    assert_eq!(gate(&["--fail-if-growth", "5GiB"]).0, 1, "1,936 bytes over");
    // A limit past i64::MAX never wraps into a breach.
    assert_eq!(gate(&["--fail-if-growth", "9300000TB"]).0, 0);
    // The accepted class's 5 GiB is taken off: 1,936 bytes remain.
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("accepted.txt");
    std::fs::write(&list, format!("{CLASS}\n")).unwrap();
    let list = list.to_string_lossy().into_owned();
    assert_eq!(gate(&["--ignore", &list, "--fail-if-growth", "2kB"]).0, 0);
    let (code, g) = gate(&["--ignore", &list, "--fail-if-growth", "1kB"]);
    assert_eq!(code, 1);
    assert_eq!(
        g["reasons"][0],
        "total growth +1.94 kB exceeds --fail-if-growth 1.00 kB (not counting 5.37 GB in ignored classes)"
    );
}

#[test]
fn table_markdown_and_folded_show_the_buffer() {
    let (code, table, _) = run(&["--top", "3", &s1(), &s2()]);
    assert_eq!(code, 0);
    assert!(table.contains("growth: +5.37 GB (+24 nodes)"), "{table}");
    let row = table.lines().find(|l| l.contains(CLASS)).unwrap();
    let cells: Vec<&str> = row
        .split(['│', '┆'])
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    assert_eq!(
        cells,
        [CLASS, "2", "1", "+1", "5.37 GB", "2 B", "+5.37 GB", "5.37 GB", "10.7 GB"]
    );

    let (code, md, _) = run(&["--format", "markdown", &s1(), &s2()]);
    assert_eq!(code, 0);
    assert!(
        md.contains("**Total growth:** +5.37 GB (5.37 GB → 10.7 GB)"),
        "{md}"
    );
    assert!(md.contains(
        "| `system / JSArrayBufferData` | 2 | 1 | +1 | 5.37 GB | 2 B | +5.37 GB | 5.37 GB | 10.7 GB |"
    ));

    // Net retained growth by path: the store's line carries the 5 GiB, the ArrayBuffer's
    // line above it its own 88 bytes.
    let (code, folded, _) = run(&["--format", "folded", &s1(), &s2()]);
    assert_eq!(code, 0);
    let line = |end: &str| -> u64 {
        let l = folded
            .lines()
            .find(|l| l.rsplit_once(' ').unwrap().0.ends_with(end))
            .unwrap_or_else(|| panic!("no line ending {end:?} in:\n{folded}"));
        l.rsplit_once(' ').unwrap().1.parse().unwrap()
    };
    assert_eq!(
        line(";buffers (variable);Array;[];ArrayBuffer;backing_store;system / JSArrayBufferData"),
        BUFFER
    );
    assert_eq!(line(";buffers (variable);Array;[];ArrayBuffer"), 88);

    let (code, summary, _) = run(&["--top", "3", &s2()]);
    assert_eq!(code, 0);
    assert!(
        summary.contains("(39296 nodes, 178191 edges, 10.7 GB)"),
        "{summary}"
    );
}

/// A snapshot of one root and one native node of `size` (written as given).
fn minimal(size: &str) -> String {
    format!(
        concat!(
            r#"{{"snapshot":{{"meta":{{"node_fields":["type","name","id","self_size","edge_count","trace_node_id","detachedness"],"#,
            r#""node_types":[["hidden","array","string","object","code","closure","regexp","number","native","synthetic"]],"#,
            r#""edge_fields":["type","name_or_index","to_node"],"#,
            r#""edge_types":[["context","element","property","internal","hidden","shortcut","weak"]]}},"#,
            r#""node_count":2,"edge_count":1}},"#,
            "\n\"nodes\":[9,1,1,0,1,0,0\n,8,2,3,{},0,0,0],\n\"edges\":[1,0,7],\n",
            r#""strings":["","(root)","system / WasmMemory"]}}"#
        ),
        size
    )
}

#[test]
fn a_self_size_of_2_to_the_40_loads() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("tera.heapsnapshot");
    std::fs::write(&p, minimal("1099511627776")).unwrap();
    let r = json(&[p.to_str().unwrap()]);
    assert_eq!(r["snapshots"][0]["total_size"], 1u64 << 40);
    let c = class(&r, "system / WasmMemory");
    assert_eq!(
        (
            &c["count_after"],
            &c["self_size_after"],
            &c["retained_size_after"]
        ),
        (
            &Value::from(1),
            &Value::from(1u64 << 40),
            &Value::from(1u64 << 40)
        )
    );
    assert_eq!(r["dominators"][0]["self_size"], 1u64 << 40);
    let (code, table, _) = run(&[p.to_str().unwrap()]);
    assert_eq!(code, 0);
    assert!(table.contains("(2 nodes, 1 edges, 1.10 TB)"), "{table}");
}

#[test]
fn a_self_size_of_2_to_the_64_is_one_error_line() {
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("too-big.heapsnapshot");
    let text = minimal("18446744073709551616");
    std::fs::write(&p, &text).unwrap();
    let at = text.find("18446744073709551616").unwrap();
    let (code, out, err) = run(&[p.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(out.is_empty());
    assert_eq!(
        err,
        format!(
            "heapdiff: error: {}: integer too large (more than 18446744073709551615) (at byte {at})\n",
            p.display()
        )
    );
}
