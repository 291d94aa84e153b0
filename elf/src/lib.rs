//! The ELF reader venvkit's tools share.
//!
//! It reads what glibc's loader reads of an object (the file header, the
//! program headers, PT_INTERP, the dynamic segment and its string table)
//! and, on demand, what dpkg-shlibdeps and the loader's version check read
//! (DT_VERNEED, DT_VERDEF, the dynamic symbols and DT_VERSYM). Each is read
//! as the byte range it occupies, found through the program headers as the
//! loader finds it, so a 50 MB extension module costs a few KiB of I/O and
//! section headers are never needed. Layouts: the System V gABI and glibc's
//! `<elf.h>`; symbol versioning: the LSB's "Symbol Versioning".
//!
//! Every offset and size comes from the file and is checked against its
//! length before anything is read or allocated: damaged or hostile input is
//! a [`Malformed`] error, never a panic (a fuzz target holds it to that).

pub mod arch;

use std::cell::OnceCell;
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
const DT_HASH: u64 = 4;
const DT_STRTAB: u64 = 5;
const DT_SYMTAB: u64 = 6;
const DT_STRSZ: u64 = 10;
const DT_SONAME: u64 = 14;
const DT_RPATH: u64 = 15;
const DT_RUNPATH: u64 = 29;
const DT_GNU_HASH: u64 = 0x6fff_fef5;
const DT_VERSYM: u64 = 0x6fff_fff0;
const DT_VERDEF: u64 = 0x6fff_fffc;
const DT_VERDEFNUM: u64 = 0x6fff_fffd;
const DT_VERNEED: u64 = 0x6fff_fffe;
const DT_VERNEEDNUM: u64 = 0x6fff_ffff;
/// vna_flags: a weak version need; the loader only warns when it is missing.
const VER_FLG_WEAK: u16 = 2;
/// vd_flags: the definition naming the file itself, not a version.
const VER_FLG_BASE: u16 = 1;

/// Bounds on what one header may ask us to read, so that garbage cannot
/// make us allocate gigabytes.
const MAX_TABLE: u64 = 64 << 20;
/// Bounds on version chains, which link entries by relative offsets.
const MAX_VERSION_ENTRIES: usize = 1 << 16;

/// What the reader reads from: a file (by `pread`) or bytes in memory.
pub trait Source {
    /// Reads at `offset` as much as fits in `buffer`; fewer bytes only at the end.
    fn read_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<usize>;
    /// The length in bytes; asked only of files that have the ELF magic.
    fn size(&self) -> io::Result<u64>;
}

impl Source for File {
    fn read_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        let mut filled = 0;
        while filled < buffer.len() {
            match FileExt::read_at(self, &mut buffer[filled..], offset + filled as u64)? {
                0 => break,
                n => filled += n,
            }
        }
        Ok(filled)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.metadata()?.len())
    }
}

impl Source for [u8] {
    fn read_at(&self, buffer: &mut [u8], offset: u64) -> io::Result<usize> {
        let start = usize::try_from(offset).unwrap_or(usize::MAX).min(self.len());
        let available = &self[start..];
        let count = available.len().min(buffer.len());
        buffer[..count].copy_from_slice(&available[..count]);
        Ok(count)
    }

    fn size(&self) -> io::Result<u64> {
        Ok(self.len() as u64)
    }
}

