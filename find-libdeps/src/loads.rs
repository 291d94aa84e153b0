//! Libraries loaded at run time rather than named in DT_NEEDED: those
//! Python sources load through ctypes and cffi ([`crate::python`]), and
//! those a run of the app recorded (`--loaded`). Each is resolved in the
//! root as the call would resolve it there.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use crate::ldcache::LdCache;
use crate::python::{Api, Candidate};
use crate::resolve::{Edge, How, Resolver};
use crate::walk::{FileKey, Source};

/// A load none of whose candidates resolves in the root.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct Unresolved {
    pub file: PathBuf,
    pub line: u32,
    pub api: Api,
    pub candidates: Vec<Candidate>,
}

impl Unresolved {
    /// `.../magic/loader.py:45: ctypes.CDLL(find_library('magic') or 'libmagic.so.1')`.
    pub fn describe(&self) -> String {
        let names: Vec<String> = self.candidates.iter().map(Candidate::to_string).collect();
        let names = names.join(" or ");
        let call = match self.api {
            Api::FindLibrary => names,
            Api::Ctypes => format!("ctypes.CDLL({names})"),
            Api::Cffi => format!("ffi.dlopen({names})"),
        };
        format!("{}:{}: {call}", self.file.display(), self.line)
    }
}

/// What the sources load.
#[derive(Debug, Default)]
pub struct Runtime {
    pub edges: Vec<Edge>,
    pub unresolved: Vec<Unresolved>,
    /// Loads of a name computed at run time, which only a recorded run
    /// can tell: where they are.
    pub computed: Vec<(PathBuf, u32, Api)>,
    /// Loads that resolve nowhere but also name Windows or macOS files:
    /// taken as another platform's code, not reported but with -v.
    pub other_platforms: Vec<Unresolved>,
}

/// Resolves every load of `sources`: a group of alternatives is satisfied
/// by the first candidate that resolves, but a development link (`lib*.so`,
/// which runtime images do not ship) only when no other candidate resolves.
pub fn resolve_sources(resolver: &Resolver, cache: &LdCache, sources: &[Source], tree: &HashSet<FileKey>) -> Runtime {
    let mut runtime = Runtime::default();
    for source in sources {
        for load in &source.loads {
            if load.candidates.is_empty() {
                runtime.computed.push((source.path.clone(), load.line, load.api));
                continue;
            }
            let resolved: Vec<(&Candidate, String, PathBuf, FileKey)> =
                load.candidates.iter().filter_map(|candidate| resolve(resolver, cache, candidate)).collect();
            let chosen = resolved.iter().find(|(_, name, _, _)| !name.ends_with(".so")).or(resolved.first());
            match chosen {
                Some((candidate, _, path, key)) => runtime.edges.push(Edge {
                    file: source.path.clone(),
                    needed: candidate.to_string(),
                    how: How::Python { api: load.api, at: format!("{}:{}", source.path.display(), load.line) },
                    path: path.clone(),
                    in_tree: tree.contains(key),
                }),
                None => {
                    let unresolved = Unresolved {
                        file: source.path.clone(),
                        line: load.line,
                        api: load.api,
                        candidates: load.candidates.clone(),
                    };
                    if load.other_platforms {
                        runtime.other_platforms.push(unresolved);
                    } else {
                        runtime.unresolved.push(unresolved);
                    }
                }
            }
        }
    }
    runtime
}

/// One candidate in the root: the file name it loads and the path found.
fn resolve<'c>(
    resolver: &Resolver,
    cache: &LdCache,
    candidate: &'c Candidate,
) -> Option<(&'c Candidate, String, PathBuf, FileKey)> {
    let (name, path, key) = match candidate {
        Candidate::FindLibrary(name) => {
            let (soname, path) = cache.find_library(name)?;
            let key = resolver.candidate(path)?;
            (soname.to_string(), path.to_path_buf(), key)
        }
        Candidate::Dlopen(name) => {
            let (path, _, key) = resolver.search_system(name).ok()?;
            let file_name = name.rsplit('/').next().unwrap_or(name).to_string();
            (file_name, path, key)
        }
    };
    Some((candidate, name, path, key))
}

