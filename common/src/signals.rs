//! The signal state a command inherits through exec.
//!
//! Rust's runtime sets SIGPIPE to SIG_IGN before `main`, and an ignored signal
//! survives exec: without care every command run by a venvkit tool would
//! ignore SIGPIPE (`yes | head` would spin). So the state the process was
//! started with is recorded before the runtime touches it, from `.init_array`,
//! and restored right before exec.

use nix::libc;
use std::mem::MaybeUninit;
use std::sync::atomic::{AtomicBool, Ordering};

static SIGPIPE_IGNORED_AT_START: AtomicBool = AtomicBool::new(false);
static RECORDED: AtomicBool = AtomicBool::new(false);

// Runs before Rust's runtime initialisation, in both glibc and musl builds.
// glibc passes (argc, argv, envp); a function that takes no arguments is
// called correctly under the C ABI either way.
#[used]
#[link_section = ".init_array"]
static RECORD_AT_START: extern "C" fn() = record_start_state;

extern "C" fn record_start_state() {
    let mut old = MaybeUninit::<libc::sigaction>::zeroed();
    // SAFETY: a query (null new action) into a zeroed sigaction we own.
    let queried = unsafe { libc::sigaction(libc::SIGPIPE, std::ptr::null(), old.as_mut_ptr()) };
    if queried == 0 {
        // SAFETY: sigaction succeeded, so it filled `old`.
        let old = unsafe { old.assume_init() };
        SIGPIPE_IGNORED_AT_START.store(old.sa_sigaction == libc::SIG_IGN, Ordering::Relaxed);
        RECORDED.store(true, Ordering::Relaxed);
    }
}

/// Whether SIGPIPE was ignored by whoever started this process.
pub fn sigpipe_ignored_at_start() -> bool {
    SIGPIPE_IGNORED_AT_START.load(Ordering::Relaxed)
}

/// Puts SIGPIPE back to what the parent gave this process. Call right before
/// exec (or in a forked child); other handled signals are reset by exec itself.
pub fn restore_sigpipe() {
    // If the hook did not run we cannot know the parent's choice: default is
    // what nearly every parent gives, and what a command expects.
    let ignored = RECORDED.load(Ordering::Relaxed) && sigpipe_ignored_at_start();
    let action = if ignored { libc::SIG_IGN } else { libc::SIG_DFL };
    // SAFETY: setting a disposition of SIG_IGN or SIG_DFL has no handler to run.
    unsafe {
        libc::signal(libc::SIGPIPE, action);
    }
}