/// Why an ELF file could not be read: truncated, or offsets that point
/// outside the file or outside every loaded segment.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Malformed {
    /// Reading the file failed.
    Io(io::ErrorKind),
    /// The file header is cut short.
    TruncatedHeader,
    /// EI_CLASS is neither ELFCLASS32 nor ELFCLASS64.
    UnknownClass(u8),
    /// EI_DATA is neither little nor big endian.
    UnknownByteOrder(u8),
    /// e_phentsize is smaller than a program header.
    ProgramHeaderSize(u16),
    /// This part of the file lies past its end (or is implausibly large).
    OutsideFile(&'static str),
    /// This address lies in no PT_LOAD segment.
    OutsideSegments(&'static str),
    /// A string offset past the end of the string table.
    StringOffset(u64),
    /// PT_INTERP holds no NUL-terminated string.
    Interpreter,
    /// A dynamic segment that names strings but has no DT_STRTAB/DT_STRSZ.
    NoStringTable,
    /// A symbol table without DT_HASH or DT_GNU_HASH to size it.
    NoSymbolHash,
    /// A count (DT_VERNEEDNUM, ...) beyond any real object's.
    Count(&'static str, u64),
}

impl std::fmt::Display for Malformed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Malformed::Io(kind) => write!(f, "cannot read: {}", io::Error::from(*kind)),
            Malformed::TruncatedHeader => f.write_str("truncated ELF header"),
            Malformed::UnknownClass(class) => write!(f, "unknown ELF class {class}"),
            Malformed::UnknownByteOrder(order) => write!(f, "unknown ELF byte order {order}"),
            Malformed::ProgramHeaderSize(size) => write!(f, "program header entries of {size} bytes"),
            Malformed::OutsideFile(what) => write!(f, "{what} lie outside the file (truncated?)"),
            Malformed::OutsideSegments(what) => write!(f, "{what} is outside every loaded segment"),
            Malformed::StringOffset(offset) => write!(f, "string offset {offset} outside the string table"),
            Malformed::Interpreter => f.write_str("PT_INTERP is not a string"),
            Malformed::NoStringTable => f.write_str("dynamic section without a string table"),
            Malformed::NoSymbolHash => f.write_str("a symbol table without DT_HASH or DT_GNU_HASH"),
            Malformed::Count(what, count) => write!(f, "{what} of {count}"),
        }
    }
}

impl From<io::Error> for Malformed {
    fn from(err: io::Error) -> Malformed {
        Malformed::Io(err.kind())
    }
}

/// The ELF class, byte order and machine: a loader only uses objects of its own.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Kind {
    pub is_64: bool,
    pub little_endian: bool,
    /// e_machine: [`arch::EM_X86_64`], [`arch::EM_AARCH64`], ...
    pub machine: u16,
}

impl Kind {
    /// `64-bit x86-64`, for messages.
    pub fn describe(&self) -> String {
        let machine = match self.machine {
            arch::EM_386 => "i386".to_string(),
            arch::EM_ARM => "arm".to_string(),
            arch::EM_X86_64 => "x86-64".to_string(),
            arch::EM_AARCH64 => "aarch64".to_string(),
            other => format!("machine {other}"),
        };
        format!("{}-bit {machine}", if self.is_64 { 64 } else { 32 })
    }
}

/// The dynamic-linking facts the loader acts on.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Dynamic {
    /// PT_INTERP: the program interpreter of a dynamic executable.
    pub interpreter: Option<String>,
    /// DT_NEEDED, in order.
    pub needed: Vec<String>,
    pub soname: Option<String>,
    /// DT_RPATH entries, split on ':'.
    pub rpath: Vec<String>,
    /// DT_RUNPATH entries, split on ':'.
    pub runpath: Vec<String>,
    /// Has a dynamic segment at all (a static executable has none).
    pub is_dynamic: bool,
}

/// The versions an object needs from one library (DT_VERNEED).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VersionNeed {
    /// The needed library, as its DT_NEEDED entry names it.
    pub file: String,
    pub versions: Vec<NeededVersion>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NeededVersion {
    /// `GLIBC_2.38`.
    pub name: String,
    /// A weak need: the loader warns but still runs the program without it.
    pub weak: bool,
}

/// A symbol an object takes from other objects.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Symbol {
    pub name: String,
    /// The version it binds to (`GLIBC_2.14`), or None when unversioned.
    pub version: Option<String>,
}

