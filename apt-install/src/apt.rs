//! Running apt-get non-interactively and reading what went wrong from its
//! messages: whether a failure is worth another attempt (a mirror's 503, a
//! dropped connection) or final (an unknown package, a missing version, a
//! maintainer script that failed), and which package or source it names.

use std::process::{Command, Stdio};
use std::time::Duration;

use venvkit_common::diag::Diag;

use crate::failure::{Failure, ScriptEnd};
use crate::lock::Held;
use crate::sources::{self, Source};

/// What apt-get printed, both streams.
pub struct Output {
    pub success: bool,
    pub text: String,
}

/// apt-get with the options every call shares: no questions, no progress
/// bars, keep existing configuration files, wait for dpkg's lock.
pub fn apt_get(arguments: &[String], lock_timeout: Duration, diag: Diag) -> std::io::Result<Output> {
    let mut command = Command::new("apt-get");
    command
        .args([
            "-q",
            "-y",
            "-o",
            "Dpkg::Use-Pty=0",
            "-o",
            "Dpkg::Options::=--force-confdef",
            "-o",
            "Dpkg::Options::=--force-confold",
        ])
        .arg("-o")
        .arg(format!("DPkg::Lock::Timeout={}", lock_timeout.as_secs()))
        // apt's own retries come without growing delays and hide the
        // attempts from the log; apt-install retries transient failures.
        .args(["-o", "Acquire::Retries=0"])
        .args(arguments)
        // Only for apt's children: nothing is written to the image's config.
        .env("DEBIAN_FRONTEND", "noninteractive")
        .env("APT_LISTCHANGES_FRONTEND", "none")
        .stdin(Stdio::null());
    in_english(&mut command);
    diag.verbose(format_args!("running apt-get {}", arguments.join(" ")));
    let output = command.output()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    for line in text.lines() {
        diag.verbose(format_args!("apt-get: {line}"));
    }
    Ok(Output { success: output.status.success(), text })
}

/// The candidate version's paragraph of `package` as `apt-cache show`
/// prints it, if apt knows the package.
pub fn apt_cache_show(package: &str) -> Option<String> {
    let mut command = Command::new("apt-cache");
    command.args(["show", "--no-all-versions", package]).stdin(Stdio::null());
    in_english(&mut command);
    let output = command.output().ok()?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    (output.status.success() && text.starts_with("Package:")).then_some(text)
}

/// Failures are read from apt's and dpkg's English messages: a locale in
/// the image (LANG, or LANGUAGE, which gettext honours even over LC_ALL
/// unless the locale is C) must not translate them.
pub(crate) fn in_english(command: &mut Command) -> &mut Command {
    command.env("LC_ALL", "C.UTF-8").env_remove("LANGUAGE")
}

/// Errors that another attempt may not meet.
const TRANSIENT: &[&str] = &[
    " 500 ",
    " 502 ",
    " 503 ",
    " 504 ",
    " 429 ",
    "Temporary failure resolving",
    "Could not connect",
    "Connection timed out",
    "Connection failed",
    "Connection reset",
    "Hash Sum mismatch",
    "File has unexpected size",
    "Undetermined Error",
    "Unable to connect",
    "Something wicked happened",
    "Clearsigned file isn't valid",
    "Network is unreachable",
    "Could not resolve",
];

/// The sources `apt-get update` could not fetch, each named whole as the
/// sources list has it, with apt's reason: from its `Err:N URI SUITE ...`
/// lines and the indented reason after each.
pub(crate) fn failed_sources(text: &str, configured: &[Source]) -> Vec<(String, String)> {
    let mut failed: Vec<(String, String)> = Vec::new();
    let mut lines = text.lines().peekable();
    while let Some(line) = lines.next() {
        let Some(rest) = line.strip_prefix("Err:") else { continue };
        let mut words = rest.split_whitespace().skip(1);
        let (Some(uri), Some(suite)) = (words.next(), words.next()) else { continue };
        // `bookworm/main amd64 Packages` names a suite's component; a flat
        // repository's suite is a path ending in `/` (`./`).
        let suite = if suite.ends_with('/') { suite } else { suite.split('/').next().unwrap_or(suite) };
        let source = sources::find(configured, uri, suite).map_or_else(|| format!("{uri} {suite}"), Source::to_string);
        let reason = match lines.peek() {
            Some(next) if next.starts_with(' ') => lines.next().unwrap_or_default().trim(),
            _ => "failed",
        };
        // "[IP: 127.0.0.1 80]" says nothing the source does not.
        let reason = reason.split(" [IP: ").next().unwrap_or(reason).trim().to_string();
        if !failed.iter().any(|(known, _)| *known == source) {
            failed.push((source, reason));
        }
    }
    failed
}

