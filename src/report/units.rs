//! The one place sizes are formatted and parsed. Decimal units, as DevTools shows them
//! (1 kB = 1000 bytes); binary units are accepted on input. Also the one place long names are
//! shortened for a terminal table ([`elide`]).

/// Longest class or function name a terminal table shows before [`elide`] shortens it. C++ and
/// Rust template names run to hundreds of characters; JSON and markdown keep them whole.
pub const TABLE_NAME_CHARS: usize = 80;

/// `name` if it has at most `max` characters; otherwise its start and end joined by `…`
/// (two thirds of the room for the start, where the type or namespace is, the rest for the
/// end, where the method is), `max` characters in all.
pub fn elide(name: &str, max: usize) -> std::borrow::Cow<'_, str> {
    let n = name.chars().count();
    if n <= max || max < 3 {
        return std::borrow::Cow::Borrowed(name);
    }
    let room = max - 1;
    let head = room * 2 / 3;
    let tail = room - head;
    let start: String = name.chars().take(head).collect();
    let end: String = name.chars().skip(n - tail).collect();
    std::borrow::Cow::Owned(format!("{start}…{end}"))
}

pub fn bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "kB", "MB", "GB", "TB"];
    if n < 1000 {
        return format!("{n} B");
    }
    let mut v = n as f64;
    let mut u = 0;
    while v >= 999.95 && u + 1 < UNITS.len() {
        v /= 1000.0;
        u += 1;
    }
    if v >= 100.0 {
        format!("{v:.0} {}", UNITS[u])
    } else if v >= 10.0 {
        format!("{v:.1} {}", UNITS[u])
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

pub fn signed_bytes(n: i64) -> String {
    match n.cmp(&0) {
        std::cmp::Ordering::Greater => format!("+{}", bytes(n as u64)),
        std::cmp::Ordering::Less => format!("-{}", bytes(n.unsigned_abs())),
        std::cmp::Ordering::Equal => "0 B".into(),
    }
}

pub fn signed(n: i64) -> String {
    if n > 0 {
        format!("+{n}")
    } else {
        n.to_string()
    }
}

/// Parse `20MB`, `1.5 GiB`, `512k`, `1000`: decimal (kB, MB, GB) or binary (KiB, MiB, GiB)
/// units, case-insensitive; a bare number is bytes.
pub fn parse_size(s: &str) -> Result<u64, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let v: f64 = num
        .parse()
        .map_err(|_| format!("invalid size '{s}': expected e.g. 20MB, 512KiB, 1.5GB"))?;
    let mult: f64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1.0,
        "k" | "kb" => 1e3,
        "m" | "mb" => 1e6,
        "g" | "gb" => 1e9,
        "t" | "tb" => 1e12,
        "kib" => 1024.0,
        "mib" => 1024.0 * 1024.0,
        "gib" => 1024.0 * 1024.0 * 1024.0,
        "tib" => 1024.0f64.powi(4),
        _ => {
            return Err(format!(
                "invalid size '{s}': unknown unit '{}'",
                unit.trim()
            ))
        }
    };
    let bytes = v * mult;
    if !bytes.is_finite() || bytes >= u64::MAX as f64 {
        return Err(format!("invalid size '{s}': too large"));
    }
    Ok(bytes.round() as u64)
}

#[cfg(test)]
mod tests {
    use super::*;
    #[test]
    fn formats() {
        assert_eq!(bytes(0), "0 B");
        assert_eq!(bytes(999), "999 B");
        assert_eq!(bytes(1000), "1.00 kB");
        assert_eq!(bytes(12_345), "12.3 kB");
        assert_eq!(bytes(745_123_456), "745 MB");
        assert_eq!(bytes(999_999), "1.00 MB");
        assert_eq!(signed_bytes(-2048), "-2.05 kB");
        assert_eq!(signed_bytes(0), "0 B");
    }
    #[test]
    fn elides_long_names_only() {
        assert_eq!(elide("CacheEntry", 10), "CacheEntry");
        let long = "blink::HeapVectorBacking<std::pair<blink::AtomicString, X>>::trace";
        let e = elide(long, 20);
        assert_eq!(e.chars().count(), 20);
        assert_eq!(e, "blink::HeapV…::trace");
        // Multi-byte characters are counted as characters, never cut inside.
        assert_eq!(elide("ééééééééé", 5), "éé…éé");
    }
    #[test]
    fn parses() {
        assert_eq!(parse_size("20MB"), Ok(20_000_000));
        assert_eq!(parse_size("1.5 GiB"), Ok(1_610_612_736));
        assert_eq!(parse_size("512k"), Ok(512_000));
        assert_eq!(parse_size("1000"), Ok(1000));
        assert!(parse_size("twenty").is_err());
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("").is_err());
    }
}
