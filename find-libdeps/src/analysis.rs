//! One run of find-libdeps: scan the trees, resolve every need as the
//! loader would, map each system library to the package that owns it, and
//! render the answer. What is missing or unowned is reported here, one line
//! each; what ends the run early is an [`Error`].

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fs::File;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use venvkit_common::diag::Diag;
use venvkit_common::root::Root;
use venvkit_dpkg::{Database, Package, PackageId};
use venvkit_elf::arch::Arch;
use venvkit_elf::Elf;

use crate::ldconf;
use crate::output;
use crate::resolve::{Edge, How, Resolver};
use crate::symbols::{Depends, Need};
use crate::walk::{self, Object};

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

/// Runs `request`, printing the answer on stdout and problems on stderr.
pub fn run(request: &Request, diag: Diag) -> Result<Outcome, Error> {
    if !request.root.is_dir() {
        return Err(Error(format!(
            "{}: the root is not a directory (give the directory of an unpacked image or root filesystem)",
            request.root.display()
        )));
    }
    let root = Root::new(&request.root);
    let arch = target_arch(&root);
    let scan = walk::scan(&root, &scan_dirs(request), arch.kind).map_err(Error)?;
    for warning in &scan.warnings {
        diag.info(format_args!("warning: {warning}"));
    }
    if scan.objects.is_empty() {
        let dirs: Vec<String> = request.dirs.iter().map(|dir| dir.display().to_string()).collect();
        diag.info(format_args!(
            "warning: no ELF file under {}: the package list is empty (is this the virtualenv, and is it built?)",
            dirs.join(", ")
        ));
    }
    let ignored =
        |soname: &str| request.ignore_soname.iter().any(|g| ldconf::glob_match(g.as_bytes(), soname.as_bytes()));
    let resolver = Resolver::new(&root, arch, ldconf::directories(&root), &scan.objects, &ignored);
    let resolution = resolver.resolve_all();
    for warning in &resolution.warnings {
        diag.info(format_args!("warning: {warning}"));
    }
    let system_edges: Vec<&Edge> = resolution.edges.iter().filter(|edge| !edge.in_tree).collect();
    let database = match system_edges.is_empty() {
        true => None,
        false => Some(Database::open(&root).map_err(|err| Error(err.0))?),
    };
    let index = database.as_ref().map(|db| db.file_index(&root, &file_names_to_index(&root, &system_edges)));
    let native = database.as_ref().and_then(|db| db.native_arch.clone()).unwrap_or_else(|| arch.name.to_string());
    let explained: Vec<Explained> = resolution
        .edges
        .iter()
        .map(|edge| Explained {
            edge,
            package: index.as_ref().filter(|_| !edge.in_tree).and_then(|i| i.owner(&edge.path)),
        })
        .collect();
    for explained in &explained {
        let edge = explained.edge;
        let from = explained.package.map(|p| format!(" from {}", p.id.name)).unwrap_or_default();
        let (file, path) = (edge.file.display(), edge.path.display());
        diag.verbose(format_args!("{file}: {} -> {path} ({}){from}", edge.needed, edge.how.describe()));
    }
    let mut complete = true;
    for missing in &resolution.missing {
        complete = false;
        let searched: Vec<String> = missing.searched.iter().map(|dir| dir.display().to_string()).collect();
        let searched = if searched.is_empty() { "nothing".to_string() } else { searched.join(", ") };
        diag.error(format_args!(
            "{}: needs {}, not found (searched {searched})",
            missing.file.display(),
            missing.needed
        ));
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
        Format::Json => output::json(&explained, &names, &resolution.missing.iter().collect::<Vec<_>>(), &native),
        Format::Depends => match &database {
            Some(database) => depends(&root, database, &scan.objects, &explained)?,
            None => String::new(),
        },
    };
    print(&text)?;
    Ok(if complete { Outcome::Complete } else { Outcome::Incomplete })
}

/// The architecture whose loader is emulated: dpkg's native one in the
/// root when it names one venvkit knows, else this machine's.
fn target_arch(root: &Root) -> &'static Arch {
    std::fs::read_to_string(root.host_path(Path::new("/var/lib/dpkg/arch")))
        .ok()
        .and_then(|text| text.lines().next().and_then(|name| Arch::named(name.trim())))
        .unwrap_or_else(Arch::host)
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
    for edge in edges {
        for hop in root.symlink_chain(&edge.path) {
            if let Some(name) = hop.file_name() {
                names.insert(name.as_bytes().to_vec());
            }
        }
    }
    names
}

/// The Depends: value for every object with system libraries, each
/// object's needs taken in its DT_NEEDED order as dpkg-shlibdeps does.
fn depends(root: &Root, database: &Database, objects: &[Object], explained: &[Explained]) -> Result<String, Error> {
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
    let value = depends.render();
    Ok(if value.is_empty() { value } else { format!("{value}\n") })
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
