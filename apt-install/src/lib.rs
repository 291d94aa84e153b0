//! apt-install: installs Debian packages in an image layer and leaves no
//! apt lists, caches or logs of its own behind.
//!
//! [`install`] runs the job: [`request`] checks what to install, [`lock`]
//! waits for apt's and dpkg's locks, [`apt`] runs apt-get and reads its
//! [`failure`]s (naming failed sources as `sources` has them),
//! [`retry`] decides what gets another attempt, [`state`] compares dpkg's
//! database before and after, [`clean`] removes what the layer should not keep;
//! [`staging`] installs into a root without dpkg (`--root`).

pub(crate) mod apt;
pub(crate) mod clean;
pub mod failure;
pub mod install;
pub mod lock;
pub(crate) mod request;
pub mod retry;
pub(crate) mod sources;
pub mod staging;
pub(crate) mod state;
