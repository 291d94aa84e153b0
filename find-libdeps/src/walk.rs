//! Finding what a tree loads: every regular file is examined, ELF objects
//! by their magic rather than by name, and Python sources (`*.py`) for the
//! libraries they load at run time ([`crate::python`]). Symlinks are not
//! followed (their targets are scanned where they are), hard links count
//! once, paths matching an exclusion are skipped, and files that cannot be
//! read are warned about and skipped.
//!
//! The directories are listed on one thread, which hands the files out in
//! batches as it goes; they are examined on every core, as opening and
//! reading them is the walk's cost.

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
    let mut resolved_dirs = Vec::new();
    for dir in dirs {
        let resolved = root.canonicalize(dir).ok_or_else(|| {
            format!("{}: no such directory (give the tree to scan, such as the virtualenv)", dir.display())
        })?;
        let metadata = std::fs::metadata(root.host_path(&resolved)).ok().filter(|m| m.is_dir()).ok_or_else(|| {
            format!("{}: not a directory (give the tree to scan, such as the virtualenv)", dir.display())
        })?;
        resolved_dirs.push((resolved, metadata.dev()));
    }
    let needles = python::needle_searcher();
    // One thread lists and hands out batches of files as it goes; the
    // others examine them from the first batch on, and the lister joins
    // them when the listing is done. Listing first and examining after
    // left the other core idle for a sixth of the run.
    let (sender, receiver) = std::sync::mpsc::channel::<Vec<(usize, PathBuf, FileKey)>>();
    let receiver = std::sync::Mutex::new(receiver);
    let work = || {
        let mut found = Vec::new();
        let mut buffer = Buffer::new(root);
        loop {
            // The lock is held only to take a batch; a worker that waits
            // for the lister's next one keeps the others waiting on the
            // lock, as they would wait on the channel.
            let batch = match receiver.lock().map(|receiver| receiver.recv()) {
                Ok(Ok(batch)) => batch,
                _ => return found,
            };
            for (index, path, key) in batch {
                let what = examine(&path, key, options, &needles, &mut buffer);
                found.push((index, path, what));
            }
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let (files, warnings, mut results) = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut listing = Listing {
            root,
            options,
            device: 0,
            seen: HashSet::new(),
            files: 0,
            batch: Vec::with_capacity(BATCH),
            sender,
            warnings: Vec::new(),
        };
        for (dir, device) in &resolved_dirs {
            // One device for the whole tree: a mount point inside a venv
            // is rare, and a stat per directory would cost a tenth of the
            // walk. ELF objects get their own key from their file.
            listing.device = *device;
            listing.list(dir);
        }
        let (files, warnings) = listing.finish();
        let mut results = work();
        for helper in helpers {
            results.extend(helper.join().expect("a walk thread panicked"));
        }
        (files, warnings, results)
    });
    results.sort_unstable_by_key(|(index, _, _)| *index);
    let mut scan = Scan { files, warnings, ..Scan::default() };
    for (_, path, found) in results {
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
/// in name order, each hard link once, sent to the examining threads in
/// batches numbered in that order.
struct Listing<'a> {
    root: &'a Root,
    options: &'a Options<'a>,
    device: u64,
    seen: HashSet<FileKey>,
    /// Files listed so far: the next file's index.
    files: usize,
    batch: Vec<(usize, PathBuf, FileKey)>,
    sender: std::sync::mpsc::Sender<Vec<(usize, PathBuf, FileKey)>>,
    warnings: Vec<String>,
}

impl Listing<'_> {
    fn list(&mut self, dir: &Path) {
        let entries = match std::fs::read_dir(self.root.host_path(dir)) {
            Ok(entries) => entries,
            Err(err) => {
                self.warnings.push(format!("{}: cannot list: {}", dir.display(), venvkit_common::io::plain(&err)));
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
                self.list(&path);
            } else if file_type.is_file() && self.seen.insert((self.device, inode)) {
                self.batch.push((self.files, path, (self.device, inode)));
                self.files += 1;
                if self.batch.len() == BATCH {
                    self.send();
                }
            }
        }
    }

    fn send(&mut self) {
        let batch = std::mem::replace(&mut self.batch, Vec::with_capacity(BATCH));
        // The receiver outlives the listing (it is the caller's), so a send
        // cannot fail.
        let _ = self.sender.send(batch);
    }

    /// Sends the last batch and closes the channel: the number of files
    /// listed, and the directories that could not be listed.
    fn finish(mut self) -> (usize, Vec<String>) {
        if !self.batch.is_empty() {
            self.send();
        }
        (self.files, self.warnings)
    }
}

/// Whether an `exclude` glob matches `path` (a path inside the root).
pub(crate) fn excluded(path: &Path, exclude: &[String]) -> bool {
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
    path: &Path,
    key: FileKey,
    options: &Options,
    needles: &aho_corasick::AhoCorasick,
    buffer: &mut Buffer,
) -> Found {
    let mut file = match open_read_only(buffer.host_path(path)) {
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

/// One thread's buffers: a host path, built in place for each file, and
/// for Python sources a chunk read in one call and room for the rare longer
/// file. Allocating them once per thread rather than once per file keeps
/// the threads off the allocator's lock.
struct Buffer {
    /// The root's host path, ending with `/`.
    host: Vec<u8>,
    path: Vec<u8>,
    chunk: Vec<u8>,
    rest: Vec<u8>,
}

impl Buffer {
    fn new(root: &Root) -> Buffer {
        use std::os::unix::ffi::OsStringExt;
        let mut host = root.host_path(Path::new("/")).into_os_string().into_vec();
        if host.last() != Some(&b'/') {
            host.push(b'/');
        }
        Buffer { host, path: Vec::with_capacity(4096), chunk: vec![0; SOURCE_CHUNK], rest: Vec::new() }
    }

    /// `inner` (a path inside the root) on this machine, NUL-terminated,
    /// as [`Root::host_path`] joins it.
    fn host_path(&mut self, inner: &Path) -> &[u8] {
        use std::os::unix::ffi::OsStrExt;
        self.path.clear();
        self.path.extend_from_slice(&self.host);
        self.path.extend_from_slice(inner.strip_prefix("/").unwrap_or(inner).as_os_str().as_bytes());
        self.path.push(0);
        &self.path
    }
}

/// open(2) for reading, close-on-exec, as one system call: musl's open()
/// adds an fcntl(2) for kernels without O_CLOEXEC, a third more calls per
/// file on a walk that opens every file of a venv. `path` ends with a NUL.
fn open_read_only(path: &[u8]) -> std::io::Result<File> {
    use std::os::fd::FromRawFd;
    let path = std::ffi::CStr::from_bytes_with_nul(path)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in a path"))?;
    let flags = nix::libc::O_RDONLY | nix::libc::O_CLOEXEC | nix::libc::O_NOCTTY;
    // SAFETY: a NUL-terminated path; the returned descriptor is owned by the File.
    let fd = unsafe { nix::libc::syscall(nix::libc::SYS_openat, nix::libc::AT_FDCWD, path.as_ptr(), flags) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: a fresh descriptor that nothing else owns.
    Ok(unsafe { File::from_raw_fd(fd as i32) })
}
