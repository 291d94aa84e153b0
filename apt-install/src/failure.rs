//! Why apt could not do it, as values: each kind names what a user must
//! know (the package, the version, the source) and whether another attempt
//! may go better. The one-line message is their `Display`.

use std::fmt;

use crate::lock::Held;

#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Failure {
    /// apt knows no such package.
    UnknownPackage(String),
    /// The version asked for is not available; `available` is what
    /// `apt-cache madison` lists, when it was asked.
    NoVersion { package: String, version: String, available: Option<Vec<String>> },
    /// A virtual or replaced package: apt names what provides it.
    NoCandidate { package: String, providers: Vec<String> },
    /// Dependencies that cannot be satisfied (apt's first reason).
    Unsatisfiable { requested: Vec<String>, detail: String },
    /// A maintainer script failed: which package, which script (`postinst`),
    /// how it ended, and its last line of output, if any.
    Script { package: String, script: &'static str, end: ScriptEnd, said: Option<String> },
    /// dpkg failed on a package otherwise (a file conflict): what it said.
    Dpkg { package: Option<String>, detail: String },
    /// A lock apt needs is held by another process (apt met it, or the
    /// wait for it ran out).
    Locked(Held),
    /// A download failed for a reason another attempt may not meet.
    Download { reason: String },
    /// `apt-get update` failed for these sources (each as sources.list
    /// names it), with apt's reason for each.
    Update { failed: Vec<(String, String)>, transient: bool },
    /// Anything else apt said, its first error line.
    Apt { message: String, transient: bool },
    /// apt-get could not be started.
    CannotRun(String),
    /// A transient failure that lasted through every attempt.
    GaveUp { last: Box<Failure>, attempts: u32 },
}

/// How a maintainer script ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ScriptEnd {
    Status(i32),
    /// Killed by a signal (dpkg names it).
    Signal(String),
}

impl Failure {
    /// Worth another attempt: the network or a mirror.
    pub fn is_transient(&self) -> bool {
        match self {
            Failure::Download { .. } => true,
            Failure::Update { transient, .. } | Failure::Apt { transient, .. } => *transient,
            _ => false,
        }
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Failure::UnknownPackage(package) => write!(f, "unknown package {package}"),
            Failure::NoVersion { package, version, available } => {
                write!(f, "{package} has no version {version}")?;
                match available.as_deref() {
                    None => Ok(()),
                    Some([]) => f.write_str(" (no version of it is available)"),
                    Some(versions) => write!(f, "; available: {}", versions.join(", ")),
                }
            }
            Failure::NoCandidate { package, providers } if providers.is_empty() => {
                write!(f, "{package} has no installation candidate")
            }
            Failure::NoCandidate { package, providers } => {
                write!(f, "{package} has no installation candidate; it is provided by: {}", providers.join(", "))
            }
            Failure::Unsatisfiable { requested, detail } => {
                write!(f, "cannot install {}: {detail}", requested.join(" "))
            }
            Failure::Script { package, script, end, said } => {
                let what = match *script {
                    "preinst" => "pre-installation script",
                    "postinst" => "post-installation script",
                    "prerm" => "pre-removal script",
                    "postrm" => "post-removal script",
                    other => other,
                };
                match end {
                    ScriptEnd::Status(status) => {
                        write!(f, "{package}: its {script} ({what}) exited with status {status}")?
                    }
                    ScriptEnd::Signal(signal) => {
                        write!(f, "{package}: its {script} ({what}) was killed by a signal ({signal})")?
                    }
                }
                match said {
                    Some(said) => write!(f, "; its last words: {said}"),
                    None => Ok(()),
                }
            }
            Failure::Locked(held) => held.fmt(f),
            Failure::Dpkg { package, detail } => {
                write!(f, "{} failed: {detail}", package.as_deref().unwrap_or("installation"))
            }
            Failure::Download { reason } => write!(f, "download failed: {reason}"),
            Failure::Update { failed, .. } => {
                let each: Vec<String> = failed.iter().map(|(source, reason)| format!("{source}: {reason}")).collect();
                write!(f, "cannot fetch {}", each.join("; "))
            }
            Failure::Apt { message, .. } => f.write_str(message),
            Failure::CannotRun(why) => write!(f, "cannot run apt-get: {why}"),
            Failure::GaveUp { last, attempts: 1 } => write!(f, "{last} (gave up after 1 attempt)"),
            Failure::GaveUp { last, attempts } => write!(f, "{last} (gave up after {attempts} attempts)"),
        }
    }
}

impl From<std::io::Error> for Failure {
    fn from(err: std::io::Error) -> Failure {
        Failure::CannotRun(venvkit_common::io::plain(&err))
    }
}
