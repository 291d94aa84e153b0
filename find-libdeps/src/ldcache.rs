//! glibc's loader cache, `/etc/ld.so.cache`, read as `ldconfig -p` prints
//! it, for `ctypes.util.find_library`: on Linux that runs `ldconfig -p` and
//! takes the first line matching `\s+(lib<name>\.[^\s]+)\s+\(<abi>`
//! (CPython's `Lib/ctypes/util.py`, `_findSoname_ldconfig`), i.e. the first
//! entry of this architecture, in the cache's order, whose name is
//! `lib<name>.` and more. ldconfig sorts entries by `_dl_cache_libcmp`,
//! descending, so `libpq.so.5` comes before the development link
//! `libpq.so`.
//!
//! Format (glibc's `sysdeps/generic/dl-cache.h`, the "new" format ldconfig
//! has written alone since glibc 2.32): a 48-byte header, magic
//! `glibc-ld.so.cache1.1`, `nlibs` (u32 at 20), `len_strings` (u32 at 24);
//! then `nlibs` entries of 24 bytes: flags (i32), key and value (u32
//! offsets of NUL-terminated strings from the header's start), osversion,
//! hwcap (u64). Integers are in the target's byte order.

use std::cmp::Ordering;
use std::path::{Path, PathBuf};

use venvkit_common::root::Root;
use venvkit_elf::arch::Arch;

const MAGIC: &[u8] = b"glibc-ld.so.cache1.1";
const HEADER: usize = 48;
const ENTRY: usize = 24;
/// The cache of a system with every library of Debian installed holds
/// about 60,000 entries; more is a damaged file.
const MAX_ENTRIES: usize = 1 << 20;

/// The entries of one architecture, in the cache's order.
#[derive(Debug, Default)]
pub struct LdCache {
    /// (file name, path), e.g. (`libpq.so.5`, `/lib/x86_64-linux-gnu/libpq.so.5`).
    entries: Vec<(String, PathBuf)>,
}

impl LdCache {
    /// The cache of `root`; `Ok(None)` when it has none.
    /// Errors name what is damaged.
    pub fn read(root: &Root, arch: &Arch) -> Result<Option<LdCache>, String> {
        let path = root.host_path(Path::new("/etc/ld.so.cache"));
        match std::fs::read(&path) {
            Ok(bytes) => LdCache::parse(&bytes, arch).map(Some),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(format!("/etc/ld.so.cache: {}", venvkit_common::io::plain(&err))),
        }
    }

    /// Parses a cache, keeping the entries `ldconfig` marks as `arch`'s.
    pub fn parse(bytes: &[u8], arch: &Arch) -> Result<LdCache, String> {
        let damaged = |why: &str| format!("/etc/ld.so.cache: {why}");
        if !bytes.starts_with(MAGIC) {
            return Err(damaged("not a cache in glibc's format 1.1 (an old ldconfig's?)"));
        }
        if bytes.len() < HEADER {
            return Err(damaged("shorter than its header"));
        }
        let u32_at = |at: usize| -> u32 {
            let field: [u8; 4] = bytes[at..at + 4].try_into().expect("4 bytes");
            if arch.kind.little_endian {
                u32::from_le_bytes(field)
            } else {
                u32::from_be_bytes(field)
            }
        };
        let count = u32_at(20) as usize;
        if count > MAX_ENTRIES || HEADER + count * ENTRY > bytes.len() {
            return Err(damaged(&format!("{count} entries do not fit in {} bytes", bytes.len())));
        }
        let string = |offset: u32| -> Result<&str, String> {
            let tail = bytes.get(offset as usize..).ok_or_else(|| damaged("a name outside the file"))?;
            let end = tail.iter().position(|&b| b == 0).ok_or_else(|| damaged("a name without its end"))?;
            std::str::from_utf8(&tail[..end]).map_err(|_| damaged("a name that is not UTF-8"))
        };
        let mut entries = Vec::new();
        for index in 0..count {
            let at = HEADER + index * ENTRY;
            if u32_at(at) as i32 != arch.ld_cache_flags {
                continue;
            }
            let (key, value) = (string(u32_at(at + 4))?, string(u32_at(at + 8))?);
            entries.push((key.to_string(), PathBuf::from(value)));
        }
        Ok(LdCache { entries })
    }

