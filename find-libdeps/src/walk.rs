//! Finding what a tree loads: every regular file is examined, ELF objects
//! by their magic rather than by name, and Python sources (`*.py`) for the
//! libraries they load at run time ([`crate::python`]). Symlinks are not
//! followed (their targets are scanned where they are), hard links count
//! once, paths matching an exclusion are skipped, and files that cannot be
//! read are warned about and skipped.
//!
//! The directories are listed on one thread, which hands the files out in
//! batches as it goes; they are examined on every core, as opening and
//! reading them is the walk's cost. Each file is opened by its name in its
//! directory's descriptor, not by a path from the root.

use std::collections::HashSet;
use std::ffi::{CStr, OsStr};
use std::fs::File;
use std::io::Read;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TrySendError};
use std::sync::{Arc, Mutex};

use rustix::fs::{AtFlags, FileType, Mode, OFlags, CWD};

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

/// Batches the listing may be ahead of the examining threads; when they
/// are all taken, the listing examines a batch itself instead of waiting.
const AHEAD: usize = 4;

/// Directories kept open for files still to be examined, beyond those being
/// listed. Each waiting file keeps its directory's descriptor: a tree of
/// many small directories would otherwise hold hundreds, against a limit
/// (RLIMIT_NOFILE) that is often 1,024 and can be much lower.
const OPEN_DIRECTORIES: usize = 64;

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
    let open_directories = AtomicUsize::new(0);
    // Checked now, opened in turn: the directories waiting would otherwise
    // hold descriptors the walk's bound does not count.
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
    let (sender, receiver) = std::sync::mpsc::sync_channel::<Batch>(AHEAD);
    let receiver = Mutex::new(receiver);
    let examiner = Examiner { options, needles: &needles };
    let work = || {
        let mut found = Vec::new();
        let mut buffer = Buffer::default();
        loop {
            // The lock is held only to take a batch; a worker that waits
            // for the lister's next one keeps the others waiting on the
            // lock, as they would wait on the channel.
            let batch = match receiver.lock().map(|receiver| receiver.recv()) {
                Ok(Ok(batch)) => batch,
                _ => return found,
            };
            examiner.batch(&batch, &mut buffer, &mut found);
        }
    };
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get()).min(8);
    let (files, warnings, mut results) = std::thread::scope(|scope| {
        let helpers: Vec<_> = (1..threads).map(|_| scope.spawn(work)).collect();
        let mut listing = Listing {
            options,
            examiner: &examiner,
            receiver: &receiver,
            open_directories: &open_directories,
            depth: 0,
            device: 0,
            seen: HashSet::new(),
            files: 0,
            batch: Batch::default(),
            sender: Some(sender),
            buffer: Buffer::default(),
            dirent_buffer: vec![MaybeUninit::uninit(); 16 << 10],
            found: Vec::new(),
            warnings: Vec::new(),
        };
        for (dir, device) in resolved_dirs {
            // One device for the whole tree: a mount point inside a venv
            // is rare, and a stat per directory would cost a tenth of the
            // walk. ELF objects get their own key from their file.
            listing.device = device;
            listing.open_and_list(CWD, root.host_path(&dir), dir, OFlags::empty());
        }
        let (files, warnings, mut results) = listing.finish();
        results.extend(work());
        for helper in helpers {
            results.extend(helper.join().expect("a walk thread panicked"));
        }
        (files, warnings, results)
    });
    results.sort_unstable_by_key(|(index, _, _)| *index);
    let mut scan = Scan { files, warnings, ..Scan::default() };
    for (_, path, found) in results {
        match found {
            Found::Nothing => unreachable!("not kept"),
            Found::Object(key, dynamic, version_needs) => {
                scan.objects.push(Object { path, key, dynamic, version_needs })
            }
            Found::Source(loads) => scan.sources.push(Source { path, loads }),
            Found::Warning(why) => scan.warnings.push(format!("{}: {why}", path.display())),
        }
    }
    Ok(scan)
}

/// A directory being walked: its descriptor, which the examining threads
/// open its files from (openat(2) of one name rather than a lookup of
/// every component of a long path, for each of a venv's files), and its
/// path inside the root. Closed when its last file has been examined.
struct Directory<'a> {
    fd: OwnedFd,
    path: PathBuf,
    /// How many are open.
    open_directories: &'a AtomicUsize,
}