/// Reads fields of one ELF class and byte order.
#[derive(Clone, Copy, Debug)]
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

    /// An address or size: 8 bytes in ELF64, 4 in ELF32.
    fn word(&self, b: &[u8], at: usize) -> u64 {
        if self.is_64 {
            self.u64(b, at)
        } else {
            u64::from(self.u32(b, at))
        }
    }

    fn word_size(&self) -> usize {
        if self.is_64 {
            8
        } else {
            4
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Segment {
    kind: u32,
    offset: u64,
    vaddr: u64,
    filesz: u64,
}

/// The dynamic segment: its tags and its string table.
#[derive(Debug)]
struct DynamicSegment {
    tags: Vec<(u64, u64)>,
    strings: Vec<u8>,
}

impl DynamicSegment {
    fn find(&self, wanted: u64) -> Option<u64> {
        self.tags.iter().find(|(tag, _)| *tag == wanted).map(|(_, value)| *value)
    }

    fn string(&self, offset: u64) -> Result<String, Malformed> {
        usize::try_from(offset)
            .ok()
            .and_then(|offset| c_string(&self.strings, offset))
            .ok_or(Malformed::StringOffset(offset))
    }
}

/// An ELF file being read: its header at once, the rest as asked for.
pub struct Elf<'s, S: Source + ?Sized> {
    source: &'s S,
    size: u64,
    layout: Layout,
    kind: Kind,
    file_type: u16,
    phoff: u64,
    phentsize: u16,
    phnum: u16,
    segments: OnceCell<Vec<Segment>>,
    dynamic: OnceCell<Option<DynamicSegment>>,
}

impl<'s, S: Source + ?Sized> Elf<'s, S> {
    /// Reads the file header: None when the ELF magic is missing.
    pub fn open(source: &'s S) -> Result<Option<Elf<'s, S>>, Malformed> {
        // The magic first: most files a scan meets are not ELF, and need
        // no second system call.
        let mut head = [0u8; 64];
        let got = source.read_at(&mut head, 0)?;
        let head = &head[..got];
        if head.len() < 4 || head[..4] != MAGIC {
            return Ok(None);
        }
        let size = source.size()?;
        if head.len() < 52 {
            return Err(Malformed::TruncatedHeader);
        }
        let is_64 = match head[4] {
            1 => false,
            2 => true,
            other => return Err(Malformed::UnknownClass(other)),
        };
        let little = match head[5] {
            1 => true,
            2 => false,
            other => return Err(Malformed::UnknownByteOrder(other)),
        };
        if is_64 && head.len() < 64 {
            return Err(Malformed::TruncatedHeader);
        }
        let layout = Layout { is_64, little };
        let (phoff, phentsize, phnum) = if is_64 {
            (layout.u64(head, 32), layout.u16(head, 54), layout.u16(head, 56))
        } else {
            (u64::from(layout.u32(head, 28)), layout.u16(head, 42), layout.u16(head, 44))
        };
        Ok(Some(Elf {
            source,
            size,
            layout,
            kind: Kind { is_64, little_endian: little, machine: layout.u16(head, 18) },
            file_type: layout.u16(head, 16),
            phoff,
            phentsize,
            phnum,
            segments: OnceCell::new(),
            dynamic: OnceCell::new(),
        }))
    }

    pub fn kind(&self) -> Kind {
        self.kind
    }

    /// A relocatable object (`.o`): never loaded.
    pub fn is_relocatable(&self) -> bool {
        self.file_type == ET_REL
    }

    /// PT_INTERP, the program interpreter. Read straight from the program
    /// header table: entrypoint asks this of every program it fails to
    /// run, and its size budget has no room for more.
    pub fn interpreter(&self) -> Result<Option<String>, Malformed> {
        let table = self.program_header_table()?;
        let Some(entry) =
            table.chunks_exact(usize::from(self.phentsize.max(1))).find(|e| self.layout.u32(e, 0) == PT_INTERP)
        else {
            return Ok(None);
        };
        let (offset, size) = if self.layout.is_64 {
            (self.layout.u64(entry, 8), self.layout.u64(entry, 32))
        } else {
            (u64::from(self.layout.u32(entry, 4)), u64::from(self.layout.u32(entry, 16)))
        };
        let bytes = self.read(offset, size, "PT_INTERP")?;
        c_string(&bytes, 0).map(Some).ok_or(Malformed::Interpreter)
    }

    /// What the loader acts on: the interpreter and the dynamic segment's
    /// names and search paths.
    pub fn dynamic(&self) -> Result<Dynamic, Malformed> {
        let mut dynamic = Dynamic { interpreter: self.interpreter()?, ..Dynamic::default() };
        let Some(segment) = self.dynamic_segment()? else {
            return Ok(dynamic);
        };
        dynamic.is_dynamic = true;
        for &(tag, value) in &segment.tags {
            match tag {
                DT_NEEDED => dynamic.needed.push(segment.string(value)?),
                DT_SONAME => dynamic.soname = Some(segment.string(value)?),
                DT_RPATH => dynamic.rpath.extend(split_path(&segment.string(value)?)),
                DT_RUNPATH => dynamic.runpath.extend(split_path(&segment.string(value)?)),
                _ => {}
            }
        }
        Ok(dynamic)
    }

    /// DT_VERNEED: the versions this object needs, by library.
    pub fn version_needs(&self) -> Result<Vec<VersionNeed>, Malformed> {
        let Some(segment) = self.dynamic_segment()? else { return Ok(Vec::new()) };
        Ok(self
            .walk_version_needs(segment)?
            .into_iter()
            .map(|(file, versions)| VersionNeed {
                file,
                versions: versions.into_iter().map(|(_, name, weak)| NeededVersion { name, weak }).collect(),
            })
            .collect())
    }

    /// Every DT_VERNEED entry: the library's name, then (vna_other, name,
    /// weak) of each version needed from it. DT_VERSYM refers to needed
    /// versions by vna_other.
    #[allow(clippy::type_complexity)]
    fn walk_version_needs(
        &self,
        segment: &DynamicSegment,
    ) -> Result<Vec<(String, Vec<(u16, String, bool)>)>, Malformed> {
        let (Some(address), Some(count)) = (segment.find(DT_VERNEED), segment.find(DT_VERNEEDNUM)) else {
            return Ok(Vec::new());
        };
        let start = self.file_offset(address, "DT_VERNEED")?;
        let mut needs = Vec::new();
        for (at, entry) in self.linked_entries(start, count, 16, 12, "DT_VERNEED")? {
            let (aux_count, file, aux_offset) =
                (self.layout.u16(&entry, 2), self.layout.u32(&entry, 4), self.layout.u32(&entry, 8));
            let mut versions = Vec::new();
            let first_aux = checked_add(at, aux_offset)?;
            for (_, aux) in self.linked_entries(first_aux, aux_count.into(), 16, 12, "a version need's entries")? {
                let (flags, other, name) =
                    (self.layout.u16(&aux, 4), self.layout.u16(&aux, 6), self.layout.u32(&aux, 8));
                versions.push((other, segment.string(name.into())?, flags & VER_FLG_WEAK != 0));
            }
            needs.push((segment.string(file.into())?, versions));
        }
        Ok(needs)
    }

    /// DT_VERDEF: the versions this library defines (its base entry, which
    /// names the file itself, left out). Empty for an unversioned library.
    pub fn version_definitions(&self) -> Result<Vec<String>, Malformed> {
        let Some(segment) = self.dynamic_segment()? else { return Ok(Vec::new()) };
        let (Some(address), Some(count)) = (segment.find(DT_VERDEF), segment.find(DT_VERDEFNUM)) else {
            return Ok(Vec::new());
        };
        let mut definitions = Vec::new();
        let start = self.file_offset(address, "DT_VERDEF")?;
        for (at, entry) in self.linked_entries(start, count, 20, 16, "DT_VERDEF")? {
            if self.layout.u16(&entry, 2) & VER_FLG_BASE != 0 {
                continue;
            }
            // The first auxiliary entry names the version; later ones its parents.
            let aux = self.read(checked_add(at, self.layout.u32(&entry, 12))?, 8, "a version definition's name")?;
            definitions.push(segment.string(self.layout.u32(&aux, 0).into())?);
        }
        Ok(definitions)
    }

    /// `count` records of `size` bytes from `first`, each linked to the next
    /// by the offset (relative to itself) in its u32 field at `next_at`; 0
    /// ends the chain early. Each with where it is.
    fn linked_entries(
        &self,
        first: u64,
        count: u64,
        size: u64,
        next_at: usize,
        what: &'static str,
    ) -> Result<Vec<(u64, Vec<u8>)>, Malformed> {
        let count = bounded_count(count, what)?;
        let mut entries = Vec::with_capacity(count.min(64));
        let mut at = first;
        for _ in 0..count {
            let entry = self.read(at, size, what)?;
            let next = self.layout.u32(&entry, next_at);
            entries.push((at, entry));
            if next == 0 {
                break;
            }
            at = checked_add(at, next)?;
        }
        Ok(entries)
    }

    /// The dynamic symbols this object takes from others (undefined, named),
    /// with the version each binds to, as dpkg-shlibdeps reads them.
    pub fn undefined_symbols(&self) -> Result<Vec<Symbol>, Malformed> {
        let Some(segment) = self.dynamic_segment()? else { return Ok(Vec::new()) };
        let Some(symtab) = segment.find(DT_SYMTAB) else { return Ok(Vec::new()) };
        let count = self.symbol_count(segment)?;
        let entry_size: u64 = if self.layout.is_64 { 24 } else { 16 };
        let table_size = count.checked_mul(entry_size).ok_or(Malformed::Count("dynamic symbols", count))?;
        let table = self.read(self.file_offset(symtab, "DT_SYMTAB")?, table_size, "the dynamic symbol table")?;
        let versym = match segment.find(DT_VERSYM) {
            Some(address) => Some(self.read(self.file_offset(address, "DT_VERSYM")?, count * 2, "DT_VERSYM")?),
            None => None,
        };
        let names: std::collections::HashMap<u16, String> = self
            .walk_version_needs(segment)?
            .into_iter()
            .flat_map(|(_, versions)| versions.into_iter().map(|(other, name, _)| (other, name)))
            .collect();
        let mut symbols = Vec::new();
        for (index, entry) in table.chunks_exact(entry_size as usize).enumerate() {
            let name = self.layout.u32(entry, 0);
            let shndx = if self.layout.is_64 { self.layout.u16(entry, 6) } else { self.layout.u16(entry, 14) };
            if shndx != 0 || name == 0 {
                continue;
            }
            let version = versym
                .as_ref()
                .map(|versym| self.layout.u16(versym, index * 2) & 0x7fff)
                .and_then(|number| names.get(&number).cloned());
            symbols.push(Symbol { name: segment.string(name.into())?, version });
        }
        Ok(symbols)
    }

    /// The number of dynamic symbols, as the loader knows it: DT_HASH's
    /// nchain, or one past the highest index DT_GNU_HASH's chains reach.
    fn symbol_count(&self, segment: &DynamicSegment) -> Result<u64, Malformed> {
        if let Some(address) = segment.find(DT_HASH) {
            let header = self.read(self.file_offset(address, "DT_HASH")?, 8, "DT_HASH")?;
            return Ok(u64::from(self.layout.u32(&header, 4)));
        }
        let Some(address) = segment.find(DT_GNU_HASH) else {
            return Err(Malformed::NoSymbolHash);
        };
        let at = self.file_offset(address, "DT_GNU_HASH")?;
        let header = self.read(at, 16, "DT_GNU_HASH")?;
        let (buckets, symoffset, bloom_words) =
            (self.layout.u32(&header, 0), self.layout.u32(&header, 4), self.layout.u32(&header, 8));
        let buckets_at = checked_add(at, 16 + u64::from(bloom_words) * self.layout.word_size() as u64)?;
        let bucket_bytes = self.read(buckets_at, u64::from(buckets) * 4, "DT_GNU_HASH buckets")?;
        let highest = bucket_bytes.chunks_exact(4).map(|b| self.layout.u32(b, 0)).max().unwrap_or(0);
        if highest < symoffset {
            return Ok(u64::from(symoffset));
        }
        // Follow the highest bucket's chain to its end (the low bit set).
        let chains_at = checked_add(buckets_at, u64::from(buckets) * 4)?;
        let mut index = u64::from(highest);
        loop {
            let value = self.read(checked_add(chains_at, (index - u64::from(symoffset)) * 4)?, 4, "DT_GNU_HASH")?;
            if self.layout.u32(&value, 0) & 1 == 1 {
                return Ok(index + 1);
            }
            index += 1;
            if index * 4 > self.size {
                return Err(Malformed::OutsideFile("a DT_GNU_HASH chain"));
            }
        }
    }

    fn segments(&self) -> Result<&[Segment], Malformed> {
        if let Some(segments) = self.segments.get() {
            return Ok(segments);
        }
        let segments = self.read_segments()?;
        Ok(self.segments.get_or_init(|| segments))
    }

    /// The program header table, each entry checked to be whole.
    fn program_header_table(&self) -> Result<Vec<u8>, Malformed> {
        let entry_size = if self.layout.is_64 { 56 } else { 32 };
        if self.phnum > 0 && usize::from(self.phentsize) < entry_size {
            return Err(Malformed::ProgramHeaderSize(self.phentsize));
        }
        self.read(self.phoff, u64::from(self.phentsize) * u64::from(self.phnum), "program headers")
    }

    fn read_segments(&self) -> Result<Vec<Segment>, Malformed> {
        let table = self.program_header_table()?;
        let layout = self.layout;
        Ok(table
            .chunks_exact(usize::from(self.phentsize.max(1)))
            .map(|entry| {
                if layout.is_64 {
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
            .collect())
    }

    fn dynamic_segment(&self) -> Result<Option<&DynamicSegment>, Malformed> {
        if let Some(segment) = self.dynamic.get() {
            return Ok(segment.as_ref());
        }
        let segment = self.read_dynamic_segment()?;
        Ok(self.dynamic.get_or_init(|| segment).as_ref())
    }

    fn read_dynamic_segment(&self) -> Result<Option<DynamicSegment>, Malformed> {
        let Some(segment) = self.segments()?.iter().find(|s| s.kind == PT_DYNAMIC).copied() else {
            return Ok(None);
        };
        let entries = self.read(segment.offset, segment.filesz, "PT_DYNAMIC")?;
        let word = self.layout.word_size();
        let mut tags: Vec<(u64, u64)> = Vec::new();
        for entry in entries.chunks_exact(2 * word) {
            let tag = self.layout.word(entry, 0);
            if tag == DT_NULL {
                break;
            }
            tags.push((tag, self.layout.word(entry, word)));
        }
        let mut dynamic = DynamicSegment { tags, strings: Vec::new() };
        let has_strings = dynamic.tags.iter().any(|(tag, _)| {
            matches!(*tag, DT_NEEDED | DT_SONAME | DT_RPATH | DT_RUNPATH | DT_VERNEED | DT_VERDEF | DT_SYMTAB)
        });
        if has_strings {
            let (Some(strtab), Some(strsz)) = (dynamic.find(DT_STRTAB), dynamic.find(DT_STRSZ)) else {
                return Err(Malformed::NoStringTable);
            };
            dynamic.strings =
                self.read(self.file_offset(strtab, "the string table")?, strsz, "dynamic string table")?;
        }
        Ok(Some(dynamic))
    }

    /// Where an address of a loaded segment is in the file, as the loader
    /// maps it.
    fn file_offset(&self, address: u64, what: &'static str) -> Result<u64, Malformed> {
        self.segments()?
            .iter()
            .filter(|s| s.kind == PT_LOAD)
            .find(|s| address >= s.vaddr && address - s.vaddr < s.filesz)
            .and_then(|s| s.offset.checked_add(address - s.vaddr))
            .ok_or(Malformed::OutsideSegments(what))
    }

    fn read(&self, offset: u64, size: u64, what: &'static str) -> Result<Vec<u8>, Malformed> {
        let end = offset.checked_add(size);
        if size > MAX_TABLE || end.is_none_or(|end| end > self.size) {
            return Err(Malformed::OutsideFile(what));
        }
        let mut buffer = vec![0u8; size as usize];
        if self.source.read_at(&mut buffer, offset)? < buffer.len() {
            return Err(Malformed::OutsideFile(what));
        }
        Ok(buffer)
    }
}

fn checked_add(at: u64, offset: impl Into<u64>) -> Result<u64, Malformed> {
    at.checked_add(offset.into()).ok_or(Malformed::OutsideFile("an offset past the address space"))
}

fn bounded_count(count: u64, what: &'static str) -> Result<usize, Malformed> {
    usize::try_from(count).ok().filter(|count| *count <= MAX_VERSION_ENTRIES).ok_or(Malformed::Count(what, count))
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

    fn me() -> Vec<u8> {
        std::fs::read(std::env::current_exe().unwrap()).unwrap()
    }

    #[test]
    fn files_without_the_magic_are_not_elf() {
        assert!(Elf::open(&b"#!/bin/sh\n"[..]).unwrap().is_none());
        assert!(Elf::open(&b""[..]).unwrap().is_none());
    }

    #[test]
    fn truncated_headers_are_malformed_not_a_panic() {
        for length in [5, 20, 51, 63] {
            let mut bytes = vec![0u8; length];
            bytes[..4].copy_from_slice(&MAGIC);
            if length > 5 {
                bytes[4] = 2;
                bytes[5] = 1;
            }
            assert!(Elf::open(&bytes[..]).is_err(), "length {length}");
        }
    }

    #[test]
    fn this_test_binary_is_read_like_the_loader_reads_it() {
        let bytes = me();
        let elf = Elf::open(&bytes[..]).unwrap().unwrap();
        assert_eq!(Some(elf.kind()), Some(arch::Arch::host().kind));
        let dynamic = elf.dynamic().unwrap();
        assert!(dynamic.needed.iter().any(|n| n.starts_with("libc.so")), "{dynamic:?}");
        assert_eq!(dynamic.interpreter.as_deref(), Some(arch::Arch::host().loader));
        assert!(dynamic.is_dynamic);
    }

    #[test]
    fn the_versions_it_needs_are_those_of_libc() {
        let bytes = me();
        let elf = Elf::open(&bytes[..]).unwrap().unwrap();
        let needs = elf.version_needs().unwrap();
        let libc = needs.iter().find(|need| need.file == "libc.so.6").expect("a need on libc.so.6");
        assert!(libc.versions.iter().any(|v| v.name.starts_with("GLIBC_2.")), "{libc:?}");
        let symbols = elf.undefined_symbols().unwrap();
        let versioned = symbols.iter().filter(|s| s.version.as_deref().is_some_and(|v| v.starts_with("GLIBC_")));
        assert!(versioned.count() > 10, "{symbols:?}");
        assert!(symbols.iter().any(|s| s.name == "pthread_create" || s.name == "malloc"));
    }

    #[test]
    fn libc_defines_the_versions_programs_need() {
        let libc = std::fs::read(format!("/lib/{}/libc.so.6", arch::Arch::host().triplet)).unwrap();
        let elf = Elf::open(&libc[..]).unwrap().unwrap();
        let defined = elf.version_definitions().unwrap();
        assert!(defined.iter().any(|v| v == "GLIBC_2.2.5" || v == "GLIBC_2.17"), "{defined:?}");
        assert!(!defined.iter().any(|v| v == "libc.so.6"), "the base entry is the file, not a version");
        assert_eq!(elf.dynamic().unwrap().soname.as_deref(), Some("libc.so.6"));
    }

    #[test]
    fn a_segment_offset_near_the_top_of_the_address_space_is_malformed_not_an_overflow() {
        let mut bytes = me();
        let phoff = u64::from_le_bytes(bytes[32..40].try_into().unwrap()) as usize;
        let (size, count) =
            (u16::from_le_bytes([bytes[54], bytes[55]]) as usize, u16::from_le_bytes([bytes[56], bytes[57]]) as usize);
        for entry in (0..count).map(|i| phoff + i * size) {
            if u32::from_le_bytes(bytes[entry..entry + 4].try_into().unwrap()) == PT_LOAD {
                bytes[entry + 8..entry + 16].copy_from_slice(&(u64::MAX - 15).to_le_bytes());
            }
        }
        let elf = Elf::open(&bytes[..]).unwrap().unwrap();
        assert!(elf.dynamic().is_err());
    }

    #[test]
    fn garbage_after_a_valid_header_is_malformed() {
        let bytes = me();
        let mut cut = bytes[..200].to_vec();
        cut[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
        assert!(Elf::open(&cut[..]).unwrap().unwrap().dynamic().is_err());
        assert!(Elf::open(&bytes[..100]).unwrap().unwrap().dynamic().is_err());
    }

    #[test]
    fn the_interpreter_is_read_from_the_first_page_alone() {
        let bytes = me();
        let elf = Elf::open(&bytes[..4096]).unwrap().unwrap();
        assert_eq!(elf.interpreter().unwrap().as_deref(), Some(arch::Arch::host().loader));
    }
}
