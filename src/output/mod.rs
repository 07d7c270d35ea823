//! Where a report goes: stdout, or the path given with `-o`, so that the result never
//! surprises. A report that cannot be written in full is an error (exit 2), never a silent
//! loss; a regular file is replaced whole or not at all.
//!
//! `-o PATH`, by what PATH is (a symlink is followed to what it points to):
//! - nothing yet, or a regular file: the report goes to a temporary file in the same
//!   directory, renamed over PATH once complete. A new file gets the mode the umask gives
//!   (`0666 & !umask`, or the directory's default ACL); a replaced file keeps its permission
//!   bits and, where the process may set them, its owner and group. A file the process may
//!   not write is refused, as the shell's `>` would refuse it; so is a directory the temporary
//!   file cannot be created in, even if the file itself is writable (no report is ever written
//!   in place over a regular file).
//! - a FIFO or a character device (`/dev/null`, a terminal): opened and written in place, as
//!   `>` would; a FIFO waits for its reader.
//! - a directory, a block device, a symlink to nothing, or a symlink in a sticky
//!   world-writable directory (`/tmp`) owned by someone else (the kernel's
//!   `protected_symlinks` rule, which matters most to root): refused.
//!
//! While the temporary file exists, SIGINT, SIGTERM and SIGHUP remove it before they end the
//! process.

mod unix;

pub(crate) use unix::RemoveOnSignal;

use crate::error::{Error, Result};
use std::ffi::OsString;
use std::fs::{File, Metadata, OpenOptions};
use std::io::{BufWriter, ErrorKind, Write};
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::os::unix::fs::{FileTypeExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// How stdout is named in messages.
pub const STDOUT_NAME: &str = "<stdout>";

/// Something that writes a whole report to `out`.
pub type Render<'a> = &'a mut dyn FnMut(&mut dyn Write) -> std::io::Result<()>;

/// Write what `render` produces to `output` (`None`: stdout).
pub fn write(output: Option<&Path>, render: Render<'_>) -> Result<()> {
    match output {
        None => write_stdout(render),
        Some(path) => write_path(path, render).map_err(|source| Error::Output {
            path: path.to_path_buf(),
            source,
        }),
    }
}

/// stdout: any failure to write is an error, a broken pipe (`| head`) included.
fn write_stdout(render: Render<'_>) -> Result<()> {
    let err = |source| Error::Output {
        path: STDOUT_NAME.into(),
        source,
    };
    if unix::stdout_closed_at_start() {
        return Err(err(std::io::Error::new(
            ErrorKind::BrokenPipe,
            "stdout is closed",
        )));
    }
    let stdout = std::io::stdout();
    let mut w = BufWriter::new(stdout.lock());
    render(&mut w).and_then(|_| w.flush()).map_err(err)
}

fn write_path(path: &Path, render: Render<'_>) -> std::io::Result<()> {
    // `Path` drops a trailing slash ("out/" has the file name "out"); the user meant a
    // directory.
    if path.as_os_str().as_bytes().ends_with(b"/") {
        return Err(other("names a directory"));
    }
    refuse_foreign_symlink(path)?;
    // Opened for writing without truncating: the kernel follows symlinks, checks the
    // permission `>` would need, and says what is there, all without changing it.
    let opened = OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_NOCTTY)
        .open(path);
    match opened {
        Ok(file) => {
            let meta = file.metadata()?;
            let kind = meta.file_type();
            if kind.is_file() {
                drop(file);
                let target = if std::fs::symlink_metadata(path)?.file_type().is_symlink() {
                    std::fs::canonicalize(path)?
                } else {
                    path.to_path_buf()
                };
                let now = std::fs::metadata(&target)?;
                if (now.dev(), now.ino()) != (meta.dev(), meta.ino()) {
                    return Err(other("the file was replaced while heapdiff opened it"));
                }
                replace(&target, Some(&meta), render)
            } else if kind.is_fifo() || kind.is_char_device() || kind.is_socket() {
                let mut w = BufWriter::new(file);
                render(&mut w)?;
                w.flush()
            } else {
                Err(other(
                    "is a block device; heapdiff writes reports to files, FIFOs and \
                     character devices only",
                ))
            }
        }
        Err(e) if e.kind() == ErrorKind::NotFound => {
            if std::fs::symlink_metadata(path).is_ok_and(|m| m.file_type().is_symlink()) {
                return Err(other(
                    "is a symlink to a file that does not exist; give the path of the file \
                     to create",
                ));
            }
            replace(path, None, render)
        }
        Err(e) if e.raw_os_error() == Some(libc::EISDIR) => Err(other("is a directory")),
        Err(e) => Err(e),
    }
}

