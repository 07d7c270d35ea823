//! The operating-system calls behind writing a report that Rust's standard library does not
//! make: whether stdout was open when the process started, and a signal handler that
//! removes the temporary file of an unfinished report. The only `unsafe` of [`super`].

use std::ffi::{c_char, c_int, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::ptr::null_mut;
use std::sync::atomic::{AtomicBool, AtomicPtr, Ordering};

/// Set before `main` when descriptor 1 was closed at exec (`heapdiff … >&-`). Rust's runtime
/// then opens `/dev/null` in its place, where every write succeeds and the report is lost,
/// so by the time `main` runs the closed stdout can no longer be seen.
static STDOUT_CLOSED_AT_START: AtomicBool = AtomicBool::new(false);

extern "C" fn check_stdout() {
    // SAFETY: F_GETFD only asks whether the descriptor is open; it changes nothing.
    if unsafe { libc::fcntl(1, libc::F_GETFD) } == -1 {
        STDOUT_CLOSED_AT_START.store(true, Ordering::Relaxed);
    }
}

// Run by the dynamic loader with the other initialisers, before the Rust runtime's own setup.
#[used]
#[cfg_attr(
    any(
        target_os = "linux",
        target_os = "android",
        target_os = "freebsd",
        target_os = "netbsd",
        target_os = "openbsd",
        target_os = "dragonfly",
        target_os = "illumos",
        target_os = "solaris"
    ),
    link_section = ".init_array"
)]
#[cfg_attr(target_vendor = "apple", link_section = "__DATA,__mod_init_func")]
static CHECK_STDOUT: extern "C" fn() = check_stdout;

/// Whether descriptor 1 was closed when the process started.
pub fn stdout_closed_at_start() -> bool {
    // Named here so that the initialiser's object is always linked with the code that asks.
    let _ = &CHECK_STDOUT;
    STDOUT_CLOSED_AT_START.load(Ordering::Relaxed)
}

/// The effective user id.
pub fn euid() -> u32 {
    // SAFETY: geteuid cannot fail and has no preconditions.
    unsafe { libc::geteuid() }
}

/// The temporary file the signal handler removes; null when there is none. A path, once
/// stored, is never freed: a handler on another thread may be reading it at any moment.
static TEMP_PATH: AtomicPtr<c_char> = AtomicPtr::new(null_mut());

/// Signals that end a run with their default action and should not leave a temporary file:
/// Ctrl-C, `kill`, and the terminal closing.
const SIGNALS: [c_int; 3] = [libc::SIGINT, libc::SIGTERM, libc::SIGHUP];

/// Ignored while the temporary file is written: a file size limit (`ulimit -f`) then fails
/// the write (EFBIG), which is reported and cleaned up, instead of killing the process.
const IGNORED: [c_int; 1] = [libc::SIGXFSZ];

extern "C" fn remove_temp_and_die(sig: c_int) {
    // Only async-signal-safe calls: unlink(2) and raise(3).
    let path = TEMP_PATH.load(Ordering::SeqCst);
    // SAFETY: `path` is null or a NUL-terminated string that is never freed.
    unsafe {
        if !path.is_null() {
            libc::unlink(path);
        }
        // SA_RESETHAND put back the default action on entry, and the signal is blocked while
        // this handler runs: it is delivered again, and ends the process with its usual
        // status (130 for SIGINT, 143 for SIGTERM in a shell), once the handler returns.
        libc::raise(sig);
    }
}

/// While alive, SIGINT, SIGTERM and SIGHUP remove `path` before they end the process, and
/// SIGXFSZ is ignored. A signal the process ignores (`nohup`, a background job's SIGINT)
/// stays ignored.
pub struct RemoveOnSignal {
    previous: Vec<(c_int, libc::sigaction)>,
}

impl RemoveOnSignal {
    /// Register `path` (before it is created: a signal then finds nothing to remove, which
    /// is harmless; after, a signal between creating and registering would leave it).
    pub fn new(path: &Path) -> RemoveOnSignal {
        if let Ok(c) = CString::new(path.as_os_str().as_bytes()) {
            TEMP_PATH.store(c.into_raw(), Ordering::SeqCst);
        }
        let mut previous = Vec::new();
        let handlers = SIGNALS.map(|s| (s, remove_temp_and_die as *const () as libc::sighandler_t));
        let ignored = IGNORED.map(|s| (s, libc::SIG_IGN));
        for (sig, handler) in handlers.into_iter().chain(ignored) {
            // SAFETY: sigaction with valid pointers; the handler only makes
            // async-signal-safe calls.
            unsafe {
                let mut old: libc::sigaction = std::mem::zeroed();
                if libc::sigaction(sig, std::ptr::null(), &mut old) != 0
                    || old.sa_sigaction == libc::SIG_IGN
                {
                    continue;
                }
                let mut action: libc::sigaction = std::mem::zeroed();
                action.sa_sigaction = handler;
                action.sa_flags = libc::SA_RESETHAND;
                libc::sigemptyset(&mut action.sa_mask);
                if libc::sigaction(sig, &action, std::ptr::null_mut()) == 0 {
                    previous.push((sig, old));
                }
            }
        }
        RemoveOnSignal { previous }
    }
}

impl Drop for RemoveOnSignal {
    /// Call after the file is renamed or removed: from here on a signal removes nothing.
    fn drop(&mut self) {
        TEMP_PATH.store(null_mut(), Ordering::SeqCst);
        for (sig, old) in &self.previous {
            // SAFETY: restores the action saved by `new`.
            unsafe {
                libc::sigaction(*sig, old, std::ptr::null_mut());
            }
        }
    }
}