impl<'a> Directory<'a> {
    fn new(fd: OwnedFd, path: PathBuf, open_directories: &'a AtomicUsize) -> Arc<Directory<'a>> {
        open_directories.fetch_add(1, Ordering::Relaxed);
        Arc::new(Directory { fd, path, open_directories })
    }
}

impl Drop for Directory<'_> {
    fn drop(&mut self) {
        self.open_directories.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Files to examine: the directory, the name (an offset and length in
/// `names`, NUL-terminated there) and the identity of each, numbered from
/// `first` in the listing's order. The names share one buffer, so that a
/// batch costs two allocations rather than one per file.
#[derive(Default)]
struct Batch<'a> {
    first: usize,
    files: Vec<(Arc<Directory<'a>>, usize, usize, FileKey)>,
    names: Vec<u8>,
}

/// A file examined that holds something: its number, its path inside the
/// root, and what it holds.
type Kept = (usize, PathBuf, Found);

/// What the examining threads share.
struct Examiner<'a> {
    options: &'a Options<'a>,
    needles: &'a aho_corasick::AhoCorasick,
}

impl Examiner<'_> {
    /// Examines each file of `batch`, keeping those that hold something.
    fn batch(&self, batch: &Batch, buffer: &mut Buffer, found: &mut Vec<Kept>) {
        for (offset, (dir, start, len, key)) in batch.files.iter().enumerate() {
            let name = &batch.names[*start..start + len];
            let what = examine(dir, name, *key, self.options, self.needles, buffer);
            // Most files hold nothing: only the others' paths are made.
            if !matches!(what, Found::Nothing) {
                let path = dir.path.join(OsStr::from_bytes(&name[..name.len() - 1]));
                found.push((batch.first + offset, path, what));
            }
        }
    }
}

/// The listing, on one thread: every regular file under the directories,
/// in name order, each hard link once, sent to the examining threads in
/// batches numbered in that order.
struct Listing<'a, 'd> {
    options: &'a Options<'a>,
    examiner: &'a Examiner<'a>,
    /// The examining threads' queue, which the listing empties itself when
    /// too many directories are open.
    receiver: &'a Mutex<Receiver<Batch<'d>>>,
    open_directories: &'d AtomicUsize,
    /// Directories being listed, each open: this one and its parents. A
    /// tree this deep holds as many descriptors (a venv is about 10 deep).
    depth: usize,
    device: u64,
    seen: HashSet<FileKey>,
    /// Files listed so far: the next file's index.
    files: usize,
    batch: Batch<'d>,
    /// Dropped when the listing is done, which ends the examining threads'
    /// wait for more.
    sender: Option<SyncSender<Batch<'d>>>,
    /// For the batches the listing examines itself.
    buffer: Buffer,
    /// getdents64(2)'s buffer, for one directory at a time.
    dirent_buffer: Vec<MaybeUninit<u8>>,
    found: Vec<Kept>,
    warnings: Vec<String>,
}

impl<'d> Listing<'_, 'd> {
    /// Opens `name` (relative to `at`) and lists it as `path`, or warns
    /// that it cannot be listed. `nofollow` keeps a directory that became a
    /// symlink since it was listed from being followed.
    fn open_and_list<P: rustix::path::Arg>(&mut self, at: impl AsFd, name: P, path: PathBuf, nofollow: OFlags) {
        self.make_room();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC | nofollow;
        match rustix::fs::openat(at, name, flags, Mode::empty()) {
            Ok(fd) => {
                let dir = Directory::new(fd, path, self.open_directories);
                self.depth += 1;
                self.list_entries(&dir);
                self.depth -= 1;
            }
            Err(err) => self.cannot_list(&path, err.into()),
        }
    }

    fn cannot_list(&mut self, path: &Path, err: std::io::Error) {
        self.warnings.push(format!("{}: cannot list: {}", path.display(), venvkit_common::io::plain(&err)));
    }

    fn list_entries(&mut self, dir: &Arc<Directory<'d>>) {
        // The names, NUL-terminated in one buffer, with each entry's type
        // and inode number from the directory itself, so that no file
        // needs a stat of its own: most of a venv is not ELF, and the
        // walk's system calls are its cost.
        let mut names = Vec::new();
        let mut entries = Vec::new();
        let mut listing = rustix::fs::RawDir::new(&dir.fd, &mut self.dirent_buffer);
        let mut failed = None;
        while let Some(entry) = listing.next() {
            let entry = match entry {
                Ok(entry) => entry,
                // What was read before stays listed.
                Err(err) => {
                    failed = Some(err);
                    break;
                }
            };
            let name = entry.file_name().to_bytes_with_nul();
            if name == b".\0" || name == b"..\0" {
                continue;
            }
            entries.push((names.len(), name.len(), entry.file_type(), entry.ino()));
            names.extend_from_slice(name);
        }
        if let Some(err) = failed {
            self.cannot_list(&dir.path, err.into());
        }
        // Sorted, so that which of two hard links is reported does not depend
        // on the directory's order.
        entries.sort_unstable_by(|a, b| names[a.0..a.0 + a.1].cmp(&names[b.0..b.0 + b.1]));
        let mut path = Vec::new();
        for (start, len, mut file_type, inode) in entries {
            let name = &names[start..start + len];
            let c_name = CStr::from_bytes_with_nul(name).expect("a directory entry's name ends at its NUL");
            if !self.options.exclude.is_empty() {
                path.clear();
                path.extend_from_slice(venvkit_common::root::bytes(&dir.path));
                if path.last() != Some(&b'/') {
                    path.push(b'/');
                }
                path.extend_from_slice(&name[..len - 1]);
                if excluded_bytes(&path, self.options.exclude) {
                    continue;
                }
            }
            if file_type == FileType::Unknown {
                // Filesystems without d_type in their entries.
                let Ok(stat) = rustix::fs::statat(&dir.fd, c_name, AtFlags::SYMLINK_NOFOLLOW) else { continue };
                file_type = FileType::from_raw_mode(stat.st_mode);
            }
            if file_type == FileType::Directory {
                let path = dir.path.join(OsStr::from_bytes(&name[..len - 1]));
                self.open_and_list(&dir.fd, c_name, path, OFlags::NOFOLLOW);
            } else if file_type == FileType::RegularFile && self.seen.insert((self.device, inode)) {
                let batch = &mut self.batch;
                if batch.files.is_empty() {
                    batch.first = self.files;
                }
                batch.files.push((Arc::clone(dir), batch.names.len(), len, (self.device, inode)));
                batch.names.extend_from_slice(name);
                self.files += 1;
                if batch.files.len() == BATCH {
                    self.send();
                }
            }
        }
    }

