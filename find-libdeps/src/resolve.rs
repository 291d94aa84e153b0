//! The glibc loader's search, per needed soname of an object, and the loads
//! it implies: breadth-first from each root object, libraries found in the
//! tree followed (their own needs resolved with the RPATHs they inherit),
//! system libraries recorded and not followed (apt installs their Depends).

use std::collections::{BTreeSet, HashMap, HashSet, VecDeque};
use std::fs::File;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::walk::{FileKey, Object};
use venvkit_common::root::Root;
use venvkit_elf::arch::Arch;
use venvkit_elf::Elf;

/// A library the search found: the path it was opened through, how, and
/// which file it is.
pub type Found = (PathBuf, How, FileKey);

/// A search's answer: found, or every directory searched.
pub type Searched = Result<Found, Vec<PathBuf>>;

/// Where a dependency was found.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum How {
    /// The needed name held a `/`.
    Path,
    /// DT_RPATH of the object named (the needing one, or one up its chain).
    Rpath(PathBuf),
    Runpath,
    LdSoConf,
    DefaultDir,
    /// An object of this load already had that name or SONAME.
    AlreadyLoaded,
    /// Not found by the search, but a library of the tree has that SONAME:
    /// it works only if something loaded it first.
    TreeSoname,
    /// The program interpreter (PT_INTERP).
    Interpreter,
    /// Python code loads it at run time: the call, and where it is
    /// (`path:line`).
    Python {
        api: crate::python::Api,
        at: String,
    },
    /// A run of the app mapped it: recorded in this file (`--loaded`).
    Recorded(PathBuf),
}

impl How {
    pub fn describe(&self) -> String {
        match self {
            How::Path => "path".into(),
            How::Rpath(of) => format!("rpath of {}", of.display()),
            How::Runpath => "runpath".into(),
            How::LdSoConf => "ld.so.conf".into(),
            How::DefaultDir => "default dir".into(),
            How::AlreadyLoaded => "already loaded".into(),
            How::TreeSoname => "in-tree soname (load-order dependent)".into(),
            How::Interpreter => "interpreter".into(),
            How::Python { api, at } => format!("{} in {at}", api.describe()),
            How::Recorded(file) => format!("recorded in {}", file.display()),
        }
    }
}

/// One resolved dependency.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Edge {
    pub file: PathBuf,
    pub needed: String,
    pub how: How,
    /// The path it was found at, as the loader opened it.
    pub path: PathBuf,
    /// Whether that is an object of the tree (followed) or of the system.
    pub in_tree: bool,
}

#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Missing {
    pub file: PathBuf,
    /// The path the needing object was opened through, when it is not
    /// `file` (a symlink elsewhere): its `$ORIGIN` is that path's directory.
    pub opened: Option<PathBuf>,
    pub needed: String,
    pub searched: Vec<PathBuf>,
}

/// What one load found, repeats and all.
#[derive(Debug, Default)]
struct Gathered {
    edges: Vec<Edge>,
    missing: Vec<Missing>,
    warnings: Vec<String>,
}

#[derive(Debug, Default)]
pub struct Resolution {
    pub edges: BTreeSet<Edge>,
    pub missing: BTreeSet<Missing>,
    pub warnings: BTreeSet<String>,
}

pub struct Resolver<'a> {
    root: &'a Root,
    arch: &'static Arch,
    ld_so_conf: Vec<PathBuf>,
    objects: &'a [Object],
    by_key: HashMap<FileKey, usize>,
    tree_sonames: HashSet<&'a str>,
    ignored: &'a dyn Fn(&str) -> bool,
    /// Every candidate path examined, with its verdict: each load of each
    /// root asks about the same few hundred paths.
    candidates: std::cell::RefCell<HashMap<PathBuf, Option<FileKey>>>,
    /// Directories as the search spells them (`$ORIGIN/../pkg.libs` of
    /// each object) -> resolved inside the root; each prefix is resolved
    /// once, not once per spelling.
    directories: std::cell::RefCell<HashMap<PathBuf, Option<PathBuf>>>,
    /// Resolved paths examined, whatever path led there.
    files: std::cell::RefCell<HashMap<PathBuf, Option<FileKey>>>,
    /// Answers of [`Resolver::search_once`], by (object, opened as, name).
    searches: std::cell::RefCell<HashMap<(usize, PathBuf, String), Searched>>,
    /// Answers of [`Resolver::search_system`], by name: the system's part
    /// of every search is the same whoever needs the name, so each of a
    /// venv's hundreds of objects that needs libc.so.6 need not walk
    /// ld.so.conf's directories again.
    system: std::cell::RefCell<HashMap<String, Searched>>,
}

