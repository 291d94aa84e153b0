//! wait-for-port: wait until TCP or unix endpoints accept connections.
//!
//! [`target`] parses what to wait for, [`probe`] makes one attempt, and
//! [`wait`] runs the attempts for all targets concurrently under one deadline.

pub mod probe;
pub mod target;
pub mod wait;
