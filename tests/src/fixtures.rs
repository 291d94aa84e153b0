//! What the tools' test suites and benchmarks share: scratch directories,
//! polling, process-tree lookups, the root check, running a command, and
//! medians. Debian root filesystems are in [`crate::rootfs`].

use std::os::unix::fs::{symlink, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// A scratch directory for one test, removed when dropped.
#[derive(Debug)]
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

impl std::ops::Deref for Scratch {
    type Target = Path;

    fn deref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<Path> for Scratch {
    fn as_ref(&self) -> &Path {
        &self.0
    }
}

impl AsRef<std::ffi::OsStr> for Scratch {
    fn as_ref(&self) -> &std::ffi::OsStr {
        self.0.as_os_str()
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

/// For a test that needs root (its name ends in `needs_root`): without
/// root it fails, saying why. Never a silent pass: `make test` run without
/// root leaves these tests out by name, so nextest's summary counts them as
/// skipped.
pub fn require_root(needs: &str) {
    assert!(is_root(), "this test needs root ({needs}); run it as root (CI does)");
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

    /// (code, stdout, stderr), for destructuring.
    pub fn into_parts(self) -> (i32, String, String) {
        (self.code(), self.stdout, self.stderr)
    }
}

/// How long a tool under test may run before the test fails (and kills
/// it): far beyond any right run, so only a hang reaches it.
pub const RUN_LIMIT: Duration = Duration::from_secs(120);
/// How long a test waits for the next line a tool should print.
pub const LINE_LIMIT: Duration = Duration::from_secs(10);

/// Runs `command` with no stdin and collects a [`Run`], failing the test
/// (with what it printed) if it runs past [`RUN_LIMIT`].
pub fn run(command: &mut Command) -> Run {
    Running::start(command).finish()
}

/// A tool started by a test: its stdout and stderr are read as lines while
/// it runs, and every wait on it has a deadline. It runs in a process group
/// of its own, which is killed when a deadline passes.
pub struct Running {
    pub child: std::process::Child,
    pub started: Instant,
    stdout: std::sync::mpsc::Receiver<String>,
    stderr: std::sync::mpsc::Receiver<String>,
    /// Lines taken so far, for the failure message.
    seen: Vec<String>,
}

impl Running {
    pub fn start(command: &mut Command) -> Running {
        use std::os::unix::process::CommandExt;
        use std::process::Stdio;
        let started = Instant::now();
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {command:?}: {err}"));
        let stdout = lines_of(child.stdout.take().unwrap());
        let stderr = lines_of(child.stderr.take().unwrap());
        Running { child, started, stdout, stderr, seen: Vec::new() }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line on stdout; fails at [`LINE_LIMIT`] with what came.
    pub fn next_line(&mut self) -> String {
        self.next_from_stdout(true)
    }

    /// The next line on stderr; fails at [`LINE_LIMIT`] with what came.
    pub fn next_stderr_line(&mut self) -> String {
        self.next_from_stdout(false)
    }

    fn next_from_stdout(&mut self, stdout: bool) -> String {
        let stream = if stdout { &self.stdout } else { &self.stderr };
        match stream.recv_timeout(LINE_LIMIT) {
            Ok(line) => {
                let line = line.trim_end_matches('\n').to_string();
                self.seen.push(line.clone());
                line
            }
            Err(_) => {
                let which = if stdout { "stdout" } else { "stderr" };
                self.fail(&format!("no further line on {which} within {LINE_LIMIT:?}"))
            }
        }
    }

    /// Reads stdout until a line equals `expected`; fails at [`LINE_LIMIT`].
    pub fn wait_for_line(&mut self, expected: &str) {
        let deadline = Instant::now() + LINE_LIMIT;
        loop {
            match self.stdout.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
                Ok(line) if line.trim_end_matches('\n') == expected => return,
                Ok(line) => self.seen.push(line.trim_end_matches('\n').to_string()),
                Err(_) => self.fail(&format!("the line {expected:?} did not come within {LINE_LIMIT:?}")),
            }
        }
    }

    /// Sends `signal` to `pid` (this tool, or a process it started).
    pub fn signal(&self, pid: i32, signal: i32) {
        // SAFETY: kill(2) with a PID of a process this test started.
        assert_eq!(unsafe { nix::libc::kill(pid, signal) }, 0, "kill {pid} {signal}");
    }

    /// Waits for the exit within [`RUN_LIMIT`]; the Run's output is what
    /// was not taken as lines before.
    pub fn finish(self) -> Run {
        self.finish_within(RUN_LIMIT)
    }

    pub fn finish_within(mut self, limit: Duration) -> Run {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            if self.started.elapsed() > limit {
                self.fail(&format!("it did not finish within {limit:?}"));
            }
            std::thread::sleep(Duration::from_millis(2));
        };
        let elapsed = self.started.elapsed();
        // A process it left behind may hold the pipes: a little grace, then
        // whatever arrived.
        let drain = |lines: &std::sync::mpsc::Receiver<String>| {
            let until = Instant::now() + Duration::from_secs(2);
            let mut text = String::new();
            while let Ok(line) = lines.recv_timeout(until.saturating_duration_since(Instant::now())) {
                text.push_str(&line);
            }
            text
        };
        Run { status, stdout: drain(&self.stdout), stderr: drain(&self.stderr), elapsed }
    }

    /// Kills the process group and fails the test with what was printed.
    fn fail(&mut self, why: &str) -> ! {
        // SAFETY: kill(2) on the process group this test started.
        unsafe { nix::libc::kill(-(self.child.id() as i32), nix::libc::SIGKILL) };
        let _ = self.child.wait();
        let rest = |lines: &std::sync::mpsc::Receiver<String>| lines.try_iter().collect::<String>();
        panic!(
            "{why}; lines taken:\n{}\nstdout left:\n{}\nstderr left:\n{}",
            self.seen.join("\n"),
            rest(&self.stdout),
            rest(&self.stderr)
        );
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        // A test that ends early (an assertion) leaves nothing running.
        if self.child.try_wait().ok().flatten().is_none() {
            // SAFETY: kill(2) on the process group this test started.
            unsafe { nix::libc::kill(-(self.child.id() as i32), nix::libc::SIGKILL) };
            let _ = self.child.wait();
        }
    }
}

/// A thread that turns a pipe into lines on a channel (lossy UTF-8), each
/// with its `\n` if it had one, so that the text is kept exactly.
fn lines_of(pipe: impl std::io::Read + Send + 'static) -> std::sync::mpsc::Receiver<String> {
    let (send, receive) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut reader = std::io::BufReader::new(pipe);
        let mut line = Vec::new();
        while std::io::BufRead::read_until(&mut reader, b'\n', &mut line).is_ok_and(|read| read > 0) {
            let text = String::from_utf8_lossy(&line).into_owned();
            if send.send(text).is_err() {
                return;
            }
            line.clear();
        }
    });
    receive
}
