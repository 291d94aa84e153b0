//! One run of find-libdeps: scan the trees, resolve every need as the
//! loader would and every run-time load as ctypes, cffi and dlopen would,
//! then either map each system library to the package that owns it and
//! render the answer, or (`--check`) only say what does not resolve. What
//! is missing or unowned is reported here, one line each; what ends the
//! run early is an [`Error`].

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use venvkit_common::diag::Diag;
use venvkit_common::root::Root;
use venvkit_dpkg::{Database, FileIndex, Package, PackageId};
use venvkit_elf::arch::Arch;
use venvkit_elf::Elf;

use crate::ldcache::LdCache;
use crate::ldconf;
use crate::loads::{self, Runtime};
use crate::output;
use crate::resolve::{Edge, How, Missing, Resolver};
use crate::symbols::{Depends, Need};
use crate::versions::{self, Unmet};
use crate::walk::{self, FileKey, Object};

/// What to print.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Package names, one per line
    Names,
    /// A Debian Depends: value with minimum versions
    Depends,
    /// Every edge explained
    Json,
}

/// One run's inputs.
#[derive(Clone, Debug)]
pub struct Request {
    /// The system analysed: `/`, or an unpacked image.
    pub root: PathBuf,
    /// Trees to scan, as paths inside the root (relative ones start at the
    /// current directory for `/`, at the root's `/` otherwise).
    pub dirs: Vec<PathBuf>,
    pub format: Format,
    /// Sonames the host provides: fnmatch globs, never resolved.
    pub ignore_soname: Vec<String>,
    /// Paths inside the root not examined: fnmatch globs where `*`
    /// matches `/` too.
    pub exclude: Vec<String>,
    /// Records of runs (files on this machine): the libraries they mapped
    /// are needed too.
    pub loaded: Vec<PathBuf>,
    /// Only check that everything resolves in the root (no dpkg database,
    /// nothing printed on stdout).
    pub check: bool,
}

/// How a run that printed its answer ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Every need resolved and every system library is owned by a package.
    Complete,
    /// Something was missing or unowned (each named on stderr); what was
    /// found is still printed.
    Incomplete,
}

/// Why a run stopped before its answer: usage or I/O (exit 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Error(pub String);

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// One resolved edge with the package that owns its library, if any.
pub struct Explained<'a> {
    pub edge: &'a Edge,
    pub package: Option<&'a Package>,
}

/// Everything the tree needs, resolved in the root.
struct Found {
    objects: Vec<Object>,
    /// ELF edges, then run-time and recorded loads.
    edges: BTreeSet<Edge>,
    missing: BTreeSet<Missing>,
    unmet: BTreeSet<Unmet>,
    runtime: Runtime,
    warnings: BTreeSet<String>,
    /// Files examined, for the summary of --check.
    files: usize,
}

/// Runs `request`, printing the answer on stdout and problems on stderr.
pub fn run(request: &Request, diag: Diag) -> Result<Outcome, Error> {
    if !request.root.is_dir() {
        return Err(Error(format!(
            "{}: the root is not a directory (give the directory of an unpacked image or root filesystem)",
            request.root.display()
        )));
    }
    let root = Root::new(&request.root);
    let arch = target_arch(&root, &scan_dirs(request), &request.exclude);
    let found = find(request, &root, arch, diag)?;
    for warning in &found.warnings {
        diag.info(format_args!("warning: {warning}"));
    }
    for (file, line, api) in &found.runtime.computed {
        diag.verbose(format_args!(
            "{}:{line}: {} of a name computed at run time: not followed (record a run with --loaded)",
            file.display(),
            api.describe()
        ));
    }
    for load in &found.runtime.other_platforms {
        diag.verbose(format_args!(
            "{}: found nowhere, and it also names Windows or macOS files: taken as their code",
            load.describe()
        ));
    }
    if request.check {
        return Ok(check(request, &root, &found, diag));
    }
    list(request, &root, arch, &found, diag)
}

