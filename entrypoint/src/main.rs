//! entrypoint [--] COMMAND [ARG...]
//!
//! Takes no options, so that any CMD passes through untouched; configured by
//! the environment only. This file maps the arguments to a run and its
//! result to an exit code; the work is in the library.

mod args;

use args::{Args, HELP};
use entrypoint::launch::{self, Error};
use entrypoint::TOOL;
use venvkit_common::diag::emit;
use venvkit_common::exit;

fn main() {
    let argv = match args::parse(std::env::args_os().skip(1).collect()) {
        Args::Help => return print!("{HELP}"),
        Args::Version => return println!("{TOOL} {}", env!("CARGO_PKG_VERSION")),
        Args::Run(argv) => argv,
    };
    let code = match launch::run(argv) {
        Ok(code) => code,
        Err(error) => {
            emit(TOOL, &error);
            match error {
                Error::Usage(_) => exit::USAGE,
                Error::Supervise(_) => exit::FAILURE,
                Error::Exec(failure) => failure.code,
            }
        }
    };
    std::process::exit(code);
}
