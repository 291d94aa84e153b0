//! PID 1's job, or a subreaper's: run the command as a child in its own
//! process group (the terminal's foreground group when there is one),
//! forward signals to it, reap every zombie, and once the main child has
//! exited give the remaining processes SIGTERM and a grace period before
//! SIGKILL, so that background workers can finish their cleanup.

use std::ffi::OsString;
use std::time::Instant;

use nix::libc;
use nix::unistd::{ForkResult, Pid};
use venvkit_common::diag::Diag;
use venvkit_common::{exec, exit, signals};

use crate::config::Config;
use crate::sigset::{name, SignalSet};

/// What to run: argv, the `KEY=VALUE` environment, and the PATH to search.
pub struct Launch {
    pub argv: Vec<OsString>,
    pub env: Vec<OsString>,
    pub path: OsString,
}

/// Every signal entrypoint takes delivery of. SIGKILL and SIGSTOP cannot be
/// caught; SIGTTIN and SIGTTOU are ignored so that a background write or
/// read on a `stty tostop` terminal never stops entrypoint itself.
fn handled_signals() -> SignalSet {
    (1..=signals::MAX_SIGNAL)
        .filter(|&s| ![libc::SIGKILL, libc::SIGSTOP, libc::SIGTTIN, libc::SIGTTOU].contains(&s))
        .fold(SignalSet::EMPTY, SignalSet::with)
}

/// Runs `launch` under supervision and returns the exit code to report;
/// Err when supervision cannot start.
pub fn supervise(launch: &Launch, config: &Config, diag: Diag) -> Result<i32, String> {
    let as_init = std::process::id() == 1;
    if !as_init {
        nix::sys::prctl::set_child_subreaper(true).map_err(|err| format!("cannot become a child subreaper: {err}"))?;
    }
    let handled = handled_signals();
    handled.block();
    // Blocked signals with a default action stay pending until waited for;
    // ignored ones would be discarded, even if the parent ignored them.
    handled.signals().for_each(signals::set_default);
    signals::ignore(libc::SIGTTIN);
    signals::ignore(libc::SIGTTOU);

    let owns_terminal = in_terminal_foreground();
    if as_init {
        lead_own_process_group(owns_terminal);
    }
    // SAFETY: entrypoint is single-threaded here; the child only sets up its
    // process group and signal state, then execs or exits.
    let child = match unsafe { nix::unistd::fork() } {
        Ok(ForkResult::Child) => exec_child(launch, owns_terminal),
        Ok(ForkResult::Parent { child }) => child,
        Err(err) => return Err(format!("cannot fork: {err}")),
    };
    // Also done in the child: whichever runs first, signals to the group work.
    let _ = nix::unistd::setpgid(child, child);
    diag.verbose(format_args!("started {} as PID {child}", launch.argv[0].to_string_lossy()));
    close_inherited_descriptors();
    let code = Supervisor::new(child, config, diag, as_init, owns_terminal, handled).run();
    if owns_terminal {
        // Hand the terminal back to our own group, which had it before.
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
    }
    Ok(code)
}

/// A container runtime starts PID 1 as the leader of its own process group.
/// Started by `unshare --fork` or `nsenter`, PID 1 is in its parent's group,
/// which lies outside the namespace (getpgrp() is 0 there): it could not
/// take the terminal back while the command is stopped. So PID 1 leads a
/// group of its own, with the terminal if it had it (SIGTTOU is ignored).
fn lead_own_process_group(owns_terminal: bool) {
    let me = nix::unistd::getpid();
    if nix::unistd::getpgrp() == me || nix::unistd::setpgid(me, me).is_err() {
        return;
    }
    if owns_terminal {
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), me);
    }
}

/// Whether stdin is a terminal whose foreground group is ours: only then is
/// the terminal ours to hand to the command (a backgrounded entrypoint must
/// not take it from the shell that started it).
fn in_terminal_foreground() -> bool {
    nix::unistd::isatty(std::io::stdin()).unwrap_or(false)
        && nix::unistd::tcgetpgrp(std::io::stdin()).is_ok_and(|group| group == nix::unistd::getpgrp())
}

