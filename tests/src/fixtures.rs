//! What the tools' test suites and benchmarks share: scratch directories,
//! polling, process-tree lookups, the root check, Debian root filesystems
//! made once per run with mmdebstrap, and medians.

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A scratch directory for one test, removed when dropped.
pub struct Scratch(pub PathBuf);

impl Scratch {
    pub fn new(name: &str) -> Scratch {
        Scratch::under(&std::env::temp_dir(), name)
    }

    /// A scratch directory inside `parent` (a rootfs, to be seen from it).
    pub fn under(parent: &Path, name: &str) -> Scratch {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let unique = NEXT.fetch_add(1, Ordering::Relaxed);
        let dir = parent.join(format!("venvkit-test-{name}-{}-{unique}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        Scratch(dir)
    }

    pub fn path(&self, relative: &str) -> PathBuf {
        self.0.join(relative)
    }

    pub fn mkdir(&self, relative: &str) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(&path).unwrap();
        path
    }

    /// Writes a file, making its directories.
    pub fn write(&self, relative: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, contents).unwrap();
        path
    }

    /// Writes a file with the given permission bits.
    pub fn write_mode(&self, relative: &str, contents: impl AsRef<[u8]>, mode: u32) -> PathBuf {
        let path = self.write(relative, contents);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode)).unwrap();
        path
    }

    pub fn link(&self, target: &str, relative: &str) {
        let path = self.0.join(relative);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        symlink(target, path).unwrap();
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Polls `condition` every 5 ms until it holds or `limit` passes.
pub fn eventually(limit: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let started = Instant::now();
    while started.elapsed() < limit {
        if condition() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    condition()
}

/// The direct children of `pid`, from /proc.
pub fn children_of(pid: u32) -> Vec<u32> {
    std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|p| p.parse().ok())
        .collect()
}

pub fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Whether a test can use what root has; if not, prints why it is skipped.
pub fn root_or_skip_because(needs: &str) -> bool {
    let root = is_root();
    if !root {
        eprintln!("skipped: this test needs root ({needs}); CI runs as root");
    }
    root
}

/// A Debian root filesystem of `suite` with `packages`, made once per
/// target directory with mmdebstrap (then `finish`ed) and shared by every
/// test and benchmark; concurrent callers wait for one build.
pub fn cached_rootfs(name: &str, suite: &str, packages: &[&str], finish: impl FnOnce(&Path)) -> PathBuf {
    let fixtures = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venvkit-fixtures");
    std::fs::create_dir_all(&fixtures).unwrap();
    let dir = fixtures.join(name);
    let lock = std::fs::File::create(fixtures.join(format!("{name}.lock"))).unwrap();
    let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| errno).unwrap();
    if !dir.join(".venvkit-complete").exists() {
        let _ = std::fs::remove_dir_all(&dir);
        let mut command = Command::new("mmdebstrap");
        command.args(["--quiet", "--variant=minbase", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]);
        if !packages.is_empty() {
            command.arg(format!("--include={}", packages.join(",")));
        }
        let output = command.arg(suite).arg(&dir).output().expect("mmdebstrap is missing: make test installs it");
        assert!(output.status.success(), "mmdebstrap {suite}: {}", String::from_utf8_lossy(&output.stderr));
        finish(&dir);
        std::fs::write(dir.join(".venvkit-complete"), b"").unwrap();
    }
    drop(lock);
    dir
}

/// The median of `runs` samples.
pub fn median(runs: usize, mut sample: impl FnMut() -> Duration) -> Duration {
    median_of((0..runs).map(|_| sample()).collect())
}

pub fn median_of(mut samples: Vec<Duration>) -> Duration {
    samples.sort();
    samples[samples.len() / 2]
}

pub fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// A finished run of a tool: its status, output and wall time.
pub struct Run {
    pub status: std::process::ExitStatus,
    pub stdout: String,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    /// The status a shell would report: 128+N for death by signal N.
    pub fn code(&self) -> i32 {
        use std::os::unix::process::ExitStatusExt;
        self.status.code().unwrap_or_else(|| 128 + self.status.signal().unwrap_or(0))
    }
}

/// Runs `command` with no stdin and collects a [`Run`].
pub fn run(command: &mut Command) -> Run {
    let started = Instant::now();
    let output = command.stdin(std::process::Stdio::null()).output().expect("spawn the tool under test");
    Run {
        status: output.status,
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        elapsed: started.elapsed(),
    }
}
