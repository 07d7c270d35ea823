//! Decide what kind of dump a byte stream holds, from its first bytes.

/// The kinds of heap dump heapdiff reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A V8 `.heapsnapshot` (JSON).
    V8,
    /// A jemalloc / gperftools heap profile (text).
    Jemalloc,
}

pub fn is_gzip(bytes: &[u8]) -> bool {
    bytes.starts_with(&[0x1f, 0x8b])
}

/// `None` when the bytes look like neither format.
pub fn sniff(bytes: &[u8]) -> Option<InputKind> {
    let head = &bytes[..bytes.len().min(4096)];
    let start = head.iter().position(|b| !b.is_ascii_whitespace())?;
    let head = &head[start..];
    if head.starts_with(b"{") {
        return Some(InputKind::V8);
    }
    if head.starts_with(b"heap_v2/") || head.starts_with(b"heap profile:") {
        return Some(InputKind::Jemalloc);
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_each_kind() {
        assert_eq!(sniff(b"  {\"snapshot\":{}}"), Some(InputKind::V8));
        assert_eq!(
            sniff(b"heap_v2/524288\n  t*: 1: 2 [0: 0]\n"),
            Some(InputKind::Jemalloc)
        );
        assert_eq!(
            sniff(b"heap profile: 1: 2 [0: 0] @ heap_v2/524288\n"),
            Some(InputKind::Jemalloc)
        );
        assert_eq!(sniff(b"\x00\x01garbage"), None);
        assert_eq!(sniff(b"   "), None);
    }
}
