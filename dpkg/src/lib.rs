//! dpkg's database, read directly inside a [`Root`], for the tools that need
//! to know what is installed: which packages, in which state, how big, and
//! which package owns a file.
//!
//! What is read, as dpkg itself keeps it (dpkg(1) "FILES", deb-status(5),
//! dpkg's `lib/dpkg/dbmodify.c` and `lib/dpkg/dump.c`):
//! - `status`, then the `updates/` journal: records dpkg wrote after its
//!   last checkpoint, applied in numeric order, each replacing the package's
//!   record. After an interrupted dpkg they hold the truth `status` lacks.
//! - `status.d/<package>`: one record per file, the layout of distroless
//!   images and of venvkit's shell-less runtime, where a layer that adds
//!   packages adds files instead of rewriting `status`. Read after `status`.
//! - `info/<package>.list` or `info/<package>:<arch>.list` (the qualified
//!   name for Multi-Arch: same packages once `info/format` is 1), else
//!   `status.d/<package>.md5sums`, for the files a package owns.
//! - `diversions`: triples of lines (from, to, diverting package or `:`).

pub mod version;

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};

use venvkit_common::io::plain;
use venvkit_common::root::{self, Root};

/// dpkg's administrative directory.
pub const ADMIN_DIR: &str = "/var/lib/dpkg";

/// Why the database could not be read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The third word of a Status field (deb-status(5)).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum State {
    NotInstalled,
    ConfigFiles,
    HalfInstalled,
    Unpacked,
    HalfConfigured,
    TriggersAwaited,
    TriggersPending,
    Installed,
}

impl State {
    pub fn parse(word: &str) -> Option<State> {
        Some(match word {
            "not-installed" => State::NotInstalled,
            "config-files" => State::ConfigFiles,
            "half-installed" => State::HalfInstalled,
            "unpacked" => State::Unpacked,
            "half-configured" => State::HalfConfigured,
            "triggers-awaited" => State::TriggersAwaited,
            "triggers-pending" => State::TriggersPending,
            "installed" => State::Installed,
            _ => return None,
        })
    }

    /// The package's files are on disk (it owns them).
    pub fn has_files(self) -> bool {
        !matches!(self, State::NotInstalled | State::ConfigFiles)
    }

    /// dpkg started on the package and did not finish: `dpkg --audit`
    /// reports it.
    pub fn is_unfinished(self) -> bool {
        self.has_files() && self != State::Installed
    }
}

/// A package's identity: dpkg keys its records by name and architecture.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PackageId {
    pub name: String,
    /// `amd64`, `all`, ...; empty in the rare record without the field.
    pub arch: String,
}

impl PackageId {
    /// `name`, or `name:arch` when the architecture is foreign to `native`
    /// (how apt and dpkg-query name a package to a user).
    pub fn qualified(&self, native: &str) -> String {
        if self.arch == native || self.arch == "all" || self.arch.is_empty() {
            self.name.clone()
        } else {
            format!("{}:{}", self.name, self.arch)
        }
    }
}

/// One package record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Package {
    pub id: PackageId,
    pub version: String,
    pub state: State,
    pub multi_arch_same: bool,
    /// Installed-Size, in KiB (0 when absent).
    pub installed_size_kib: u64,
    /// Read from `status.d/`: its file list is `status.d/<name>.md5sums`.
    pub from_status_d: bool,
    /// Its Provides field as written (virtual packages it satisfies).
    pub provides: Option<String>,
    /// The fields of [`APT_IDENTITY_FIELDS`] it has, as written, in that order.
    pub apt_identity: Vec<(&'static str, String)>,
}

/// What apt needs in a status record, besides Package, Version,
/// Architecture and Installed-Size, to take the archive's build of that
/// version as the one installed: the relationships its `VersionHash` reads
/// (apt-pkg/deb/deblistparser.cc), and Multi-Arch and Essential. A record
/// without them is, to apt, another build, which `apt-get install` of the
/// package, or of one that depends on it, installs again.
pub const APT_IDENTITY_FIELDS: [&str; 9] =
    ["Multi-Arch", "Essential", "Depends", "Pre-Depends", "Suggests", "Recommends", "Conflicts", "Breaks", "Replaces"];

/// The packages dpkg knows, as `status`, its journal and `status.d` say.
pub struct Database {
    admin: PathBuf,
    pub packages: Vec<Package>,
    /// dpkg's native architecture, from `arch`'s first line when present.
    pub native_arch: Option<String>,
    /// `info/format` is 1: Multi-Arch: same packages have qualified names.
    multiarch_names: bool,
}

