//! Names as reports show them: edge names with their data replaced by patterns, and
//! functions named by place when they have no name of their own.

use crate::graph::HeapGraph;
use crate::input::v8::{edge_kind, node_kind};
use crate::model::FunctionName;

/// An edge name as shown in reports: element and hidden indexes as `[]` / `<>`, and names
/// that look like data replaced by patterns. Variable and property names that read as
/// identifiers are kept.
pub fn edge_pattern(edge_type: u8, raw: &str) -> String {
    match edge_type {
        edge_kind::ELEMENT => "[]".into(),
        edge_kind::HIDDEN => "<>".into(),
        _ => name_pattern(raw),
    }
}

/// Replace the data in a name, keeping identifiers as they are: e-mail addresses →
/// `<email>`, UUIDs → `<uuid>`, long tokens of letters and digits → `<token>`, numbers →
/// `<n>`. A number is a run of digits that stands on its own (`order:1234`, `item-7`,
/// `session_42`, `1234`) or ends a word in four or more (`order1234`); digits inside an
/// identifier stay (`V8PerContextData`, `sha256`, `Float64Array`, `utf8`).
pub fn name_pattern(raw: &str) -> String {
    if raw.contains('@') && raw.contains('.') && !raw.contains(' ') {
        return "<email>".into();
    }
    let mut out = String::with_capacity(raw.len());
    // Words are runs of identifier characters and '-' (so a UUID is one word).
    let is_word = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '$' || c == '-';
    let mut rest = raw;
    while !rest.is_empty() {
        let end = rest.find(|c: char| !is_word(c)).unwrap_or(rest.len());
        if end == 0 {
            let c = rest.chars().next().unwrap_or(' ');
            out.push(c);
            rest = &rest[c.len_utf8()..];
            continue;
        }
        word_pattern(&rest[..end], &mut out);
        rest = &rest[end..];
    }
    out
}

fn word_pattern(w: &str, out: &mut String) {
    let digits = w.bytes().filter(|b| b.is_ascii_digit()).count();
    if w.len() == 36 && w.bytes().filter(|&b| b == b'-').count() == 4 {
        out.push_str("<uuid>");
        return;
    }
    // A long run mixing letters and digits is a token (session ids, hashes, keys).
    if w.len() >= 16 && digits >= 2 && digits < w.len() {
        out.push_str("<token>");
        return;
    }
    for (i, part) in w.split('-').enumerate() {
        if i > 0 {
            out.push('-');
        }
        part_pattern(part, out);
    }
}

/// One `-`-separated part of a word.
fn part_pattern(p: &str, out: &mut String) {
    let b = p.as_bytes();
    if b.is_empty() {
        return;
    }
    if b.iter().all(u8::is_ascii_digit) {
        out.push_str("<n>");
        return;
    }
    // Starts with a digit but has letters: a hex id or similar.
    if b[0].is_ascii_digit() {
        out.push_str("<token>");
        return;
    }
    // Digits after an underscore are a number joined on (`session_42`), and so are four or
    // more digits ending a word (`order1234`); anything else is part of the identifier.
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit() {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let after_underscore = start > 0 && b[start - 1] == b'_';
            let ends_word = i == b.len() && i - start >= 4;
            if after_underscore || ends_word {
                out.push_str("<n>");
            } else {
                out.push_str(&p[start..i]);
            }
        } else {
            let start = i;
            while i < b.len() && !b[i].is_ascii_digit() {
                i += 1;
            }
            out.push_str(&p[start..i]);
        }
    }
}

/// The last part of a script URL (`file:///srv/app/service.js` → `service.js`).
pub fn script_file(url: &str) -> &str {
    let url = url.split(['?', '#']).next().unwrap_or(url);
    url.rsplit('/').find(|s| !s.is_empty()).unwrap_or(url)
}

/// A closure named as a person finds it: its own name, and its script and line when it
/// has no name (or a minifier's), from the snapshot's `locations`.
pub fn function_name(g: &HeapGraph, f: u32) -> FunctionName {
    // A bound function (`fn.bind(x)`) is `native_bind`: name it by the function it binds.
    if g.node(f).name() == "native_bind" {
        if let Some((_, target)) = g.node(f).edges().find(|(e, t)| {
            g.edge_type[*e as usize] == edge_kind::INTERNAL
                && g.strings.get(g.edge_name[*e as usize]) == "bound_function"
                && t.kind() == node_kind::CLOSURE
                && t.i != f
        }) {
            return function_name(g, target.i);
        }
    }
    let name = if g.node_type[f as usize] == node_kind::CLOSURE {
        g.node(f).name().to_string()
    } else {
        let class = g.node(f).class_name();
        class.strip_suffix("()").unwrap_or(class).to_string()
    };
    let mut out = FunctionName::named(&name);
    if name.is_empty() || out.is_minified() {
        if let Some((url, line, _)) = g.scopes().location(g, f) {
            out.script = Some(script_file(url).to_string());
            out.line = Some(line);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_data_becomes_a_pattern() {
        assert_eq!(name_pattern("order:1234"), "order:<n>");
        assert_eq!(name_pattern("session:42"), "session:<n>");
        assert_eq!(name_pattern("session_42"), "session_<n>");
        assert_eq!(name_pattern("order1234"), "order<n>");
        assert_eq!(name_pattern("sessionCache"), "sessionCache");
        assert_eq!(name_pattern("_events"), "_events");
        assert_eq!(name_pattern("515"), "<n>");
        assert_eq!(name_pattern("user@example.com"), "<email>");
        assert_eq!(name_pattern("tok_9f8e7d6c5b4a39281706"), "<token>");
        assert_eq!(
            name_pattern("123e4567-e89b-12d3-a456-426614174000"),
            "<uuid>"
        );
        assert_eq!(name_pattern("item-7/part 2"), "item-<n>/part <n>");
        assert_eq!(edge_pattern(edge_kind::ELEMENT, "17"), "[]");
        // Digits inside identifiers are not data.
        for id in [
            "V8PerContextData",
            "V8PerContextData::context_",
            "sha256",
            "Float64Array",
            "utf8",
            "http2",
            "x509",
            "base64",
            "h2",
        ] {
            assert_eq!(name_pattern(id), id);
        }
        assert_eq!(name_pattern("0x1f2e"), "<token>");
        assert_eq!(name_pattern("<symbol kEvents>"), "<symbol kEvents>");
    }

    #[test]
    fn script_files() {
        assert_eq!(script_file("file:///srv/app/service.js"), "service.js");
        assert_eq!(script_file("/tmp/x/app.js"), "app.js");
        assert_eq!(script_file("http://127.0.0.1:8080/js/app.js?v=3"), "app.js");
        assert_eq!(script_file("node:internal/timers"), "timers");
    }
}
