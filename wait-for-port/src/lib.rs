//! wait-for-port: wait until services are ready: TCP or unix endpoints
//! accept connections, or a service answers in its protocol that it is.
//!
//! [`target`] parses what to wait for, [`probe`] makes one attempt (connect,
//! then [`protocol`] asks the service), [`wait`] runs the attempts for all
//! targets concurrently under one deadline, and [`run`] is one whole run of
//! the tool; [`compat`] reads the variables of docker-compose-wait, which it
//! replaces.

pub mod compat;
pub(crate) mod probe;
pub mod protocol;
pub mod run;
pub(crate) mod target;
pub mod wait;
