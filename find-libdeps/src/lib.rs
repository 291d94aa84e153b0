//! find-libdeps: the Debian packages a tree of ELF files needs at run time.
//!
//! [`walk`] finds the ELF objects of the tree ([`elf`] reads each the way
//! the loader does), [`resolve`] applies glibc's search rules with
//! [`ldconf`]'s directories, and [`dpkg`] maps each library to its package,
//! all inside a [`rootfs::Root`]. It never spawns a process.

pub mod dpkg;
pub mod elf;
pub mod ldconf;
pub mod output;
pub mod resolve;
pub mod rootfs;
pub mod symbols;
pub mod version;
pub mod walk;
