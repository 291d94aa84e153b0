//! Waiting for the locks apt and dpkg take, as a second apt, an
//! unattended-upgrades run, or another build sharing an apt cache mount
//! holds them. They are fcntl(2) locks, so their holder's PID is known.
//! apt's own `DPkg::Lock::Timeout` waits only for dpkg's frontend lock; the
//! others make apt-get fail at once ("Could not get lock ...").

use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;
use venvkit_common::diag::Diag;

/// Every lock an install takes, in the order apt takes them: dpkg's frontend
/// lock and its own, the package lists' (apt-get update), the downloads'.
pub(crate) const LOCKS: &[&str] =
    &["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock"];

/// A lock someone holds: which, and who.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Held {
    pub path: PathBuf,
    pub pid: i32,
    /// The holder's command name, when /proc tells.
    pub command: Option<String>,
}

impl std::fmt::Display for Held {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} is held by PID {}", self.path.display(), self.pid)?;
        match &self.command {
            Some(command) => write!(f, " ({command})"),
            None => Ok(()),
        }
    }
}

/// The first of `locks` that someone holds, if any. A lock file that does
/// not exist yet is not held.
fn holder(locks: &[&str]) -> Option<Held> {
    locks.iter().find_map(|path| {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path).ok()?;
        let mut probe = libc::flock {
            l_type: libc::F_WRLCK as i16,
            l_whence: libc::SEEK_SET as i16,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        fcntl(file.as_fd(), FcntlArg::F_GETLK(&mut probe)).ok()?;
        (probe.l_type != libc::F_UNLCK as i16).then(|| Held {
            path: Path::new(path).to_path_buf(),
            pid: probe.l_pid,
            command: std::fs::read_to_string(format!("/proc/{}/comm", probe.l_pid)).ok().map(|c| c.trim().to_string()),
        })
    })
}

/// Waits until no one holds any of [`LOCKS`], until `deadline`; Err with
/// the holder when it passes.
pub(crate) fn wait_until(deadline: Instant, diag: Diag) -> Result<(), Held> {
    let mut told = false;
    loop {
        let Some(held) = holder(LOCKS) else { return Ok(()) };
        let now = Instant::now();
        if now >= deadline {
            return Err(held);
        }
        if !told {
            let left = deadline - now;
            diag.info(format_args!("waiting: {held} (up to {}s)", left.as_secs_f64().ceil()));
            told = true;
        }
        std::thread::sleep(Duration::from_millis(100).min(deadline - now));
    }
}