impl Database {
    /// Reads the records of every package. A root with neither `status` nor
    /// `status.d` has no dpkg database: an error naming the path.
    pub fn open(root: &Root) -> Result<Database, Error> {
        let admin = root.host_path(Path::new(ADMIN_DIR));
        let status_path = admin.join("status");
        let status_d = admin.join("status.d");
        let mut records = Records::default();
        match std::fs::read(&status_path) {
            Ok(text) => records.apply(&text, &status_path)?,
            Err(err) if !status_d.is_dir() => {
                return Err(Error(format!("{}: {} (no dpkg database?)", status_path.display(), plain(&err))));
            }
            Err(_) => {}
        }
        for (_, path) in journal(&admin.join("updates")) {
            let text = std::fs::read(&path).map_err(|err| Error(format!("{}: {}", path.display(), plain(&err))))?;
            records.apply(&text, &path)?;
        }
        let status_d_start = records.list.len();
        for path in status_d_records(&status_d) {
            let text = std::fs::read(&path).map_err(|err| Error(format!("{}: {}", path.display(), plain(&err))))?;
            records.apply(&text, &path)?;
        }
        let packages = records
            .list
            .into_iter()
            .enumerate()
            .filter_map(|(index, record)| record.into_package(index >= status_d_start))
            .collect();
        let format = std::fs::read_to_string(admin.join("info/format")).unwrap_or_default();
        let native_arch = std::fs::read_to_string(admin.join("arch"))
            .ok()
            .and_then(|text| text.lines().next().map(str::trim).map(str::to_string))
            .filter(|arch| !arch.is_empty());
        Ok(Database { admin, packages, native_arch, multiarch_names: format.trim() == "1" })
    }

    /// A control file dpkg keeps for `package` (`symbols`, `shlibs`,
    /// `md5sums`, `postinst`, ...): `info/<name>:<arch>.<kind>` or
    /// `info/<name>.<kind>`, whichever exists.
    pub fn control_file(&self, package: &PackageId, kind: &str) -> Option<Vec<u8>> {
        let info = self.admin.join("info");
        [format!("{}:{}.{kind}", package.name, package.arch), format!("{}.{kind}", package.name)]
            .iter()
            .find_map(|name| std::fs::read(info.join(name)).ok())
    }

    /// The paths `package` owns, as its list names them (absolute).
    pub fn files(&self, package: &Package) -> Vec<PathBuf> {
        let mut paths = Vec::new();
        self.for_each_listed(package, |line| paths.push(root::from_bytes(line)));
        paths
    }

    fn for_each_listed(&self, package: &Package, mut each: impl FnMut(&[u8])) {
        let info = self.admin.join("info");
        let qualified = format!("{}:{}.list", package.id.name, package.id.arch);
        let plain = format!("{}.list", package.id.name);
        let names =
            if self.multiarch_names && package.multi_arch_same { [&qualified, &plain] } else { [&plain, &qualified] };
        if let Some(list) = names.iter().find_map(|name| std::fs::read(info.join(name)).ok()) {
            list.split(|&b| b == b'\n').filter(|line| !line.is_empty()).for_each(&mut each);
            return;
        }
        // status.d's md5sums: "<md5>  <path without the leading />".
        let Ok(sums) = std::fs::read(self.admin.join("status.d").join(format!("{}.md5sums", package.id.name))) else {
            return;
        };
        for line in sums.split(|&b| b == b'\n') {
            let Some(at) = line.windows(2).position(|pair| pair == b"  ") else { continue };
            let mut path = b"/".to_vec();
            path.extend_from_slice(line[at + 2..].strip_prefix(b"/").unwrap_or(&line[at + 2..]));
            each(&path);
        }
    }

