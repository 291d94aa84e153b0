//! find-libdeps [OPTIONS] DIR...
//!
//! Prints the Debian packages that the ELF files under DIR need at run time.
//! This file maps arguments to the library's steps and outcomes to exit codes.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::PathBuf;

use clap::{Parser, ValueEnum};
use find_libdeps::dpkg::Database;
use find_libdeps::output::{self, Explained};
use find_libdeps::resolve::{How, Resolver};
use find_libdeps::rootfs::Root;
use find_libdeps::symbols::{Depends, Need};
use find_libdeps::walk::Object;
use find_libdeps::{elf, ldconf, walk};
use venvkit_common::diag::{Diag, Level};
use venvkit_common::{cli, exit};

const TOOL: &str = "find-libdeps";

const AFTER_HELP: &str = "\
Every regular file under DIR is examined by its ELF magic, whatever its name.
Each needed library is looked up as the glibc loader would (RPATH, RUNPATH,
/etc/ld.so.conf, the default directories); a library found inside DIR is
followed, a system library is mapped to the Debian package that owns it,
from dpkg's database read directly. No process is spawned.

Environment:
  FIND_LIBDEPS_ROOT, FIND_LIBDEPS_FORMAT, FIND_LIBDEPS_IGNORE_SONAME (comma
  separated): defaults for the options of the same name

Exit status:
  0  every needed library was found and is owned by a package
  1  a library was not found, or is owned by no package (named on stderr;
     stdout still lists what was found)
  2  usage or I/O error: a DIR that does not exist, a corrupt dpkg database

Example (in a Dockerfile's build stage):
  find-libdeps /usr/share/python3/app > /usr/share/python3/app/pkgdeps.txt";

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Format {
    /// Package names, one per line
    Names,
    /// A Debian Depends: value with minimum versions
    Depends,
    /// Every edge explained
    Json,
}

/// Print the Debian packages a tree of ELF files needs at run time.
#[derive(Parser, Debug)]
#[command(name = TOOL, version, after_help = AFTER_HELP)]
struct Cli {
    /// Directories to scan (paths inside ROOT)
    #[arg(required = true, value_name = "DIR")]
    dirs: Vec<PathBuf>,

    /// Analyse the system at ROOT (a rootfs, an unpacked image) instead of /
    #[arg(long, value_name = "ROOT", env = "FIND_LIBDEPS_ROOT", default_value = "/")]
    root: PathBuf,

    /// Output format
    #[arg(long, value_enum, env = "FIND_LIBDEPS_FORMAT", default_value = "names")]
    format: Format,

    /// Sonames the host provides (repeatable), e.g. 'libcuda.so.*'
    #[arg(long = "ignore-soname", value_name = "GLOB", env = "FIND_LIBDEPS_IGNORE_SONAME", value_delimiter = ',')]
    ignore_soname: Vec<String>,

    /// Print nothing but errors
    #[arg(short, long, conflicts_with = "verbose")]
    quiet: bool,

    /// Explain each edge on stderr
    #[arg(short, long)]
    verbose: bool,
}

fn main() {
    let cli: Cli = cli::parse_or_exit(TOOL);
    let diag = Diag::new(TOOL, Level::from_flags(cli.quiet, cli.verbose));
    std::process::exit(run(&cli, diag));
}

fn run(cli: &Cli, diag: Diag) -> i32 {
    if !cli.root.is_dir() {
        diag.error(format_args!("{}: the root is not a directory", cli.root.display()));
        return exit::USAGE;
    }
    let root = Root::new(&cli.root);
    // Without --root a relative DIR is relative to where we are; inside
    // another root there is no "where we are", so it starts at its /.
    let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("/"));
    let base = if cli.root == std::path::Path::new("/") { cwd } else { PathBuf::from("/") };
    let dirs: Vec<PathBuf> = cli.dirs.iter().map(|dir| base.join(dir)).collect();
    let scan = match walk::scan(&root, &dirs, elf::X86_64) {
        Ok(scan) => scan,
        Err(message) => {
            diag.error(message);
            return exit::USAGE;
        }
    };
    for warning in &scan.warnings {
        diag.info(format_args!("warning: {warning}"));
    }
    let patterns = &cli.ignore_soname;
    let ignored = |soname: &str| patterns.iter().any(|glob| ldconf::glob_match(glob.as_bytes(), soname.as_bytes()));
    let resolver = Resolver::new(&root, elf::X86_64, ldconf::directories(&root), &scan.objects, &ignored);
    let resolution = resolver.resolve_all();
    for warning in &resolution.warnings {
        diag.info(format_args!("warning: {warning}"));
    }
    let system_edges: Vec<_> = resolution.edges.iter().filter(|edge| !edge.in_tree).collect();
    let database = if system_edges.is_empty() {
        None
    } else {
        match Database::open(&root, &file_names_to_index(&root, &system_edges)) {
            Ok(database) => Some(database),
            Err(message) => {
                diag.error(message);
                return exit::USAGE;
            }
        }
    };
    let mut failed = false;
    let mut packages: BTreeSet<String> = BTreeSet::new();
    let mut explained = Vec::new();
    let mut unowned: BTreeMap<PathBuf, (PathBuf, String)> = BTreeMap::new();
    for edge in &resolution.edges {
        let owner = match (&database, edge.in_tree) {
            (Some(database), false) => database.owner(&edge.path),
            _ => None,
        };
        if let (Some(database), Some(package)) = (&database, owner) {
            packages.insert(package.display_name(&database.native_arch));
        }
        if !edge.in_tree && owner.is_none() {
            unowned.entry(edge.path.clone()).or_insert_with(|| (edge.file.clone(), edge.needed.clone()));
        }
        diag.verbose(format_args!(
            "{}: {} -> {} ({}){}",
            edge.file.display(),
            edge.needed,
            edge.path.display(),
            edge.how.describe(),
            owner.map(|p| format!(" from {}", p.name)).unwrap_or_default()
        ));
        let package = owner.map(|p| (p.display_name(&database.as_ref().unwrap().native_arch), p.version.clone()));
        explained.push(Explained { edge, package });
    }
    for missing in &resolution.missing {
        failed = true;
        let searched: Vec<String> = missing.searched.iter().map(|dir| dir.display().to_string()).collect();
        diag.error(format_args!(
            "{}: needs {}, not found (searched {})",
            missing.file.display(),
            missing.needed,
            if searched.is_empty() { "nothing".to_string() } else { searched.join(", ") }
        ));
    }
    for (path, (file, needed)) in &unowned {
        failed = true;
        let how = if explained.iter().any(|e| e.edge.path == *path && e.edge.how == How::Interpreter) {
            "interpreter"
        } else {
            "library"
        };
        diag.error(format_args!(
            "{}: the {how} {} that {} needs as {needed} is owned by no package",
            path.display(),
            path.display(),
            file.display()
        ));
    }
    let packages: Vec<String> = packages.into_iter().collect();
    let text = match cli.format {
        Format::Names => packages.iter().map(|p| format!("{p}\n")).collect::<String>(),
        Format::Json => output::json(&explained, &packages, &resolution.missing.iter().collect::<Vec<_>>()),
        Format::Depends => match depends(&root, &scan.objects, &explained) {
            Ok(value) if value.is_empty() => String::new(),
            Ok(value) => format!("{value}\n"),
            Err(message) => {
                diag.error(message);
                return exit::USAGE;
            }
        },
    };
    let mut stdout = std::io::stdout().lock();
    if let Err(err) = stdout.write_all(text.as_bytes()).and_then(|()| stdout.flush()) {
        if err.kind() != std::io::ErrorKind::BrokenPipe {
            diag.error(format_args!("cannot write the output: {err}"));
            return exit::USAGE;
        }
    }
    if failed {
        exit::FAILURE
    } else {
        exit::SUCCESS
    }
}