    /// `find_library(name)`: the first entry named `lib<name>.` and at least
    /// one more character, with its path.
    pub fn find_library(&self, name: &str) -> Option<(&str, &Path)> {
        let prefix = format!("lib{name}.");
        self.entries
            .iter()
            .find(|(key, _)| key.len() > prefix.len() && key.starts_with(&prefix) && !key.contains(char::is_whitespace))
            .map(|(key, path)| (key.as_str(), path.as_path()))
    }

    /// A cache made from the files of `dirs` (paths inside `root`), for a
    /// root without one, as ldconfig makes it: each library by its SONAME
    /// (a file of that name), and the `lib*.so` development links, sorted
    /// by [`libcmp`] descending, the first directory first for equal names.
    pub fn from_directories(root: &Root, dirs: &[PathBuf], arch: &Arch) -> LdCache {
        let mut entries: Vec<(String, PathBuf)> = Vec::new();
        for dir in dirs {
            let Ok(listing) = std::fs::read_dir(root.host_path(dir)) else { continue };
            let mut names: Vec<String> = listing.flatten().filter_map(|e| e.file_name().into_string().ok()).collect();
            names.sort();
            for name in names {
                let listed = name.starts_with("lib") && name.contains(".so");
                if !listed || entries.iter().any(|(known, _)| *known == name) {
                    continue;
                }
                let path = dir.join(&name);
                if name.ends_with(".so") || soname_of(root, &path, arch).as_deref() == Some(name.as_str()) {
                    entries.push((name, path));
                }
            }
        }
        entries.sort_by(|(a, _), (b, _)| libcmp(b, a));
        LdCache { entries }
    }
}

/// The SONAME of the library at `path` (inside `root`), if it is one of `arch`'s.
fn soname_of(root: &Root, path: &Path, arch: &Arch) -> Option<String> {
    let file = std::fs::File::open(root.host_path(path)).ok()?;
    let elf = venvkit_elf::Elf::open(&file).ok()??;
    if elf.kind() != arch.kind {
        return None;
    }
    elf.dynamic().ok()?.soname
}