/// Reads the failure of `apt-get update`: which sources failed, and how.
pub(crate) fn update_failure(text: &str, configured: &[Source]) -> Failure {
    if let Some(locked) = lock_failure(text) {
        return locked;
    }
    let transient = is_transient(text);
    let failed = failed_sources(text, configured);
    if failed.is_empty() {
        let first_error = text.lines().find(|line| line.starts_with("E: ")).unwrap_or("apt-get update failed");
        return Failure::Apt { message: first_error.trim_start_matches("E: ").to_string(), transient };
    }
    Failure::Update { failed, transient }
}

/// "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 42 (apt-get)".
fn lock_failure(text: &str) -> Option<Failure> {
    let rest = after(text, "E: Could not get lock ")?;
    let (path, holder) = rest.split_once(". It is held by process ").unwrap_or((rest.trim_end_matches('.'), ""));
    let (pid, command) = holder.split_once(' ').unwrap_or((holder, ""));
    let command = command.trim_matches(['(', ')', ' ']);
    Some(Failure::Locked(Held {
        path: path.into(),
        pid: pid.parse().unwrap_or(0),
        command: (!command.is_empty()).then(|| command.to_string()),
    }))
}

/// What dpkg said about a maintainer script that failed:
/// `dpkg: error processing package P (--configure):` then
/// ` installed P package post-installation script subprocess returned error exit status 1`.
fn script_failure(text: &str) -> Option<Failure> {
    let lines: Vec<&str> = text.lines().collect();
    let at = lines.iter().position(|line| line.contains(" script subprocess "))?;
    let line = lines[at].trim();
    let script = [
        ("pre-installation", "preinst"),
        ("post-installation", "postinst"),
        ("pre-removal", "prerm"),
        ("post-removal", "postrm"),
    ]
    .iter()
    .find(|(words, _)| line.contains(words))
    .map(|(_, script)| *script)?;
    let package = lines[..at]
        .iter()
        .rev()
        .find_map(|l| l.strip_prefix("dpkg: error processing package "))
        .or_else(|| line.split(" package ").next()?.split_whitespace().last())
        .and_then(|rest| rest.split_whitespace().next())?
        .to_string();
    let end = match line.split_once("returned error exit status ") {
        Some((_, status)) => ScriptEnd::Status(status.trim().parse().ok()?),
        None => ScriptEnd::Signal(line.split_once("killed by signal ")?.1.trim_matches(['(', ')', ' ']).to_string()),
    };
    // The script's own last line comes just before dpkg's report, unless
    // that is apt's or dpkg's progress.
    let report = lines[..at].iter().rposition(|l| l.starts_with("dpkg: error processing package")).unwrap_or(at);
    let progress = ["Setting up ", "Unpacking ", "Preparing to ", "Selecting ", "(Reading ", "Processing "];
    let said = report
        .checked_sub(1)
        .map(|before| lines[before].trim())
        .filter(|l| !l.is_empty() && !progress.iter().any(|p| l.starts_with(p)) && !l.starts_with("dpkg: "))
        .map(|l| l.chars().take(200).collect());
    Some(Failure::Script { package, script, end, said })
}

