//! One run: check the request, wait for the locks, update and install with
//! retries of transient failures, purge what this run left half-installed,
//! clean, and report one summary line. What ends the run is an [`Error`],
//! whose kind decides the exit code.

use std::path::Path;
use std::time::{Duration, Instant};

use venvkit_common::diag::Diag;
use venvkit_common::root::Root;

use crate::apt;
use crate::clean::{self, Keep};
use crate::failure::Failure;
use crate::lock::{self, Held};
use crate::request::{self, Request};
use crate::retry::RetryPolicy;
use crate::sources;
use crate::staging::{self, Staging, StagingError};
use crate::state::Snapshot;

/// What to install and how.
#[derive(Clone, Debug)]
pub struct Options {
    /// Package specifications and `.deb` files from the command line.
    pub packages: Vec<String>,
    /// Lists of them (`-` for stdin).
    pub files: Vec<String>,
    pub retry: RetryPolicy,
    pub lock_timeout: Duration,
    pub install_recommends: bool,
    pub keep_cache: bool,
    pub dry_run: bool,
    pub allow_update_errors: bool,
    pub fix_broken: bool,
    /// `--root DIR`: install into a staging root instead of this system.
    pub staging: Option<Staging>,
}

/// Why a run ended without installing.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Error {
    /// A malformed request, found before any change.
    Usage(String),
    /// Installing needs root.
    NotRoot,
    /// dpkg reports the system broken already (`dpkg --audit`).
    AlreadyBroken(String),
    /// The database could not be read.
    Database(String),
    /// A lock of apt's or dpkg's was still held when the timeout ran out.
    LockHeld { held: Held, waited: Duration },
    /// apt could not do it.
    Failed(Failure),
    /// `--root`: a package was refused or could not be unpacked; the root
    /// is unchanged.
    Staging(String),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Usage(message) | Error::Database(message) => f.write_str(message),
            Error::NotRoot => f.write_str("must be run as root: it installs packages into this system"),
            Error::AlreadyBroken(problem) => {
                write!(f, "the system is already broken ({problem}); run with --fix-broken to repair it first")
            }
            Error::LockHeld { held, waited } => write!(f, "{held}, still after {}s", waited.as_secs_f64()),
            Error::Failed(failure) => failure.fmt(f),
            Error::Staging(why) => f.write_str(why),
        }
    }
}

/// Runs the whole job on this system.
pub fn run(options: &Options, diag: Diag) -> Result<(), Error> {
    let request = request::build(&options.packages, &options.files).map_err(Error::Usage)?;
    if request.is_empty() {
        diag.info("nothing to install");
        return Ok(());
    }
    if !nix::unistd::geteuid().is_root() {
        return Err(Error::NotRoot);
    }
    if let Some(staging) = &options.staging {
        return run_staging(options, staging, &request, diag);
    }
    if !options.fix_broken {
        if let Some(problem) = audit() {
            return Err(Error::AlreadyBroken(problem));
        }
    }
    let lock_held = |held| Error::LockHeld { held, waited: options.lock_timeout };
    lock::wait_until(Instant::now() + options.lock_timeout, diag).map_err(lock_held)?;
    let root = Root::new("/");
    let keep = Keep::decide(options.keep_cache);
    let before = Snapshot::read(&root).map_err(Error::Database)?;
    let outcome = update_and_install(options, &request, diag);
    if outcome.is_err() {
        undo_unfinished(&root, &before, options, diag);
    }
    clean::clean(Path::new("/"), keep, diag);
    let attempts = outcome.map_err(|failure| match failure {
        Failure::Locked(held) => lock_held(held),
        failure => Error::Failed(failure),
    })?;
    if !options.dry_run {
        let after = Snapshot::read(&root).map_err(Error::Database)?;
        diag.info(summary(&before, &after, attempts));
    }
    Ok(())
}

/// `--root DIR`: update, resolve against what DIR (and the roots it goes
/// over) has, download, then unpack into DIR; see [`staging`].
fn run_staging(options: &Options, staging: &Staging, request: &Request, diag: Diag) -> Result<(), Error> {
    if request.items.iter().any(|item| item.ends_with(".deb")) {
        return Err(Error::Usage("--root installs from the archive only: give package names, not .deb files".into()));
    }
    if staging.root == Path::new("/") {
        return Err(Error::Usage("--root / is this system: leave --root out to install here".into()));
    }
    let lock_held = |held| Error::LockHeld { held, waited: options.lock_timeout };
    lock::wait_until(Instant::now() + options.lock_timeout, diag).map_err(lock_held)?;
    let keep = Keep::decide(options.keep_cache);
    let work = std::env::temp_dir().join(format!("apt-install-root-{}", std::process::id()));
    let outcome = stage(options, staging, request, &work, diag);
    let _ = std::fs::remove_dir_all(&work);
    clean::clean(Path::new("/"), keep, diag);
    let (added, attempts) = outcome?;
    let attempts = if attempts == 1 { "1 attempt".to_string() } else { format!("{attempts} attempts") };
    let what = match added.len() {
        0 => "nothing new installed".to_string(),
        1 => format!("installed 1 package ({})", added[0]),
        n => format!("installed {n} packages ({})", added.join(" ")),
    };
    diag.info(format_args!("{what} into {}, {attempts}", staging.root.display()));
    Ok(())
}