/// Scans the trees and resolves what they need.
fn find(request: &Request, root: &Root, arch: &'static Arch, diag: Diag) -> Result<Found, Error> {
    let options = walk::Options { kind: arch.kind, exclude: &request.exclude, python: true };
    let scan = walk::scan(root, &scan_dirs(request), &options).map_err(Error)?;
    let mut warnings: BTreeSet<String> = scan.warnings.into_iter().collect();
    let ignored = |soname: &str| {
        request.ignore_soname.iter().any(|g| venvkit_common::glob::glob_match(g.as_bytes(), soname.as_bytes()))
    };
    let ld_so_conf = ldconf::directories(root);
    let resolver = Resolver::new(root, arch, ld_so_conf.clone(), &scan.objects, &ignored);
    let resolution = resolver.resolve_all();
    warnings.extend(resolution.warnings);
    let unmet = versions::check(root, &resolution.edges, &scan.objects);
    let tree: HashSet<FileKey> = scan.objects.iter().map(|object| object.key).collect();
    let runtime = match scan.sources.is_empty() {
        true => Runtime::default(),
        false => {
            let cache = loader_cache(root, arch, &ld_so_conf, &mut warnings);
            loads::resolve_sources(&resolver, &cache, &scan.sources, &tree)
        }
    };
    let mut edges = resolution.edges;
    edges.extend(runtime.edges.iter().cloned());
    for record in records(&request.loaded)? {
        let record = &record;
        let text = std::fs::read(record).map_err(|err| {
            Error(format!(
                "{}: {} (give a record of a run: a copy of /proc/PID/maps, LD_DEBUG=libs output, or paths)",
                record.display(),
                venvkit_common::io::plain(&err)
            ))
        })?;
        let paths = loads::recorded_paths(&String::from_utf8_lossy(&text));
        if paths.is_empty() {
            warnings.insert(format!("{}: names no file (is it a copy of /proc/PID/maps?)", record.display()));
        }
        let (recorded, absent) = loads::resolve_recorded(&resolver, record, &paths, &tree, root);
        for path in absent {
            warnings.insert(format!(
                "{}: {} is not in this system (recorded elsewhere?)",
                record.display(),
                path.display()
            ));
        }
        diag.verbose(format_args!("{}: {} libraries recorded", record.display(), recorded.len()));
        edges.extend(recorded);
    }
    let loads = runtime.edges.len() + runtime.unresolved.len();
    if scan.objects.is_empty() && loads == 0 && request.loaded.is_empty() {
        let dirs: Vec<String> = request.dirs.iter().map(|dir| dir.display().to_string()).collect();
        warnings.insert(format!(
            "no ELF file and no library loaded at run time under {}: the package list is empty (is this the virtualenv, and is it built?)",
            dirs.join(", ")
        ));
    }
    Ok(Found { objects: scan.objects, edges, missing: resolution.missing, unmet, runtime, warnings, files: scan.files })
}

/// The files of `--loaded`: a directory stands for every file in it, as
/// `LD_DEBUG_OUTPUT=DIR/ld` writes one file per process.
fn records(given: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let mut files = Vec::new();
    for path in given {
        if !path.is_dir() {
            files.push(path.clone());
            continue;
        }
        let listing = std::fs::read_dir(path)
            .map_err(|err| Error(format!("{}: {}", path.display(), venvkit_common::io::plain(&err))))?;
        let mut inside: Vec<PathBuf> =
            listing.flatten().map(|entry| entry.path()).filter(|entry| entry.is_file()).collect();
        inside.sort();
        files.extend(inside);
    }
    Ok(files)
}

/// The loader cache ctypes' find_library reads, or one made from the
/// directories when the root has none (or a damaged one).
fn loader_cache(root: &Root, arch: &Arch, ld_so_conf: &[PathBuf], warnings: &mut BTreeSet<String>) -> LdCache {
    match LdCache::read(root, arch) {
        Ok(Some(cache)) => return cache,
        Ok(None) => {}
        Err(why) => {
            warnings.insert(format!("{why}: reading the library directories instead (run ldconfig to rebuild it)"));
        }
    }
    let default = arch.default_dirs().map(PathBuf::from);
    let dirs: Vec<PathBuf> = ld_so_conf.iter().cloned().chain(default).collect();
    LdCache::from_directories(root, &dirs, arch)
}

fn missing_line(missing: &Missing) -> String {
    let searched: Vec<String> = missing.searched.iter().map(|dir| dir.display().to_string()).collect();
    let searched = if searched.is_empty() { "nothing".to_string() } else { searched.join(", ") };
    let opened = missing.opened.as_ref().map(|o| format!(" (opened as {})", o.display())).unwrap_or_default();
    format!("{}{opened}: needs {}, not found (searched {searched})", missing.file.display(), missing.needed)
}

