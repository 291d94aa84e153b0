//! Waiting for dpkg's lock, as a second apt or an unattended-upgrades run
//! holds it: the locks are fcntl(2) locks, so their holder's PID is known.

use std::os::fd::AsFd;
use std::time::{Duration, Instant};

use nix::fcntl::{fcntl, FcntlArg};
use nix::libc;
use venvkit_common::diag::Diag;

/// The frontend lock apt takes first, then dpkg's own.
pub const LOCKS: &[&str] = &["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock"];

/// The PID holding one of the locks, if any.
pub fn holder() -> Option<i32> {
    LOCKS.iter().find_map(|path| {
        let file = std::fs::OpenOptions::new().read(true).write(true).open(path).ok()?;
        let mut probe = libc::flock {
            l_type: libc::F_WRLCK as i16,
            l_whence: libc::SEEK_SET as i16,
            l_start: 0,
            l_len: 0,
            l_pid: 0,
        };
        fcntl(file.as_fd(), FcntlArg::F_GETLK(&mut probe)).ok()?;
        (probe.l_type != libc::F_UNLCK as i16).then_some(probe.l_pid)
    })
}

/// Waits until no one holds the locks; Err(pid) if `timeout` runs out.
pub fn wait(timeout: Duration, diag: Diag) -> Result<(), i32> {
    let started = Instant::now();
    let mut told = false;
    loop {
        let Some(pid) = holder() else { return Ok(()) };
        if started.elapsed() >= timeout {
            return Err(pid);
        }
        if !told {
            diag.info(format_args!("waiting for the dpkg lock held by PID {pid} (up to {}s)", timeout.as_secs_f64()));
            told = true;
        }
        std::thread::sleep(Duration::from_millis(100).min(timeout.saturating_sub(started.elapsed())));
    }
}
