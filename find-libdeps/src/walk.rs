//! Finding what a tree loads: every regular file is examined, ELF objects
//! by their magic rather than by name, and Python sources (`*.py`) for the
//! libraries they load at run time ([`crate::python`]). Symlinks are not
//! followed (their targets are scanned where they are), hard links count
//! once, paths matching an exclusion are skipped, and files that cannot be
//! read are warned about and skipped.
//!
//! The directories are listed first, on one thread; the files are then
//! examined on every core, as opening and reading them is the walk's cost.

use std::collections::HashSet;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::{DirEntryExt, MetadataExt};
use std::path::{Path, PathBuf};

use venvkit_common::root::Root;
use venvkit_elf::{Dynamic, Elf, Kind, VersionNeed};

use crate::python;
use venvkit_common::glob::glob_match;

/// A file's identity, as the loader tells loaded objects apart.
pub type FileKey = (u64, u64);

#[derive(Clone, Debug)]
pub struct Object {
    /// The path inside the root, as the walk found it.
    pub path: PathBuf,
    pub key: FileKey,
    pub dynamic: Dynamic,
    /// DT_VERNEED: the symbol versions it needs, by library.
    pub version_needs: Vec<VersionNeed>,
}

/// A Python source that loads libraries, with those loads.
#[derive(Clone, Debug)]
pub struct Source {
    pub path: PathBuf,
    pub loads: Vec<python::Load>,
}

#[derive(Debug, Default)]
pub struct Scan {
    pub objects: Vec<Object>,
    pub sources: Vec<Source>,
    /// How many files were examined.
    pub files: usize,
    pub warnings: Vec<String>,
}

/// Files a thread takes at a time.
const BATCH: usize = 32;

/// What the walk keeps and skips.
pub struct Options<'a> {
    /// The architecture's ELF kind: other objects are warned about.
    pub kind: Kind,
    /// fnmatch(3) globs, without FNM_PATHNAME (`*` matches `/` too), over
    /// the path inside the root; a matching directory is not entered.
    pub exclude: &'a [String],
    /// Whether Python sources are read.
    pub python: bool,
}

/// Scans each directory (a path inside `root`); a directory that does not
/// exist is an error.
pub fn scan(root: &Root, dirs: &[PathBuf], options: &Options) -> Result<Scan, String> {
    let mut listing = Listing { root, options, device: 0, seen: HashSet::new(), files: Vec::new() };
    let mut warnings = Vec::new();
    for dir in dirs {
        let resolved = root.canonicalize(dir).ok_or_else(|| {
            format!("{}: no such directory (give the tree to scan, such as the virtualenv)", dir.display())
        })?;
        let metadata = std::fs::metadata(root.host_path(&resolved)).ok().filter(|m| m.is_dir()).ok_or_else(|| {
            format!("{}: not a directory (give the tree to scan, such as the virtualenv)", dir.display())
        })?;
        // One device for the whole tree: a mount point inside a venv is rare,
        // and a stat per directory would cost a tenth of the walk. ELF
        // objects get their own key from their file.
        listing.device = metadata.dev();
        listing.list(&resolved, &mut warnings);
    }
    let files = listing.files;
    let needles = python::needle_searcher();
    // Threads take batches of files in turn, so that one that met the big
    // Python sources does not leave the others idle. (Listing on one
    // thread first costs less CPU than feeding the threads as it goes.)
    let next = std::sync::atomic::AtomicUsize::new(0);
    let work = || {
        let mut found = Vec::new();
        let mut buffer = Buffer::new();
        loop {
            let start = next.fetch_add(BATCH, std::sync::atomic::Ordering::Relaxed);
            if start >= files.len() {
                return found;
            }
            for (index, (path, key)) in files.iter().enumerate().skip(start).take(BATCH) {
                found.push((index, examine(root, path, *key, options, &needles, &mut buffer)));
            }
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let mut results: Vec<(usize, Found)> = if threads == 1 || files.len() < 2 * BATCH {
        work()
    } else {
        std::thread::scope(|scope| {
            let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
            let mut results = work();
            for helper in helpers {
                results.extend(helper.join().expect("a walk thread panicked"));
            }
            results
        })
    };
    results.sort_unstable_by_key(|(index, _)| *index);
    let mut scan = Scan { files: files.len(), warnings, ..Scan::default() };
    for ((_, found), (path, _)) in results.into_iter().zip(files) {
        match found {
            Found::Nothing => {}
            Found::Object(key, dynamic, version_needs) => {
                scan.objects.push(Object { path, key, dynamic, version_needs })
            }
            Found::Source(loads) => scan.sources.push(Source { path, loads }),
            Found::Warning(why) => scan.warnings.push(format!("{}: {why}", path.display())),
        }
    }
    Ok(scan)
}

/// The listing, on one thread: every regular file under the directories,
/// in name order, each hard link once.
struct Listing<'a> {
    root: &'a Root,
    options: &'a Options<'a>,
    device: u64,
    seen: HashSet<FileKey>,
    files: Vec<(PathBuf, FileKey)>,
}

impl Listing<'_> {
    fn list(&mut self, dir: &Path, warnings: &mut Vec<String>) {
        let entries = match std::fs::read_dir(self.root.host_path(dir)) {
            Ok(entries) => entries,
            Err(err) => {
                warnings.push(format!("{}: cannot list: {}", dir.display(), venvkit_common::io::plain(&err)));
                return;
            }
        };
        // The directory entry's type and inode number, so that no file needs
        // a stat of its own: most of a venv is not ELF, and the walk's system
        // calls are its cost.
        let mut entries: Vec<_> =
            entries.flatten().filter_map(|e| Some((e.file_name(), e.file_type().ok()?, e.ino()))).collect();
        // Sorted, so that which of two hard links is reported does not depend
        // on the directory's order.
        entries.sort_by(|a, b| a.0.cmp(&b.0));
        for (name, file_type, inode) in entries {
            let path = dir.join(&name);
            if excluded(&path, self.options.exclude) {
                continue;
            }
            if file_type.is_dir() {
                self.list(&path, warnings);
            } else if file_type.is_file() && self.seen.insert((self.device, inode)) {
                self.files.push((path, (self.device, inode)));
            }
        }
    }
}

