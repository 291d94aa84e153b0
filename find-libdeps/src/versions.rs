//! Symbol versions, as ld.so checks them before a program starts: each
//! version an object's DT_VERNEED names for a library (`GLIBC_2.38` from
//! `libc.so.6`) must be defined in the DT_VERDEF of the library the search
//! found, or the loader refuses ("version `GLIBC_2.38' not found"). As
//! glibc's `match_symbol` (`elf/dl-version.c`): a weak need is only a
//! warning, and a library that defines no versions at all is accepted.

use std::collections::{BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::path::{Path, PathBuf};

use venvkit_common::root::Root;
use venvkit_elf::{Elf, VersionNeed};

use crate::resolve::{Edge, How};
use crate::walk::Object;

/// A version an object needs that its library does not define.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unmet {
    pub file: PathBuf,
    /// The library's name as DT_NEEDED gives it.
    pub needed: String,
    pub version: String,
    /// The library the search found.
    pub library: PathBuf,
    /// The newest version of the same family (`GLIBC_`) it does define.
    pub newest: Option<String>,
}

/// Every unmet version need of the ELF edges (DT_NEEDED ones) of `objects`
/// (whose needs the walk read).
pub fn check(root: &Root, edges: &BTreeSet<Edge>, objects: &[Object]) -> BTreeSet<Unmet> {
    let needs: HashMap<&Path, &[VersionNeed]> =
        objects.iter().map(|object| (object.path.as_path(), object.version_needs.as_slice())).collect();
    let mut definitions: HashMap<&Path, Vec<String>> = HashMap::new();
    let mut unmet = BTreeSet::new();
    for edge in edges {
        if matches!(edge.how, How::Interpreter | How::Python { .. } | How::Recorded(_)) {
            continue;
        }
        let Some(object_needs) = needs.get(edge.file.as_path()) else { continue };
        let Some(need) = object_needs.iter().find(|need| need.file == edge.needed) else { continue };
        let defined =
            definitions.entry(&edge.path).or_insert_with(|| read(root, &edge.path, |elf| elf.version_definitions()));
        if defined.is_empty() {
            continue;
        }
        let known: HashSet<&str> = defined.iter().map(String::as_str).collect();
        for version in need.versions.iter().filter(|v| !v.weak && !known.contains(v.name.as_str())) {
            let family = version.name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '.');
            let newest = defined
                .iter()
                .filter(|name| name.starts_with(family) && name.len() > family.len())
                .max_by(|a, b| crate::ldcache::libcmp(a, b))
                .cloned();
            unmet.insert(Unmet {
                file: edge.file.clone(),
                needed: edge.needed.clone(),
                version: version.name.clone(),
                library: edge.path.clone(),
                newest,
            });
        }
    }
    unmet
}

/// One table of the ELF object at `path` (inside `root`); empty if it cannot
/// be read: the walk and the search already reported such a file.
fn read<T>(
    root: &Root,
    path: &Path,
    table: impl for<'e, 'f> Fn(&'e Elf<'f, File>) -> Result<Vec<T>, venvkit_elf::Malformed>,
) -> Vec<T> {
    let Some(resolved) = root.canonicalize(path) else { return Vec::new() };
    let Ok(file) = File::open(root.host_path(&resolved)) else { return Vec::new() };
    match Elf::open(&file) {
        Ok(Some(elf)) => table(&elf).unwrap_or_default(),
        _ => Vec::new(),
    }
}
