//! docker-compose-wait's variables (<https://github.com/ufoscout/docker-compose-wait>,
//! 2.12), so that a compose file written for its `/wait` works with
//! wait-for-port: each one is honoured, or refused with exit 2; none is
//! ignored (docker-compose-wait itself falls back to its default on a bad
//! value). Where a renamed variable's old name is set too, the new name wins,
//! as there. Seconds may be written as any duration wait-for-port takes.

use std::ffi::OsString;
use std::time::Duration;

use venvkit_common::diag::Level;
use venvkit_common::duration;

/// How long to wait, as `WAIT_TIMEOUT` says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timeout {
    After(Duration),
    /// `WAIT_TIMEOUT=0`: one attempt at each target, then give up.
    FirstAttempt,
}

/// What docker-compose-wait's variables ask for; None where unset.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ComposeWait {
    /// `WAIT_TIMEOUT` (old name `WAIT_HOSTS_TIMEOUT`).
    pub timeout: Option<Timeout>,
    /// `WAIT_SLEEP_INTERVAL`.
    pub interval: Option<Duration>,
    /// `WAIT_HOST_CONNECT_TIMEOUT`.
    pub connect_timeout: Option<Duration>,
    /// `WAIT_BEFORE` (`WAIT_BEFORE_HOSTS`): a pause before the first attempt.
    pub before: Duration,
    /// `WAIT_AFTER` (`WAIT_AFTER_HOSTS`): a pause once everything is ready.
    pub after: Duration,
    /// `WAIT_PATHS`: files to wait for, as `file:` targets.
    pub paths: Vec<String>,
    /// `WAIT_COMMAND`, split as a shell splits words (nothing expanded).
    pub command: Option<Vec<OsString>>,
    /// `WAIT_LOGGER_LEVEL`: debug, info, error or off.
    pub level: Option<Level>,
}

/// Reads the variables through `lookup`; the first bad one is an error
/// naming it.
pub fn read(lookup: impl Fn(&str) -> Option<OsString>) -> Result<ComposeWait, String> {
    let text = |name: &str| -> Result<Option<String>, String> {
        match lookup(name) {
            None => Ok(None),
            Some(value) => value.into_string().map(Some).map_err(|_| format!("{name} is not valid UTF-8")),
        }
    };
    let seconds = |name: &str| -> Result<Option<Duration>, String> {
        text(name)?.map(|value| duration::parse(&value).map_err(|why| format!("{name}: {why}"))).transpose()
    };
    // The new name wins over the old one.
    let renamed = |new: &str, old: &str| -> Result<Option<Duration>, String> { Ok(seconds(new)?.or(seconds(old)?)) };
    let level = match text("WAIT_LOGGER_LEVEL")?.as_deref().map(str::to_ascii_lowercase).as_deref() {
        None => None,
        Some("debug" | "trace") => Some(Level::Verbose),
        Some("info" | "warn") => Some(Level::Normal),
        Some("error" | "off") => Some(Level::Quiet),
        Some(other) => {
            return Err(format!("WAIT_LOGGER_LEVEL: '{other}' is not a level (write debug, info, error or off)"));
        }
    };
    let command = match text("WAIT_COMMAND")? {
        None => None,
        Some(line) => {
            let words = shell_words::split(&line)
                .map_err(|_| format!("WAIT_COMMAND: '{line}' has an unclosed quote (it is split as a shell would)"))?;
            Some(words.into_iter().map(OsString::from).collect::<Vec<_>>()).filter(|words| !words.is_empty())
        }
    };
    Ok(ComposeWait {
        timeout: renamed("WAIT_TIMEOUT", "WAIT_HOSTS_TIMEOUT")?.map(|timeout| {
            if timeout.is_zero() {
                Timeout::FirstAttempt
            } else {
                Timeout::After(timeout)
            }
        }),
        interval: seconds("WAIT_SLEEP_INTERVAL")?,
        connect_timeout: seconds("WAIT_HOST_CONNECT_TIMEOUT")?,
        before: renamed("WAIT_BEFORE", "WAIT_BEFORE_HOSTS")?.unwrap_or_default(),
        after: renamed("WAIT_AFTER", "WAIT_AFTER_HOSTS")?.unwrap_or_default(),
        paths: text("WAIT_PATHS")?
            .map(|list| crate::target::split_list(&list).map(|path| format!("file:{path}")).collect())
            .unwrap_or_default(),
        command,
        level,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn read_vars(vars: &[(&str, &str)]) -> Result<ComposeWait, String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        read(|name| vars.get(name).map(Into::into))
    }

    #[test]
    fn every_variable_is_read_and_new_names_win() {
        let read = read_vars(&[
            ("WAIT_HOSTS_TIMEOUT", "5"),
            ("WAIT_TIMEOUT", "7"),
            ("WAIT_SLEEP_INTERVAL", "2"),
            ("WAIT_HOST_CONNECT_TIMEOUT", "3"),
            ("WAIT_BEFORE_HOSTS", "1"),
            ("WAIT_AFTER", "500ms"),
            ("WAIT_PATHS", "/run/a,/run/b"),
            ("WAIT_COMMAND", "python manage.py migrate --database 'the db'"),
            ("WAIT_LOGGER_LEVEL", "debug"),
        ])
        .unwrap();
        assert_eq!(read.timeout, Some(Timeout::After(Duration::from_secs(7))));
        assert_eq!(read.interval, Some(Duration::from_secs(2)));
        assert_eq!(read.connect_timeout, Some(Duration::from_secs(3)));
        assert_eq!((read.before, read.after), (Duration::from_secs(1), Duration::from_millis(500)));
        assert_eq!(read.paths, ["file:/run/a", "file:/run/b"]);
        let command: Vec<OsString> = ["python", "manage.py", "migrate", "--database", "the db"].map(Into::into).into();
        assert_eq!(read.command, Some(command));
        assert_eq!(read.level, Some(Level::Verbose));
    }

    #[test]
    fn a_zero_timeout_is_one_attempt_as_in_docker_compose_wait() {
        assert_eq!(read_vars(&[("WAIT_HOSTS_TIMEOUT", "0")]).unwrap().timeout, Some(Timeout::FirstAttempt));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (name, value) in [
            ("WAIT_TIMEOUT", "-32"),
            ("WAIT_HOSTS_TIMEOUT", "10o"),
            ("WAIT_SLEEP_INTERVAL", "x"),
            ("WAIT_LOGGER_LEVEL", "loud"),
            ("WAIT_COMMAND", "echo 'unclosed"),
        ] {
            let err = read_vars(&[(name, value)]).unwrap_err();
            assert!(err.starts_with(name), "{err}");
        }
    }
}