/// Reads the failure of `apt-get install`.
pub(crate) fn install_failure(text: &str, requested: &[String]) -> Failure {
    if let Some(locked) = lock_failure(text) {
        return locked;
    }
    if let Some(failure) = script_failure(text) {
        return failure;
    }
    if let Some(package) = after(text, "E: Unable to locate package ") {
        return Failure::UnknownPackage(package.to_string());
    }
    if let Some(rest) = after(text, "E: Version '") {
        // E: Version '9.9' for 'tree' was not found
        let mut parts = rest.split('\'');
        let version = parts.next().unwrap_or_default().to_string();
        let package = parts.nth(1).unwrap_or_default().to_string();
        return Failure::NoVersion { package, version, available: None };
    }
    if let Some(rest) = after(text, "E: Package '") {
        let package = rest.split('\'').next().unwrap_or_default().to_string();
        return Failure::NoCandidate { package, providers: provided_by(text) };
    }
    if text.contains("Unable to correct problems") || text.contains("unmet dependencies") {
        let detail = text
            .lines()
            .find(|line| line.contains(" Depends: ") || line.contains(" Conflicts: ") || line.contains(" Breaks: "));
        let detail = detail.map(str::trim).unwrap_or("unmet dependencies").to_string();
        return Failure::Unsatisfiable { requested: requested.to_vec(), detail };
    }
    if text.contains("Sub-process /usr/bin/dpkg returned an error code") {
        // dpkg's reason is the indented line after its "error processing".
        let mut lines = text.lines().skip_while(|line| !line.starts_with("dpkg: error processing package "));
        let package = lines
            .next()
            .and_then(|line| line.strip_prefix("dpkg: error processing package "))
            .and_then(|rest| rest.split_whitespace().next())
            .map(str::to_string);
        let detail = lines.next().map(str::trim).unwrap_or("dpkg returned an error").to_string();
        return Failure::Dpkg { package, detail };
    }
    if text.lines().any(|line| line.starts_with("E: Failed to fetch")) && is_transient(text) {
        return Failure::Download { reason: reason(text) };
    }
    let first_error = text.lines().find(|line| line.starts_with("E: ")).map(|line| line.trim_start_matches("E: "));
    Failure::Apt { message: first_error.unwrap_or("apt-get install failed").to_string(), transient: is_transient(text) }
}

/// Adds the versions apt knows to a "has no version" failure.
pub fn with_available_versions(failure: Failure) -> Failure {
    let Failure::NoVersion { package, version, available: None } = failure else { return failure };
    let output = in_english(Command::new("apt-cache").args(["madison", &package])).output();
    let text = output.map(|o| String::from_utf8_lossy(&o.stdout).into_owned()).unwrap_or_default();
    Failure::NoVersion { package, version, available: Some(available_versions(&text)) }
}

/// The versions in `apt-cache madison` output, each once, as listed.
fn available_versions(madison: &str) -> Vec<String> {
    let mut versions: Vec<String> = Vec::new();
    for version in madison.lines().filter_map(|line| line.split('|').nth(1)).map(str::trim) {
        if !versions.iter().any(|v| v == version) {
            versions.push(version.to_string());
        }
    }
    versions
}

fn is_transient(text: &str) -> bool {
    text.lines()
        .filter(|line| {
            line.starts_with("E: ") || line.starts_with("W: ") || line.starts_with("Err:") || line.starts_with(' ')
        })
        .any(|line| TRANSIENT.iter().any(|pattern| line.contains(pattern)))
}

/// The reason of the first failed fetch: "503  Service Unavailable".
fn reason(text: &str) -> String {
    let failed =
        text.lines().find(|line| line.starts_with("E: Failed to fetch") || line.starts_with("W: Failed to fetch"));
    let Some(line) = failed else { return "see apt-get's output (-v)".into() };
    let after_url: Vec<&str> = line.split_whitespace().skip_while(|word| !word.contains("://")).skip(1).collect();
    if after_url.is_empty() {
        line.to_string()
    } else {
        after_url.join(" ")
    }
}

fn after<'t>(text: &'t str, prefix: &str) -> Option<&'t str> {
    text.lines().find_map(|line| line.strip_prefix(prefix)).map(str::trim)
}

