//! One spelling per Rust function, whichever mangling scheme named it.
//!
//! A Rust binary mixes two symbol manglings: crates built by cargo use the legacy scheme
//! (`_ZN…17h<hash>E`), while the prebuilt standard library and its private dependencies (its
//! own copies of `gimli`, `addr2line`, `rustc_demangle`, `miniz_oxide`, …) use v0 (`_R…`).
//! Demangled, the two spell one function differently:
//!
//! | legacy | v0 |
//! |---|---|
//! | `gimli::read::abbrev::Abbreviations::insert` | `<gimli::read::abbrev::Abbreviations>::insert` |
//! | `alloc::raw_vec::RawVec<T,A>::grow_one` | `<alloc::raw_vec::RawVec<u8>>::grow_one` |
//! | `<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop` | `<alloc::vec::Vec<u8> as core::ops::drop::Drop>::drop` |
//! | `serde_json::value::de::<impl serde_core::de::Deserialize for serde_json::value::Value>::deserialize` | `<serde_json::value::Value as serde_core::de::Deserialize>::deserialize` |
//! | `std::rt::lang_start::{{closure}}` | `std::rt::lang_start_internal::{closure#0}` |
//!
//! and the application's copy of a crate is named by DWARF (legacy) while the standard
//! library's copy of the same crate, which has no DWARF, is named by its v0 symbol. Legacy
//! names carry no generic arguments (an impl's own parameters at most, `RawVec<T,A>`), v0
//! names carry the concrete ones; so the spelling both can agree on is the path without
//! generic arguments, which is also how legacy names already merge every instance of a
//! generic function into one row. [`canonical_rust_name`] turns either demangled form into it:
//!
//! - generic arguments (`Foo<T>`, `foo::<T>`) are dropped;
//! - an inherent impl's qualified path `<Type>::method` becomes `Type::method` when `Type` is a
//!   path (legacy's spelling); `<[T]>::…`, `<&str>::…` and trait impls `<T as Trait>::…` keep
//!   their brackets;
//! - legacy's impl segment `module::<impl Trait for Type>::method` becomes v0's
//!   `<Type as Trait>::method` (v0 does not name the module the impl is in);
//! - v0's numbered closures and constants (`{closure#0}`, `{constant#1}`) become legacy's
//!   `{{closure}}`, `{{constant}}`: legacy does not number them.
//!
//! It works on the demangler's output, but only ever on a name known to be Rust (the symbol
//! demangled as Rust, or DWARF said the unit is Rust), and by the grammar of Rust paths
//! (bracket nesting, `->` in `Fn` types), not by patterns over whole names.

/// The canonical spelling of a demangled Rust function name (see the module docs).
pub fn canonical_rust_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    canonicalize_into(name, &mut out);
    out
}

fn canonicalize_into(s: &str, out: &mut String) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'<' => {
                let Some(end) = matching_angle(b, i) else {
                    // Unbalanced (a truncated name): keep the rest as it is.
                    out.push_str(&s[i..]);
                    return;
                };
                let inner = &s[i + 1..end];
                if starts_segment(out) || (out.ends_with("::") && inner.starts_with("impl ")) {
                    qualified_path(inner, s[end + 1..].starts_with("::"), out);
                } else if out.ends_with("::") {
                    // Turbofish `foo::<T>`: the `::` goes with the arguments.
                    out.truncate(out.len() - 2);
                }
                // Otherwise generic arguments of a type or function: dropped.
                i = end + 1;
            }
            b'{' => {
                let rest = &s[i..];
                let numbered = ["closure", "constant"].into_iter().find_map(|kind| {
                    let tail = rest
                        .strip_prefix('{')?
                        .strip_prefix(kind)?
                        .strip_prefix('#')?;
                    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
                    (digits > 0 && tail.as_bytes().get(digits) == Some(&b'}'))
                        .then_some((kind, kind.len() + 3 + digits))
                });
                match numbered {
                    Some((kind, len)) => {
                        out.push_str("{{");
                        out.push_str(kind);
                        out.push_str("}}");
                        i += len;
                    }
                    None => {
                        out.push('{');
                        i += 1;
                    }
                }
            }
            _ => {
                let c = s[i..].chars().next().unwrap_or('\u{fffd}');
                out.push(c);
                i += c.len_utf8().max(1);
            }
        }
    }
}

/// A `<…>` that starts a path (at the start, or after a separator inside a type): a
/// qualified path, `<Type as Trait>`, `<Type>`, or legacy's `module::<impl …>` segment.
fn qualified_path(inner: &str, before_path: bool, out: &mut String) {
    let mut canon = String::with_capacity(inner.len());
    canonicalize_into(inner, &mut canon);
    if let Some(imp) = canon.strip_prefix("impl ") {
        // Legacy `module::<impl Trait for Type>`: v0 names no module, so neither do we.
        let path_start = out
            .rfind([' ', '<', '(', '[', ',', '&', '*'])
            .map_or(0, |p| p + 1);
        out.truncate(path_start);
        canon = match split_top_level(imp, " for ") {
            Some((tr, ty)) => format!("{ty} as {tr}"),
            None => imp.to_string(),
        };
    }
    let is_path = canon
        .chars()
        .next()
        .is_some_and(|c| c.is_alphanumeric() || c == '_');
    if before_path && is_path && split_top_level(&canon, " as ").is_none() {
        // `<Type>::method` → `Type::method`, as legacy spells inherent methods.
        out.push_str(&canon);
    } else {
        out.push('<');
        out.push_str(&canon);
        out.push('>');
    }
}