fn stage(
    options: &Options,
    staging: &Staging,
    request: &Request,
    work: &Path,
    diag: Diag,
) -> Result<(Vec<String>, u32), Error> {
    let io = |err: std::io::Error| Error::Staging(format!("{}: {}", work.display(), venvkit_common::io::plain(&err)));
    let archives = work.join("archives");
    std::fs::create_dir_all(archives.join("partial")).map_err(io)?;
    update(options, diag).map_err(Error::Failed)?;
    let mut candidates = std::collections::BTreeMap::new();
    for name in &staging.leave_out {
        let shown = apt::apt_cache_show(name);
        if let Some(shown) = shown {
            candidates.insert(name.clone(), shown);
        }
    }
    let status = staging::present_status(staging, &candidates).map_err(|err| match err {
        StagingError::Usage(why) => Error::Usage(why),
        other => Error::Staging(other.to_string()),
    })?;
    let status_file = work.join("status");
    std::fs::write(&status_file, status).map_err(io)?;
    let mut install = vec![
        "install".to_string(),
        "--download-only".into(),
        if options.install_recommends { "--install-recommends" } else { "--no-install-recommends" }.into(),
        "-o".into(),
        format!("Dir::State::status={}", status_file.display()),
        "-o".into(),
        format!("Dir::State::extended_states={}", work.join("extended_states").display()),
        "-o".into(),
        format!("Dir::Cache::archives={}/", archives.display()),
    ];
    if options.dry_run {
        install.push("--simulate".into());
    }
    install.push("--".into());
    install.extend(request.items.iter().cloned());
    let sleep = &mut std::thread::sleep;
    let (plan, attempts) = options
        .retry
        .run("apt-get install --download-only", diag, sleep, || {
            apt_step(&install, options, diag, |text| {
                apt::with_available_versions(apt::install_failure(text, &request.items))
            })
        })
        .map_err(|failure| match failure {
            Failure::Locked(held) => Error::LockHeld { held, waited: options.lock_timeout },
            failure => Error::Failed(failure),
        })?;
    if options.dry_run {
        let plan: String = plan.lines().filter(|l| l.starts_with("Inst ")).map(|l| format!("{l}\n")).collect();
        print!("{plan}");
        return Ok((Vec::new(), attempts));
    }
    let mut debs: Vec<std::path::PathBuf> = std::fs::read_dir(&archives)
        .map_err(io)?
        .flatten()
        .map(|entry| entry.path())
        .filter(|path| path.extension().is_some_and(|e| e == "deb"))
        .collect();
    debs.sort();
    let added = staging::unpack_into(staging, &debs, diag).map_err(|err| match err {
        StagingError::Usage(why) => Error::Usage(why),
        other => Error::Staging(other.to_string()),
    })?;
    Ok((added, attempts))
}

/// `apt-get update`, retried on transient failures; a failed source is an
/// error unless --allow-update-errors.
fn update(options: &Options, diag: Diag) -> Result<(), Failure> {
    let mut update = vec!["update".to_string()];
    if !options.allow_update_errors {
        update.push("--error-on=any".into());
    }
    let configured = sources::read(Path::new("/etc/apt"));
    let sleep = &mut std::thread::sleep;
    options
        .retry
        .run("apt-get update", diag, sleep, || {
            apt_step(&update, options, diag, |text| apt::update_failure(text, &configured))
        })
        .map(drop)
}

/// Update once, then install (or simulate); each step is retried on
/// transient failures only. Returns the attempts the install took.
fn update_and_install(options: &Options, request: &Request, diag: Diag) -> Result<u32, Failure> {
    let mut update = vec!["update".to_string()];
    if !options.allow_update_errors {
        update.push("--error-on=any".into());
    }
    let configured = sources::read(Path::new("/etc/apt"));
    let sleep = &mut std::thread::sleep;
    let updated = options.retry.run("apt-get update", diag, sleep, || {
        apt_step(&update, options, diag, |text| apt::update_failure(text, &configured))
    });
    // Allowed, a source that failed is a warning naming it, and the install
    // goes on with the others' lists.
    let ignored = match updated {
        Ok((text, _)) if options.allow_update_errors => apt::failed_sources(&text, &configured),
        Ok(_) => Vec::new(),
        Err(failure) => match (failure, options.allow_update_errors) {
            (Failure::Update { failed, .. }, true) => failed,
            (Failure::GaveUp { last, .. }, true) if matches!(*last, Failure::Update { .. }) => {
                let Failure::Update { failed, .. } = *last else { unreachable!() };
                failed
            }
            (failure, _) => return Err(failure),
        },
    };
    for (source, reason) in ignored {
        diag.info(format_args!("warning: {source}: {reason} (ignored: --allow-update-errors)"));
    }
    let mut install = vec!["install".to_string()];
    install.push(if options.install_recommends { "--install-recommends" } else { "--no-install-recommends" }.into());
    if options.fix_broken {
        install.push("--fix-broken".into());
    }
    if options.dry_run {
        install.push("--simulate".into());
    }
    install.push("--".into());
    install.extend(request.items.iter().cloned());
    let (plan, attempts) = options.retry.run("apt-get install", diag, sleep, || {
        apt_step(&install, options, diag, |text| {
            apt::with_available_versions(apt::install_failure(text, &request.items))
        })
    })?;
    if options.dry_run {
        let plan: String = plan
            .lines()
            .filter(|l| l.starts_with("Inst ") || l.starts_with("Conf "))
            .map(|l| format!("{l}\n"))
            .collect();
        print!("{plan}");
    }
    Ok(attempts)
}