/// Refuse a symlink in a sticky world-writable directory unless the caller or the
/// directory's owner owns it: what `fs.protected_symlinks` enforces for `open`, applied here
/// because the atomic replacement renames over the target instead of opening it, and some
/// systems run with the protection off.
fn refuse_foreign_symlink(path: &Path) -> std::io::Result<()> {
    let Ok(link) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !link.file_type().is_symlink() {
        return Ok(());
    }
    let dir = parent_dir(path);
    let dir_meta = std::fs::metadata(dir)?;
    let shared = dir_meta.mode() & 0o1002 == 0o1002;
    if shared && link.uid() != unix::euid() && link.uid() != dir_meta.uid() {
        return Err(other(
            "is a symlink owned by another user in a shared directory (sticky and \
             world-writable); heapdiff does not follow it",
        ));
    }
    Ok(())
}

/// Write the report to a temporary file beside `target` and rename it over `target`.
/// `existing`: the file being replaced, whose mode and owner the new one takes.
fn replace(target: &Path, existing: Option<&Metadata>, render: Render<'_>) -> std::io::Result<()> {
    let dir = parent_dir(target);
    let name = target
        .file_name()
        .ok_or_else(|| other("does not name a file"))?;
    // A new report is created with 0666 so that the kernel applies the umask (or the
    // directory's default ACL) exactly as for any new file; a replacement starts private and
    // takes the old file's mode before it is renamed into place.
    let mode = if existing.is_some() { 0o600 } else { 0o666 };
    let mut tmp = TempFile::create(dir, name.as_bytes(), mode).map_err(|e| {
        let context = format!("cannot create a temporary file in {}", dir.display());
        with_context(e, &context)
    })?;
    {
        let mut w = BufWriter::new(&tmp.file);
        render(&mut w)?;
        w.flush()?;
    }
    if let Some(old) = existing {
        // The old owner and group, where the process may set them: root may set both,
        // others only a group they belong to. What cannot be given away stays the caller's.
        let mine = tmp.file.metadata()?;
        if (old.uid(), old.gid()) != (mine.uid(), mine.gid())
            && std::os::unix::fs::fchown(&tmp.file, Some(old.uid()), Some(old.gid())).is_err()
        {
            let _ = std::os::unix::fs::fchown(&tmp.file, None, Some(old.gid()));
        }
        tmp.file
            .set_permissions(std::fs::Permissions::from_mode(old.mode() & 0o777))?;
    }
    // On disk before it takes the name: a crash never leaves an empty report in its place.
    tmp.file.sync_all()?;
    std::fs::rename(&tmp.path, target)?;
    tmp.renamed = true;
    Ok(())
}

fn parent_dir(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// A temporary file that is removed unless it was renamed, on an error and on a signal.
struct TempFile {
    file: File,
    path: PathBuf,
    renamed: bool,
    // Dropped after `drop` below has removed the file.
    _on_signal: unix::RemoveOnSignal,
}

impl TempFile {
    /// Create `.NAME.heapdiff-PID-N.tmp` in `dir`, new (never an existing file), with `mode`
    /// less the umask.
    fn create(dir: &Path, name: &[u8], mode: u32) -> std::io::Result<TempFile> {
        // Room for the rest of the name within NAME_MAX (255 bytes).
        let stem = &name[..name.len().min(200)];
        let nonce = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        for attempt in 0..100u32 {
            let mut file_name = b".".to_vec();
            file_name.extend_from_slice(stem);
            file_name.extend_from_slice(
                format!(
                    ".heapdiff-{}-{:x}.tmp",
                    std::process::id(),
                    nonce.wrapping_add(attempt)
                )
                .as_bytes(),
            );
            let path = dir.join(OsString::from_vec(file_name));
            let on_signal = unix::RemoveOnSignal::new(&path);
            match OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(mode)
                .custom_flags(libc::O_NOCTTY)
                .open(&path)
            {
                Ok(file) => {
                    return Ok(TempFile {
                        file,
                        path,
                        renamed: false,
                        _on_signal: on_signal,
                    })
                }
                Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(other("no free temporary file name"))
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        if !self.renamed {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn other(message: &str) -> std::io::Error {
    std::io::Error::other(message.to_string())
}

fn with_context(e: std::io::Error, context: &str) -> std::io::Error {
    std::io::Error::new(e.kind(), format!("{context}: {e}"))
}
