//! Paths inside a system that may not be the one running the tool (`/`, or
//! `--root ROOT`: a rootfs, an unpacked image), resolved as a process
//! chrooted there would see them: absolute symlink targets start again at
//! ROOT, and `..` never climbs out of it.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

/// How many symlinks one resolution may follow, as the kernel allows.
const MAX_SYMLINKS: usize = 40;

#[derive(Clone, Debug)]
pub struct Root {
    host: PathBuf,
}

impl Root {
    pub fn new(host: impl Into<PathBuf>) -> Root {
        Root { host: host.into() }
    }

    /// Where a path inside the root is on this machine.
    pub fn host_path(&self, inner: &Path) -> PathBuf {
        let relative = inner.strip_prefix("/").unwrap_or(inner);
        if relative.as_os_str().is_empty() {
            self.host.clone()
        } else {
            self.host.join(relative)
        }
    }

    /// The path inside the root with every symlink and `..` resolved, or
    /// None if some component does not exist (or links loop).
    pub fn canonicalize(&self, inner: &Path) -> Option<PathBuf> {
        let mut resolved = PathBuf::from("/");
        let mut pending: Vec<PathBuf> = components_reversed(inner);
        let mut followed = 0;
        while let Some(component) = pending.pop() {
            match component.as_os_str().as_bytes() {
                b"." | b"" => {}
                b".." => {
                    resolved.pop();
                }
                _ => {
                    let candidate = resolved.join(&component);
                    let metadata = std::fs::symlink_metadata(self.host_path(&candidate)).ok()?;
                    if !metadata.file_type().is_symlink() {
                        resolved = candidate;
                        continue;
                    }
                    followed += 1;
                    if followed > MAX_SYMLINKS {
                        return None;
                    }
                    let target = std::fs::read_link(self.host_path(&candidate)).ok()?;
                    if target.is_absolute() {
                        resolved = PathBuf::from("/");
                    }
                    pending.extend(components_reversed(&target));
                }
            }
        }
        Some(resolved)
    }

    /// `inner`, then each path its symlinks lead to, one hop at a time:
    /// `libblas.so.3` -> `/etc/alternatives/...` -> the provider's file.
    pub fn symlink_chain(&self, inner: &Path) -> Vec<PathBuf> {
        let mut chain = vec![inner.to_path_buf()];
        while chain.len() <= MAX_SYMLINKS {
            let current = chain.last().unwrap();
            let Some(dir) = current.parent().and_then(|dir| self.canonicalize(dir)) else { break };
            let Some(name) = current.file_name() else { break };
            let Ok(target) = std::fs::read_link(self.host_path(&dir.join(name))) else { break };
            let next = if target.is_absolute() { target } else { dir.join(target) };
            chain.push(lexically_clean(&next));
        }
        chain
    }
}

fn components_reversed(path: &Path) -> Vec<PathBuf> {
    let mut parts: Vec<PathBuf> = path
        .components()
        .filter_map(|component| match component {
            Component::RootDir | Component::Prefix(_) => None,
            Component::CurDir => Some(PathBuf::from(".")),
            Component::ParentDir => Some(PathBuf::from("..")),
            Component::Normal(name) => Some(PathBuf::from(name)),
        })
        .collect();
    parts.reverse();
    parts
}

/// Removes `.` and empty components only; `..` is left for the filesystem.
fn lexically_clean(path: &Path) -> PathBuf {
    path.components().filter(|c| !matches!(c, Component::CurDir)).collect()
}

/// A path as bytes for sorting and output.
pub fn bytes(path: &Path) -> &[u8] {
    path.as_os_str().as_bytes()
}

pub fn from_bytes(bytes: &[u8]) -> PathBuf {
    PathBuf::from(OsStr::from_bytes(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;
    use venvkit_suites::fixtures::Scratch;

    fn scratch(name: &str) -> Scratch {
        Scratch::new(&format!("root-{name}"))
    }

    #[test]
    fn absolute_links_resolve_inside_the_root() {
        let host = scratch("abs");
        std::fs::create_dir_all(host.join("usr/lib")).unwrap();
        std::fs::write(host.join("usr/lib/libz.so.1.2"), b"").unwrap();
        symlink("usr/lib", host.join("lib")).unwrap();
        symlink("/usr/lib/libz.so.1.2", host.join("usr/lib/libz.so.1")).unwrap();
        let root = Root::new(&host);
        assert_eq!(root.canonicalize(Path::new("/lib/libz.so.1")), Some(PathBuf::from("/usr/lib/libz.so.1.2")));
        assert_eq!(
            root.symlink_chain(Path::new("/lib/libz.so.1")),
            [PathBuf::from("/lib/libz.so.1"), PathBuf::from("/usr/lib/libz.so.1.2")]
        );
    }

    #[test]
    fn dot_dot_after_a_symlinked_directory_follows_the_filesystem() {
        let host = scratch("dotdot");
        std::fs::create_dir_all(host.join("real/pkg")).unwrap();
        std::fs::create_dir_all(host.join("real/pkg.libs")).unwrap();
        std::fs::create_dir_all(host.join("site")).unwrap();
        symlink("/real/pkg", host.join("site/pkg")).unwrap();
        let root = Root::new(&host);
        assert_eq!(root.canonicalize(Path::new("/site/pkg/../pkg.libs")), Some(PathBuf::from("/real/pkg.libs")));
    }

    #[test]
    fn loops_and_missing_components_give_none() {
        let host = scratch("loop");
        symlink("b", host.join("a")).unwrap();
        symlink("a", host.join("b")).unwrap();
        let root = Root::new(&host);
        assert_eq!(root.canonicalize(Path::new("/a")), None);
        assert_eq!(root.canonicalize(Path::new("/missing/x")), None);
        assert!(root.symlink_chain(Path::new("/a")).len() <= MAX_SYMLINKS + 1);
    }

    #[test]
    fn dot_dot_never_leaves_the_root() {
        let host = scratch("escape");
        std::fs::create_dir_all(host.join("etc")).unwrap();
        let root = Root::new(&host);
        assert_eq!(root.canonicalize(Path::new("/../../etc")), Some(PathBuf::from("/etc")));
    }
}
