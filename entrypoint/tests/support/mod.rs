//! Fixtures for entrypoint's integration tests: the real binary, as PID 1 of
//! a fresh PID namespace (`unshare --pid --fork --mount-proc`), under a pty,
//! and scratch virtualenvs.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::io::Read;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

// Not every test binary uses every shared fixture.
#[allow(unused_imports)]
pub use venvkit_suites::fixtures::{children_of, eventually, run, Run, Running, Scratch};

pub fn require_root() {
    venvkit_suites::fixtures::require_root("PID and mount namespaces")
}

/// The test's own fixture: a virtualenv layout.
pub trait VenvFixture {
    fn venv(&self, name: &str, prompt: Option<&str>) -> PathBuf;
}

impl VenvFixture for Scratch {
    /// pyvenv.cfg and a `bin/python` that says which python it is, like a
    /// venv copied into an image.
    fn venv(&self, name: &str, prompt: Option<&str>) -> PathBuf {
        let config = match prompt {
            Some(prompt) => format!("home = /usr/bin\nprompt = '{prompt}'\n"),
            None => "home = /usr/bin\n".to_string(),
        };
        self.write_mode(&format!("{name}/pyvenv.cfg"), config, 0o644);
        self.write_mode(&format!("{name}/bin/python"), "#!/bin/sh\necho \"venv python: $0\"\n", 0o755);
        self.path(name)
    }
}

/// `ENTRYPOINT_BIN` (make test points it at the static release build), else
/// cargo's debug build.
pub fn binary() -> PathBuf {
    match std::env::var_os("ENTRYPOINT_BIN").filter(|path| !path.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => assert_cmd::cargo::cargo_bin("entrypoint"),
    }
}

const VARIABLES: &[&str] = &[
    "ENTRYPOINT_VENV",
    "VIRTUAL_ENV",
    "ENTRYPOINT_GRACE",
    "ENTRYPOINT_KILL_AFTER",
    "ENTRYPOINT_SIGNAL_GROUP",
    "ENTRYPOINT_REMAP_EXIT",
    "ENTRYPOINT_SUBREAPER",
    "ENTRYPOINT_VERBOSE",
    "VIRTUAL_ENV_PROMPT",
];

fn clean(command: &mut Command) -> &mut Command {
    for var in VARIABLES {
        command.env_remove(var);
    }
    command
}

/// entrypoint as an ordinary process.
pub fn plain() -> Command {
    let mut command = Command::new(binary());
    clean(&mut command);
    command
}

/// entrypoint as PID 1 of a new PID namespace with its own /proc.
pub fn as_pid1() -> Command {
    as_pid1_running(&binary())
}

/// `program` as PID 1 of a new PID namespace (a starter that execs
/// entrypoint), with entrypoint's variables cleared.
pub fn as_pid1_running(program: &Path) -> Command {
    let mut command = Command::new("unshare");
    command.args(["--pid", "--fork", "--mount-proc", "--kill-child"]).arg(program);
    clean(&mut command);
    command
}

/// The PID that signals must go to: entrypoint itself, or for a PID 1 run,
/// unshare's child (PID 1 inside, this PID outside).
pub fn entrypoint_pid(running: &Running, as_pid1: bool) -> i32 {
    if !as_pid1 {
        return running.pid() as i32;
    }
    let mut found = Vec::new();
    assert!(eventually(Duration::from_secs(2), || {
        found = children_of(running.pid());
        !found.is_empty()
    }));
    found[0] as i32
}

/// The real interpreter behind `python3` (not a pyenv shim script).
pub fn real_python() -> PathBuf {
    let output = Command::new("python3").args(["-c", "import sys; print(sys.executable)"]).output().unwrap();
    PathBuf::from(String::from_utf8(output.stdout).unwrap().trim())
}

pub fn os(text: &str) -> &OsStr {
    OsStr::new(text)
}

pub fn exists(path: &Path) -> bool {
    path.exists()
}

/// A command on a fresh pseudo-terminal that is its controlling terminal,
/// as `docker run -it` gives PID 1.
pub struct OnPty {
    pub child: Child,
    master: std::fs::File,
    screen: std::sync::Arc<std::sync::Mutex<Vec<u8>>>,
}

impl OnPty {
    pub fn spawn(command: &mut Command) -> OnPty {
        use std::os::unix::process::CommandExt;
        let pty = nix::pty::openpty(None, None).unwrap();
        let slave = std::fs::File::from(pty.slave);
        command.stdin(slave.try_clone().unwrap()).stdout(slave.try_clone().unwrap()).stderr(slave);
        // SAFETY: setsid and TIOCSCTTY between fork and exec touch no shared state.
        unsafe {
            command.pre_exec(|| {
                nix::unistd::setsid()?;
                if nix::libc::ioctl(0, nix::libc::TIOCSCTTY, 0) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command.spawn().unwrap();
        let master = std::fs::File::from(pty.master);
        let screen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let mut reader = master.try_clone().unwrap();
        let shared = std::sync::Arc::clone(&screen);
        std::thread::spawn(move || {
            let mut buffer = [0u8; 4096];
            while let Ok(read @ 1..) = reader.read(&mut buffer) {
                shared.lock().unwrap().extend_from_slice(&buffer[..read]);
            }
        });
        OnPty { child, master, screen }
    }

    pub fn screen(&self) -> String {
        String::from_utf8_lossy(&self.screen.lock().unwrap()).into_owned()
    }

    /// Waits until the terminal shows `text`; panics with the screen if not.
    pub fn expect(&self, text: &str, limit: Duration) {
        assert!(eventually(limit, || self.screen().contains(text)), "never saw {text:?}; screen:\n{}", self.screen());
    }

    pub fn type_bytes(&mut self, bytes: &[u8]) {
        use std::io::Write;
        self.master.write_all(bytes).unwrap();
    }

    /// The exit code, waiting at most `limit` (then killing it).
    pub fn exit_code_within(&mut self, limit: Duration) -> Option<i32> {
        let started = Instant::now();
        while started.elapsed() < limit {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status.code().unwrap_or_else(|| 128 + status.signal().unwrap_or(0)));
            }
            std::thread::sleep(Duration::from_millis(2));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}
