//! find-libdeps' command line: the options, their environment variables,
//! and the help text.

use std::path::PathBuf;

use clap::Parser;
use find_libdeps::analysis::Format;

pub const TOOL: &str = "find-libdeps";

const AFTER_HELP: &str = "\
Every regular file under DIR is examined by its ELF magic, whatever its name.
Each needed library is looked up as the glibc loader would (RPATH, RUNPATH,
/etc/ld.so.conf, the default directories) and must define the symbol
versions the object needs; a library found inside DIR is followed, a system
library is mapped to the Debian package that owns it, from dpkg's database
read directly. No process is spawned.

Libraries loaded at run time count too: Python sources (*.py) are parsed for
ctypes (CDLL, cdll.LoadLibrary, ctypes.util.find_library) and cffi
(ffi.dlopen) calls, whose names are resolved as those calls resolve them
(find_library through /etc/ld.so.cache). Where a group of alternatives is
tried, the first that resolves counts; one that resolves nowhere is a
warning. Names computed at run time are only seen in a record of a run:
--loaded FILE takes a copy of /proc/PID/maps (or LD_DEBUG=libs output, or a
list of paths) and needs the libraries it names.

--check DIR, in the runtime image after the packages are installed, needs no
dpkg database and prints nothing on stdout: it fails if an ELF need, a
symbol version or a run-time load does not resolve, or if the virtualenv's
interpreter does not exist.

Environment:
  FIND_LIBDEPS_ROOT, FIND_LIBDEPS_FORMAT, FIND_LIBDEPS_IGNORE_SONAME and
  FIND_LIBDEPS_EXCLUDE (comma separated): defaults for the options of the
  same name

Exit status:
  0  everything resolved (and, without --check, is owned by a package)
  1  a library was not found, lacks a symbol version, or is owned by no
     package; with --check, also a run-time load found nowhere or a missing
     interpreter (each named on stderr; stdout still lists what was found)
  2  usage or I/O error: a DIR that does not exist, a corrupt dpkg database

Examples (in a Dockerfile):
  find-libdeps /usr/share/python3/app > /usr/share/python3/app/pkgdeps.txt
  find-libdeps --exclude '*/django/contrib/gis/*' /usr/share/python3/app
  RUN [\"find-libdeps\", \"--check\", \"/usr/share/python3/app\"]";

/// Print the Debian packages a tree of ELF files needs at run time.
#[derive(Parser, Debug)]
#[command(name = TOOL, version, after_help = AFTER_HELP)]
pub struct Cli {
    /// Directories to scan (paths inside ROOT)
    #[arg(required = true, value_name = "DIR")]
    pub dirs: Vec<PathBuf>,

    /// Analyse the system at ROOT (a rootfs, an unpacked image) instead of /
    #[arg(long, value_name = "ROOT", env = "FIND_LIBDEPS_ROOT", default_value = "/")]
    pub root: PathBuf,

    /// Output format
    #[arg(long, value_enum, env = "FIND_LIBDEPS_FORMAT", default_value = "names")]
    pub format: Format,

    /// Sonames the host provides (repeatable), e.g. 'libcuda.so.*'
    #[arg(long = "ignore-soname", value_name = "GLOB", env = "FIND_LIBDEPS_IGNORE_SONAME", value_delimiter = ',')]
    pub ignore_soname: Vec<String>,

    /// Skip paths matching GLOB (repeatable; `*` matches `/` too), e.g.
    /// '*/django/contrib/gis/*' for an app that never uses GeoDjango
    #[arg(long, value_name = "GLOB", env = "FIND_LIBDEPS_EXCLUDE", value_delimiter = ',')]
    pub exclude: Vec<String>,

    /// Also need the libraries a run mapped: FILE is a copy of
    /// /proc/PID/maps, LD_DEBUG=libs output, or paths; a directory, every
    /// file in it (repeatable)
    #[arg(long, value_name = "FILE")]
    pub loaded: Vec<PathBuf>,

    /// Check that everything resolves here instead of listing packages
    #[arg(long)]
    pub check: bool,

    /// Print nothing but errors
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Explain each edge on stderr
    #[arg(short, long)]
    pub verbose: bool,
}