/// What the runtime handed PID 1 for the command is the command's: once it
/// runs, PID 1 keeps only stdin, stdout and stderr. A copy of a socket
/// activation listener or of a pipe kept here would outlive the command's
/// close of it (a peer would never see EOF, a closed listener would still
/// take connections). close_range(2) is one call whatever the descriptor
/// limit (containers can have one near 10^9); before Linux 5.9, the open
/// descriptors are read from /proc/self/fd.
fn close_inherited_descriptors() {
    // SAFETY: closes descriptors this process does not use from here on.
    if unsafe { libc::syscall(libc::SYS_close_range, 3u32, u32::MAX, 0u32) } == 0 {
        return;
    }
    let open: Vec<i32> = std::fs::read_dir("/proc/self/fd")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse().ok())
        .filter(|fd| *fd > 2)
        .collect();
    for fd in open {
        // SAFETY: as above; the directory's own descriptor is gone already (EBADF).
        unsafe { libc::close(fd) };
    }
}

/// systemd's socket activation names the process the passed sockets are
/// for (LISTEN_PID, sd_listen_fds(3)): handed to PID 1, they are for the
/// command, which checks LISTEN_PID against its own PID and would ignore them.
fn listen_pid_for_this_process(env: &[OsString]) -> Vec<OsString> {
    let parent = format!("LISTEN_PID={}", nix::unistd::getppid());
    env.iter()
        .map(
            |entry| if *entry == *parent { format!("LISTEN_PID={}", std::process::id()).into() } else { entry.clone() },
        )
        .collect()
}

fn exec_child(launch: &Launch, owns_terminal: bool) -> ! {
    let _ = nix::unistd::setpgid(Pid::from_raw(0), Pid::from_raw(0));
    // Make the child's group the terminal's foreground group, so that Ctrl-C
    // reaches it and job control works; SIGTTOU is still blocked here.
    if owns_terminal {
        let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
    }
    signals::restore_dispositions();
    SignalSet::EMPTY.set_as_mask();
    let env = listen_pid_for_this_process(&launch.env);
    let failure = crate::launch::with_hint(&launch.argv, exec::exec(&launch.argv, &env, &launch.path));
    venvkit_common::diag::emit(crate::TOOL, &failure);
    // SAFETY: _exit skips the parent's atexit handlers and stdio buffers.
    unsafe { libc::_exit(failure.code) }
}

struct Supervisor<'a> {
    child: Pid,
    config: &'a Config,
    diag: Diag,
    as_init: bool,
    /// The command was given the terminal: take it back while the command
    /// is stopped (no shell is there to), give it again when it goes on.
    owns_terminal: bool,
    /// The main child is stopped (SIGTSTP, SIGSTOP, a background read).
    child_stopped: bool,
    handled: SignalSet,
    /// The main child's exit code (128+N for a signal) once it has exited.
    main_exit: Option<i32>,
    /// When to SIGKILL the child's group (ENTRYPOINT_KILL_AFTER).
    kill_at: Option<Instant>,
    /// When the drain's grace period ends.
    grace_ends: Option<Instant>,
    killed_the_rest: bool,
}

