//! One-line diagnostics on stderr, prefixed with the tool's name, at three
//! levels: `-q` keeps only errors that end the run, `-v` explains each step.

use std::fmt::Display;
use std::io::Write;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Quiet,
    Normal,
    Verbose,
}

impl Level {
    pub fn from_flags(quiet: bool, verbose: bool) -> Level {
        match (quiet, verbose) {
            (true, _) => Level::Quiet,
            (false, true) => Level::Verbose,
            (false, false) => Level::Normal,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Diag {
    tool: &'static str,
    level: Level,
}

impl Diag {
    pub const fn new(tool: &'static str, level: Level) -> Diag {
        Diag { tool, level }
    }

    /// An error that ends the run: shown even with `-q`.
    pub fn error(&self, message: impl Display) {
        emit(self.tool, message);
    }

    /// Progress a user normally wants to see in a container log.
    pub fn info(&self, message: impl Display) {
        if self.level >= Level::Normal {
            emit(self.tool, message);
        }
    }

    /// Each step explained, for `-v`.
    pub fn verbose(&self, message: impl Display) {
        if self.level >= Level::Verbose {
            emit(self.tool, message);
        }
    }
}

/// Writes `tool: message` as one write, so that lines from concurrent tasks or
/// processes sharing the stream do not interleave. A closed stderr is ignored:
/// there is nowhere left to complain to.
pub fn emit(tool: &str, message: impl Display) {
    let line = format!("{tool}: {message}\n");
    let _ = std::io::stderr().lock().write_all(line.as_bytes());
}