/// Whether a `<` written now starts a qualified path rather than generic arguments. After
/// `::` it is a turbofish, except legacy's `::<impl …>` segment (checked by the caller).
fn starts_segment(out: &str) -> bool {
    out.is_empty() || out.ends_with(['<', '(', '[', ' ', ',', '&', '*'])
}

/// Index of the `>` closing the `<` at `open`; `->` (in `Fn(A) -> B`) is not a bracket.
fn matching_angle(b: &[u8], open: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (i, &c) in b.iter().enumerate().skip(open) {
        match c {
            b'<' => depth += 1,
            b'>' if i > 0 && b[i - 1] == b'-' => {}
            b'>' => {
                depth -= 1;
                if depth == 0 {
                    return Some(i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Split `s` at the first `sep` outside any brackets.
fn split_top_level<'a>(s: &'a str, sep: &str) -> Option<(&'a str, &'a str)> {
    let b = s.as_bytes();
    let mut depth = 0i32;
    for i in 0..b.len() {
        match b[i] {
            b'<' | b'(' | b'[' => depth += 1,
            b'>' if i > 0 && b[i - 1] == b'-' => {}
            b'>' | b')' | b']' => depth -= 1,
            _ if depth == 0 && s[i..].starts_with(sep) => {
                return Some((&s[..i], &s[i + sep.len()..]));
            }
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::canonical_rust_name as c;

    /// Each legacy spelling and the v0 spelling of the same function meet.
    #[test]
    fn legacy_and_v0_meet() {
        for (legacy, v0, want) in [
            (
                "gimli::read::abbrev::Abbreviations::insert",
                "<gimli::read::abbrev::Abbreviations>::insert",
                "gimli::read::abbrev::Abbreviations::insert",
            ),
            (
                "alloc::raw_vec::RawVec<T,A>::grow_one",
                "<alloc::raw_vec::RawVec<u8>>::grow_one",
                "alloc::raw_vec::RawVec::grow_one",
            ),
            (
                "<alloc::vec::Vec<T,A> as core::ops::drop::Drop>::drop",
                "<alloc::vec::Vec<u8> as core::ops::drop::Drop>::drop",
                "<alloc::vec::Vec as core::ops::drop::Drop>::drop",
            ),
            (
                "serde_json::value::de::<impl serde_core::de::Deserialize for serde_json::value::Value>::deserialize",
                "<serde_json::value::Value as serde_core::de::Deserialize>::deserialize",
                "<serde_json::value::Value as serde_core::de::Deserialize>::deserialize",
            ),
            (
                "std::rt::lang_start_internal::{{closure}}",
                "std::rt::lang_start_internal::{closure#0}",
                "std::rt::lang_start_internal::{{closure}}",
            ),
            (
                "std::panicking::catch_unwind",
                "std::panicking::catch_unwind::<isize, std::rt::lang_start_internal::{closure#0}>",
                "std::panicking::catch_unwind",
            ),
            (
                "alloc::collections::btree::map::BTreeMap<K,V,A>::insert",
                "<alloc::collections::btree::map::BTreeMap<usize, std::thread::Thread>>::insert",
                "alloc::collections::btree::map::BTreeMap::insert",
            ),
        ] {
            assert_eq!(c(legacy), want, "legacy {legacy}");
            assert_eq!(c(v0), want, "v0 {v0}");
        }
    }

    #[test]
    fn other_shapes() {
        // Names without generics or brackets are unchanged.
        assert_eq!(c("rust_leak::make_record"), "rust_leak::make_record");
        assert_eq!(c("main"), "main");
        // `->` inside a `Fn` type does not close a bracket.
        assert_eq!(
            c("<alloc::boxed::Box<dyn core::ops::function::Fn(u8) -> u8> as core::ops::function::Fn<(u8,)>>::call"),
            "<alloc::boxed::Box as core::ops::function::Fn>::call"
        );
        // Qualified paths that are not plain types keep their brackets.
        assert_eq!(c("<[u8]>::to_vec"), "<[u8]>::to_vec");
        assert_eq!(c("alloc::slice::<impl [T]>::to_vec"), "<[T]>::to_vec");
        assert_eq!(
            c("<&dyn core::ops::function::Fn<(), Output = i32> + core::marker::Sync as core::ops::function::FnOnce<()>>::call_once"),
            "<&dyn core::ops::function::Fn + core::marker::Sync as core::ops::function::FnOnce>::call_once"
        );
        // Nested qualified paths inside a trait impl's self type.
        assert_eq!(
            c("<<std::sync::once::Once>::call_once<F>::{closure#0} as core::ops::function::FnOnce<(&std::sync::once::OnceState,)>>::call_once"),
            "<std::sync::once::Once::call_once::{{closure}} as core::ops::function::FnOnce>::call_once"
        );
        // Legacy shims and unnumbered closures are left as they are.
        assert_eq!(
            c("core::ops::function::FnOnce::call_once{{vtable.shim}}"),
            "core::ops::function::FnOnce::call_once{{vtable.shim}}"
        );
        // A truncated name keeps its tail.
        assert_eq!(c("a::B<T"), "a::B<T");
    }
}