impl<'a> Supervisor<'a> {
    fn new(
        child: Pid,
        config: &'a Config,
        diag: Diag,
        as_init: bool,
        owns_terminal: bool,
        handled: SignalSet,
    ) -> Supervisor<'a> {
        Supervisor {
            child,
            config,
            diag,
            as_init,
            owns_terminal,
            child_stopped: false,
            handled,
            main_exit: None,
            kill_at: None,
            grace_ends: None,
            killed_the_rest: false,
        }
    }

    fn run(mut self) -> i32 {
        loop {
            let timeout = self.next_deadline().map(|at| at.saturating_duration_since(Instant::now()));
            match self.handled.wait(timeout) {
                Some(received) if received.signal == libc::SIGCHLD => {}
                Some(received) if received.is_self_inflicted() => {
                    self.diag.verbose(format_args!("ignoring {}, caused by entrypoint itself", name(received.signal)));
                }
                Some(received) => self.forward(received.signal),
                None => self.on_deadline(),
            }
            // Reap after every wake-up: SIGCHLDs coalesce, one may stand for many.
            let no_children_left = self.reap();
            if let Some(code) = self.main_exit {
                if no_children_left {
                    return self.reported(code);
                }
                if self.grace_ends.is_none() {
                    self.start_drain(code);
                }
            }
        }
    }

    fn next_deadline(&self) -> Option<Instant> {
        let kill = self.kill_at.filter(|_| self.main_exit.is_none());
        let grace = self.grace_ends.filter(|_| !self.killed_the_rest);
        kill.into_iter().chain(grace).min()
    }

    fn forward(&mut self, signal: i32) {
        if self.main_exit.is_some() && signal == libc::SIGTSTP {
            // Stopping every process mid-cleanup would stall the drain.
            return;
        }
        if self.main_exit.is_some() {
            self.diag.verbose(format_args!("passing {} to the remaining processes", name(signal)));
            self.signal_the_rest(signal);
            return;
        }
        let target = if self.config.signal_group { -self.child.as_raw() } else { self.child.as_raw() };
        self.diag.verbose(format_args!("forwarding {} to {}", name(signal), describe_target(target)));
        // SAFETY: kill(2) with a PID or negated group ID and a signal number.
        unsafe { libc::kill(target, signal) };
        // A stopped command cannot act on a signal meant to end it (it stays
        // pending): continue it, as a shell would for `kill %1`.
        if self.child_stopped && (ENDING.contains(&signal) || signal == libc::SIGCONT) {
            self.resume();
        }
        let stops = signal == libc::SIGTERM || signal == libc::SIGINT;
        if let (true, Some(after), None) = (stops, self.config.kill_after, self.kill_at) {
            self.kill_at = Some(Instant::now() + after);
        }
    }

    fn on_deadline(&mut self) {
        let now = Instant::now();
        if self.main_exit.is_none() && self.kill_at.is_some_and(|at| at <= now) {
            self.diag.verbose(format_args!("still running after ENTRYPOINT_KILL_AFTER: sending SIGKILL"));
            // SAFETY: kill(2) on the child's group and on the child itself.
            unsafe {
                libc::kill(-self.child.as_raw(), libc::SIGKILL);
                libc::kill(self.child.as_raw(), libc::SIGKILL);
            }
            self.kill_at = None;
        }
        if !self.killed_the_rest && self.grace_ends.is_some_and(|at| at <= now) {
            self.diag.verbose(format_args!("grace period over: sending SIGKILL to the remaining processes"));
            self.signal_the_rest(libc::SIGKILL);
            self.killed_the_rest = true;
        }
    }

    /// The command's group goes on, with the terminal if it had it.
    fn resume(&mut self) {
        if self.owns_terminal {
            let _ = nix::unistd::tcsetpgrp(std::io::stdin(), self.child);
        }
        self.diag.verbose("continuing the stopped command (SIGCONT)");
        // SAFETY: kill(2) on the child's group and on the child itself.
        unsafe {
            libc::kill(-self.child.as_raw(), libc::SIGCONT);
            libc::kill(self.child.as_raw(), libc::SIGCONT);
        }
    }

    /// Collects every exited child, and notes the main child's stops and
    /// continues; true when no child is left at all.
    fn reap(&mut self) -> bool {
        loop {
            let mut status = 0;
            // SAFETY: waitpid(2) into a local; WNOHANG never blocks.
            let pid = unsafe { libc::waitpid(-1, &mut status, libc::WNOHANG | libc::WUNTRACED | libc::WCONTINUED) };
            match pid {
                0 => return false,
                -1 if nix::errno::Errno::last() == nix::errno::Errno::EINTR => continue,
                -1 => return true,
                pid if libc::WIFSTOPPED(status) || libc::WIFCONTINUED(status) => {
                    if pid == self.child.as_raw() {
                        self.child_stopped = libc::WIFSTOPPED(status);
                        self.on_stop_or_continue(status);
                    }
                }
                pid if pid == self.child.as_raw() => {
                    let code = exit_code(status);
                    self.diag.verbose(format_args!("main process {pid} exited: {}", describe_status(status)));
                    self.main_exit = Some(code);
                }
                pid => self.diag.verbose(format_args!("reaped PID {pid}: {}", describe_status(status))),
            }
        }
    }

    fn on_stop_or_continue(&mut self, status: i32) {
        if !self.child_stopped {
            self.diag.verbose("the command was continued");
            return;
        }
        // With the terminal back, Ctrl-C and Ctrl-\ reach entrypoint, which
        // passes them on and continues the command. SIGTTOU is ignored here.
        if self.owns_terminal {
            let _ = nix::unistd::tcsetpgrp(std::io::stdin(), nix::unistd::getpgrp());
        }
        self.diag.verbose(format_args!("the command was stopped by {}", name(libc::WSTOPSIG(status))));
        // A Ctrl-C typed before the terminal came back went to the stopped
        // command itself, where it waits: let it take effect.
        if pending_signals(self.child.as_raw()).is_some_and(|pending| ENDING.iter().any(|&s| pending.contains(s))) {
            self.diag.verbose("a signal to end the command is pending");
            self.resume();
        }
    }

    fn start_drain(&mut self, code: i32) {
        let grace = self.config.grace;
        self.diag.verbose(format_args!(
            "main process exited ({code}); sending SIGTERM to the remaining processes, SIGKILL in {:?}",
            grace
        ));
        self.signal_the_rest(libc::SIGTERM);
        // A stopped process cannot run its SIGTERM handler until continued.
        self.signal_the_rest(libc::SIGCONT);
        self.grace_ends = Some(Instant::now() + grace);
    }

    /// Signals every other process: as PID 1 everything in the namespace,
    /// as a subreaper every descendant.
    fn signal_the_rest(&self, signal: i32) {
        if self.as_init {
            // SAFETY: kill(-1) from PID 1 reaches all processes but PID 1 itself.
            unsafe { libc::kill(-1, signal) };
            return;
        }
        for pid in descendants(std::process::id() as i32) {
            // SAFETY: kill(2) on a process found in /proc; if it is gone, ESRCH.
            unsafe { libc::kill(pid, signal) };
        }
    }

    fn reported(&self, code: i32) -> i32 {
        if self.config.remap_exit.contains(code) {
            self.diag.verbose(format_args!("exit code {code} reported as 0 (ENTRYPOINT_REMAP_EXIT)"));
            return exit::SUCCESS;
        }
        code
    }
}

