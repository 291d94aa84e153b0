//! find-libdeps: the Debian packages a tree needs at run time.
//!
//! [`walk`] finds the ELF objects of the tree (read by `venvkit-elf` the way
//! the loader reads them) and the libraries its Python sources load through
//! ctypes and cffi ([`python`]); [`resolve`] applies glibc's search rules
//! with [`ldconf`]'s directories, [`ldcache`] answers `find_library` as
//! CPython does, [`loads`] resolves run-time and recorded loads, [`versions`]
//! checks symbol versions, and `venvkit-dpkg` maps each library to its
//! package, all inside a `Root`; [`analysis`] runs those steps and
//! [`output`] and [`symbols`] render the answer. It never spawns a process.

pub mod analysis;
pub mod ldcache;
pub(crate) mod ldconf;
pub(crate) mod loads;
pub(crate) mod output;
pub mod python;
pub(crate) mod resolve;
pub(crate) mod symbols;
pub(crate) mod versions;
pub(crate) mod walk;
