//! The library directories of `/etc/ld.so.conf`, as ldconfig reads them:
//! `include` globs (sorted, relative to the including file), comments,
//! `hwcap` lines ignored, and each directory once however it is spelled.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use venvkit_common::glob::glob_match;
use venvkit_common::root::Root;

const MAX_INCLUDE_DEPTH: usize = 16;

/// The directories in order, each listed once (by its resolved path).
pub fn directories(root: &Root) -> Vec<PathBuf> {
    let mut found = Vec::new();
    read_file(root, Path::new("/etc/ld.so.conf"), 0, &mut found);
    let mut seen = HashSet::new();
    found.retain(|dir| seen.insert(root.canonicalize(dir).unwrap_or_else(|| dir.clone())));
    found
}

fn read_file(root: &Root, file: &Path, depth: usize, found: &mut Vec<PathBuf>) {
    if depth > MAX_INCLUDE_DEPTH {
        return;
    }
    let Ok(text) = std::fs::read_to_string(root.host_path(file)) else { return };
    let base = file.parent().unwrap_or(Path::new("/"));
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("").trim();
        let mut words = line.split_whitespace();
        match words.next() {
            None => {}
            Some("include") => {
                for pattern in words {
                    for included in expand(root, &base.join(pattern)) {
                        read_file(root, &included, depth + 1, found);
                    }
                }
            }
            Some("hwcap") => {}
            // As ldconfig reads it, the whole line is one directory.
            Some(_) => found.push(PathBuf::from(line)),
        }
    }
}

/// The files a pattern names, sorted; only the last component may hold
/// wildcards, as in every ld.so.conf in practice.
fn expand(root: &Root, pattern: &Path) -> Vec<PathBuf> {
    let Some(name) = pattern.file_name().and_then(|n| n.to_str()) else { return Vec::new() };
    let dir = pattern.parent().unwrap_or(Path::new("/"));
    if !name.contains(['*', '?', '[']) {
        return vec![pattern.to_path_buf()];
    }
    let Ok(entries) = std::fs::read_dir(root.host_path(dir)) else { return Vec::new() };
    let mut names: Vec<String> = entries
        .flatten()
        .filter_map(|entry| entry.file_name().into_string().ok())
        .filter(|candidate| !candidate.starts_with('.') && glob_match(name.as_bytes(), candidate.as_bytes()))
        .collect();
    names.sort();
    names.into_iter().map(|found| dir.join(found)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use venvkit_suites::fixtures::Scratch;

    #[test]
    fn includes_are_sorted_relative_and_directories_deduplicated() {
        let host = Scratch::new("find-libdeps-ldconf");
        std::fs::create_dir_all(host.join("etc/ld.so.conf.d")).unwrap();
        std::fs::create_dir_all(host.join("opt/b/lib")).unwrap();
        std::fs::create_dir_all(host.join("opt/a/lib")).unwrap();
        symlink("/opt/a", host.join("opt/alias")).unwrap();
        std::fs::write(host.join("etc/ld.so.conf"), "include ld.so.conf.d/*.conf # inline comment\n/usr/local/lib\n")
            .unwrap();
        std::fs::write(host.join("etc/ld.so.conf.d/20-b.conf"), "/opt/b/lib\n").unwrap();
        std::fs::write(
            host.join("etc/ld.so.conf.d/10-a.conf"),
            "# a\n/opt/a/lib\n  /opt/alias/lib  \nhwcap 0 nosegneg\n",
        )
        .unwrap();
        std::fs::write(host.join("etc/ld.so.conf.d/ignored.txt"), "/nope\n").unwrap();
        let dirs = directories(&Root::new(&host));
        let expected: Vec<PathBuf> = ["/opt/a/lib", "/opt/b/lib", "/usr/local/lib"].iter().map(PathBuf::from).collect();
        assert_eq!(dirs, expected);
    }
}
