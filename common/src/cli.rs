//! clap, with its errors folded into the tools' one-line form and exit code 2.

use clap::error::{ContextKind, ContextValue, ErrorKind};
use clap::{CommandFactory, Parser};
use std::ffi::OsString;

use crate::exit;

/// Parses the process arguments, or exits: 0 after `--help`/`--version`, 2 with
/// one line on stderr for anything else.
pub fn parse_or_exit<T: Parser>(tool: &'static str) -> T {
    parse_from_or_exit(tool, std::env::args_os())
}

/// [`parse_or_exit`] over given arguments (a tool that rewrites a peer's
/// syntax first).
pub fn parse_from_or_exit<T, I>(tool: &'static str, args: I) -> T
where
    T: Parser,
    I: IntoIterator<Item = OsString>,
{
    match T::try_parse_from(args) {
        Ok(parsed) => parsed,
        Err(err) if matches!(err.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = err.print();
            std::process::exit(exit::SUCCESS);
        }
        Err(err) => {
            crate::diag::emit(tool, one_line::<T>(&err));
            std::process::exit(exit::USAGE);
        }
    }
}

/// clap's message as one line in plain words: what is wrong, the valid
/// values when clap knows them, the usage when an argument is missing, a
/// pointer to --help when one is unknown, and the environment variable the
/// bad value came from when it did not come from the command line.
fn one_line<T: CommandFactory>(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let mut parts: Vec<String> = Vec::new();
    let mut usage = None;
    for line in rendered.lines().map(str::trim).filter(|line| !line.is_empty()) {
        if let Some(rest) = line.strip_prefix("Usage: ") {
            usage = Some(rest.to_string());
        } else if line.starts_with("For more information") {
        } else if let Some(values) = line.strip_prefix("[possible values: ").and_then(|v| v.strip_suffix(']')) {
            parts.push(format!("(expected one of: {values})"));
        } else {
            match line.strip_prefix("tip: ") {
                Some(tip) => parts.push(format!("({tip})")),
                None => parts.push(line.strip_prefix("error: ").unwrap_or(line).to_string()),
            }
        }
    }
    let mut line = without_value_names(&parts.join(" "));
    if let Some(var) = environment_source::<T>(err) {
        line.push_str(&format!(" (from the environment variable {var})"));
    }
    match err.kind() {
        ErrorKind::MissingRequiredArgument | ErrorKind::TooFewValues => {
            line.push_str(&format!("; usage: {}", usage.unwrap_or_default()));
        }
        ErrorKind::UnknownArgument | ErrorKind::ArgumentConflict | ErrorKind::NoEquals => line.push_str("; see --help"),
        _ => {}
    }
    line
}

/// `'--format <FORMAT>'` as a user wrote it: `--format` (quoted values stay).
fn without_value_names(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut rest = line;
    while let Some(start) = rest.find('\'') {
        out.push_str(&rest[..start]);
        let quoted = &rest[start + 1..];
        let Some(end) = quoted.find('\'') else {
            rest = &rest[start..];
            break;
        };
        match quoted[..end].split_once([' ', '[']) {
            Some((option, rest)) if option.starts_with('-') && rest.contains('<') => out.push_str(option),
            _ => {
                out.push('\'');
                out.push_str(&quoted[..end]);
                out.push('\'');
            }
        }
        rest = &quoted[end + 1..];
    }
    out.push_str(rest);
    out
}

fn environment_source<T: CommandFactory>(err: &clap::Error) -> Option<String> {
    let Some(ContextValue::String(arg_display)) = err.get(ContextKind::InvalidArg) else {
        return None;
    };
    let Some(ContextValue::String(value)) = err.get(ContextKind::InvalidValue) else {
        return None;
    };
    let mut command = T::command();
    command.build();
    let arg = command.get_arguments().find(|arg| arg.to_string() == *arg_display)?;
    let var = arg.get_env()?;
    let from_env = std::env::var_os(var)? == OsString::from(value);
    let flag_given = std::env::args_os().any(|given| {
        let given = given.to_string_lossy();
        arg.get_long().is_some_and(|long| given.starts_with(&format!("--{long}")))
            || arg.get_short().is_some_and(|short| given.starts_with(&format!("-{short}")) && !given.starts_with("--"))
    });
    (from_env && !flag_given).then(|| var.to_string_lossy().into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn value_names_go_and_quoted_values_stay() {
        assert_eq!(
            without_value_names("invalid value '-1' for '--timeout <DURATION>': it is negative"),
            "invalid value '-1' for --timeout: it is negative"
        );
        assert_eq!(without_value_names("unexpected argument '--bogus' found"), "unexpected argument '--bogus' found");
        assert_eq!(without_value_names("for '--keep-cache[=<BOOL>]': no"), "for --keep-cache: no");
        assert_eq!(without_value_names("it's one quote"), "it's one quote");
    }
}
