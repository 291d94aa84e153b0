//! Signal sets through the kernel's own calls. The libc wrappers hide the
//! signals they reserve for themselves (musl: 32-34), but a container
//! runtime can send any of 1-64 to PID 1, and each must reach the child.

use nix::libc;
use std::time::Duration;

/// A set of signals 1-64, bit `n - 1` for signal `n`, as the kernel wants it.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalSet(u64);

const KERNEL_SIGSET_SIZE: usize = 8;

impl SignalSet {
    pub const EMPTY: SignalSet = SignalSet(0);

    /// The set whose bit `n - 1` is signal `n`, as /proc's masks and the
    /// kernel write it.
    pub fn from_bits(bits: u64) -> SignalSet {
        SignalSet(bits)
    }

    pub fn with(self, signal: i32) -> SignalSet {
        SignalSet(self.0 | 1 << (signal - 1))
    }

    pub fn contains(self, signal: i32) -> bool {
        (1..=64).contains(&signal) && self.0 & (1 << (signal - 1)) != 0
    }

    pub fn signals(self) -> impl Iterator<Item = i32> {
        (1..=64).filter(move |&signal| self.contains(signal))
    }

    /// Blocks the set in this thread; returns the mask before.
    pub fn block(self) -> SignalSet {
        set_mask(libc::SIG_BLOCK, self)
    }

    /// Makes this exactly the thread's mask; returns the mask before.
    pub fn set_as_mask(self) -> SignalSet {
        set_mask(libc::SIG_SETMASK, self)
    }

    /// Waits for one of the (blocked) signals in the set, at most `timeout`.
    /// None when the time ran out or the wait was interrupted (the caller
    /// then works out again how long is left).
    pub fn wait(self, timeout: Option<Duration>) -> Option<Received> {
        let timespec = timeout.map(|t| libc::timespec {
            tv_sec: t.as_secs().min(i64::MAX as u64) as _,
            tv_nsec: libc::c_long::from(t.subsec_nanos() as i32),
        });
        let timespec_ptr = timespec.as_ref().map_or(std::ptr::null(), |t| t as *const libc::timespec);
        let mut info = std::mem::MaybeUninit::<libc::siginfo_t>::zeroed();
        // SAFETY: the set, siginfo and timespec outlive the call.
        let signal = unsafe {
            libc::syscall(
                libc::SYS_rt_sigtimedwait,
                &self.0 as *const u64,
                info.as_mut_ptr(),
                timespec_ptr,
                KERNEL_SIGSET_SIZE,
            )
        };
        if signal <= 0 {
            return None;
        }
        // SAFETY: the kernel filled the siginfo for the signal it returned.
        let info = unsafe { info.assume_init() };
        // SAFETY: si_pid is meaningful for signals sent by a process, and
        // zero-initialised otherwise.
        let sender = unsafe { info.si_pid() };
        Some(Received { signal: signal as i32, from_kernel: info.si_code > 0, sender })
    }
}

/// A signal taken from the pending set, with where it came from.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Received {
    pub signal: i32,
    /// Raised by the kernel (SI_KERNEL, a fault, a terminal, a write to a
    /// closed pipe) rather than sent with kill(2) or sigqueue(3).
    pub from_kernel: bool,
    pub sender: libc::pid_t,
}

impl Received {
    /// A signal entrypoint caused itself: a write to a closed stderr
    /// (SIGPIPE), a file size limit (SIGXFSZ), a bad system call (SIGSYS).
    /// Forwarding those would kill the command for entrypoint's trouble.
    pub fn is_self_inflicted(&self) -> bool {
        let synchronous = [libc::SIGPIPE, libc::SIGXFSZ, libc::SIGSYS].contains(&self.signal);
        (synchronous && self.from_kernel) || (!self.from_kernel && self.sender == std::process::id() as libc::pid_t)
    }
}

fn set_mask(how: libc::c_int, set: SignalSet) -> SignalSet {
    let mut old = 0u64;
    // SAFETY: both pointers are to u64s we own, of the kernel's sigset size.
    unsafe {
        libc::syscall(libc::SYS_rt_sigprocmask, how, &set.0 as *const u64, &mut old as *mut u64, KERNEL_SIGSET_SIZE);
    }
    SignalSet(old)
}

/// The name a user knows a signal by, for log lines.
pub fn name(signal: i32) -> String {
    const NAMES: [&str; 31] = [
        "HUP", "INT", "QUIT", "ILL", "TRAP", "ABRT", "BUS", "FPE", "KILL", "USR1", "SEGV", "USR2", "PIPE", "ALRM",
        "TERM", "STKFLT", "CHLD", "CONT", "STOP", "TSTP", "TTIN", "TTOU", "URG", "XCPU", "XFSZ", "VTALRM", "PROF",
        "WINCH", "IO", "PWR", "SYS",
    ];
    match signal {
        1..=31 => format!("SIG{}", NAMES[signal as usize - 1]),
        other => format!("signal {other}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sets_hold_the_kernels_bit_layout() {
        let set = SignalSet::EMPTY.with(1).with(15).with(64);
        assert_eq!(set.0, 1 | 1 << 14 | 1 << 63);
        assert!(set.contains(15) && !set.contains(2));
        assert_eq!(set.signals().collect::<Vec<_>>(), [1, 15, 64]);
    }

    #[test]
    fn a_blocked_signal_sent_to_ourselves_is_waited_for() {
        let set = SignalSet::EMPTY.with(libc::SIGUSR2);
        let before = set.block();
        // SAFETY: raising a blocked signal only marks it pending.
        unsafe { libc::syscall(libc::SYS_tkill, libc::syscall(libc::SYS_gettid), libc::SIGUSR2) };
        let received = set.wait(Some(Duration::from_secs(1))).unwrap();
        assert_eq!(received.signal, libc::SIGUSR2);
        assert!(!received.from_kernel);
        assert!(received.is_self_inflicted(), "we sent it to ourselves");
        assert_eq!(set.wait(Some(Duration::from_millis(10))), None);
        before.set_as_mask();
    }

    #[test]
    fn a_kernel_sigpipe_is_self_inflicted_and_a_sent_one_is_not() {
        let from_kernel = Received { signal: libc::SIGPIPE, from_kernel: true, sender: 0 };
        assert!(from_kernel.is_self_inflicted());
        let sent = Received { signal: libc::SIGPIPE, from_kernel: false, sender: 1 };
        assert!(!sent.is_self_inflicted());
        let terminal = Received { signal: libc::SIGINT, from_kernel: true, sender: 0 };
        assert!(!terminal.is_self_inflicted(), "Ctrl-C from the terminal is forwarded");
    }

    #[test]
    fn names_are_the_familiar_ones() {
        assert_eq!(name(15), "SIGTERM");
        assert_eq!(name(28), "SIGWINCH");
        assert_eq!(name(40), "signal 40");
    }
}
