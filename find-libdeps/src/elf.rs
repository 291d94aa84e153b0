//! What the loader needs to know of an ELF file, read the way the loader
//! reads it: the header, the program headers, the dynamic segment and its
//! string table, by offset. Nothing else of the file is read, so a 50 MB
//! extension module costs a few kilobytes of I/O.

use std::fs::File;
use std::io;
use std::os::unix::fs::FileExt;

pub const MAGIC: [u8; 4] = [0x7f, b'E', b'L', b'F'];

const ET_REL: u16 = 1;
const PT_LOAD: u32 = 1;
const PT_DYNAMIC: u32 = 2;
const PT_INTERP: u32 = 3;
const DT_NULL: u64 = 0;
const DT_NEEDED: u64 = 1;
const DT_STRTAB: u64 = 5;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;

/// The ELF class and machine: a loader only uses objects of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind {
    pub is_64: bool,
    pub little_endian: bool,
    pub machine: u16,
}

/// x86_64, the machine venvkit's images run on.
pub const X86_64: Kind = Kind { is_64: true, little_endian: true, machine: 62 };

impl Kind {
    pub fn describe(&self) -> String {
        let machine = match self.machine {
            3 => "i386".to_string(),
            40 => "arm".to_string(),
            62 => "x86-64".to_string(),
            183 => "aarch64".to_string(),
            other => format!("machine {other}"),
        };
        format!("{}-bit {machine}", if self.is_64 { 64 } else { 32 })
    }
}

/// The dynamic-linking facts of one object.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    pub interpreter: Option<String>,
    pub needed: Vec<String>,
    pub soname: Option<String>,
    /// DT_RPATH entries, split on ':'.
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries, split on ':'.
    pub runpath: Vec<String>,
    /// Has a dynamic segment at all (a static executable has none).
    pub is_dynamic: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Read {
    /// Not an ELF file: the magic is missing.
    NotElf,
    /// An ELF file of another class or machine than `expected`.
    OtherKind(Kind),
    /// A relocatable object (`.o`): never loaded.
    Relocatable,
    /// An object to resolve.
    Object(Dynamic),
}

/// Why an ELF file could not be read: truncated, or offsets that point
/// outside the file.
#[derive(Debug)]
pub struct Malformed(pub String);

impl From<io::Error> for Malformed {
    fn from(err: io::Error) -> Malformed {
        Malformed(err.to_string())
    }
}

fn malformed<T>(why: impl Into<String>) -> Result<T, Malformed> {
    Err(Malformed(why.into()))
}

/// Reads `file` if it is an ELF object of kind `expected`.
pub fn read(file: &File, expected: Kind) -> Result<Read, Malformed> {
    let mut ident = [0u8; 64];
    let got = read_up_to(file, &mut ident, 0)?;
    if got < 4 || ident[..4] != MAGIC {
        return Ok(Read::NotElf);
    }
    let length = file.metadata()?.len();
    parse(&ident[..got], length, expected, |buffer, offset| file.read_exact_at(buffer, offset).map_err(Malformed::from))
}

/// The same over bytes in memory (fuzzing, and files already read).
pub fn read_bytes(bytes: &[u8], expected: Kind) -> Result<Read, Malformed> {
    let head = &bytes[..bytes.len().min(64)];
    parse(head, bytes.len() as u64, expected, |buffer, offset| {
        let start = usize::try_from(offset).map_err(|_| Malformed("offset too large".into()))?;
        let end = start.checked_add(buffer.len()).filter(|end| *end <= bytes.len());
        match end {
            Some(end) => {
                buffer.copy_from_slice(&bytes[start..end]);
                Ok(())
            }
            None => malformed("read past the end of the file"),
        }
    })
}

