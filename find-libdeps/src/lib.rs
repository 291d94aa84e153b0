//! find-libdeps: the Debian packages a tree of ELF files needs at run time.
//!
//! [`walk`] finds the ELF objects of the tree (read by `venvkit-elf` the way
//! the loader reads them), [`resolve`] applies glibc's search rules with
//! [`ldconf`]'s directories, and `venvkit-dpkg` maps each library to its
//! package, all inside a `Root`; [`analysis`] runs those steps and
//! [`output`] and [`symbols`] render the answer. It never spawns a process.

pub mod analysis;
pub(crate) mod ldconf;
pub(crate) mod output;
pub(crate) mod resolve;
pub(crate) mod symbols;
pub(crate) mod walk;