    /// Who owns which file, for files named in `wanted` (file names, not
    /// paths): the lists hold a hundred thousand paths, a query a few dozen.
    pub fn file_index<'a>(&'a self, root: &'a Root, wanted: &HashSet<Vec<u8>>) -> FileIndex<'a> {
        let diversions = read_diversions(root);
        let mut wanted = wanted.clone();
        for diversion in &diversions {
            for path in [&diversion.from, &diversion.to] {
                wanted.extend(path.file_name().map(|name| root::bytes(Path::new(name)).to_vec()));
            }
        }
        let mut by_name: HashMap<Vec<u8>, Vec<(PathBuf, usize)>> = HashMap::new();
        for (number, package) in self.packages.iter().enumerate().filter(|(_, p)| p.state.has_files()) {
            self.for_each_listed(package, |line| {
                let name = line.rsplit(|&b| b == b'/').next().unwrap_or_default();
                if !name.is_empty() && wanted.contains(name) {
                    by_name.entry(name.to_vec()).or_default().push((root::from_bytes(line), number));
                }
            });
        }
        FileIndex { database: self, root, by_name, diversions, canonical_dirs: Default::default() }
    }
}

/// The records as they are applied: later ones replace earlier ones of the
/// same package.
#[derive(Default)]
struct Records {
    list: Vec<Record>,
    index: HashMap<(String, String), usize>,
}

struct Record(HashMap<String, String>);

impl Records {
    fn apply(&mut self, text: &[u8], source: &Path) -> Result<(), Error> {
        for fields in paragraphs(text, source)? {
            let Some(name) = fields.get("Package").cloned() else {
                return Err(Error(format!("{}: a record without a Package field", source.display())));
            };
            let arch = fields.get("Architecture").cloned().unwrap_or_default();
            // A record without Architecture (dpkg writes none for some
            // not-installed packages) is the package's only record, if it has one.
            let key = if arch.is_empty() {
                let same_name: Vec<_> = self.index.keys().filter(|(n, _)| *n == name).cloned().collect();
                match same_name.as_slice() {
                    [only] => only.clone(),
                    _ => (name, arch),
                }
            } else {
                (name, arch)
            };
            match self.index.get(&key) {
                Some(&at) => self.list[at] = Record(fields),
                None => {
                    self.index.insert(key, self.list.len());
                    self.list.push(Record(fields));
                }
            }
        }
        Ok(())
    }
}

impl Record {
    fn into_package(self, from_status_d: bool) -> Option<Package> {
        let mut fields = self.0;
        // status.d records as distroless writes them have no Status: they
        // are there because the package is installed.
        let state = match fields.get("Status") {
            Some(status) => State::parse(status.split_whitespace().nth(2)?)?,
            None if from_status_d => State::Installed,
            None => return None,
        };
        Some(Package {
            id: PackageId { name: fields.remove("Package")?, arch: fields.remove("Architecture").unwrap_or_default() },
            version: fields.remove("Version").unwrap_or_default(),
            state,
            multi_arch_same: fields.get("Multi-Arch").is_some_and(|m| m == "same"),
            installed_size_kib: fields.get("Installed-Size").and_then(|size| size.parse().ok()).unwrap_or(0),
            from_status_d,
            provides: fields.remove("Provides"),
            apt_identity: APT_IDENTITY_FIELDS
                .iter()
                .filter_map(|&field| Some((field, fields.remove(field)?)))
                .collect(),
        })
    }
}

/// The journal's files in the order dpkg applies them: numeric names only
/// (`tmp.i` is a record being written).
fn journal(dir: &Path) -> Vec<(u64, PathBuf)> {
    let mut updates: Vec<(u64, PathBuf)> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| Some((entry.file_name().to_str()?.parse().ok()?, entry.path())))
        .collect();
    updates.sort();
    updates
}

/// `status.d/<package>` files, sorted; their `.md5sums` and `.list`
/// companions are file lists, not records.
fn status_d_records(dir: &Path) -> Vec<PathBuf> {
    let mut records: Vec<PathBuf> = std::fs::read_dir(dir)
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| {
            let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            !name.starts_with('.') && !name.ends_with(".md5sums") && !name.ends_with(".list") && path.is_file()
        })
        .collect();
    records.sort();
    records
}

/// RFC 822-style paragraphs (deb822(5)); continuation lines are skipped:
/// the fields read here are single-line.
fn paragraphs(text: &[u8], source: &Path) -> Result<Vec<HashMap<String, String>>, Error> {
    let text = std::str::from_utf8(text)
        .map_err(|_| Error(format!("{}: not UTF-8: a corrupt dpkg database", source.display())))?;
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
            return Err(Error(format!("{}:{}: not a field: a corrupt dpkg database", source.display(), number + 1)));
        };
        current.insert(field.to_string(), value.trim().to_string());
    }
    if !current.is_empty() {
        result.push(current);
    }
    Ok(result)
}