/// One apt-get run; when it meets a lock another process took after the
/// wait (a race, or a build sharing the cache mount), the locks are waited
/// for again and it runs again. Returns what apt printed.
fn apt_step(
    arguments: &[String],
    options: &Options,
    diag: Diag,
    read_failure: impl Fn(&str) -> Failure,
) -> Result<String, Failure> {
    loop {
        let output = apt::apt_get(arguments, options.lock_timeout, diag)?;
        if output.success {
            return Ok(output.text);
        }
        match read_failure(&output.text) {
            Failure::Locked(held) => {
                diag.verbose(format_args!("apt-get met a lock: {held}"));
                lock::wait_until(Instant::now() + options.lock_timeout, diag).map_err(Failure::Locked)?;
            }
            failure => return Err(failure),
        }
    }
}

/// `dpkg --audit`'s first complaint, if the system is already broken.
fn audit() -> Option<String> {
    let output = apt::in_english(std::process::Command::new("dpkg").arg("--audit")).output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let first = text.lines().find(|line| !line.trim().is_empty())?;
    let packages: Vec<&str> =
        text.lines().filter(|l| l.starts_with(' ')).filter_map(|l| l.split_whitespace().next()).collect();
    Some(if packages.is_empty() { first.to_string() } else { format!("not fully installed: {}", packages.join(", ")) })
}

/// Leaves no package half-installed: those this run added and dpkg did not
/// finish are purged; one it was upgrading goes back to the version it had
/// when the archive still has it, else what is left and how to recover is
/// said.
fn undo_unfinished(root: &Root, before: &Snapshot, options: &Options, diag: Diag) {
    let Ok(now) = Snapshot::read(root) else { return };
    let unfinished: Vec<String> = now.unfinished_since(before).into_iter().map(|id| now.name(id)).collect();
    if !unfinished.is_empty() {
        diag.info(format_args!("purging what this run left half-installed: {}", unfinished.join(" ")));
        let status = apt::in_english(&mut std::process::Command::new("dpkg"))
            .args(["--purge", "--force-remove-reinstreq", "--force-depends"])
            .args(&unfinished)
            .env("DEBIAN_FRONTEND", "noninteractive")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status();
        if !status.is_ok_and(|s| s.success()) {
            diag.error(format_args!("could not purge {}: see dpkg --audit", unfinished.join(" ")));
        }
    }
    for (package, old) in now.unfinished_upgrades_since(before) {
        let (name, new) = (now.name(package), now.version(package).unwrap_or("?"));
        let downgrade =
            ["install".into(), "--allow-downgrades".into(), "--no-install-recommends".into(), format!("{name}={old}")];
        let restored = apt::apt_get(&downgrade, options.lock_timeout, diag).is_ok_and(|output| output.success);
        if restored {
            diag.info(format_args!("{name} {new} failed to install: {name} {old} is installed again"));
        } else {
            diag.error(format_args!(
                "{name} {new} is left unpacked but not configured and {old} is not available to go back to: \
                 fix the cause, then run dpkg --configure -a"
            ));
        }
    }
}

fn summary(before: &Snapshot, after: &Snapshot, attempts: u32) -> String {
    let added = after.added_since(before);
    let bytes = after.bytes().saturating_sub(before.bytes());
    let names: Vec<&str> = added.iter().map(|id| id.name.as_str()).collect();
    let packages = match added.len() {
        0 => "nothing new installed".to_string(),
        1 => format!("installed 1 package ({})", names[0]),
        n => format!("installed {n} packages ({})", names.join(" ")),
    };
    let attempts = if attempts == 1 { "1 attempt".into() } else { format!("{attempts} attempts") };
    format!("{packages}, {} added, {attempts}", human_bytes(bytes))
}

fn human_bytes(bytes: u64) -> String {
    match bytes {
        b if b >= 1 << 20 => format!("{:.1} MiB", b as f64 / f64::from(1 << 20)),
        b => format!("{:.1} KiB", b as f64 / 1024.0),
    }
}