/// Signals that end a command by default, and that a stopped command must
/// be continued to act on.
const ENDING: [i32; 4] = [libc::SIGHUP, libc::SIGINT, libc::SIGQUIT, libc::SIGTERM];

/// The signals pending for a process (its own and its threads'), from
/// /proc/PID/status's ShdPnd and SigPnd masks.
fn pending_signals(pid: i32) -> Option<SignalSet> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mask = |field: &str| {
        let line = status.lines().find_map(|line| line.strip_prefix(field))?;
        u64::from_str_radix(line.trim(), 16).ok()
    };
    Some(SignalSet::from_bits(mask("ShdPnd:")? | mask("SigPnd:")?))
}

/// The code a shell would report: the exit status, or 128+N for signal N.
fn exit_code(status: i32) -> i32 {
    if libc::WIFSIGNALED(status) {
        exit::for_signal(libc::WTERMSIG(status))
    } else {
        libc::WEXITSTATUS(status)
    }
}

fn describe_status(status: i32) -> String {
    if libc::WIFSIGNALED(status) {
        format!("killed by {}", name(libc::WTERMSIG(status)))
    } else {
        format!("exit code {}", libc::WEXITSTATUS(status))
    }
}

fn describe_target(target: i32) -> String {
    if target < 0 {
        format!("process group {}", -target)
    } else {
        format!("PID {target}")
    }
}

/// All processes below `root`, from the parent PIDs in /proc/*/stat.
fn descendants(root: i32) -> Vec<i32> {
    let parents: Vec<(i32, i32)> = std::fs::read_dir("/proc")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| entry.file_name().to_str()?.parse::<i32>().ok())
        .filter_map(|pid| Some((pid, parent_of(pid)?)))
        .collect();
    let mut found = vec![root];
    let mut index = 0;
    while index < found.len() {
        let parent = found[index];
        found.extend(parents.iter().filter(|(_, ppid)| *ppid == parent).map(|(pid, _)| *pid));
        index += 1;
    }
    found.remove(0);
    found
}

fn parent_of(pid: i32) -> Option<i32> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; it ends at the last ')'.
    let after_name = &stat[stat.rfind(')')? + 1..];
    after_name.split_whitespace().nth(1)?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn exit_codes_follow_the_shell() {
        assert_eq!(exit_code(3 << 8), 3);
        assert_eq!(exit_code(libc::SIGTERM), 143);
        assert_eq!(exit_code(libc::SIGKILL | 0x80), 137);
    }

    #[test]
    fn descendants_are_found_through_proc() {
        let mut child = std::process::Command::new("sh")
            .args(["-c", "sleep 5 & wait"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let me = std::process::id() as i32;
        let mut found = Vec::new();
        for _ in 0..200 {
            found = descendants(me);
            if found.len() >= 2 {
                break;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        assert!(found.contains(&(child.id() as i32)), "{found:?}");
        assert!(found.len() >= 2, "the grandchild is missing: {found:?}");
        for pid in &found {
            // SAFETY: kill(2) on processes this test started.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        child.wait().unwrap();
    }
}