/// glibc's `_dl_cache_libcmp` (`elf/dl-cache.c`): names compared with runs
/// of digits as numbers, a digit sorting after any other character.
pub fn libcmp(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() {
        if a[i].is_ascii_digit() {
            if j >= b.len() || !b[j].is_ascii_digit() {
                return Ordering::Greater;
            }
            let number = |text: &[u8], at: &mut usize| {
                let mut value: u64 = 0;
                while *at < text.len() && text[*at].is_ascii_digit() {
                    value = value.saturating_mul(10).saturating_add(u64::from(text[*at] - b'0'));
                    *at += 1;
                }
                value
            };
            let (x, y) = (number(a, &mut i), number(b, &mut j));
            if x != y {
                return x.cmp(&y);
            }
        } else if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        } else if j >= b.len() || a[i] != b[j] {
            return a[i].cmp(b.get(j).unwrap_or(&0));
        } else {
            i += 1;
            j += 1;
        }
    }
    if j < b.len() {
        Ordering::Less
    } else {
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_elf::arch::{AMD64, ARM64};

    /// A cache as ldconfig writes it: header, entries, then the strings.
    fn cache(entries: &[(i32, &str, &str)]) -> Vec<u8> {
        let strings_at = HEADER + entries.len() * ENTRY;
        let mut strings = Vec::new();
        let mut table = Vec::new();
        for (flags, key, value) in entries {
            let key_at = strings_at + strings.len();
            strings.extend_from_slice(key.as_bytes());
            strings.push(0);
            let value_at = strings_at + strings.len();
            strings.extend_from_slice(value.as_bytes());
            strings.push(0);
            table.extend_from_slice(&flags.to_le_bytes());
            table.extend_from_slice(&(key_at as u32).to_le_bytes());
            table.extend_from_slice(&(value_at as u32).to_le_bytes());
            table.extend_from_slice(&[0; 12]);
        }
        let mut bytes = MAGIC.to_vec();
        bytes.extend_from_slice(&(entries.len() as u32).to_le_bytes());
        bytes.extend_from_slice(&(strings.len() as u32).to_le_bytes());
        bytes.resize(HEADER, 0);
        bytes.extend(table);
        bytes.extend(strings);
        bytes
    }

    #[test]
    fn find_library_takes_the_first_entry_of_the_architecture_named_lib_name_dot() {
        let bytes = cache(&[
            (0x0a03, "libpq.so.5", "/lib/aarch64-linux-gnu/libpq.so.5"),
            (0x0303, "libpq.so.5", "/lib/x86_64-linux-gnu/libpq.so.5"),
            (0x0303, "libpq.so", "/lib/x86_64-linux-gnu/libpq.so"),
            (0x0303, "libpqwalreceiver.so", "/lib/x86_64-linux-gnu/libpqwalreceiver.so"),
            (0x0303, "libc.so.6", "/lib/x86_64-linux-gnu/libc.so.6"),
        ]);
        let amd64 = LdCache::parse(&bytes, &AMD64).unwrap();
        assert_eq!(amd64.find_library("pq"), Some(("libpq.so.5", Path::new("/lib/x86_64-linux-gnu/libpq.so.5"))));
        assert_eq!(amd64.find_library("c").map(|f| f.0), Some("libc.so.6"));
        assert_eq!(amd64.find_library("p"), None, "libpq is not lib p.");
        assert_eq!(amd64.find_library("magic"), None);
        let arm64 = LdCache::parse(&bytes, &ARM64).unwrap();
        assert_eq!(arm64.find_library("pq").map(|f| f.1), Some(Path::new("/lib/aarch64-linux-gnu/libpq.so.5")));
        // Regular-expression characters in the name are literal.
        let bytes = cache(&[(0x0303, "libusb-1.0.so.0", "/lib/x86_64-linux-gnu/libusb-1.0.so.0")]);
        let cache = LdCache::parse(&bytes, &AMD64).unwrap();
        assert_eq!(cache.find_library("usb-1.0").map(|f| f.0), Some("libusb-1.0.so.0"));
        assert_eq!(cache.find_library("usb-1X0"), None);
    }

    #[test]
    fn damaged_caches_are_errors_not_panics() {
        let good = cache(&[(0x0303, "libz.so.1", "/lib/libz.so.1")]);
        for bad in [
            b"ld.so-1.7.0\0".to_vec(),
            good[..30].to_vec(),
            {
                let mut b = good.clone();
                b[20] = 0xff;
                b[23] = 0x7f;
                b
            },
            {
                let mut b = good.clone();
                b[HEADER + 4] = 0xff;
                b[HEADER + 7] = 0xff;
                b
            },
            {
                let mut b = good.clone();
                b.truncate(b.len() - 1);
                b
            },
        ] {
            assert!(LdCache::parse(&bad, &AMD64).is_err());
        }
    }

    #[test]
    fn libcmp_compares_numbers_as_numbers_as_glibc_does() {
        assert_eq!(libcmp("libpq.so.5", "libpq.so"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so.10", "libfoo.so.9"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so.a"), Ordering::Greater);
        assert_eq!(libcmp("libfoo.so.1", "libfoo.so.1"), Ordering::Equal);
        assert_eq!(libcmp("liba.so", "libb.so"), Ordering::Less);
    }

    #[test]
    fn a_root_without_a_cache_is_read_from_its_directories_in_ldconfigs_order() {
        // This test's own libc: a real library whose SONAME is libc.so.6.
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let libc =
            maps.lines().filter_map(|l| l.split_whitespace().nth(5)).find(|p| p.ends_with("/libc.so.6")).unwrap();
        let host = venvkit_suites::fixtures::Scratch::new("find-libdeps-ldcache");
        std::fs::create_dir_all(host.join("usr/lib")).unwrap();
        // Only a file named by its SONAME, or a development link, is in a cache.
        for name in ["libc.so.6.99", "libc.so.6", "libc.so"] {
            std::fs::copy(libc, host.join("usr/lib").join(name)).unwrap();
        }
        std::fs::write(host.join("usr/lib/libcx.so.7"), b"not ELF").unwrap();
        let cache = LdCache::from_directories(&Root::new(&host), &[PathBuf::from("/usr/lib")], Arch::host());
        assert_eq!(cache.find_library("c"), Some(("libc.so.6", Path::new("/usr/lib/libc.so.6"))));
        assert_eq!(cache.find_library("cx"), None);
    }
}