fn unmet_line(unmet: &Unmet, owner: Option<&Package>) -> String {
    let package = owner.map(|p| format!(" (from {} {})", p.id.name, p.version)).unwrap_or_default();
    let newest = unmet.newest.as_ref().map(|v| format!(", whose newest is {v}")).unwrap_or_default();
    format!(
        "{}: needs version {} of {}, which {}{package} does not define{newest}: ld.so refuses to start it (built against a newer library?)",
        unmet.file.display(),
        unmet.version,
        unmet.needed,
        unmet.library.display()
    )
}

/// `--check`: one line per thing that does not resolve; nothing on stdout.
fn check(request: &Request, root: &Root, found: &Found, diag: Diag) -> Outcome {
    let mut problems = 0;
    let mut problem = |line: String| {
        problems += 1;
        diag.error(line);
    };
    for missing in &found.missing {
        problem(missing_line(missing));
    }
    for unmet in &found.unmet {
        problem(unmet_line(unmet, None));
    }
    for unresolved in &found.runtime.unresolved {
        problem(format!(
            "{}: found nowhere in this system (install its library, or --exclude the file if the app never runs it)",
            unresolved.describe()
        ));
    }
    for dir in scan_dirs(request) {
        if let Some(why) = missing_interpreter(root, &dir) {
            problem(why);
        }
    }
    if problems > 0 {
        return Outcome::Incomplete;
    }
    diag.info(format_args!(
        "checked {} files: {} ELF objects and {} run-time loads, every library resolves",
        found.files,
        found.objects.len(),
        found.runtime.edges.len()
    ));
    Outcome::Complete
}

/// A virtualenv's interpreter that does not exist: `bin/python3` is a link
/// to the Python it was made with (pyvenv.cfg's `home`), which a runtime
/// image must have at the same path.
fn missing_interpreter(root: &Root, dir: &Path) -> Option<String> {
    let config = std::fs::read_to_string(root.host_path(&dir.join("pyvenv.cfg"))).ok()?;
    let value = |key: &str| {
        config.lines().find_map(|line| {
            let (name, value) = line.split_once('=')?;
            (name.trim() == key).then(|| value.trim().to_string())
        })
    };
    let version = value("version").or_else(|| value("version_info")).unwrap_or_default();
    for name in ["bin/python3", "bin/python"] {
        let link = dir.join(name);
        if std::fs::symlink_metadata(root.host_path(&link)).is_err() {
            continue;
        }
        if root.canonicalize(&link).is_some() {
            return None;
        }
        // The hop that is missing: bin/python3 -> python -> /usr/bin/python3.11.
        let chain = root.symlink_chain(&link);
        let target = chain.last().map(|t| t.display().to_string()).unwrap_or_default();
        return Some(format!(
            "{}: its interpreter {target} does not exist in this system (install Python {version} at that path: the venv was made with it)",
            link.display()
        ));
    }
    let home = PathBuf::from(value("home")?);
    let python = value("executable").map(PathBuf::from).unwrap_or_else(|| home.join("python3"));
    match root.canonicalize(&python) {
        Some(_) => None,
        None => Some(format!(
            "{}: the venv's interpreter {} does not exist in this system (install Python {version})",
            dir.join("pyvenv.cfg").display(),
            python.display()
        )),
    }
}

