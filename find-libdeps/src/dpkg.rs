//! Which package owns a file, from dpkg's database read directly: `status`
//! plus the `updates/` journal, the `info/*.list` files of packages that are
//! installed, and `diversions`. Paths are compared the way they exist on
//! disk: directories resolved inside the root (usrmerge's `/lib` is
//! `/usr/lib`), then the file's own symlinks followed hop by hop
//! (`/etc/alternatives`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use crate::rootfs::Root;

const ADMIN_DIR: &str = "/var/lib/dpkg";

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub name: String,
    pub arch: String,
    pub version: String,
    pub multi_arch_same: bool,
}

impl Package {
    /// `name`, or `name:arch` for a foreign architecture.
    pub fn display_name(&self, native: &str) -> String {
        if self.arch == native || self.arch == "all" || self.arch.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.arch)
        }
    }
}

struct Diversion {
    from: PathBuf,
    to: PathBuf,
    /// None for a local diversion (`:`).
    by: Option<String>,
}

pub struct Database<'a> {
    root: &'a Root,
    pub packages: Vec<Package>,
    pub native_arch: String,
    /// File name -> (path as listed, package index).
    by_name: HashMap<Vec<u8>, Vec<(PathBuf, usize)>>,
    diversions: Vec<Diversion>,
    canonical_dirs: std::cell::RefCell<HashMap<PathBuf, Option<PathBuf>>>,
}

/// Package states in which a package's files are on disk.
const OWNING_STATES: &[&str] =
    &["installed", "unpacked", "half-configured", "half-installed", "triggers-awaited", "triggers-pending"];

impl<'a> Database<'a> {
    /// Reads the database, indexing only the listed paths whose file names
    /// are in `wanted` (or that a diversion moved): the lists hold a
    /// hundred thousand paths, a tree needs a few dozen.
    pub fn open(root: &'a Root, wanted: &HashSet<Vec<u8>>) -> Result<Database<'a>, String> {
        let diversions = read_diversions(root);
        let mut wanted = wanted.clone();
        for diversion in &diversions {
            for path in [&diversion.from, &diversion.to] {
                wanted.extend(path.file_name().map(|name| crate::rootfs::bytes(Path::new(name)).to_vec()));
            }
        }
        let admin = PathBuf::from(ADMIN_DIR);
        let status_path = root.host_path(&admin.join("status"));
        let status = std::fs::read(&status_path)
            .map_err(|err| format!("{}: {err} (no dpkg database?)", status_path.display()))?;
        let mut records: Vec<HashMap<String, String>> = Vec::new();
        let mut index: HashMap<(String, String), usize> = HashMap::new();
        let mut apply = |text: &[u8], source: &Path| -> Result<(), String> {
            for paragraph in paragraphs(text, source)? {
                let Some(name) = paragraph.get("Package").cloned() else {
                    return Err(format!("{}: a record without a Package field", source.display()));
                };
                let arch = paragraph.get("Architecture").cloned().unwrap_or_default();
                match index.get(&(name.clone(), arch.clone())) {
                    Some(&at) => records[at] = paragraph,
                    None => {
                        index.insert((name, arch), records.len());
                        records.push(paragraph);
                    }
                }
            }
            Ok(())
        };
        apply(&status, &status_path)?;
        // dpkg's journal: updates not yet merged into status, applied in
        // numeric order, each newer than status.
        let updates_dir = root.host_path(&admin.join("updates"));
        let mut updates: Vec<(u64, PathBuf)> = std::fs::read_dir(&updates_dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path())))
            .collect();
        updates.sort();
        for (_, path) in updates {
            let text = std::fs::read(&path).map_err(|err| format!("{}: {err}", path.display()))?;
            apply(&text, &path)?;
        }
        let packages: Vec<Package> = records
            .iter()
            .filter(|record| record.get("Status").is_some_and(|status| owns_files(status)))
            .map(|record| Package {
                name: record["Package"].clone(),
                arch: record.get("Architecture").cloned().unwrap_or_default(),
                version: record.get("Version").cloned().unwrap_or_default(),
                multi_arch_same: record.get("Multi-Arch").is_some_and(|m| m == "same"),
            })
            .collect();
        let format = std::fs::read_to_string(root.host_path(&admin.join("info/format"))).unwrap_or_default();
        let multiarch_names = format.trim() == "1";
        let native_arch = std::fs::read_to_string(root.host_path(&admin.join("arch")))
            .ok()
            .and_then(|text| text.lines().next().map(str::to_string))
            .filter(|arch| !arch.is_empty())
            .unwrap_or_else(|| "amd64".into());
        let mut by_name: HashMap<Vec<u8>, Vec<(PathBuf, usize)>> = HashMap::new();
        for (number, package) in packages.iter().enumerate() {
            let qualified = format!("{}:{}.list", package.name, package.arch);
            let plain = format!("{}.list", package.name);
            let names: Vec<&str> = if multiarch_names && package.multi_arch_same {
                vec![&qualified, &plain]
            } else {
                vec![&plain, &qualified]
            };
            let Some(list) =
                names.iter().find_map(|name| std::fs::read(root.host_path(&admin.join("info").join(name))).ok())
            else {
                continue;
            };
            for line in list.split(|&b| b == b'\n') {
                let name = line.rsplit(|&b| b == b'/').next().unwrap_or_default();
                if !name.is_empty() && wanted.contains(name) {
                    by_name.entry(name.to_vec()).or_default().push((crate::rootfs::from_bytes(line), number));
                }
            }
        }
        Ok(Database { root, packages, native_arch, by_name, diversions, canonical_dirs: Default::default() })
    }

    /// The package owning the file at `path` (inside the root): the first
    /// hop of its symlink chain that some package lists, compared with
    /// directories resolved.
    pub fn owner(&self, path: &Path) -> Option<&Package> {
        for hop in self.root.symlink_chain(path) {
            if let Some(found) = self.owner_of_hop(&hop) {
                return Some(&self.packages[found]);
            }
        }
        None
    }

    fn owner_of_hop(&self, hop: &Path) -> Option<usize> {
        let target = self.canonical(hop)?;
        if let Some(diversion) = self.diversions.iter().find(|d| self.canonical(&d.to).as_ref() == Some(&target)) {
            // A diverted file now lives at `to`: its owner is whoever ships
            // `from`, other than the package that made the diversion.
            return self
                .listed_owners(&diversion.from)
                .into_iter()
                .find(|&p| Some(&self.packages[p].name) != diversion.by.as_ref());
        }
        let owners = self.listed_owners(hop);
        if let Some(diversion) = self.diversions.iter().find(|d| self.canonical(&d.from).as_ref() == Some(&target)) {
            // At `from` now is the diverting package's own file (or a local one).
            let by = diversion.by.as_ref()?;
            return owners.into_iter().find(|&p| &self.packages[p].name == by);
        }
        owners.into_iter().next()
    }

    /// Packages whose lists name a path that is, on disk, `path`.
    fn listed_owners(&self, path: &Path) -> Vec<usize> {
        let (Some(name), Some(target)) = (path.file_name(), self.canonical(path)) else { return Vec::new() };
        let Some(candidates) = self.by_name.get(crate::rootfs::bytes(Path::new(name))) else { return Vec::new() };
        let mut owners: Vec<usize> = candidates
            .iter()
            .filter(|(listed, _)| self.canonical(listed).as_ref() == Some(&target))
            .map(|(_, p)| *p)
            .collect();
        owners.dedup();
        owners
    }

    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        let dir = path.parent()?.to_path_buf();
        let resolved = self.canonical_dirs.borrow().get(&dir).cloned();
        let resolved = match resolved {
            Some(resolved) => resolved,
            None => {
                let resolved = self.root.canonicalize(&dir);
                self.canonical_dirs.borrow_mut().insert(dir, resolved.clone());
                resolved
            }
        };
        Some(resolved?.join(path.file_name()?))
    }
}