fn excluded(path: &Path, exclude: &[String]) -> bool {
    let text = venvkit_common::root::bytes(path);
    exclude.iter().any(|glob| glob_match(glob.as_bytes(), text))
}

/// What one file holds.
enum Found {
    Nothing,
    Object(FileKey, Dynamic, Vec<VersionNeed>),
    Source(Vec<python::Load>),
    Warning(String),
}

fn examine(
    root: &Root,
    path: &Path,
    key: FileKey,
    options: &Options,
    needles: &aho_corasick::AhoCorasick,
    buffer: &mut Buffer,
) -> Found {
    let mut file = match open_read_only(&root.host_path(path)) {
        Ok(file) => file,
        Err(err) => return Found::Warning(format!("cannot read: {}", venvkit_common::io::plain(&err))),
    };
    if options.python && path.extension().is_some_and(|extension| extension == "py") {
        return read_source(&mut file, needles, buffer);
    }
    let elf = match Elf::open(&file) {
        Ok(Some(elf)) => elf,
        Ok(None) => return Found::Nothing,
        Err(why) => return Found::Warning(format!("skipped, a damaged ELF file: {why}")),
    };
    if elf.kind() != options.kind {
        return Found::Warning(format!("skipped, an ELF file for {}", elf.kind().describe()));
    }
    if elf.is_relocatable() {
        return Found::Nothing;
    }
    match elf.dynamic() {
        Ok(dynamic) if !dynamic.is_dynamic && dynamic.interpreter.is_none() => Found::Nothing,
        Ok(dynamic) => {
            // An unreadable version table is the loader's problem only if
            // it reads it; the check then has nothing to compare.
            let needs = elf.version_needs().unwrap_or_default();
            // The file's own device: on overlayfs a lower layer's file does
            // not share its directory's, and the resolver asks the file.
            Found::Object(file.metadata().map(|m| (m.dev(), m.ino())).unwrap_or(key), dynamic, needs)
        }
        Err(why) => Found::Warning(format!("skipped, a damaged ELF file: {why}")),
    }
}

/// The size read in one system call: most Python sources fit, so that
/// their end shows as a short read without a second call.
const SOURCE_CHUNK: usize = 1 << 20;

/// A Python source's loads, if it may have any: the whole file is read
/// (up to [`python::MAX_SOURCE`]) and parsed only if it holds a needle.
/// `buffer` is [`SOURCE_CHUNK`] bytes, reused from file to file.
fn read_source(file: &mut File, needles: &aho_corasick::AhoCorasick, buffer: &mut Buffer) -> Found {
    let first = match file.read(&mut buffer.chunk) {
        Ok(read) => read,
        Err(err) => return Found::Warning(format!("cannot read: {}", venvkit_common::io::plain(&err))),
    };
    // A regular file reads short only at its end; a full chunk may go on.
    let source: &[u8] = if first < SOURCE_CHUNK {
        &buffer.chunk[..first]
    } else {
        buffer.rest.clear();
        buffer.rest.extend_from_slice(&buffer.chunk);
        if let Err(err) = file.take(python::MAX_SOURCE + 1 - SOURCE_CHUNK as u64).read_to_end(&mut buffer.rest) {
            return Found::Warning(format!("cannot read: {}", venvkit_common::io::plain(&err)));
        }
        &buffer.rest
    };
    if source.len() as u64 > python::MAX_SOURCE {
        return Found::Warning(format!("skipped, a Python source over {} MiB", python::MAX_SOURCE >> 20));
    }
    if !python::may_load(source, needles) {
        return Found::Nothing;
    }
    // Python sources are UTF-8 unless they declare otherwise; the names of
    // libraries are ASCII either way.
    let loads = python::loads(&String::from_utf8_lossy(source));
    if loads.is_empty() {
        Found::Nothing
    } else {
        Found::Source(loads)
    }
}

/// One thread's buffers for Python sources: a chunk read in one call, and
/// room for the rare longer file.
struct Buffer {
    chunk: Vec<u8>,
    rest: Vec<u8>,
}

impl Buffer {
    fn new() -> Buffer {
        Buffer { chunk: vec![0; SOURCE_CHUNK], rest: Vec::new() }
    }
}

/// open(2) for reading, close-on-exec, as one system call: musl's open()
/// adds an fcntl(2) for kernels without O_CLOEXEC, a third more calls per
/// file on a walk that opens every file of a venv.
fn open_read_only(path: &Path) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(path.as_os_str().as_bytes())?;
    let flags = nix::libc::O_RDONLY | nix::libc::O_CLOEXEC | nix::libc::O_NOCTTY;
    // SAFETY: a NUL-terminated path; the returned descriptor is owned by the File.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_openat, nix::libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}
