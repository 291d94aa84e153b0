//! What the venvkit tools share, so that a user who learns one tool knows the
//! others: the duration syntax, one-line diagnostics prefixed with the tool's
//! name, clap errors folded into that form, one syntax for booleans, I/O
//! errors in plain words, and exec with the exit codes a shell would give
//! (126 not executable, 127 not found).

pub mod cli;
pub mod diag;
pub mod duration;
pub mod exec;
pub mod exit;
pub mod flag;
pub mod glob;
pub mod io;
pub mod root;
pub mod signals;