/// The paths a record of a run names: `/proc/PID/maps` lines (the mapped
/// file is the sixth field), glibc's `LD_DEBUG=libs` `calling init: PATH`
/// lines, or one absolute path a line; anything else is skipped. Sorted,
/// each once.
pub fn recorded_paths(text: &str) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = text
        .lines()
        .filter_map(|line| {
            let path = if let Some((_, path)) = line.split_once("calling init: ") {
                path.trim()
            } else if line.starts_with('/') {
                line.trim_end()
            } else {
                maps_path(line)?
            };
            let path = path.strip_suffix(" (deleted)").unwrap_or(path);
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// The file of a `/proc/PID/maps` line: `start-end perms offset dev inode path`.
fn maps_path(line: &str) -> Option<&str> {
    let mut rest = line;
    for _ in 0..5 {
        let field_end = rest.find(' ')?;
        rest = rest[field_end..].trim_start_matches(' ');
    }
    let (range, _) = line.split_once(' ')?;
    let (start, end) = range.split_once('-')?;
    let hex = |text: &str| !text.is_empty() && text.bytes().all(|b| b.is_ascii_hexdigit());
    (hex(start) && hex(end) && rest.starts_with('/')).then_some(rest)
}

/// Each recorded path that is an ELF object of the root's architecture,
/// as an edge from `record` (the file it was read from); paths the root
/// does not have are returned apart, to be warned about.
pub fn resolve_recorded(
    resolver: &Resolver,
    record: &Path,
    paths: &[PathBuf],
    tree: &HashSet<FileKey>,
    root: &venvkit_common::root::Root,
) -> (Vec<Edge>, Vec<PathBuf>) {
    let mut edges = Vec::new();
    let mut absent = Vec::new();
    for path in paths {
        match resolver.candidate(path) {
            Some(key) => edges.push(Edge {
                file: record.to_path_buf(),
                needed: path.display().to_string(),
                how: How::Recorded(record.to_path_buf()),
                path: path.clone(),
                in_tree: tree.contains(&key),
            }),
            // Not ELF (a locale archive, a cache file) or another
            // architecture's: not a library this image needs.
            None if root.canonicalize(path).is_some() => {}
            None => absent.push(path.clone()),
        }
    }
    (edges, absent)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn maps_ld_debug_and_path_lists_are_read() {
        let text = "\
55d0c0a00000-55d0c0a6c000 r--p 00000000 08:01 1311       /usr/bin/python3.11
7f0e1c000000-7f0e1c021000 rw-p 00000000 00:00 0
7f0e1d200000-7f0e1d22e000 r--p 00000000 08:01 2000       /usr/lib/x86_64-linux-gnu/libpq.so.5.15
7f0e1d400000-7f0e1d401000 r--p 00000000 08:01 2001       /tmp/lib with space.so.1 (deleted)
7ffd5a3b5000-7ffd5a3d6000 rw-p 00000000 00:00 0          [stack]
     12345:\tcalling init: /lib/x86_64-linux-gnu/libz.so.1
     12345:\tfile=libz.so.1 [0];  needed by /usr/bin/python3.11 [0]
/usr/lib/x86_64-linux-gnu/libmagic.so.1
not a path
";
        let paths: Vec<String> = recorded_paths(text).iter().map(|p| p.display().to_string()).collect();
        assert_eq!(
            paths,
            [
                "/lib/x86_64-linux-gnu/libz.so.1",
                "/tmp/lib with space.so.1",
                "/usr/bin/python3.11",
                "/usr/lib/x86_64-linux-gnu/libmagic.so.1",
                "/usr/lib/x86_64-linux-gnu/libpq.so.5.15",
            ]
        );
    }
}