/// The packages apt lists as providing a virtual package.
fn provided_by(text: &str) -> Vec<String> {
    let mut lines = text.lines();
    let mut found = Vec::new();
    while let Some(line) = lines.next() {
        if line.contains("is a virtual package provided by:") || line.contains("following packages replace it:") {
            for provider in lines.by_ref().take_while(|l| l.starts_with("  ")) {
                found.extend(provider.split_whitespace().next().map(str::to_string));
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_unknown_package_is_permanent_and_named() {
        let text = "Reading package lists...\nE: Unable to locate package venvkit-nope\n";
        assert_eq!(install_failure(text, &[]), Failure::UnknownPackage("venvkit-nope".into()));
    }

    #[test]
    fn a_virtual_package_lists_its_providers() {
        let text = "Package mail-transport-agent is a virtual package provided by:\n  postfix 3.7.11-0+deb12u1\n  exim4-daemon-light 4.96-15\nYou should explicitly select one to install.\n\nE: Package 'mail-transport-agent' has no installation candidate\n";
        let failure = install_failure(text, &[]);
        assert_eq!(
            failure.to_string(),
            "mail-transport-agent has no installation candidate; it is provided by: postfix, exim4-daemon-light"
        );
        assert!(!failure.is_transient());
    }

    #[test]
    fn a_missing_version_is_permanent() {
        let text = "E: Version '9.9' for 'tree' was not found\n";
        let failure = install_failure(text, &[]);
        assert_eq!(failure, Failure::NoVersion { package: "tree".into(), version: "9.9".into(), available: None });
        assert_eq!(failure.to_string(), "tree has no version 9.9");
    }

    #[test]
    fn madison_lists_each_version_once() {
        let text = " tree |  2.1.0-1 | http://deb.debian.org/debian bookworm/main amd64 Packages\n tree |  2.1.0-1 | http://x bookworm/main Sources\n tree | 2.0.2-1 | http://y Packages\n";
        assert_eq!(available_versions(text), ["2.1.0-1", "2.0.2-1"]);
    }

    #[test]
    fn a_503_while_downloading_is_transient() {
        let text = "Err:1 http://127.0.0.1:8080 ./ hello 1.0\n  503  Service Unavailable\nE: Failed to fetch http://127.0.0.1:8080/./hello_1.0_all.deb  503  Service Unavailable [IP: 127.0.0.1 8080]\n";
        let failure = install_failure(text, &[]);
        assert!(failure.is_transient() && failure.to_string().contains("503"), "{failure:?}");
    }

    #[test]
    fn a_failing_source_during_update_is_named() {
        let text = "Err:1 http://127.0.0.1:9 ./ InRelease\n  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)\nE: Failed to fetch http://127.0.0.1:9/./InRelease  Could not connect to 127.0.0.1:9 (127.0.0.1). - connect (111: Connection refused)\nE: Some index files failed to download.\n";
        let configured = [Source { uri: "http://127.0.0.1:9".into(), suite: "./".into(), components: vec![] }];
        let failure = update_failure(text, &configured);
        assert!(failure.to_string().starts_with("cannot fetch http://127.0.0.1:9/ ./: Could not connect"));
        assert!(failure.is_transient());
    }

    #[test]
    fn a_suite_without_a_release_file_is_named_whole_with_its_reason() {
        let text = "Ign:1 http://127.0.0.1:8080/debian no-such-suite InRelease\nErr:2 http://127.0.0.1:8080/debian no-such-suite Release\n  404  Not Found [IP: 127.0.0.1 8080]\nReading package lists...\nE: The repository 'http://127.0.0.1:8080/debian no-such-suite Release' does not have a Release file.\n";
        let configured = [Source {
            uri: "http://127.0.0.1:8080/debian".into(),
            suite: "no-such-suite".into(),
            components: vec!["main".into()],
        }];
        let failure = update_failure(text, &configured);
        assert_eq!(
            failure.to_string(),
            "cannot fetch http://127.0.0.1:8080/debian/ no-such-suite main: 404  Not Found"
        );
        assert!(!failure.is_transient());
    }

    #[test]
    fn a_lock_taken_meanwhile_names_its_holder() {
        let text = "E: Could not get lock /var/lib/apt/lists/lock. It is held by process 42 (apt-get)\nE: Unable to lock directory /var/lib/apt/lists/\n";
        let failure = update_failure(text, &[]);
        assert_eq!(failure.to_string(), "/var/lib/apt/lists/lock is held by PID 42 (apt-get)");
    }

    #[test]
    fn a_failing_script_names_the_script_its_status_and_its_last_words() {
        let text = "Setting up venvkit-fails (1.0) ...\nfailing on purpose\ndpkg: error processing package venvkit-fails (--configure):\n installed venvkit-fails package post-installation script subprocess returned error exit status 3\nErrors were encountered while processing:\n venvkit-fails\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n";
        let failure = install_failure(text, &[]);
        assert_eq!(
            failure.to_string(),
            "venvkit-fails: its postinst (post-installation script) exited with status 3; its last words: failing on purpose"
        );
        let killed = "dpkg: error processing archive /var/cache/apt/archives/x_1.0_all.deb (--unpack):\n new x package pre-installation script subprocess was killed by signal (Killed)\n";
        assert_eq!(
            install_failure(killed, &[]).to_string(),
            "x: its preinst (pre-installation script) was killed by a signal (Killed)"
        );
    }

    #[test]
    fn a_failing_maintainer_script_is_permanent_and_names_the_package() {
        let text = "Setting up venvkit-fails (1.0) ...\ndpkg: error processing package venvkit-fails (--configure):\n installed venvkit-fails package post-installation script subprocess returned error exit status 1\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n";
        let failure = install_failure(text, &[]);
        assert!(failure.to_string().starts_with("venvkit-fails: its postinst"), "{failure:?}");
        assert!(!failure.is_transient());
    }
}
