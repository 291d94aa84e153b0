//! Any bytes at all: every reading the tools do must return Ok or Err, never
//! panic, never read out of bounds, never allocate without bound.
#![no_main]

use libfuzzer_sys::fuzz_target;
use venvkit_elf::Elf;

fuzz_target!(|bytes: &[u8]| {
    if let Ok(Some(elf)) = Elf::open(bytes) {
        let _ = elf.kind();
        let _ = elf.dynamic();
        let _ = elf.version_needs();
        let _ = elf.version_definitions();
        let _ = elf.undefined_symbols();
    }
});
