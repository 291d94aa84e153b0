//! find-libdeps' command line: the options, their environment variables,
//! and the help text.

use std::path::PathBuf;

use clap::Parser;
use find_libdeps::analysis::Format;

pub const TOOL: &str = "find-libdeps";

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

    /// Print nothing but errors
    #[arg(short, long, conflicts_with = "verbose")]
    pub quiet: bool,

    /// Explain each edge on stderr
    #[arg(short, long)]
    pub verbose: bool,
}
