//! How much of the inputs heapdiff may hold in memory: decompressed gzip, and whatever comes
//! through a pipe. Files on disk are mapped and do not count.
//!
//! One budget for the whole run, shared by the inputs read at the same time, sized from the
//! memory available when the run starts. A held input is parsed into columns about as large
//! as itself (a 754 MB snapshot: 861 MiB peak from a mapped file), so the held bytes may take
//! half of what is available and the columns the other half. A hostile stream (a gzip bomb, an
//! endless pipe) stops at the budget with an error instead of taking the machine.

use std::io::{ErrorKind, Read};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

/// Bytes reserved from the budget at a time while reading.
const CHUNK: u64 = 64 << 20;

/// Used when neither `/proc/meminfo` nor `sysconf` tells the machine's memory.
const FALLBACK_AVAILABLE: u64 = 8 << 30;

/// A limit on bytes held, shared by every reader that charges it.
#[derive(Debug)]
pub struct Budget {
    limit: u64,
    used: AtomicU64,
}

impl Budget {
    pub fn new(limit: u64) -> Budget {
        Budget {
            limit,
            used: AtomicU64::new(0),
        }
    }

    /// The run's budget: half the memory available when first asked.
    pub fn process() -> &'static Budget {
        static PROCESS: OnceLock<Budget> = OnceLock::new();
        PROCESS.get_or_init(|| Budget::new(available_memory() / 2))
    }

    pub fn limit(&self) -> u64 {
        self.limit
    }

    /// Bytes currently held by all readers.
    pub fn used(&self) -> u64 {
        self.used.load(Ordering::Relaxed)
    }

    /// Take up to `want` bytes; returns how many were granted (0 when the budget is spent).
    fn reserve(&self, want: u64) -> u64 {
        let mut granted = 0;
        let _ = self
            .used
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |used| {
                granted = want.min(self.limit.saturating_sub(used));
                Some(used + granted)
            });
        granted
    }

    fn refund(&self, n: u64) {
        self.used.fetch_sub(n, Ordering::Relaxed);
    }
}

/// Bytes read into memory under a budget; the budget gets them back when this is dropped.
pub struct Held<'b> {
    data: Vec<u8>,
    budget: &'b Budget,
    charged: u64,
}

impl<'b> Held<'b> {
    pub fn new(budget: &'b Budget) -> Held<'b> {
        Held {
            data: Vec::new(),
            budget,
            charged: 0,
        }
    }

    pub fn bytes(&self) -> &[u8] {
        &self.data
    }

    pub fn len(&self) -> usize {
        self.data.len()
    }

    pub fn is_empty(&self) -> bool {
        self.data.is_empty()
    }

    /// Append everything `r` gives until its end, charging the budget as the bytes arrive.
    /// Memory is never reserved from a size the input states (a gzip trailer's ISIZE, a
    /// header count): only bytes that arrived are held.
    pub fn read_to_end(&mut self, r: &mut impl Read) -> Result<(), HoldError> {
        loop {
            let granted = self.budget.reserve(CHUNK);
            self.charged += granted;
            if granted == 0 {
                // The budget is spent: over it only if the input has more.
                let mut probe = [0u8; 1];
                return match read_some(r, &mut probe)? {
                    0 => Ok(()),
                    _ => Err(HoldError::OverBudget),
                };
            }
            let n = r.by_ref().take(granted).read_to_end(&mut self.data)? as u64;
            if n < granted {
                self.budget.refund(granted - n);
                self.charged -= granted - n;
                return Ok(());
            }
        }
    }
}

impl Drop for Held<'_> {
    fn drop(&mut self) {
        self.budget.refund(self.charged);
    }
}

/// Why bytes could not be held.
#[derive(Debug)]
pub enum HoldError {
    /// Reading the input failed.
    Io(std::io::Error),
    /// The input has more bytes than the budget has room for.
    OverBudget,
}

impl From<std::io::Error> for HoldError {
    fn from(e: std::io::Error) -> Self {
        HoldError::Io(e)
    }
}

fn read_some(r: &mut impl Read, buf: &mut [u8]) -> std::io::Result<usize> {
    loop {
        match r.read(buf) {
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            other => return other,
        }
    }
}

