//! The images `make images` builds, checked from the outside with the
//! container engine: what they contain, how the runtime behaves as PID 1, how
//! derived images and multi-stage builds use them, and that rebuilds are
//! reproducible. `make test` runs this suite after `make images`.

mod support;

mod arm64;
mod compose;
mod contents;
mod deb;
pub mod demo;
mod derived;
mod dist;
mod distroless;
mod filebox;
mod lint;
mod reproducible;
mod runtime;