fn read_up_to(file: &File, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buffer.len() {
        match file.read_at(&mut buffer[filled..], offset + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    Ok(filled)
}

/// Reads fields of one ELF class and byte order from byte slices.
#[derive(Clone, Copy)]
struct Layout {
    is_64: bool,
    little: bool,
}

impl Layout {
    fn u16(&self, b: &[u8], at: usize) -> u16 {
        let bytes = [b[at], b[at + 1]];
        if self.little {
            u16::from_le_bytes(bytes)
        } else {
            u16::from_be_bytes(bytes)
        }
    }

    fn u32(&self, b: &[u8], at: usize) -> u32 {
        let bytes = [b[at], b[at + 1], b[at + 2], b[at + 3]];
        if self.little {
            u32::from_le_bytes(bytes)
        } else {
            u32::from_be_bytes(bytes)
        }
    }

    fn u64(&self, b: &[u8], at: usize) -> u64 {
        let mut bytes = [0u8; 8];
        bytes.copy_from_slice(&b[at..at + 8]);
        if self.little {
            u64::from_le_bytes(bytes)
        } else {
            u64::from_be_bytes(bytes)
        }
    }

    /// A word: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, b: &[u8], at: usize) -> u64 {
        if self.is_64 {
            self.u64(b, at)
        } else {
            u64::from(self.u32(b, at))
        }
    }
}

struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// Bounds on what one header may ask us to read, so that garbage cannot
/// make us allocate gigabytes.
const MAX_TABLE: u64 = 64 << 20;

fn parse(
    head: &[u8],
    length: u64,
    expected: Kind,
    read_at: impl Fn(&mut [u8], u64) -> Result<(), Malformed>,
) -> Result<Read, Malformed> {
    if head.len() < 4 || head[..4] != MAGIC {
        return Ok(Read::NotElf);
    }
    if head.len() < 52 {
        return malformed("truncated ELF header");
    }
    let is_64 = match head[4] {
        1 => false,
        2 => true,
        other => return malformed(format!("unknown ELF class {other}")),
    };
    let little = match head[5] {
        1 => true,
        2 => false,
        other => return malformed(format!("unknown ELF byte order {other}")),
    };
    if is_64 && head.len() < 64 {
        return malformed("truncated ELF header");
    }
    let layout = Layout { is_64, little };
    let kind = Kind { is_64, little_endian: little, machine: layout.u16(head, 18) };
    if kind != expected {
        return Ok(Read::OtherKind(kind));
    }
    if layout.u16(head, 16) == ET_REL {
        return Ok(Read::Relocatable);
    }
    let (phoff, phentsize, phnum) = if is_64 {
        (layout.u64(head, 32), layout.u16(head, 54), layout.u16(head, 56))
    } else {
        (u64::from(layout.u32(head, 28)), layout.u16(head, 42), layout.u16(head, 44))
    };
    let entry_size = if is_64 { 56 } else { 32 };
    if phnum > 0 && usize::from(phentsize) < entry_size {
        return malformed(format!("program header entries of {phentsize} bytes"));
    }
    let table_size = u64::from(phentsize) * u64::from(phnum);
    let table = read_region(&read_at, length, phoff, table_size, "program headers")?;
    let segments: Vec<Segment> = table
        .chunks_exact(usize::from(phentsize.max(1)))
        .take(usize::from(phnum))
        .map(|entry| {
            if is_64 {
                Segment {
                    kind: layout.u32(entry, 0),
                    offset: layout.u64(entry, 8),
                    vaddr: layout.u64(entry, 16),
                    filesz: layout.u64(entry, 32),
                }
            } else {
                Segment {
                    kind: layout.u32(entry, 0),
                    offset: u64::from(layout.u32(entry, 4)),
                    vaddr: u64::from(layout.u32(entry, 8)),
                    filesz: u64::from(layout.u32(entry, 16)),
                }
            }
        })
        .collect();

    let mut dynamic = Dynamic::default();
    if let Some(interp) = segments.iter().find(|s| s.kind == PT_INTERP) {
        let bytes = read_region(&read_at, length, interp.offset, interp.filesz, "PT_INTERP")?;
        dynamic.interpreter = Some(c_string(&bytes, 0).ok_or(Malformed("PT_INTERP is not a string".into()))?);
    }
    let Some(segment) = segments.iter().find(|s| s.kind == PT_DYNAMIC) else {
        return Ok(Read::Object(dynamic));
    };
    dynamic.is_dynamic = true;
    let entries = read_region(&read_at, length, segment.offset, segment.filesz, "PT_DYNAMIC")?;
    let dyn_size = if is_64 { 16 } else { 8 };
    let word = if is_64 { 8 } else { 4 };
    let mut tags: Vec<(u64, u64)> = Vec::new();
    for entry in entries.chunks_exact(dyn_size) {
        let tag = layout.word(entry, 0);
        if tag == DT_NULL {
            break;
        }
        tags.push((tag, layout.word(entry, word)));
    }
    let find = |wanted: u64| tags.iter().find(|(tag, _)| *tag == wanted).map(|(_, value)| *value);
    let has_strings = tags.iter().any(|(tag, _)| matches!(*tag, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH));
    if !has_strings {
        return Ok(Read::Object(dynamic));
    }
    let (Some(strtab), Some(strsz)) = (find(DT_STRTAB), find(DT_STRSZ)) else {
        return malformed("dynamic section without a string table");
    };
    let strtab_offset = segments
        .iter()
        .filter(|s| s.kind == PT_LOAD)
        .find(|s| strtab >= s.vaddr && strtab - s.vaddr < s.filesz)
        .and_then(|s| s.offset.checked_add(strtab - s.vaddr))
        .ok_or(Malformed("the string table is outside every loaded segment".into()))?;
    let strings = read_region(&read_at, length, strtab_offset, strsz, "dynamic string table")?;
    let string = |offset: u64| -> Result<String, Malformed> {
        usize::try_from(offset)
            .ok()
            .and_then(|offset| c_string(&strings, offset))
            .ok_or(Malformed(format!("string offset {offset} outside the string table")))
    };
    for &(tag, value) in &tags {
        match tag {
            DT_NEEDED => dynamic.needed.push(string(value)?),
            DT_SONAME => dynamic.soname = Some(string(value)?),
            DT_RPATH => dynamic.rpath.extend(split_path(&string(value)?)),
            DT_RUNPATH => dynamic.runpath.extend(split_path(&string(value)?)),
            _ => {}
        }
    }
    Ok(Read::Object(dynamic))
}

fn read_region(
    read_at: &impl Fn(&mut [u8], u64) -> Result<(), Malformed>,
    length: u64,
    offset: u64,
    size: u64,
    what: &str,
) -> Result<Vec<u8>, Malformed> {
    let end = offset.checked_add(size);
    if size > MAX_TABLE || end.is_none_or(|end| end > length) {
        return malformed(format!("{what} lie outside the file (truncated?)"));
    }
    let mut buffer = vec![0u8; size as usize];
    read_at(&mut buffer, offset)?;
    Ok(buffer)
}

fn c_string(bytes: &[u8], offset: usize) -> Option<String> {
    let rest = bytes.get(offset..)?;
    let end = rest.iter().position(|&b| b == 0)?;
    Some(String::from_utf8_lossy(&rest[..end]).into_owned())
}

fn split_path(value: &str) -> impl Iterator<Item = String> + '_ {
    value.split(':').filter(|entry| !entry.is_empty()).map(str::to_string)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_without_the_magic_are_not_elf() {
        assert!(matches!(read_bytes(b"#!/bin/sh\n", X86_64), Ok(Read::NotElf)));
        assert!(matches!(read_bytes(b"", X86_64), Ok(Read::NotElf)));
    }

    #[test]
    fn truncated_headers_are_malformed_not_a_panic() {
        for length in [4, 5, 20, 51, 63] {
            let mut bytes = vec![0u8; length];
            bytes[..4].copy_from_slice(&MAGIC);
            if length > 5 {
                bytes[4] = 2;
                bytes[5] = 1;
            }
            assert!(read_bytes(&bytes, X86_64).is_err(), "length {length}");
        }
    }

    #[test]
    fn this_test_binary_is_read_like_the_loader_reads_it() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        match read_bytes(&me, X86_64).unwrap() {
            Read::Object(dynamic) => {
                assert!(dynamic.needed.iter().any(|n| n.starts_with("libc.so")), "{dynamic:?}");
                assert!(dynamic.interpreter.is_some());
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_segment_offset_near_the_top_of_the_address_space_is_malformed_not_an_overflow() {
        let mut me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let phoff = u64::from_le_bytes(me[32..40].try_into().unwrap()) as usize;
        let (size, count) =
            (u16::from_le_bytes([me[54], me[55]]) as usize, u16::from_le_bytes([me[56], me[57]]) as usize);
        for entry in (0..count).map(|i| phoff + i * size) {
            if u32::from_le_bytes(me[entry..entry + 4].try_into().unwrap()) == PT_LOAD {
                me[entry + 8..entry + 16].copy_from_slice(&(u64::MAX - 15).to_le_bytes());
            }
        }
        assert!(read_bytes(&me, X86_64).is_err());
    }

    #[test]
    fn garbage_after_a_valid_header_is_malformed() {
        let me = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let mut cut = me[..200].to_vec();
        cut[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(read_bytes(&cut, X86_64).is_err());
        assert!(read_bytes(&me[..100], X86_64).is_err());
    }
}
