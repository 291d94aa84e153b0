//! The signal state a command inherits through exec.
//!
//! Rust's runtime sets SIGPIPE to SIG_IGN before `main`, tokio installs
//! handlers, and entrypoint ignores SIGTTIN/SIGTTOU. An ignored signal
//! survives exec, and a handler replaced the parent's choice: without care a
//! command run by a venvkit tool would ignore SIGPIPE (`yes | head` would
//! spin) or lose an ignore its real parent set (`nohup`). So the dispositions
//! the process was started with are recorded before the runtime touches them,
//! from `.init_array`, and restored right before exec.

use nix::libc;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Bit `n - 1` set: signal `n` was ignored when the process started.
static IGNORED_AT_START: AtomicU64 = AtomicU64::new(0);
static RECORDED: AtomicBool = AtomicBool::new(false);

/// The highest signal number on Linux.
pub const MAX_SIGNAL: i32 = 64;

// Runs before Rust's runtime initialisation, in both glibc and musl builds.
// glibc passes (argc, argv, envp); a function that takes no arguments is
// called correctly under the C ABI either way.
#[used]
#[link_section = ".init_array"]
static RECORD_AT_START: extern "C" fn() = record_start_state;

extern "C" fn record_start_state() {
    let mut ignored = 0u64;
    for signal in 1..=MAX_SIGNAL {
        if disposition_is_ignore(signal) {
            ignored |= bit(signal);
        }
    }
    IGNORED_AT_START.store(ignored, Ordering::Relaxed);
    RECORDED.store(true, Ordering::Relaxed);
}

fn bit(signal: i32) -> u64 {
    1u64 << (signal - 1)
}

/// Asks the kernel directly: libc wrappers refuse the signals they reserve
/// for themselves (musl: 32-34), and those can be ignored by a parent too.
fn disposition_is_ignore(signal: i32) -> bool {
    let mut old = MaybeUninit::<KernelSigaction>::zeroed();
    // SAFETY: a query (null new action) into a zeroed struct of the kernel's layout.
    let result = unsafe {
        libc::syscall(libc::SYS_rt_sigaction, signal, std::ptr::null::<KernelSigaction>(), old.as_mut_ptr(), 8usize)
    };
    // SAFETY: on success the kernel filled `old`; on failure it stays zeroed.
    result == 0 && unsafe { old.assume_init() }.handler == libc::SIG_IGN
}

/// `struct sigaction` as the rt_sigaction system call takes it on x86_64.
#[repr(C)]
struct KernelSigaction {
    handler: libc::sighandler_t,
    flags: libc::c_ulong,
    restorer: usize,
    mask: u64,
}

fn set_disposition(signal: i32, handler: libc::sighandler_t) {
    let action = KernelSigaction { handler, flags: 0, restorer: 0, mask: 0 };
    // SAFETY: SIG_IGN and SIG_DFL have no handler code to run, so no restorer is needed.
    unsafe {
        libc::syscall(libc::SYS_rt_sigaction, signal, &action, std::ptr::null_mut::<KernelSigaction>(), 8usize);
    }
}

/// Whether `signal` was ignored by whoever started this process.
fn ignored_at_start(signal: i32) -> bool {
    // If the hook did not run we cannot know the parent's choice: default is
    // what nearly every parent gives, and what a command expects.
    RECORDED.load(Ordering::Relaxed) && IGNORED_AT_START.load(Ordering::Relaxed) & bit(signal) != 0
}

/// Puts every signal's disposition back to what the parent gave this
/// process: ignored if it was ignored then, default otherwise. Call right
/// before exec, or in a forked child.
pub fn restore_dispositions() {
    for signal in 1..=MAX_SIGNAL {
        if signal == libc::SIGKILL || signal == libc::SIGSTOP {
            continue;
        }
        let handler = if ignored_at_start(signal) { libc::SIG_IGN } else { libc::SIG_DFL };
        set_disposition(signal, handler);
    }
}

/// Sets `signal` to its default action (so that, blocked, it stays pending
/// instead of being discarded as an ignored signal would be).
pub fn set_default(signal: i32) {
    set_disposition(signal, libc::SIG_DFL);
}

/// Ignores `signal` in this process only; [`restore_dispositions`] undoes it.
pub fn ignore(signal: i32) {
    set_disposition(signal, libc::SIG_IGN);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_start_state_is_recorded_before_rusts_sigpipe_ignore() {
        assert!(RECORDED.load(Ordering::Relaxed), "the .init_array hook did not run");
        // The test harness was started by cargo, whose std resets SIGPIPE to
        // default for its children; our own std ignored it afterwards, and the
        // record must not have seen that.
        assert!(!ignored_at_start(libc::SIGPIPE));
    }
}
