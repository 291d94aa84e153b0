//! Configuration, from the environment only: entrypoint takes no options, so
//! that any CMD passes through untouched.

use std::time::Duration;

use venvkit_common::duration;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Config {
    /// How long the other processes get between SIGTERM and SIGKILL once
    /// the main child has exited.
    pub grace: Duration,
    /// After forwarding SIGTERM or SIGINT, SIGKILL the child's group if it
    /// is still alive after this long.
    pub kill_after: Option<Duration>,
    /// Forward signals to the child's process group, not the child alone.
    pub signal_group: bool,
    /// Exit codes reported as 0.
    pub remap_exit: ExitCodes,
    /// Supervise (fork, reap) even when not PID 1.
    pub subreaper: bool,
    pub verbose: bool,
}

impl Default for Config {
    fn default() -> Config {
        Config {
            grace: Duration::from_secs(5),
            kill_after: None,
            signal_group: false,
            remap_exit: ExitCodes::default(),
            subreaper: false,
            verbose: false,
        }
    }
}

impl Config {
    /// Reads `ENTRYPOINT_*` through `lookup`; the first invalid value is an
    /// error naming the variable.
    pub fn from_lookup(lookup: impl Fn(&str) -> Option<std::ffi::OsString>) -> Result<Config, String> {
        let read = |name: &str| -> Result<Option<String>, String> {
            match lookup(name) {
                None => Ok(None),
                Some(value) => value.into_string().map(Some).map_err(|_| format!("{name} is not valid UTF-8")),
            }
        };
        let mut config = Config::default();
        if let Some(value) = read("ENTRYPOINT_GRACE")? {
            config.grace = duration::parse(&value).map_err(|why| format!("ENTRYPOINT_GRACE: {why}"))?;
        }
        if let Some(value) = read("ENTRYPOINT_KILL_AFTER")? {
            config.kill_after =
                parse_optional_duration(&value).map_err(|why| format!("ENTRYPOINT_KILL_AFTER: {why}"))?;
        }
        if let Some(value) = read("ENTRYPOINT_SIGNAL_GROUP")? {
            config.signal_group = parse_flag("ENTRYPOINT_SIGNAL_GROUP", &value)?;
        }
        if let Some(value) = read("ENTRYPOINT_REMAP_EXIT")? {
            config.remap_exit = parse_exit_codes(&value).map_err(|why| format!("ENTRYPOINT_REMAP_EXIT: {why}"))?;
        }
        if let Some(value) = read("ENTRYPOINT_SUBREAPER")? {
            config.subreaper = parse_flag("ENTRYPOINT_SUBREAPER", &value)?;
        }
        if let Some(value) = read("ENTRYPOINT_VERBOSE")? {
            config.verbose = parse_flag("ENTRYPOINT_VERBOSE", &value)?;
        }
        Ok(config)
    }

    pub fn from_env() -> Result<Config, String> {
        Config::from_lookup(|name| std::env::var_os(name))
    }
}

/// `off`, `0` or empty disable; anything else is a duration.
fn parse_optional_duration(value: &str) -> Result<Option<Duration>, String> {
    match value {
        "" | "off" | "0" => Ok(None),
        value => duration::parse(value).map(Some),
    }
}

fn parse_flag(name: &str, value: &str) -> Result<bool, String> {
    venvkit_common::flag::parse(value).map_err(|why| format!("{name}: {why}"))
}

/// A set of exit codes, 0-255: a bit each (a BTreeSet's sorting costs
/// entrypoint kilobytes of its size budget).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ExitCodes([u64; 4]);

impl ExitCodes {
    pub fn contains(&self, code: i32) -> bool {
        u8::try_from(code).is_ok_and(|code| self.0[usize::from(code / 64)] & 1 << (code % 64) != 0)
    }

    fn insert(&mut self, code: u8) {
        self.0[usize::from(code / 64)] |= 1 << (code % 64);
    }
}

fn parse_exit_codes(value: &str) -> Result<ExitCodes, String> {
    let mut codes = ExitCodes::default();
    for code in value.split(',').map(str::trim).filter(|code| !code.is_empty()) {
        let code = code
            .parse::<u8>()
            .map_err(|_| format!("invalid exit code '{code}' (expected numbers 0-255, comma separated)"))?;
        codes.insert(code);
    }
    Ok(codes)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn config(vars: &[(&str, &str)]) -> Result<Config, String> {
        let vars: HashMap<String, String> = vars.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Config::from_lookup(|name| vars.get(name).map(Into::into))
    }

    #[test]
    fn defaults_hold_without_variables() {
        assert_eq!(config(&[]), Ok(Config::default()));
        assert_eq!(Config::default().grace, Duration::from_secs(5));
    }

    #[test]
    fn each_variable_is_read() {
        let read = config(&[
            ("ENTRYPOINT_GRACE", "500ms"),
            ("ENTRYPOINT_KILL_AFTER", "2"),
            ("ENTRYPOINT_SIGNAL_GROUP", "1"),
            ("ENTRYPOINT_REMAP_EXIT", "143, 130"),
            ("ENTRYPOINT_SUBREAPER", "true"),
            ("ENTRYPOINT_VERBOSE", "1"),
        ])
        .unwrap();
        assert_eq!(read.grace, Duration::from_millis(500));
        assert_eq!(read.kill_after, Some(Duration::from_secs(2)));
        assert!(read.signal_group && read.subreaper && read.verbose);
        assert!(read.remap_exit.contains(130) && read.remap_exit.contains(143));
        assert!(!read.remap_exit.contains(0) && !read.remap_exit.contains(144) && !read.remap_exit.contains(256));
    }

    #[test]
    fn invalid_values_name_their_variable() {
        for (name, value) in [
            ("ENTRYPOINT_GRACE", "5x"),
            ("ENTRYPOINT_KILL_AFTER", "-1"),
            ("ENTRYPOINT_SIGNAL_GROUP", "maybe"),
            ("ENTRYPOINT_REMAP_EXIT", "143,256"),
            ("ENTRYPOINT_REMAP_EXIT", "TERM"),
            ("ENTRYPOINT_SUBREAPER", "2"),
            ("ENTRYPOINT_VERBOSE", "y"),
        ] {
            let err = config(&[(name, value)]).expect_err(value);
            assert!(err.starts_with(name), "{err}");
        }
    }

    #[test]
    fn kill_after_can_be_turned_off_explicitly() {
        assert_eq!(config(&[("ENTRYPOINT_KILL_AFTER", "off")]).unwrap().kill_after, None);
        assert_eq!(config(&[("ENTRYPOINT_KILL_AFTER", "0")]).unwrap().kill_after, None);
    }
}
