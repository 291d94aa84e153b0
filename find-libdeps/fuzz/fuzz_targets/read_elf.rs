//! Any bytes at all: the ELF reader must return Ok or Err, never panic,
//! never read out of bounds, never allocate without bound.
#![no_main]

use find_libdeps::elf::{read_bytes, X86_64};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|bytes: &[u8]| {
    let _ = read_bytes(bytes, X86_64);
    let _ = find_libdeps::symbols::undefined_symbols(bytes);
});