    /// Examines waiting files here until at most [`OPEN_DIRECTORIES`] of
    /// their directories are open. The files the examining threads have
    /// taken are done soon, so the wait ends.
    fn make_room(&mut self) {
        while self.open_directories.load(Ordering::Relaxed) >= OPEN_DIRECTORIES + self.depth {
            if !self.batch.files.is_empty() {
                let batch = std::mem::take(&mut self.batch);
                self.examiner.batch(&batch, &mut self.buffer, &mut self.found);
                continue;
            }
            // Never a blocking lock: an examining thread waits for the next
            // batch holding it, and only this thread sends batches.
            let waiting = self.receiver.try_lock().ok().and_then(|receiver| receiver.try_recv().ok());
            match waiting {
                Some(batch) => self.examiner.batch(&batch, &mut self.buffer, &mut self.found),
                None => std::thread::yield_now(),
            }
        }
    }

    /// Hands the batch to a waiting thread, or examines it here if the
    /// threads are [`AHEAD`] batches behind.
    fn send(&mut self) {
        let batch = std::mem::take(&mut self.batch);
        let sender = self.sender.as_ref().expect("sent before the listing is done");
        match sender.try_send(batch) {
            Ok(()) => {}
            // The receiver outlives the listing (it is the caller's), so it
            // cannot be gone.
            Err(TrySendError::Full(batch) | TrySendError::Disconnected(batch)) => {
                self.examiner.batch(&batch, &mut self.buffer, &mut self.found)
            }
        }
    }

    /// Sends the last batch and closes the channel: the number of files
    /// listed, the directories that could not be listed, and what the
    /// listing examined itself.
    fn finish(mut self) -> (usize, Vec<String>, Vec<Kept>) {
        if !self.batch.files.is_empty() {
            self.send();
        }
        self.sender = None;
        (self.files, self.warnings, self.found)
    }
}

/// Whether an `exclude` glob matches `path` (a path inside the root).
pub(crate) fn excluded(path: &Path, exclude: &[String]) -> bool {
    excluded_bytes(venvkit_common::root::bytes(path), exclude)
}

fn excluded_bytes(path: &[u8], exclude: &[String]) -> bool {
    exclude.iter().any(|glob| glob_match(glob.as_bytes(), path))
}

/// What one file holds.
enum Found {
    Nothing,
    Object(FileKey, Dynamic, Vec<VersionNeed>),
    Source(Vec<python::Load>),
    Warning(String),
}

fn examine(
    dir: &Directory,
    name: &[u8],
    key: FileKey,
    options: &Options,
    needles: &aho_corasick::AhoCorasick,
    buffer: &mut Buffer,
) -> Found {
    let mut file = match open_read_only(&dir.fd, name) {
        Ok(file) => file,
        Err(err) => return Found::Warning(format!("cannot read: {}", venvkit_common::io::plain(&err))),
    };
    // `*.py` with a stem: a file named `.py` has no extension.
    if options.python && name.len() > b".py\0".len() && name.ends_with(b".py\0") {
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
    if buffer.chunk.is_empty() {
        buffer.chunk = vec![0; SOURCE_CHUNK];
    }
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

/// One thread's buffers for Python sources: a chunk read in one call and
/// room for the rare longer file. Allocating them once per thread rather
/// than once per file keeps the threads off the allocator's lock.
#[derive(Default)]
struct Buffer {
    chunk: Vec<u8>,
    rest: Vec<u8>,
}

/// `name` (NUL-terminated) in `dir`, for reading, close-on-exec, as one
/// system call: musl's open() adds an fcntl(2) for kernels without
/// O_CLOEXEC, a third more calls per file on a walk that opens every file
/// of a venv.
fn open_read_only(dir: &OwnedFd, name: &[u8]) -> std::io::Result<File> {
    let name = CStr::from_bytes_with_nul(name)
        .map_err(|_| std::io::Error::new(std::io::ErrorKind::InvalidInput, "a NUL byte in a path"))?;
    let flags = OFlags::RDONLY | OFlags::CLOEXEC | OFlags::NOCTTY;
    Ok(File::from(rustix::fs::openat(dir, name, flags, Mode::empty())?))
}