/// The file names dpkg's lists must be searched for: every hop of every
/// system library's symlink chain.
fn file_names_to_index(root: &Root, edges: &[&find_libdeps::resolve::Edge]) -> std::collections::HashSet<Vec<u8>> {
    use std::os::unix::ffi::OsStrExt;
    let mut names = std::collections::HashSet::new();
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
fn depends(root: &Root, objects: &[Object], explained: &[Explained]) -> Result<String, String> {
    let mut depends = Depends::default();
    for object in objects {
        let owned = |needed: &str| {
            explained.iter().find(|e| e.edge.file == object.path && e.edge.needed == needed && !e.edge.in_tree)
        };
        let packages: Vec<(String, String, String)> = object
            .dynamic
            .needed
            .iter()
            .filter_map(|needed| {
                let (name, _) = owned(needed)?.package.as_ref()?;
                let (package, arch) = name.split_once(':').unwrap_or((name, "amd64"));
                Some((needed.clone(), package.to_string(), arch.to_string()))
            })
            .collect();
        if let Some(interpreter) = &object.dynamic.interpreter {
            if let Some((name, _)) = owned(interpreter).and_then(|e| e.package.as_ref()) {
                depends.add_package(name.split(':').next().unwrap_or(name));
            }
        }
        if packages.is_empty() {
            continue;
        }
        let needs: Vec<Need> = packages.iter().map(|(soname, package, arch)| Need { soname, package, arch }).collect();
        let bytes =
            std::fs::read(root.host_path(&object.path)).map_err(|err| format!("{}: {err}", object.path.display()))?;
        depends.add_object(root, &bytes, &needs).map_err(|err| format!("{}: {err}", object.path.display()))?;
    }
    Ok(depends.render())
}