/// One object of a load: which object, the name it was loaded by, the path
/// it was opened through (its $ORIGIN), and the object that loaded it (for
/// RPATH inheritance).
struct Loaded {
    object: usize,
    name: String,
    opened: PathBuf,
    loader: Option<usize>,
}

impl<'a> Resolver<'a> {
    pub fn new(
        root: &'a Root,
        arch: &'static Arch,
        ld_so_conf: Vec<PathBuf>,
        objects: &'a [Object],
        ignored: &'a dyn Fn(&str) -> bool,
    ) -> Resolver<'a> {
        let by_key = objects.iter().enumerate().map(|(index, object)| (object.key, index)).collect();
        let tree_sonames = objects.iter().filter_map(|object| object.dynamic.soname.as_deref()).collect();
        Resolver {
            root,
            arch,
            ld_so_conf,
            objects,
            by_key,
            tree_sonames,
            ignored,
            candidates: Default::default(),
            directories: Default::default(),
            files: Default::default(),
            searches: Default::default(),
            system: Default::default(),
        }
    }

    /// Resolves the whole tree: every object that no other object of the
    /// tree loads is a root of its own load (a module Python imports, an
    /// executable); the others are resolved in the loads that reach them.
    ///
    /// Each object's own load is resolved once, which tells both what it
    /// reaches and, if it is a root, its edges: loading the roots again
    /// cost a third of the resolution on a venv of 200 objects.
    pub fn resolve_all(&self) -> Resolution {
        let loads: Vec<(Vec<usize>, Gathered)> = (0..self.objects.len())
            .map(|index| {
                let mut own = Gathered::default();
                (self.load(index, &mut own), own)
            })
            .collect();
        let mut reached = vec![false; self.objects.len()];
        for (index, (loaded, _)) in loads.iter().enumerate() {
            for &other in loaded.iter().filter(|&&other| other != index) {
                reached[other] = true;
            }
        }
        // Gathered by hash and sorted once: the loads of a venv's modules
        // repeat each other's edges many times over, and inserting each
        // repeat in order compared long paths component by component.
        let mut gathered: Vec<&Gathered> = Vec::new();
        let mut visited = vec![false; self.objects.len()];
        let mut take = |index: usize, visited: &mut [bool]| {
            let (loaded, own) = &loads[index];
            for &other in loaded {
                visited[other] = true;
            }
            gathered.push(own);
        };
        // Executables and modules Python can import are loaded on their own
        // too, without any RPATH to inherit, even if another object loads them.
        for (index, reached) in reached.into_iter().enumerate() {
            if !reached || self.is_entry_point(index) {
                take(index, &mut visited);
            }
        }
        // Objects that only load each other, in a cycle: each is a root too.
        for index in 0..self.objects.len() {
            if !visited[index] {
                take(index, &mut visited);
            }
        }
        let mut edges: HashSet<&Edge> = HashSet::with_capacity(gathered.iter().map(|own| own.edges.len()).sum());
        edges.extend(gathered.iter().flat_map(|own| &own.edges));
        let missing: HashSet<&Missing> = gathered.iter().flat_map(|own| &own.missing).collect();
        Resolution {
            edges: edges.into_iter().cloned().collect(),
            missing: missing.into_iter().cloned().collect(),
            warnings: gathered.iter().flat_map(|own| own.warnings.iter().cloned()).collect(),
        }
    }

    /// An executable, or an unversioned `*.so` outside auditwheel's
    /// `*.libs/` directories: something a program or `import` opens itself.
    fn is_entry_point(&self, index: usize) -> bool {
        let object = &self.objects[index];
        let bundled = object.path.components().any(|c| c.as_os_str().to_string_lossy().ends_with(".libs"));
        object.dynamic.interpreter.is_some() || (object.path.extension().is_some_and(|e| e == "so") && !bundled)
    }

    /// One load, breadth-first as ld.so does it; returns the objects loaded.
    fn load(&self, root: usize, resolution: &mut Gathered) -> Vec<usize> {
        let opened = self.objects[root].path.clone();
        let mut loads = vec![Loaded { object: root, name: String::new(), opened, loader: None }];
        let mut keys_loaded: HashSet<FileKey> = HashSet::from([self.objects[root].key]);
        let mut system_loaded: HashMap<String, PathBuf> = HashMap::new();
        let mut queue = VecDeque::from([0usize]);
        let rooted_at_program = self.objects[root].dynamic.interpreter.is_some();
        while let Some(current) = queue.pop_front() {
            let object = &self.objects[loads[current].object];
            if let Some(interpreter) = &object.dynamic.interpreter {
                resolution.edges.push(Edge {
                    file: object.path.clone(),
                    needed: interpreter.clone(),
                    how: How::Interpreter,
                    path: PathBuf::from(interpreter),
                    in_tree: false,
                });
            }
            for needed in &object.dynamic.needed {
                if (self.ignored)(needed) {
                    continue;
                }
                let already = loads.iter().find(|l| {
                    l.name == *needed || self.objects[l.object].dynamic.soname.as_deref() == Some(needed.as_str())
                });
                if let Some(already) = already {
                    let path = self.objects[already.object].path.clone();
                    resolution.edges.push(Edge {
                        file: object.path.clone(),
                        needed: needed.clone(),
                        how: How::AlreadyLoaded,
                        path,
                        in_tree: true,
                    });
                    continue;
                }
                if let Some(path) = system_loaded.get(needed) {
                    let edge = Edge {
                        file: object.path.clone(),
                        needed: needed.clone(),
                        how: How::AlreadyLoaded,
                        path: path.clone(),
                        in_tree: false,
                    };
                    resolution.edges.push(edge);
                    continue;
                }
                let chain = self.chain(&loads, current);
                match self.search_once(needed, &chain) {
                    Ok((path, how, key)) => match self.by_key.get(&key) {
                        Some(&found) => {
                            resolution.edges.push(Edge {
                                file: object.path.clone(),
                                needed: needed.clone(),
                                how,
                                path: path.clone(),
                                in_tree: true,
                            });
                            if keys_loaded.insert(key) {
                                loads.push(Loaded {
                                    object: found,
                                    name: needed.clone(),
                                    opened: path.clone(),
                                    loader: Some(current),
                                });
                                queue.push_back(loads.len() - 1);
                            }
                        }
                        None => {
                            system_loaded.insert(needed.clone(), path.clone());
                            resolution.edges.push(Edge {
                                file: object.path.clone(),
                                needed: needed.clone(),
                                how,
                                path,
                                in_tree: false,
                            });
                        }
                    },
                    // A SONAME a library of the tree has is already loaded only
                    // in a process that loaded that library first: never at a
                    // program's start, maybe when Python imports a module.
                    Err(_) if !rooted_at_program && self.tree_sonames.contains(needed.as_str()) => {
                        resolution.warnings.push(format!(
                            "{}: {needed} is found only because a library of the tree with that SONAME may be loaded first",
                            object.path.display()
                        ));
                        let provider =
                            self.objects.iter().find(|o| o.dynamic.soname.as_deref() == Some(needed.as_str()));
                        let path = provider.map(|o| o.path.clone()).unwrap_or_default();
                        resolution.edges.push(Edge {
                            file: object.path.clone(),
                            needed: needed.clone(),
                            how: How::TreeSoname,
                            path,
                            in_tree: true,
                        });
                    }
                    Err(searched) => {
                        // Worth naming only when its $ORIGIN is another directory.
                        let opened = &loads[current].opened;
                        let directory = |path: &Path| path.parent().and_then(|dir| self.root.canonicalize(dir));
                        let elsewhere = directory(opened) != directory(&object.path);
                        resolution.missing.push(Missing {
                            file: object.path.clone(),
                            opened: elsewhere.then(|| opened.clone()),
                            needed: needed.clone(),
                            searched,
                        });
                    }
                }
            }
        }
        loads.into_iter().map(|l| l.object).collect()
    }

    /// The object whose need is resolved, then each object up its loader
    /// chain, each with the path it was opened through.
    fn chain(&self, loads: &[Loaded], current: usize) -> Vec<(usize, PathBuf)> {
        let mut chain = vec![(loads[current].object, loads[current].opened.clone())];
        let mut at = loads[current].loader;
        while let Some(index) = at {
            chain.push((loads[index].object, loads[index].opened.clone()));
            at = loads[index].loader;
        }
        chain
    }

    /// [`Resolver::search`], remembered where its answer depends only on
    /// the object, the path it was opened through and the name: when no
    /// object of the chain lends an RPATH (auditwheel's wheels use RUNPATH),
    /// which is every load of most trees, resolved once per root object.
    fn search_once(&self, needed: &str, chain: &[(usize, PathBuf)]) -> Result<Found, Vec<PathBuf>> {
        let lends = |(index, _): &(usize, PathBuf)| {
            let dynamic = &self.objects[*index].dynamic;
            !dynamic.rpath.is_empty() && dynamic.runpath.is_empty()
        };
        let object = &self.objects[chain[0].0];
        if object.dynamic.runpath.is_empty() && chain.iter().any(lends) {
            return self.search(needed, chain);
        }
        let key = (chain[0].0, chain[0].1.clone(), needed.to_string());
        if let Some(known) = self.searches.borrow().get(&key) {
            return known.clone();
        }
        let answer = self.search(needed, chain);
        self.searches.borrow_mut().insert(key, answer.clone());
        answer
    }

    /// glibc's order: a name with `/` is a path; else the RPATHs (only if
    /// the object has no RUNPATH: its own, then each loader's that has no
    /// RUNPATH either), the object's RUNPATH, ld.so.conf, the default dirs.
    /// Returns the path as opened, or every directory searched.
    fn search(&self, needed: &str, chain: &[(usize, PathBuf)]) -> Result<Found, Vec<PathBuf>> {
        let (object, object_opened) = (&self.objects[chain[0].0], &chain[0].1);
        // ld.so expands $ORIGIN, $LIB and $PLATFORM in DT_NEEDED too
        // (`_dl_map_object`'s expand_dynamic_string_token).
        let expanded = needed.contains('$').then(|| expand_tokens(needed, object_opened, self.arch));
        let needed = expanded.as_deref().map(|p| p.to_str().unwrap_or(needed)).unwrap_or(needed);
        if needed.contains('/') {
            let path = PathBuf::from(needed);
            return self.candidate(&path).map(|key| (path.clone(), How::Path, key)).ok_or_else(|| vec![path]);
        }
        let mut searched = Vec::new();
        let mut tried = HashSet::new();
        let mut attempt = |dir: &Path, how: How, searched: &mut Vec<PathBuf>| {
            if !tried.insert(dir.to_path_buf()) {
                return None;
            }
            searched.push(dir.to_path_buf());
            let path = join_unnormalised(dir, needed);
            self.candidate(&path).map(|key| (path, how, key))
        };
        if object.dynamic.runpath.is_empty() {
            for (index, opened) in chain {
                let loader = &self.objects[*index];
                if !loader.dynamic.runpath.is_empty() {
                    continue;
                }
                for entry in &loader.dynamic.rpath {
                    let dir = expand_tokens(entry, opened, self.arch);
                    if let Some(found) = attempt(&dir, How::Rpath(loader.path.clone()), &mut searched) {
                        return Ok(found);
                    }
                }
            }
        }
        for entry in &object.dynamic.runpath {
            let dir = expand_tokens(entry, object_opened, self.arch);
            if let Some(found) = attempt(&dir, How::Runpath, &mut searched) {
                return Ok(found);
            }
        }
        // A directory tried above and tried again here fails again: only
        // the list of directories searched must not name it twice.
        match self.search_system(needed) {
            Ok(found) => Ok(found),
            Err(system) => {
                searched.extend(system.into_iter().filter(|dir| tried.insert(dir.clone())));
                Err(searched)
            }
        }
    }

    /// dlopen(3) of `name` by code without RPATH or RUNPATH (Python's
    /// `_ctypes`): a path as it is, else ld.so.conf's directories and the
    /// default ones. Also the end of every search for a DT_NEEDED name.
    pub fn search_system(&self, name: &str) -> Searched {
        if name.contains('/') {
            let path = PathBuf::from(name);
            return self.candidate(&path).map(|key| (path.clone(), How::Path, key)).ok_or_else(|| vec![path]);
        }
        if let Some(known) = self.system.borrow().get(name) {
            return known.clone();
        }
        let mut searched = Vec::new();
        let mut answer = None;
        for (dir, how) in self.system_dirs() {
            // ld.so.conf may name a default directory again.
            if searched.contains(&dir) {
                continue;
            }
            let path = join_unnormalised(&dir, name);
            searched.push(dir);
            if let Some(key) = self.candidate(&path) {
                answer = Some((path, how, key));
                break;
            }
        }
        let answer = answer.ok_or(searched);
        self.system.borrow_mut().insert(name.to_string(), answer.clone());
        answer
    }

    /// The system's part of the search: ld.so.conf's directories (what
    /// ld.so.cache holds), then the default ones.
    fn system_dirs(&self) -> impl Iterator<Item = (PathBuf, How)> + '_ {
        let conf = self.ld_so_conf.iter().map(|dir| (dir.clone(), How::LdSoConf));
        let default = self.arch.default_dirs().into_iter().map(|dir| (PathBuf::from(dir), How::DefaultDir));
        conf.chain(default)
    }

    /// A file the loader would take: it exists and is an ELF object of our
    /// class and machine (others are skipped and the search goes on).
    pub fn candidate(&self, path: &Path) -> Option<FileKey> {
        if let Some(known) = self.candidates.borrow().get(path) {
            return *known;
        }
        let verdict = self.examine_candidate(path);
        self.candidates.borrow_mut().insert(path.to_path_buf(), verdict);
        verdict
    }

    fn examine_candidate(&self, path: &Path) -> Option<FileKey> {
        let name = path.file_name()?;
        let in_dir = self.resolve_directory(path.parent()?)?.join(name);
        let resolved = match std::fs::symlink_metadata(self.root.host_path(&in_dir)) {
            Ok(metadata) if metadata.file_type().is_symlink() => self.root.canonicalize(&in_dir)?,
            Ok(_) => in_dir,
            Err(_) => return None,
        };
        if let Some(known) = self.files.borrow().get(&resolved) {
            return *known;
        }
        let verdict = self.examine_file(&resolved);
        self.files.borrow_mut().insert(resolved, verdict);
        verdict
    }

    /// A directory resolved inside the root (symlinks followed, then `..`),
    /// through the cache: a new spelling costs one lstat per new component.
    fn resolve_directory(&self, dir: &Path) -> Option<PathBuf> {
        if let Some(known) = self.directories.borrow().get(dir) {
            return known.clone();
        }
        let resolved = match (dir.parent(), dir.file_name()) {
            (None, _) => Some(PathBuf::from("/")),
            (Some(parent), name) => self.resolve_directory(parent).and_then(|parent| {
                let last = dir.components().next_back();
                match (last, name) {
                    (Some(std::path::Component::ParentDir), _) => {
                        Some(parent.parent().map(Path::to_path_buf).unwrap_or(parent))
                    }
                    (_, Some(name)) => {
                        let joined = parent.join(name);
                        let metadata = std::fs::symlink_metadata(self.root.host_path(&joined)).ok()?;
                        if metadata.file_type().is_symlink() {
                            self.root.canonicalize(&joined)
                        } else {
                            metadata.is_dir().then_some(joined)
                        }
                    }
                    _ => Some(parent),
                }
            }),
        };
        self.directories.borrow_mut().insert(dir.to_path_buf(), resolved.clone());
        resolved
    }

    fn examine_file(&self, resolved: &Path) -> Option<FileKey> {
        let host = self.root.host_path(resolved);
        let metadata = std::fs::metadata(&host).ok().filter(|m| m.is_file())?;
        let file = File::open(&host).ok()?;
        let elf = Elf::open(&file).ok()??;
        let usable = elf.kind() == self.arch.kind && !elf.is_relocatable() && elf.dynamic().is_ok();
        usable.then_some((metadata.dev(), metadata.ino()))
    }
}

