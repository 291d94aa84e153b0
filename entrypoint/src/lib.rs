//! entrypoint: activates a virtualenv and runs the command, as a correct
//! PID 1 when it is one.
//!
//! [`launch`] is one run: [`config`] reads the `ENTRYPOINT_*` variables,
//! [`venv`] finds and activates the virtualenv, [`supervise`] is the init:
//! spawn, forward, reap, drain; [`sigset`] talks to the kernel about signal
//! sets.

pub(crate) mod config;
pub mod launch;
pub(crate) mod sigset;
pub(crate) mod supervise;
pub(crate) mod venv;

pub const TOOL: &str = "entrypoint";