/// The default: every package the tree needs, printed in `request.format`.
fn list(request: &Request, root: &Root, arch: &Arch, found: &Found, diag: Diag) -> Result<Outcome, Error> {
    for unresolved in &found.runtime.unresolved {
        diag.info(format_args!(
            "warning: {}: found nowhere in this system, not listed (an optional feature or another platform's? if the app needs it, install it in this stage)",
            unresolved.describe()
        ));
    }
    let system_edges: Vec<&Edge> = found.edges.iter().filter(|edge| !edge.in_tree).collect();
    let database = match system_edges.is_empty() {
        true => None,
        false => Some(Database::open(root).map_err(|err| Error(err.0))?),
    };
    let index = database.as_ref().map(|db| db.file_index(root, &file_names_to_index(root, &system_edges)));
    let native = database.as_ref().and_then(|db| db.native_arch.clone()).unwrap_or_else(|| arch.name.to_string());
    // Edges share a few hundred libraries: each is looked up once.
    let mut owners: HashMap<&Path, Option<&Package>> = HashMap::new();
    let mut explained: Vec<Explained> = Vec::with_capacity(found.edges.len());
    for edge in &found.edges {
        let package = match (&index, edge.in_tree) {
            (Some(index), false) => *owners.entry(&edge.path).or_insert_with(|| index.owner(&edge.path)),
            _ => None,
        };
        explained.push(Explained { edge, package });
    }
    for explained in &explained {
        let edge = explained.edge;
        let from = explained.package.map(|p| format!(" from {}", p.id.name)).unwrap_or_default();
        let (file, path) = (edge.file.display(), edge.path.display());
        diag.verbose(format_args!("{file}: {} -> {path} ({}){from}", edge.needed, edge.how.describe()));
    }
    let mut complete = true;
    for missing in &found.missing {
        complete = false;
        diag.error(missing_line(missing));
    }
    for unmet in &found.unmet {
        complete = false;
        let package = index.as_ref().and_then(|i| i.owner(&unmet.library));
        diag.error(unmet_line(unmet, package));
    }
    let unowned: BTreeMap<&Path, &Edge> = explained
        .iter()
        .filter(|e| !e.edge.in_tree && e.package.is_none())
        .map(|e| (e.edge.path.as_path(), e.edge))
        .rev()
        .collect();
    for (path, edge) in &unowned {
        complete = false;
        let how = if explained.iter().any(|e| e.edge.path == *path && e.edge.how == How::Interpreter) {
            "interpreter"
        } else {
            "library"
        };
        diag.error(format_args!(
            "{}: the {how} {} that {} needs as {} is owned by no package",
            path.display(),
            path.display(),
            edge.file.display(),
            edge.needed
        ));
    }
    let packages: BTreeSet<&PackageId> = explained.iter().filter_map(|e| e.package).map(|p| &p.id).collect();
    let names: Vec<String> =
        packages.iter().map(|id| id.qualified(&native)).collect::<BTreeSet<_>>().into_iter().collect();
    let text = match request.format {
        Format::Names => names.iter().map(|name| format!("{name}\n")).collect::<String>(),
        Format::Json => {
            output::json(&explained, &names, &found.missing, &found.runtime.unresolved, &found.unmet, &native)
        }
        Format::Depends => match (&database, &index) {
            (Some(database), Some(index)) => {
                let depends = depends(root, database, index, &found.objects, &explained)?;
                for (soname, package) in &depends.without_information {
                    complete = false;
                    diag.error(format_args!(
                        "{package}: has neither a symbols nor a shlibs file for {soname}, so no minimum version is known (dpkg-shlibdeps fails on it too)"
                    ));
                }
                let value = depends.render();
                if value.is_empty() {
                    value
                } else {
                    format!("{value}\n")
                }
            }
            _ => String::new(),
        },
    };
    print(&text)?;
    Ok(if complete { Outcome::Complete } else { Outcome::Incomplete })
}

/// The architecture whose loader is emulated: dpkg's native one in the
/// root when it names one venvkit knows; else, for a root without dpkg
/// (a shell-less image), the one whose loader (PT_INTERP) the root has;
/// else, for a bare tree, that of its first ELF object of a known machine;
/// else this machine's. So an arm64 build of find-libdeps reads an amd64
/// tree as an amd64 one does, and the other way round.
fn target_arch(root: &Root, dirs: &[PathBuf], exclude: &[String]) -> &'static Arch {
    std::fs::read_to_string(root.host_path(Path::new("/var/lib/dpkg/arch")))
        .ok()
        .and_then(|text| text.lines().next().and_then(|name| Arch::named(name.trim())))
        .or_else(|| venvkit_elf::arch::ALL.iter().find(|arch| root.canonicalize(Path::new(arch.loader)).is_some()))
        .or_else(|| first_object_arch(root, dirs, exclude))
        .unwrap_or_else(Arch::host)
}