struct Diversion {
    from: PathBuf,
    to: PathBuf,
    /// None for a local diversion (`:`).
    by: Option<String>,
}

fn read_diversions(root: &Root) -> Vec<Diversion> {
    let text = std::fs::read(root.host_path(&Path::new(ADMIN_DIR).join("diversions"))).unwrap_or_default();
    let lines: Vec<&[u8]> = text.split(|&b| b == b'\n').collect();
    lines
        .chunks_exact(3)
        .map(|triple| Diversion {
            from: root::from_bytes(triple[0]),
            to: root::from_bytes(triple[1]),
            by: match triple[2] {
                b":" => None,
                name => Some(String::from_utf8_lossy(name).into_owned()),
            },
        })
        .collect()
}

/// Owners of the files a query named, with paths compared the way they
/// exist on disk: directories resolved inside the root (usrmerge's `/lib`
/// is `/usr/lib`), then the file's own symlinks followed hop by hop
/// (`/etc/alternatives`), and diversions applied.
pub struct FileIndex<'a> {
    database: &'a Database,
    root: &'a Root,
    /// File name -> (path as listed, package index).
    by_name: HashMap<Vec<u8>, Vec<(PathBuf, usize)>>,
    diversions: Vec<Diversion>,
    canonical_dirs: std::cell::RefCell<HashMap<PathBuf, Option<PathBuf>>>,
}

