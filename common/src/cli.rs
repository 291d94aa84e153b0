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

fn parse_from_or_exit<T, I>(tool: &'static str, args: I) -> T
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

/// clap's first line without its `error: ` label, plus the environment
/// variable the bad value came from when it did not come from the command line.
fn one_line<T: CommandFactory>(err: &clap::Error) -> String {
    let rendered = err.render().to_string();
    let first = rendered.lines().next().unwrap_or("invalid arguments");
    let mut line = first.strip_prefix("error: ").unwrap_or(first).to_string();
    if let Some(var) = environment_source::<T>(err) {
        line.push_str(&format!(" (from the environment variable {var})"));
    }
    line
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
