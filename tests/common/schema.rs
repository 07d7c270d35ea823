//! The JSON Schema of `--format json` (docs/schema/heapdiff-1.schema.json): every report a
//! test parses goes through [`validate`]. Besides the schema's rules, every object key of the
//! report must be one the schema names at that place: the schema lets readers meet unknown
//! keys (no `additionalProperties: false`), so validation alone would not notice a key the
//! model gained and the schema forgot.

use serde_json::Value;
use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

pub const SCHEMA: &str = "docs/schema/heapdiff-1.schema.json";
/// The schema as first published; never edited (tests/schema.rs checks the current one
/// against it).
pub const BASELINE: &str = "docs/schema/heapdiff-1.baseline.schema.json";

/// A committed schema file, parsed.
pub fn load(rel: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The schema and its validator, built once per test binary.
fn compiled() -> &'static (Value, jsonschema::Validator) {
    static COMPILED: OnceLock<(Value, jsonschema::Validator)> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let schema = load(SCHEMA);
        let validator =
            jsonschema::draft202012::new(&schema).unwrap_or_else(|e| panic!("{SCHEMA}: {e}"));
        (schema, validator)
    })
}

/// Panics, listing every problem with its JSON pointer, unless `report` follows the schema
/// and holds no key the schema does not name.
pub fn validate(report: &Value) {
    let (schema, validator) = compiled();
    let mut problems = Vec::new();
    for e in validator.iter_errors(report) {
        describe(&e, &mut problems);
    }
    problems.extend(
        uncovered_keys(schema, report)
            .into_iter()
            .map(|p| format!("{}: key not in the schema", pointer(&p))),
    );
    assert!(
        problems.is_empty(),
        "the report does not follow {SCHEMA}:\n  {}",
        problems.join("\n  ")
    );
}

/// One line per error. A value that fits no branch of a union is described by the branches
/// it came closest to (fewest errors): the right branch of a tagged union, both of a
/// nullable value, with the errors' own places.
fn describe(e: &jsonschema::ValidationError<'_>, out: &mut Vec<String>) {
    use jsonschema::error::ValidationErrorKind as K;
    if let K::AnyOf { context } | K::OneOfNotValid { context } = e.kind() {
        if let Some(fewest) = context.iter().map(Vec::len).min() {
            for branch in context.iter().filter(|b| b.len() == fewest) {
                for inner in branch {
                    describe(inner, out);
                }
            }
            return;
        }
    }
    // An error's text quotes the failing value, which may be the whole report.
    let mut text = e.to_string();
    if text.len() > 300 {
        let mut end = 300;
        while !text.is_char_boundary(end) {
            end -= 1;
        }
        text.truncate(end);
        text.push('…');
    }
    out.push(format!("{}: {text}", pointer(e.instance_path().as_str())));
}

fn pointer(p: &str) -> &str {
    if p.is_empty() {
        "(root)"
    } else {
        p
    }
}

/// `#/$defs/Name` references followed, in the same document; `at` is the node's JSON pointer
/// in the schema, which moves with them.
pub fn resolve<'a>(root: &'a Value, mut at: String, mut schema: &'a Value) -> (String, &'a Value) {
    while let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let target = r
            .strip_prefix('#')
            .unwrap_or_else(|| panic!("only local references are used: {r}"));
        schema = root
            .pointer(target)
            .unwrap_or_else(|| panic!("unresolved reference {r}"));
        at = target.to_string();
    }
    (at, schema)
}

/// The `oneOf` or `anyOf` branches of a (resolved) schema node, resolved.
pub fn branches<'a>(root: &'a Value, at: &str, schema: &'a Value) -> Vec<(String, &'a Value)> {
    let mut out = Vec::new();
    for key in ["oneOf", "anyOf"] {
        for (i, b) in schema
            .get(key)
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
            .enumerate()
        {
            out.push(resolve(root, format!("{at}/{key}/{i}"), b));
        }
    }
    out
}

/// The types a schema node allows (`None`: it does not say).
pub fn types(schema: &Value) -> Option<Vec<&str>> {
    match schema.get("type")? {
        Value::String(t) => Some(vec![t.as_str()]),
        Value::Array(ts) => Some(ts.iter().filter_map(Value::as_str).collect()),
        _ => None,
    }
}

/// The JSON Schema type name of a value.
pub fn type_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

