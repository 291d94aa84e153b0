//! Finding the ELF objects of a tree: every regular file, by magic rather
//! than by name; symlinks are not followed (their targets are scanned where
//! they are), hard links count once, and files that cannot be read are
//! warned about and skipped.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use venvkit_common::root::Root;
use venvkit_elf::{Dynamic, Elf, Kind};

/// A file's identity, as the loader tells loaded objects apart.
pub type FileKey = (u64, u64);

#[derive(Clone, Debug)]
pub struct Object {
    /// The path inside the root, as the walk found it.
    pub path: PathBuf,
    pub key: FileKey,
    pub dynamic: Dynamic,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub objects: Vec<Object>,
    pub warnings: Vec<String>,
}

/// Scans each directory (a path inside `root`); a directory that does not
/// exist is an error.
pub fn scan(root: &Root, dirs: &[PathBuf], kind: Kind) -> Result<Scan, String> {
    let mut scan = Scan::default();
    let mut seen = HashSet::new();
    for dir in dirs {
        let resolved = root.canonicalize(dir).ok_or_else(|| {
            format!("{}: no such directory (give the tree to scan, such as the virtualenv)", dir.display())
        })?;
        if !root.host_path(&resolved).is_dir() {
            return Err(format!("{}: not a directory (give the tree to scan, such as the virtualenv)", dir.display()));
        }
        walk(root, &resolved, kind, &mut seen, &mut scan);
    }
    Ok(scan)
}

fn walk(root: &Root, dir: &Path, kind: Kind, seen: &mut HashSet<FileKey>, scan: &mut Scan) {
    let host_dir = root.host_path(dir);
    let (entries, device) = match (std::fs::read_dir(&host_dir), std::fs::metadata(&host_dir)) {
        (Ok(entries), Ok(metadata)) => (entries, metadata.dev()),
        (Err(err), _) | (_, Err(err)) => {
            scan.warnings.push(format!("{}: cannot list: {}", dir.display(), venvkit_common::io::plain(&err)));
            return;
        }
    };
    // The directory entry's type and inode number, so that no file needs a
    // stat of its own: most of a venv is not ELF, and the walk's system
    // calls are its cost.
    let mut entries: Vec<_> =
        entries.flatten().filter_map(|e| Some((e.file_name(), e.file_type().ok()?, e.ino()))).collect();
    // Sorted, so that which of two hard links is reported does not depend
    // on the directory's order.
    entries.sort_by(|a, b| a.0.cmp(&b.0));
    for (name, file_type, inode) in entries {
        let path = dir.join(&name);
        if file_type.is_dir() {
            walk(root, &path, kind, seen, scan);
        } else if file_type.is_file() && seen.insert((device, inode)) {
            examine(root, path, (device, inode), kind, scan);
        }
    }
}

fn examine(root: &Root, path: PathBuf, key: FileKey, kind: Kind, scan: &mut Scan) {
    let file = match open_read_only(&root.host_path(&path)) {
        Ok(file) => file,
        Err(err) => {
            scan.warnings.push(format!("{}: cannot read: {}", path.display(), venvkit_common::io::plain(&err)));
            return;
        }
    };
    let elf = match Elf::open(&file) {
        Ok(Some(elf)) => elf,
        Ok(None) => return,
        Err(why) => return scan.warnings.push(format!("{}: skipped, a damaged ELF file: {why}", path.display())),
    };
    if elf.kind() != kind {
        let other = elf.kind().describe();
        return scan.warnings.push(format!("{}: skipped, an ELF file for {other}", path.display()));
    }
    if elf.is_relocatable() {
        return;
    }
    match elf.dynamic() {
        Ok(dynamic) if !dynamic.is_dynamic && dynamic.interpreter.is_none() => {}
        Ok(dynamic) => {
            // The file's own device: on overlayfs a lower layer's file does
            // not share its directory's, and the resolver asks the file.
            let key = file.metadata().map(|m| (m.dev(), m.ino())).unwrap_or(key);
            scan.objects.push(Object { path, key, dynamic });
        }
        Err(why) => scan.warnings.push(format!("{}: skipped, a damaged ELF file: {why}", path.display())),
    }
}

/// open(2) for reading, close-on-exec, as one system call: musl's open()
/// adds an fcntl(2) for kernels without O_CLOEXEC, a third more calls per
/// file on a walk that opens every file of a venv.
fn open_read_only(path: &Path) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let flags = nix::libc::O_RDONLY | nix::libc::O_CLOEXEC | nix::libc::O_NOCTTY;
    // SAFETY: a NUL-terminated path; the returned descriptor is owned by the File.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_openat, nix::libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}
