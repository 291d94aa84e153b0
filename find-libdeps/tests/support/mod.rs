//! Fixtures for find-libdeps' tests: ELF objects built with `cc` (with
//! chosen SONAMEs, NEEDED entries, RPATH or RUNPATH), small synthetic roots
//! with a dpkg database, and real Debian root filesystems made once per run
//! with mmdebstrap and cached under target/.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;

// Not every test binary uses every shared fixture.
#[allow(unused_imports)]
pub use venvkit_suites::fixtures::{is_root, run, Run, Scratch};
#[allow(unused_imports)]
pub use venvkit_suites::rootfs::{arm64_venvs, plain as rootfs, venvs as venv_rootfs};

pub fn require_root() {
    venvkit_suites::fixtures::require_root("mmdebstrap, chroot")
}

pub fn binary() -> PathBuf {
    match std::env::var_os("FIND_LIBDEPS_BIN").filter(|path| !path.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => assert_cmd::cargo::cargo_bin("find-libdeps"),
    }
}

pub fn command() -> Command {
    let mut command = Command::new(binary());
    for var in ["FIND_LIBDEPS_ROOT", "FIND_LIBDEPS_FORMAT", "FIND_LIBDEPS_IGNORE_SONAME"] {
        command.env_remove(var);
    }
    command
}

/// How an object's search path is recorded.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Tag {
    Rpath,
    Runpath,
}

/// One object to build with cc.
pub struct Build<'a> {
    pub output: &'a Path,
    pub soname: Option<&'a str>,
    /// Sonames (or file names, for libraries without one) it needs.
    pub needs: &'a [&'a str],
    pub search: &'a [&'a str],
    pub tag: Tag,
    pub executable: bool,
    /// Link against the C library (and so need libc.so.6).
    pub libc: bool,
}

impl<'a> Build<'a> {
    pub fn library(output: &'a Path) -> Build<'a> {
        Build { output, soname: None, needs: &[], search: &[], tag: Tag::Rpath, executable: false, libc: true }
    }

    /// Compiles and links; the needed libraries are satisfied at link time
    /// by throwaway stubs with those SONAMEs, so the result records exactly
    /// `needs` and nothing about where they were.
    pub fn build(&self) {
        let stubs = Scratch::new("stubs");
        let mut args: Vec<String> = vec!["-o".into(), self.output.display().to_string(), "-fPIC".into()];
        let source =
            stubs.write("object.c", b"int venvkit_fixture(void) { return 42; }\nint main(void) { return 0; }\n");
        args.push(source.display().to_string());
        if !self.executable {
            args.push("-shared".into());
        }
        if !self.libc {
            args.extend(["-nostdlib".into(), "-nostartfiles".into()]);
        }
        if let Some(soname) = self.soname {
            args.push(format!("-Wl,-soname,{soname}"));
        }
        for (index, needed) in self.needs.iter().enumerate() {
            let stub = stubs.path(&format!("stub{index}/{needed}"));
            std::fs::create_dir_all(stub.parent().unwrap()).unwrap();
            let compiled = Command::new("cc")
                .args(["-shared", "-nostdlib", "-o"])
                .arg(&stub)
                .arg(format!("-Wl,-soname,{needed}"))
                .arg(&source)
                .status()
                .unwrap();
            assert!(compiled.success(), "cc failed for the stub {needed}");
            // Linking the stub by path records its SONAME as DT_NEEDED.
            args.push(stub.display().to_string());
        }
        args.push(if self.tag == Tag::Runpath {
            "-Wl,--enable-new-dtags".into()
        } else {
            "-Wl,--disable-new-dtags".into()
        });
        for dir in self.search {
            args.push(format!("-Wl,-rpath,{dir}"));
        }
        std::fs::create_dir_all(self.output.parent().unwrap()).unwrap();
        let mut cc = Command::new("cc");
        // --no-as-needed must come before the libraries it applies to.
        let position = args.iter().position(|a| a.contains("stub")).unwrap_or(args.len());
        args.insert(position, "-Wl,--no-as-needed".into());
        let output = cc.args(&args).output().unwrap();
        assert!(output.status.success(), "cc {args:?}: {}", String::from_utf8_lossy(&output.stderr));
    }
}

/// Rewrites, in an ELF64 file, the first dynamic entry tagged `from` to be
/// tagged `to` (DT_SONAME 14, DT_RPATH 15, DT_RUNPATH 29): how the tests
/// make an object with both an RPATH and a RUNPATH, or swap one for the other.
pub fn retag(path: &Path, from: u64, to: u64) {
    let mut bytes = std::fs::read(path).unwrap();
    let u64_at = |b: &[u8], at: usize| u64::from_le_bytes(b[at..at + 8].try_into().unwrap());
    let u16_at = |b: &[u8], at: usize| u16::from_le_bytes(b[at..at + 2].try_into().unwrap());
    let phoff = u64_at(&bytes, 32) as usize;
    let (phentsize, phnum) = (u16_at(&bytes, 54) as usize, u16_at(&bytes, 56) as usize);
    let dynamic = (0..phnum)
        .map(|i| phoff + i * phentsize)
        .find(|&at| u32::from_le_bytes(bytes[at..at + 4].try_into().unwrap()) == 2)
        .expect("no PT_DYNAMIC");
    let (offset, size) = (u64_at(&bytes, dynamic + 8) as usize, u64_at(&bytes, dynamic + 32) as usize);
    let entry = (offset..offset + size).step_by(16).find(|&at| u64_at(&bytes, at) == from).expect("no such tag");
    bytes[entry..entry + 8].copy_from_slice(&to.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

pub const DT_SONAME: u64 = 14;
pub const DT_RPATH: u64 = 15;
pub const DT_RUNPATH: u64 = 29;

/// A dpkg database written into a synthetic root.
pub struct Dpkg<'a> {
    pub root: &'a Scratch,
    pub status: String,
}

impl<'a> Dpkg<'a> {
    pub fn new(root: &'a Scratch) -> Dpkg<'a> {
        root.mkdir("var/lib/dpkg/info");
        root.mkdir("var/lib/dpkg/updates");
        Dpkg { root, status: String::new() }
    }

    /// Adds an installed package owning `files` (as its .list names them).
    pub fn package(&mut self, name: &str, multi_arch_same: bool, files: &[&str]) -> &mut Self {
        self.status.push_str(&format!(
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: 1.0-1\n{}\n",
            if multi_arch_same { "Multi-Arch: same\n" } else { "" }
        ));
        let list_name = if multi_arch_same { format!("{name}:amd64.list") } else { format!("{name}.list") };
        let list: String = files.iter().map(|f| format!("{f}\n")).collect();
        self.root.write(&format!("var/lib/dpkg/info/{list_name}"), list.as_bytes());
        self
    }

    pub fn write(&self, format_file: Option<&str>) {
        self.root.write("var/lib/dpkg/status", self.status.as_bytes());
        if let Some(format) = format_file {
            self.root.write("var/lib/dpkg/info/format", format.as_bytes());
        }
    }
}

/// The lines of find-libdeps' stdout.
pub fn lines(text: &str) -> Vec<&str> {
    text.lines().collect()
}