/// Memory this process can use now, in bytes: `MemAvailable` from `/proc/meminfo`, lowered to
/// the headroom of the process's cgroup (v2) where one sets a limit (a container sees the
/// host's meminfo); the physical memory where there is no `/proc`; 8 GiB if nothing says.
pub fn available_memory() -> u64 {
    let machine = std::fs::read_to_string("/proc/meminfo")
        .ok()
        .and_then(|t| meminfo_available(&t))
        .or_else(physical_memory)
        .unwrap_or(FALLBACK_AVAILABLE);
    match cgroup_headroom() {
        Some(h) => machine.min(h),
        None => machine,
    }
}

/// `MemAvailable` (in kB in the file) in bytes.
fn meminfo_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let mut words = line.split_whitespace().skip(1);
    let kb: u64 = words.next()?.parse().ok()?;
    Some(kb.saturating_mul(1024))
}

fn physical_memory() -> Option<u64> {
    // SAFETY: sysconf only reads system configuration; it has no memory-safety preconditions.
    let (pages, page) = unsafe {
        (
            libc::sysconf(libc::_SC_PHYS_PAGES),
            libc::sysconf(libc::_SC_PAGESIZE),
        )
    };
    (pages > 0 && page > 0).then(|| pages as u64 * page as u64)
}

/// The smallest `memory.max - memory.current` over the process's cgroup and its ancestors.
fn cgroup_headroom() -> Option<u64> {
    let own = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = own.lines().find_map(|l| l.strip_prefix("0::"))?;
    let root = std::path::Path::new("/sys/fs/cgroup");
    let mut dir = root.join(rel.trim_start_matches('/'));
    let mut least: Option<u64> = None;
    loop {
        let read = |f: &str| std::fs::read_to_string(dir.join(f)).ok();
        if let Some(h) = headroom(
            read("memory.max").as_deref(),
            read("memory.current").as_deref(),
        ) {
            least = Some(least.map_or(h, |l| l.min(h)));
        }
        if dir == root || !dir.pop() || !dir.starts_with(root) {
            return least;
        }
    }
}

/// Headroom of one cgroup from its `memory.max` (a number or `max`) and `memory.current`.
fn headroom(max: Option<&str>, current: Option<&str>) -> Option<u64> {
    let max: u64 = max?.trim().parse().ok()?;
    let current: u64 = current.and_then(|c| c.trim().parse().ok()).unwrap_or(0);
    Some(max.saturating_sub(current))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn meminfo_and_cgroup_files() {
        let meminfo = "MemTotal:       24572312 kB\nMemFree:        20121064 kB\n\
                       MemAvailable:   23461944 kB\nBuffers:          123 kB\n";
        assert_eq!(meminfo_available(meminfo), Some(23461944 * 1024));
        assert_eq!(meminfo_available("MemTotal: 1 kB\n"), None);
        assert_eq!(headroom(Some("max\n"), Some("100\n")), None);
        assert_eq!(
            headroom(Some("1073741824\n"), Some("73741824\n")),
            Some(1_000_000_000)
        );
        assert_eq!(headroom(Some("100\n"), Some("400\n")), Some(0));
        assert_eq!(headroom(None, Some("400\n")), None);
        assert!(available_memory() > 0);
    }

    #[test]
    fn held_bytes_are_charged_and_given_back() {
        let budget = Budget::new(10);
        {
            let mut a = Held::new(&budget);
            a.read_to_end(&mut &b"abcdef"[..]).unwrap();
            assert_eq!(a.bytes(), b"abcdef");
            assert_eq!(budget.used(), 6);
            // Exactly the rest of the budget fits.
            let mut b = Held::new(&budget);
            b.read_to_end(&mut &b"ghij"[..]).unwrap();
            assert_eq!(budget.used(), 10);
            // One byte more does not, and what was read is given back.
            let mut c = Held::new(&budget);
            assert!(matches!(
                c.read_to_end(&mut &b"k"[..]),
                Err(HoldError::OverBudget)
            ));
            drop(c);
            assert_eq!(budget.used(), 10);
        }
        assert_eq!(budget.used(), 0);
        let mut d = Held::new(&budget);
        assert!(matches!(
            d.read_to_end(&mut &b"0123456789x"[..]),
            Err(HoldError::OverBudget)
        ));
    }
}
