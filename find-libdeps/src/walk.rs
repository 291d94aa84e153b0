//! Finding the ELF objects of a tree: every regular file, by magic rather
//! than by name; symlinks are not followed (their targets are scanned where
//! they are), hard links count once, and files that cannot be read are
//! warned about and skipped.

use std::collections::HashSet;
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::elf::{self, Dynamic, Kind, Read};
use crate::rootfs::Root;

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
        let resolved = root
            .canonicalize(dir)
            .filter(|resolved| root.host_path(resolved).is_dir())
            .ok_or_else(|| format!("{}: no such directory", dir.display()))?;
        walk(root, &resolved, kind, &mut seen, &mut scan);
    }
    Ok(scan)
}

fn walk(root: &Root, dir: &Path, kind: Kind, seen: &mut HashSet<FileKey>, scan: &mut Scan) {
    let entries = match std::fs::read_dir(root.host_path(dir)) {
        Ok(entries) => entries,
        Err(err) => {
            scan.warnings.push(format!("{}: cannot list: {err}", dir.display()));
            return;
        }
    };
    let mut names: Vec<_> = entries.flatten().map(|entry| entry.file_name()).collect();
    // Sorted, so that which of two hard links is reported does not depend
    // on the directory's order.
    names.sort();
    for name in names {
        let path = dir.join(&name);
        let Ok(metadata) = std::fs::symlink_metadata(root.host_path(&path)) else { continue };
        if metadata.is_dir() {
            walk(root, &path, kind, seen, scan);
        } else if metadata.is_file() && metadata.len() >= 4 && seen.insert((metadata.dev(), metadata.ino())) {
            examine(root, path, (metadata.dev(), metadata.ino()), kind, scan);
        }
    }
}

fn examine(root: &Root, path: PathBuf, key: FileKey, kind: Kind, scan: &mut Scan) {
    let file = match File::open(root.host_path(&path)) {
        Ok(file) => file,
        Err(err) => {
            scan.warnings.push(format!("{}: cannot read: {err}", path.display()));
            return;
        }
    };
    match elf::read(&file, kind) {
        Ok(Read::NotElf | Read::Relocatable) => {}
        Ok(Read::OtherKind(other)) => {
            scan.warnings.push(format!("{}: skipped, an ELF file for {}", path.display(), other.describe()));
        }
        Ok(Read::Object(dynamic)) if !dynamic.is_dynamic && dynamic.interpreter.is_none() => {}
        Ok(Read::Object(dynamic)) => scan.objects.push(Object { path, key, dynamic }),
        Err(elf::Malformed(why)) => scan.warnings.push(format!("{}: skipped, a damaged ELF file: {why}", path.display())),
    }
}