/// `dir/name` as a string join: `..` inside `dir` stays for the filesystem.
fn join_unnormalised(dir: &Path, name: &str) -> PathBuf {
    let mut joined = dir.as_os_str().to_os_string();
    if !joined.to_string_lossy().ends_with('/') {
        joined.push("/");
    }
    joined.push(name);
    PathBuf::from(joined)
}

/// `$ORIGIN` (the directory the object was opened through), `$LIB`,
/// `$PLATFORM`, with or without braces.
pub fn expand_tokens(entry: &str, object_path: &Path, arch: &Arch) -> PathBuf {
    if !entry.contains('$') {
        return PathBuf::from(entry);
    }
    let mut expanded = entry.to_string();
    // Each token's value only if the entry names it: wheels' RUNPATHs are
    // all `$ORIGIN/...`, expanded for each of their objects.
    let origin = || object_path.parent().map(|p| p.to_string_lossy().into_owned()).unwrap_or_else(|| "/".into());
    let tokens: [(&str, &dyn Fn() -> String); 3] =
        [("ORIGIN", &origin), ("LIB", &|| arch.lib()), ("PLATFORM", &|| arch.platform.to_string())];
    for (token, value) in tokens {
        if expanded.contains(token) {
            let value = value();
            expanded = expanded.replace(&format!("${{{token}}}"), &value).replace(&format!("${token}"), &value);
        }
    }
    PathBuf::from(expanded)
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_elf::arch::{AMD64, ARM64};

    #[test]
    fn origin_is_the_directory_the_object_was_opened_through_without_normalising() {
        let path = Path::new("/venv/lib/python3.11/site-packages/pkg/mod.so");
        assert_eq!(
            expand_tokens("$ORIGIN/../pkg.libs", path, &AMD64),
            PathBuf::from("/venv/lib/python3.11/site-packages/pkg/../pkg.libs")
        );
        assert_eq!(
            expand_tokens("${ORIGIN}/x:$LIB", path, &AMD64).to_str().unwrap(),
            "/venv/lib/python3.11/site-packages/pkg/x:lib/x86_64-linux-gnu"
        );
        assert_eq!(expand_tokens("/opt/$PLATFORM", path, &AMD64), PathBuf::from("/opt/x86_64"));
        assert_eq!(
            expand_tokens("/opt/$PLATFORM/$LIB", path, &ARM64),
            PathBuf::from("/opt/aarch64/lib/aarch64-linux-gnu")
        );
    }

    #[test]
    fn names_are_joined_to_directories_as_strings() {
        assert_eq!(join_unnormalised(Path::new("/a/b/../c"), "libx.so.1"), PathBuf::from("/a/b/../c/libx.so.1"));
        assert_eq!(join_unnormalised(Path::new("/"), "libx.so.1"), PathBuf::from("/libx.so.1"));
    }
}
