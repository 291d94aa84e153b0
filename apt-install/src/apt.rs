//! Running apt-get non-interactively and reading what went wrong from its
//! messages: whether a failure is worth another attempt (a mirror's 503, a
//! dropped connection) or final (an unknown package, a missing version, a
//! maintainer script that failed), and which package or source it names.

use std::process::{Command, Stdio};
use std::time::Duration;

use venvkit_common::diag::Diag;

use crate::failure::Failure;

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
    diag.verbose(format_args!("running apt-get {}", arguments.join(" ")));
    let output = command.output()?;
    let mut text = String::from_utf8_lossy(&output.stdout).into_owned();
    text.push_str(&String::from_utf8_lossy(&output.stderr));
    for line in text.lines() {
        diag.verbose(format_args!("apt-get: {line}"));
    }
    Ok(Output { success: output.status.success(), text })
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

/// Reads the failure of `apt-get update`: which sources failed, and how.
pub fn update_failure(text: &str) -> Failure {
    let failed: Vec<&str> = text
        .lines()
        .filter(|line| {
            line.starts_with("E: Failed to fetch") || line.starts_with("W: Failed to fetch") || line.starts_with("Err:")
        })
        .collect();
    let sources: Vec<String> = failed
        .iter()
        .filter_map(|line| line.split_whitespace().find(|word| word.contains("://")))
        .map(source_of)
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let transient = is_transient(text);
    if sources.is_empty() {
        let first_error = text.lines().find(|line| line.starts_with("E: ")).unwrap_or("apt-get update failed");
        return Failure::Apt { message: first_error.trim_start_matches("E: ").to_string(), transient };
    }
    Failure::Update { sources, reason: reason(text), transient }
}

/// Reads the failure of `apt-get install`.
pub fn install_failure(text: &str, requested: &[String]) -> Failure {
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
        let script =
            text.lines().find(|line| line.contains("subprocess installed") || line.contains("script returned error"));
        let package = text
            .lines()
            .find_map(|line| line.strip_prefix("dpkg: error processing package "))
            .map(|rest| rest.split_whitespace().next().unwrap_or(rest).to_string());
        let detail = script.map(str::trim).unwrap_or("dpkg returned an error").to_string();
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
    let output = Command::new("apt-cache").args(["madison", &package]).env("LC_ALL", "C.UTF-8").output();
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

/// `http://deb.debian.org/debian/dists/bookworm/InRelease` -> the source's
/// base URL, as a user wrote it in sources.list.
fn source_of(url: &str) -> String {
    match url.find("/dists/") {
        Some(at) => url[..at].to_string(),
        None => url.rsplit_once('/').map_or(url, |(base, _)| base).to_string(),
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
        let failure = update_failure(text);
        assert!(failure.to_string().contains("http://127.0.0.1:9/."), "{failure:?}");
        assert!(failure.is_transient());
    }

    #[test]
    fn a_failing_maintainer_script_is_permanent_and_names_the_package() {
        let text = "Setting up venvkit-fails (1.0) ...\ndpkg: error processing package venvkit-fails (--configure):\n installed venvkit-fails package post-installation script subprocess returned error exit status 1\nE: Sub-process /usr/bin/dpkg returned an error code (1)\n";
        let failure = install_failure(text, &[]);
        assert!(failure.to_string().starts_with("venvkit-fails failed:"), "{failure:?}");
        assert!(!failure.is_transient());
    }
}