fn owns_files(status: &str) -> bool {
    status.split_whitespace().nth(2).is_some_and(|state| OWNING_STATES.contains(&state))
}

/// RFC 822-style paragraphs; continuation lines are kept only for the
/// fields read here, which are single-line.
fn paragraphs(text: &[u8], source: &Path) -> Result<Vec<HashMap<String, String>>, String> {
    let text =
        std::str::from_utf8(text).map_err(|_| format!("{}: not UTF-8: a corrupt dpkg database", source.display()))?;
    let mut result = Vec::new();
    let mut current: HashMap<String, String> = HashMap::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            if !current.is_empty() {
                result.push(std::mem::take(&mut current));
            }
            continue;
        }
        if line.starts_with([' ', '\t']) {
            continue;
        }
        let Some((field, value)) = line.split_once(':') else {
            return Err(format!("{}:{}: not a field: a corrupt dpkg database", source.display(), number + 1));
        };
        current.insert(field.to_string(), value.trim().to_string());
    }
    if !current.is_empty() {
        result.push(current);
    }
    Ok(result)
}

fn read_diversions(root: &Root) -> Vec<Diversion> {
    let text = std::fs::read(root.host_path(Path::new("/var/lib/dpkg/diversions"))).unwrap_or_default();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    lines
        .chunks_exact(3)
        .map(|triple| Diversion {
            from: crate::rootfs::from_bytes(triple[0]),
            to: crate::rootfs::from_bytes(triple[1]),
            by: match triple[2] {
                b":" => None,
                name => Some(String::from_utf8_lossy(name).into_owned()),
            },
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_present_states_own_files() {
        assert!(owns_files("install ok installed"));
        assert!(owns_files("install ok unpacked"));
        assert!(owns_files("install ok half-configured"));
        assert!(!owns_files("deinstall ok config-files"));
        assert!(!owns_files("purge ok not-installed"));
    }

    #[test]
    fn paragraphs_skip_continuations_and_reject_garbage() {
        let text = b"Package: a\nStatus: install ok installed\nDescription: x\n more\n\nPackage: b\n";
        let parsed = paragraphs(text, Path::new("status")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["Status"], "install ok installed");
        assert!(paragraphs(b"Package: a\ngarbage line\n", Path::new("status")).unwrap_err().contains("status:2"));
    }
}
