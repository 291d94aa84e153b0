//! Leaving nothing behind in the layer: apt's package lists and caches, the
//! downloaded .debs, and the logs that only record this build (with their
//! timestamps). Everything else stays: dpkg's database, apt's
//! extended_states, the directories packages made under /var/log. A cache
//! directory that is a mount point (`RUN --mount=type=cache`) is kept.

use std::path::{Path, PathBuf};

use venvkit_common::diag::Diag;

pub const LISTS: &str = "/var/lib/apt/lists";
pub const CACHE: &str = "/var/cache/apt";

/// The logs of this run: removed, so that two builds of a layer are equal.
const LOGS: &[&str] = &["/var/log/dpkg.log", "/var/log/alternatives.log"];
const APT_LOGS: &[&str] = &["history.log", "term.log", "eipp.log"];

/// What the run may not delete.
#[derive(Clone, Copy, Debug)]
pub struct Keep {
    pub lists: bool,
    pub cache: bool,
}

impl Keep {
    /// `--keep-cache` keeps both; a mount point keeps itself.
    pub fn decide(keep_cache: bool) -> Keep {
        Keep {
            lists: keep_cache || is_mount_point(Path::new(LISTS)),
            cache: keep_cache || is_mount_point(Path::new(CACHE)),
        }
    }
}

/// Cleans under `root` (`/` in use; a scratch directory in tests).
pub fn clean(root: &Path, keep: Keep, diag: Diag) {
    let at = |path: &str| root.join(path.trim_start_matches('/'));
    if keep.lists {
        diag.verbose(format_args!("keeping {LISTS} (a cache mount, or --keep-cache)"));
    } else {
        empty_dir(&at(LISTS), &["lock"]);
    }
    if keep.cache {
        diag.verbose(format_args!("keeping {CACHE} (a cache mount, or --keep-cache)"));
    } else {
        for entry in read_dir(&at(CACHE)) {
            if entry.extension().is_some_and(|e| e == "bin") {
                remove(&entry);
            }
        }
        empty_dir(&at("/var/cache/apt/archives"), &["lock"]);
    }
    for log in LOGS {
        remove(&at(log));
    }
    for entry in read_dir(&at("/var/log/apt")) {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if APT_LOGS.iter().any(|log| name.starts_with(log)) {
            remove(&entry);
        }
    }
}

/// Removes what `dir` holds, its subdirectories' contents too (`partial/`
/// stays as an empty directory, as apt expects), but for the names kept.
fn empty_dir(dir: &Path, kept: &[&str]) {
    for entry in read_dir(dir) {
        let name = entry.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        if kept.contains(&name) {
            continue;
        }
        if entry.is_dir() && !entry.is_symlink() {
            empty_dir(&entry, &[]);
        } else {
            remove(&entry);
        }
    }
}

fn read_dir(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir).into_iter().flatten().flatten().map(|entry| entry.path()).collect()
}

fn remove(path: &Path) {
    let _ = std::fs::remove_file(path);
}

/// Whether `path` is where a filesystem is mounted, from the mount table.
pub fn is_mount_point(path: &Path) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/self/mountinfo") else {
        return different_device_from_parent(path);
    };
    let wanted = path.to_string_lossy();
    table.lines().any(|line| line.split_whitespace().nth(4).is_some_and(|mount| unescape(mount) == wanted))
        || different_device_from_parent(path)
}

fn different_device_from_parent(path: &Path) -> bool {
    use std::os::unix::fs::MetadataExt;
    match (std::fs::metadata(path), path.parent().map(std::fs::metadata)) {
        (Ok(here), Some(Ok(parent))) => here.dev() != parent.dev(),
        _ => false,
    }
}

/// mountinfo writes spaces and the like as octal escapes (`\040`).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'\\' && i + 4 <= bytes.len() && bytes[i + 1..i + 4].iter().all(|b| (b'0'..=b'7').contains(b)) {
            out.push((bytes[i + 1] - b'0') * 64 + (bytes[i + 2] - b'0') * 8 + (bytes[i + 3] - b'0'));
            i += 4;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_common::diag::Level;
    use venvkit_suites::fixtures::Scratch;

    fn tree(name: &str) -> Scratch {
        let root = Scratch::new(&format!("apt-install-clean-{name}"));
        for (path, contents) in [
            ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease", ""),
            ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4", ""),
            ("var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en", ""),
            ("var/lib/apt/lists/lock", ""),
            ("var/lib/apt/lists/partial/x", ""),
            ("var/lib/apt/extended_states", "Package: tree\n"),
            ("var/cache/apt/pkgcache.bin", ""),
            ("var/cache/apt/srcpkgcache.bin", ""),
            ("var/cache/apt/archives/tree_2.1.0-1_amd64.deb", ""),
            ("var/cache/apt/archives/partial/half.deb", ""),
            ("var/cache/apt/archives/lock", ""),
            ("var/log/dpkg.log", "2026-11-21 status installed tree"),
            ("var/log/alternatives.log", ""),
            ("var/log/apt/history.log", ""),
            ("var/log/apt/term.log.1.gz", ""),
            ("var/log/apt/eipp.log.xz", ""),
            ("var/log/nginx/.keep", ""),
            ("var/lib/dpkg/status", "Package: tree\n"),
        ] {
            let file = root.join(path);
            std::fs::create_dir_all(file.parent().unwrap()).unwrap();
            std::fs::write(file, contents).unwrap();
        }
        root
    }

    fn exists(root: &Path, path: &str) -> bool {
        root.join(path).exists()
    }

    #[test]
    fn cleaning_removes_lists_caches_debs_and_this_runs_logs_only() {
        let root = tree("all");
        clean(&root, Keep { lists: false, cache: false }, Diag::new("apt-install", Level::Quiet));
        for gone in [
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease",
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_binary-amd64_Packages.lz4",
            "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_main_i18n_Translation-en",
            "var/lib/apt/lists/partial/x",
            "var/cache/apt/pkgcache.bin",
            "var/cache/apt/srcpkgcache.bin",
            "var/cache/apt/archives/tree_2.1.0-1_amd64.deb",
            "var/cache/apt/archives/partial/half.deb",
            "var/log/dpkg.log",
            "var/log/alternatives.log",
            "var/log/apt/history.log",
            "var/log/apt/term.log.1.gz",
            "var/log/apt/eipp.log.xz",
        ] {
            assert!(!exists(&root, gone), "{gone} was left");
        }
        for kept in [
            "var/lib/apt/extended_states",
            "var/lib/dpkg/status",
            "var/log/nginx/.keep",
            "var/lib/apt/lists/partial",
            "var/lib/apt/lists/lock",
        ] {
            assert!(exists(&root, kept), "{kept} was removed");
        }
    }

    #[test]
    fn kept_caches_stay_whole_but_logs_still_go() {
        let root = tree("keep");
        clean(&root, Keep { lists: true, cache: true }, Diag::new("apt-install", Level::Quiet));
        assert!(exists(&root, "var/lib/apt/lists/deb.debian.org_debian_dists_bookworm_InRelease"));
        assert!(exists(&root, "var/cache/apt/archives/tree_2.1.0-1_amd64.deb"));
        assert!(!exists(&root, "var/log/dpkg.log"));
    }

    #[test]
    fn mountinfo_escapes_are_read() {
        assert_eq!(unescape("/mnt/with\\040space"), "/mnt/with space");
        assert!(is_mount_point(Path::new("/proc")));
        assert!(!is_mount_point(Path::new("/usr/share")) || different_device_from_parent(Path::new("/usr/share")));
    }
}