impl FileIndex<'_> {
    /// The package owning the file at `path` (inside the root): the first
    /// hop of its symlink chain that some package lists.
    pub fn owner(&self, path: &Path) -> Option<&Package> {
        self.root
            .symlink_chain(path)
            .iter()
            .find_map(|hop| self.owner_of_hop(hop))
            .map(|found| &self.database.packages[found])
    }

    fn owner_of_hop(&self, hop: &Path) -> Option<usize> {
        let packages = &self.database.packages;
        let target = self.canonical(hop)?;
        if let Some(diversion) = self.diversions.iter().find(|d| self.canonical(&d.to).as_ref() == Some(&target)) {
            // A diverted file now lives at `to`: its owner is whoever ships
            // `from`, other than the package that made the diversion.
            return self
                .listed_owners(&diversion.from)
                .into_iter()
                .find(|&p| Some(&packages[p].id.name) != diversion.by.as_ref());
        }
        let owners = self.listed_owners(hop);
        if let Some(diversion) = self.diversions.iter().find(|d| self.canonical(&d.from).as_ref() == Some(&target)) {
            // At `from` now is the diverting package's own file (or a local one).
            let by = diversion.by.as_ref()?;
            return owners.into_iter().find(|&p| &packages[p].id.name == by);
        }
        owners.into_iter().next()
    }

    /// Packages whose lists name a path that is, on disk, `path`.
    fn listed_owners(&self, path: &Path) -> Vec<usize> {
        let (Some(name), Some(target)) = (path.file_name(), self.canonical(path)) else { return Vec::new() };
        let Some(candidates) = self.by_name.get(root::bytes(Path::new(name))) else { return Vec::new() };
        let mut owners: Vec<usize> = candidates
            .iter()
            .filter(|(listed, _)| self.canonical(listed).as_ref() == Some(&target))
            .map(|(_, p)| *p)
            .collect();
        owners.dedup();
        owners
    }

    /// The path with its directory resolved inside the root, its name kept.
    fn canonical(&self, path: &Path) -> Option<PathBuf> {
        let dir = path.parent()?.to_path_buf();
        let known = self.canonical_dirs.borrow().get(&dir).cloned();
        let resolved = match known {
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

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_suites::fixtures::Scratch;

    fn scratch(name: &str) -> Scratch {
        let dir = Scratch::new(&format!("dpkg-{name}"));
        std::fs::create_dir_all(dir.join("var/lib/dpkg/info")).unwrap();
        std::fs::create_dir_all(dir.join("var/lib/dpkg/updates")).unwrap();
        dir
    }

    fn write(dir: &Path, inner: &str, text: &str) {
        let path = dir.join(inner);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }

    #[test]
    fn states_are_read_and_classified() {
        assert_eq!(State::parse("half-configured"), Some(State::HalfConfigured));
        assert!(State::Unpacked.has_files() && State::Unpacked.is_unfinished());
        assert!(!State::ConfigFiles.has_files() && !State::Installed.is_unfinished());
        assert_eq!(State::parse("bogus"), None);
    }

    #[test]
    fn paragraphs_skip_continuations_and_reject_garbage() {
        let text = b"Package: a\nStatus: install ok installed\nDescription: x\n more\n\nPackage: b\n";
        let parsed = paragraphs(text, Path::new("status")).unwrap();
        assert_eq!(parsed.len(), 2);
        assert_eq!(parsed[0]["Status"], "install ok installed");
        assert!(paragraphs(b"Package: a\ngarbage line\n", Path::new("status")).unwrap_err().0.contains("status:2"));
    }

    #[test]
    fn the_journal_replaces_status_records_in_numeric_order() {
        let dir = scratch("journal");
        write(
            &dir,
            "var/lib/dpkg/status",
            "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\nInstalled-Size: 10\n",
        );
        write(&dir, "var/lib/dpkg/updates/0010", "Package: a\nStatus: install ok installed\nArchitecture: amd64\n");
        write(&dir, "var/lib/dpkg/updates/0002", "Package: a\nStatus: install ok unpacked\nArchitecture: amd64\n");
        write(&dir, "var/lib/dpkg/updates/tmp.i", "Package: a\nStatus: purge ok not-installed\n");
        let database = Database::open(&Root::new(&dir)).unwrap();
        assert_eq!(database.packages.len(), 1);
        assert_eq!(database.packages[0].state, State::Installed, "0010 comes after 0002");
    }

    #[test]
    fn apt_identity_fields_are_kept_as_written_in_their_order() {
        let dir = scratch("relationships");
        write(
            &dir,
            "var/lib/dpkg/status",
            "Package: a\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1\n\
             Breaks: c (<< 2)\nDepends: libc6 (>= 2.34), b | d\nDescription: x\nMulti-Arch: foreign\n",
        );
        let database = Database::open(&Root::new(&dir)).unwrap();
        assert_eq!(
            database.packages[0].apt_identity,
            [
                ("Multi-Arch", "foreign".to_string()),
                ("Depends", "libc6 (>= 2.34), b | d".to_string()),
                ("Breaks", "c (<< 2)".to_string())
            ]
        );
    }

    #[test]
    fn a_journal_record_without_architecture_replaces_the_only_record_of_its_name() {
        let dir = scratch("no-arch");
        write(&dir, "var/lib/dpkg/status", "Package: a\nStatus: install ok installed\nArchitecture: amd64\n");
        write(&dir, "var/lib/dpkg/updates/0001", "Package: a\nStatus: install ok half-configured\n");
        let database = Database::open(&Root::new(&dir)).unwrap();
        assert_eq!(database.packages.len(), 1);
        assert_eq!(database.packages[0].state, State::HalfConfigured);
    }

    #[test]
    fn status_d_records_need_no_status_and_list_files_through_md5sums() {
        let dir = scratch("status-d");
        std::fs::remove_dir_all(dir.join("var/lib/dpkg/info")).unwrap();
        write(&dir, "var/lib/dpkg/status.d/libpq5", "Package: libpq5\nArchitecture: amd64\nVersion: 15.1-1\n");
        write(
            &dir,
            "var/lib/dpkg/status.d/libpq5.md5sums",
            "0123456789abcdef0123456789abcdef  usr/lib/x86_64-linux-gnu/libpq.so.5.15\n",
        );
        let database = Database::open(&Root::new(&dir)).unwrap();
        assert_eq!(database.packages.len(), 1);
        let package = &database.packages[0];
        assert_eq!(
            (package.id.name.as_str(), package.state, package.from_status_d),
            ("libpq5", State::Installed, true)
        );
        assert_eq!(database.files(package), [PathBuf::from("/usr/lib/x86_64-linux-gnu/libpq.so.5.15")]);
    }

    #[test]
    fn a_root_without_a_database_is_an_error_naming_the_status_file() {
        let dir = Scratch::new("dpkg-empty");
        let err = Database::open(&Root::new(&dir)).err().unwrap();
        assert!(err.0.contains("var/lib/dpkg/status") && err.0.contains("no dpkg database"), "{err}");
    }

    #[test]
    fn foreign_packages_are_qualified_with_their_architecture() {
        let id = |arch: &str| PackageId { name: "libc6".into(), arch: arch.into() };
        assert_eq!(id("amd64").qualified("amd64"), "libc6");
        assert_eq!(id("all").qualified("amd64"), "libc6");
        assert_eq!(id("i386").qualified("amd64"), "libc6:i386");
    }
}