/// The architecture of the first ELF object of a known machine under
/// `dirs` (paths inside `root`) that no `exclude` glob matches, directories
/// in name order, each one's files before its subdirectories; symlinks are
/// not followed.
fn first_object_arch(root: &Root, dirs: &[PathBuf], exclude: &[String]) -> Option<&'static Arch> {
    let mut pending: Vec<PathBuf> = dirs.iter().rev().filter_map(|dir| root.canonicalize(dir)).collect();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(root.host_path(&dir)) else { continue };
        let mut entries: Vec<_> =
            entries.flatten().filter_map(|e| Some((e.file_name(), e.file_type().ok()?))).collect();
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        entries.retain(|(name, _)| !walk::excluded(&dir.join(name), exclude));
        for (name, _) in entries.iter().filter(|(_, kind)| kind.is_file()) {
            let Ok(file) = File::open(root.host_path(&dir.join(name))) else { continue };
            if let Ok(Some(elf)) = Elf::open(&file) {
                if let Some(arch) = Arch::of_kind(elf.kind()) {
                    return Some(arch);
                }
            }
        }
        pending.extend(entries.iter().rev().filter(|(_, kind)| kind.is_dir()).map(|(name, _)| dir.join(name)));
    }
    None
}

/// Without --root a relative DIR is relative to where we are; inside
/// another root there is no "where we are", so it starts at its /.
fn scan_dirs(request: &Request) -> Vec<PathBuf> {
    let base = if request.root == Path::new("/") {
        std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"))
    } else {
        PathBuf::from("/")
    };
    request.dirs.iter().map(|dir| base.join(dir)).collect()
}

/// The file names dpkg's lists must be searched for: every hop of every
/// system library's symlink chain.
fn file_names_to_index(root: &Root, edges: &[&Edge]) -> HashSet<Vec<u8>> {
    let mut names = HashSet::new();
    let paths: HashSet<&Path> = edges.iter().map(|edge| edge.path.as_path()).collect();
    for path in paths {
        for hop in root.symlink_chain(path) {
            if let Some(name) = hop.file_name() {
                names.insert(name.as_bytes().to_vec());
            }
        }
    }
    names
}

/// The Depends: value for every object with system libraries, each
/// object's needs taken in its DT_NEEDED order as dpkg-shlibdeps does;
/// libraries loaded at run time at their smallest version.
fn depends(
    root: &Root,
    database: &Database,
    index: &FileIndex,
    objects: &[Object],
    explained: &[Explained],
) -> Result<Depends, Error> {
    let mut depends = Depends::default();
    for object in objects {
        let owned = |needed: &str| {
            explained.iter().find(|e| e.edge.file == object.path && e.edge.needed == needed && !e.edge.in_tree)
        };
        let needs: Vec<Need> = object
            .dynamic
            .needed
            .iter()
            .filter_map(|needed| Some(Need { soname: needed, package: owned(needed)?.package? }))
            .collect();
        if let Some(package) = object.dynamic.interpreter.as_deref().and_then(owned).and_then(|e| e.package) {
            depends.add_package(&package.id.name);
        }
        if needs.is_empty() {
            continue;
        }
        let unreadable = |err: &dyn std::fmt::Display| Error(format!("{}: {err}", object.path.display()));
        let file =
            File::open(root.host_path(&object.path)).map_err(|err| unreadable(&venvkit_common::io::plain(&err)))?;
        let elf = Elf::open(&file).map_err(|err| unreadable(&err))?.ok_or_else(|| unreadable(&"no longer ELF"))?;
        depends.add_object(database, &elf, &needs);
    }
    let loaded: Vec<(String, &Package)> = explained
        .iter()
        .filter(|e| matches!(e.edge.how, How::Python { .. } | How::Recorded(_)) && !e.edge.in_tree)
        .filter_map(|e| Some((soname(root, &e.edge.path), index.owner(&e.edge.path)?)))
        .collect();
    let needs: Vec<Need> = loaded.iter().map(|(soname, package)| Need { soname, package }).collect();
    depends.add_loaded(database, &needs);
    Ok(depends)
}

/// The SONAME of the library at `path` (inside `root`), else its file name.
fn soname(root: &Root, path: &Path) -> String {
    let read = || {
        let file = File::open(root.host_path(&root.canonicalize(path)?)).ok()?;
        Elf::open(&file).ok()??.dynamic().ok()?.soname
    };
    read().unwrap_or_else(|| path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default())
}

/// Writes the answer; a reader that went away (`| head`) is not an error.
fn print(text: &str) -> Result<(), Error> {
    let mut stdout = std::io::stdout().lock();
    match stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        Err(err) if err.kind() != std::io::ErrorKind::BrokenPipe => {
            Err(Error(format!("cannot write the output: {}", venvkit_common::io::plain(&err))))
        }
        _ => Ok(()),
    }
}
