//! The architectures venvkit knows, in one table: Debian's name for each, its
//! multiarch triplet, the ELF class and machine its objects carry, the
//! loader's path (PT_INTERP), `$PLATFORM`, and the flags `ldconfig` writes
//! into `/etc/ld.so.cache` for its libraries. Sources: Debian's
//! `dpkg-architecture -L` and multiarch tuples, glibc's `sysdeps/*/dl-cache.h`
//! and `sysdeps/unix/sysv/linux/*/ldconfig.h`.

use crate::Kind;

/// One Debian architecture as the loader and dpkg see it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Arch {
    /// Debian's name (`dpkg --print-architecture`): `amd64`, `arm64`.
    pub name: &'static str,
    /// The multiarch triplet: library directories are `/lib/<triplet>` and
    /// `/usr/lib/<triplet>`, and glibc's `$LIB` is `lib/<triplet>`.
    pub triplet: &'static str,
    /// The ELF class, byte order and machine of its objects.
    pub kind: Kind,
    /// The program interpreter its dynamic executables name.
    pub loader: &'static str,
    /// `$PLATFORM` (the kernel's AT_PLATFORM).
    pub platform: &'static str,
    /// `flags` of this architecture's libc6 entries in ld.so.cache:
    /// FLAG_ELF_LIBC6 (0x0003) with the machine's FLAG_*_LIB64.
    pub ld_cache_flags: i32,
}

pub const EM_386: u16 = 3;
pub const EM_ARM: u16 = 40;
pub const EM_X86_64: u16 = 62;
pub const EM_AARCH64: u16 = 183;

pub const AMD64: Arch = Arch {
    name: "amd64",
    triplet: "x86_64-linux-gnu",
    kind: Kind { is_64: true, little_endian: true, machine: EM_X86_64 },
    loader: "/lib64/ld-linux-x86-64.so.2",
    platform: "x86_64",
    ld_cache_flags: 0x0303,
};

pub const ARM64: Arch = Arch {
    name: "arm64",
    triplet: "aarch64-linux-gnu",
    kind: Kind { is_64: true, little_endian: true, machine: EM_AARCH64 },
    loader: "/lib/ld-linux-aarch64.so.1",
    platform: "aarch64",
    ld_cache_flags: 0x0a03,
};

/// Every architecture whose objects venvkit resolves.
pub const ALL: &[Arch] = &[AMD64, ARM64];

impl Arch {
    /// By Debian's name.
    pub fn named(name: &str) -> Option<&'static Arch> {
        ALL.iter().find(|arch| arch.name == name)
    }

    /// The architecture whose objects are of `kind`.
    pub fn of_kind(kind: Kind) -> Option<&'static Arch> {
        ALL.iter().find(|arch| arch.kind == kind)
    }

    /// The architecture this program was built for.
    pub fn host() -> &'static Arch {
        if cfg!(target_arch = "aarch64") {
            &ARM64
        } else {
            &AMD64
        }
    }

    /// glibc's `$LIB` on Debian: `lib/<triplet>`.
    pub fn lib(&self) -> String {
        format!("lib/{}", self.triplet)
    }

    /// The loader's built-in search path on Debian, after ld.so.cache.
    pub fn default_dirs(&self) -> [String; 4] {
        [format!("/lib/{}", self.triplet), format!("/usr/lib/{}", self.triplet), "/lib".into(), "/usr/lib".into()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn architectures_are_found_by_name_and_by_machine() {
        assert_eq!(Arch::named("arm64"), Some(&ARM64));
        assert_eq!(Arch::of_kind(AMD64.kind), Some(&AMD64));
        assert_eq!(Arch::named("armhf"), None);
        assert_eq!(ARM64.lib(), "lib/aarch64-linux-gnu");
        assert_eq!(AMD64.default_dirs()[1], "/usr/lib/x86_64-linux-gnu");
    }
}