/// The branch of a tagged or nullable union that `value` takes: the first whose type admits
/// it and whose `const` properties (the tag: `holder`, `shape`) it carries.
fn branch_for<'a>(
    root: &'a Value,
    at: &str,
    schema: &'a Value,
    value: &Value,
) -> Option<(String, &'a Value)> {
    let t = type_of(value);
    branches(root, at, schema).into_iter().find(|(_, b)| {
        let type_ok = types(b).is_none_or(|ts| {
            ts.iter()
                .any(|&s| s == t || (s == "number" && t == "integer"))
        });
        let tags_ok = b
            .get("properties")
            .and_then(Value::as_object)
            .is_none_or(|props| {
                props.iter().all(|(k, p)| match p.get("const") {
                    Some(c) => value.get(k) == Some(c),
                    None => true,
                })
            });
        type_ok && tags_ok
    })
}

/// What a walk of a report along the schema meets.
#[derive(Default)]
pub struct Walk {
    /// JSON pointers (in the report) of object keys the schema does not name at their place.
    pub uncovered: Vec<String>,
    /// Schema places met: properties (`/$defs/ClassRow/properties/trend`) and enum values
    /// (`/$defs/Kind = "cache"`).
    pub met: BTreeSet<String>,
}

/// Walk `value` along the schema `root`.
pub fn walk(root: &Value, value: &Value) -> Walk {
    let mut w = Walk::default();
    step(root, String::new(), root, value, String::new(), &mut w);
    w
}

/// JSON pointers of the object keys in `value` that `root` names nowhere at their place.
pub fn uncovered_keys(root: &Value, value: &Value) -> Vec<String> {
    walk(root, value).uncovered
}

fn step(root: &Value, at: String, schema: &Value, value: &Value, here: String, w: &mut Walk) {
    let (at, node) = resolve(root, at, schema);
    if let (Some(_), false) = (node.get("enum"), value.is_object() || value.is_array()) {
        w.met.insert(format!("{at} = {value}"));
    }
    // A tagged union keeps the tag's own rules at its top and each branch's keys below.
    let places: Vec<(String, &Value)> = std::iter::once((at.clone(), node))
        .chain(branch_for(root, &at, node, value))
        .collect();
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                let key_here = format!("{here}/{}", k.replace('~', "~0").replace('/', "~1"));
                let named: Vec<(String, &Value)> = places
                    .iter()
                    .filter_map(|(pat, p)| {
                        let prop = p.get("properties")?.get(k)?;
                        Some((format!("{pat}/properties/{k}"), prop))
                    })
                    .collect();
                for (pat, _) in &named {
                    w.met.insert(pat.clone());
                }
                match named.into_iter().next() {
                    Some((pat, prop)) => step(root, pat, prop, v, key_here, w),
                    None => w.uncovered.push(key_here),
                }
            }
        }
        Value::Array(items) => {
            for (i, v) in items.iter().enumerate() {
                let item = places.iter().find_map(|(pat, p)| {
                    match p.get("prefixItems").and_then(|t| t.get(i)) {
                        Some(s) => Some((format!("{pat}/prefixItems/{i}"), s)),
                        None => Some((format!("{pat}/items"), p.get("items")?)),
                    }
                });
                if let Some((pat, item)) = item {
                    step(root, pat, item, v, format!("{here}/{i}"), w);
                }
            }
        }
        _ => {}
    }
}

/// Every place a walk can meet: each property of each object the schema describes, and each
/// enum value, named as [`Walk::met`] names them.
pub fn places(schema: &Value) -> BTreeSet<String> {
    fn visit(at: &str, s: &Value, out: &mut BTreeSet<String>) {
        match s {
            Value::Object(map) => {
                for (k, v) in map {
                    let below = format!("{at}/{k}");
                    match (k.as_str(), v) {
                        ("properties", Value::Object(props)) => {
                            for (name, p) in props {
                                let pat = format!("{below}/{name}");
                                out.insert(pat.clone());
                                visit(&pat, p, out);
                            }
                        }
                        ("enum", Value::Array(values)) => {
                            out.extend(values.iter().map(|v| format!("{at} = {v}")));
                        }
                        _ => visit(&below, v, out),
                    }
                }
            }
            Value::Array(items) => {
                for (i, v) in items.iter().enumerate() {
                    visit(&format!("{at}/{i}"), v, out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeSet::new();
    visit("", schema, &mut out);
    out
}

/// A `--format json` report, parsed and validated.
pub fn parse(bytes: &[u8]) -> Value {
    let report =
        serde_json::from_slice(bytes).unwrap_or_else(|e| panic!("the report is not JSON: {e}"));
    validate(&report);
    report
}
