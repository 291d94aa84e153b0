//! apt-install: installs Debian packages in an image layer and leaves no
//! apt lists, caches or logs of its own behind.
//!
//! [`request`] checks what to install, [`lock`] waits for dpkg, [`apt`]
//! runs apt-get and reads its failures, [`state`] compares dpkg's database
//! before and after, [`clean`] removes what the layer should not keep.

pub mod apt;
pub mod clean;
pub mod lock;
pub mod request;
pub mod state;
