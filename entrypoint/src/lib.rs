//! entrypoint: activates a virtualenv and runs the command, as a correct
//! PID 1 when it is one.
//!
//! [`config`] reads the `ENTRYPOINT_*` variables, [`venv`] finds and
//! activates the virtualenv, [`supervise`] is the init: spawn, forward,
//! reap, drain; [`sigset`] talks to the kernel about signal sets.

pub mod config;
pub mod sigset;
pub mod supervise;
pub mod venv;

pub const TOOL: &str = "entrypoint";
