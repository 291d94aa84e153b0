//! Debian root filesystems for the tests and benchmarks, each made once per
//! target directory with mmdebstrap (under `target/venvkit-fixtures/`) and
//! shared by every test. `make test` builds them all first (the `fixtures`
//! binary), outside any test's time limit; a test that finds one missing
//! builds it itself, and concurrent callers wait for one build.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Where the fixtures live.
pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/venvkit-fixtures")
}

/// One root filesystem fixture: its name, suite, packages, and what is done
/// to it after mmdebstrap.
pub struct Fixture {
    pub name: &'static str,
    pub suite: &'static str,
    /// A Debian architecture other than the machine's (mmdebstrap's
    /// `--arch`; its programs then run under qemu-user, through binfmt_misc).
    pub arch: Option<&'static str>,
    /// Lists of packages, all installed.
    pub packages: &'static [&'static [&'static str]],
    pub finish: fn(&Path),
    /// Raised whenever `finish` changes, so that a cached fixture made by
    /// an older one is made again (a change of packages does it too).
    pub revision: u32,
}

/// Every fixture, for the builder: the cheap ones first.
/// The arm64 one right after the venvs: the runtime that copies the venvs
/// waits for them, and the other core builds the arm64 rootfs meanwhile.
pub const ALL: &[Fixture] = &[APT_BASE, PLAIN_BOOKWORM, PLAIN_TRIXIE, SERVERS, VENVS, ARM64_VENVS, LOADERS_RUNTIME];

/// What the rootfs tests need: libraries whose packages list them under
/// /lib or /usr/lib, a -dev package, an alternatives-managed library, and
/// the tools the differential oracle uses.
const PLAIN_PACKAGES: &[&str] = &["libpq5", "zlib1g", "libc6-dev", "libblas3", "binutils", "dpkg-dev"];

/// The machine's architecture, [`PLAIN_PACKAGES`], nothing done after.
const fn plain_fixture(name: &'static str, suite: &'static str) -> Fixture {
    Fixture { name, suite, arch: None, packages: &[PLAIN_PACKAGES], finish: |_| {}, revision: 1 }
}

const PLAIN_BOOKWORM: Fixture = plain_fixture("rootfs-bookworm", "bookworm");
const PLAIN_TRIXIE: Fixture = plain_fixture("rootfs-trixie", "trixie");

/// A real Debian root filesystem of `suite` with [`PLAIN_PACKAGES`].
pub fn plain(suite: &str) -> PathBuf {
    match suite {
        "bookworm" => PLAIN_BOOKWORM.get(),
        "trixie" => PLAIN_TRIXIE.get(),
        other => panic!("no plain rootfs fixture for {other}"),
    }
}

const APT_BASE: Fixture = Fixture {
    name: "rootfs-bookworm-apt",
    suite: "bookworm",
    arch: None,
    packages: &[],
    revision: 1,
    finish: |dir| {
        // mmdebstrap leaves the lists it used; a real base image has none.
        for entry in std::fs::read_dir(dir.join("var/lib/apt/lists")).unwrap().flatten() {
            if entry.path().is_file() && entry.file_name() != "lock" {
                std::fs::remove_file(entry.path()).unwrap();
            }
        }
    },
};

/// The base every apt-install test's layer starts from: a minimal bookworm.
pub fn apt_base() -> PathBuf {
    APT_BASE.get()
}

const VENVS: Fixture = Fixture {
    name: "rootfs-bookworm-venvs",
    suite: "bookworm",
    arch: None,
    revision: 2,
    packages: &[
        &[
            "python3-venv",
            "python3-dev",
            "gcc",
            "libc6-dev",
            "libpq-dev",
            "libxml2-dev",
            "libxslt1-dev",
            "libjpeg-dev",
            "zlib1g-dev",
            "binutils",
            "dpkg-dev",
            // hid tries libhidapi-hidraw.so, this package's development
            // link, before the runtime's libhidapi-hidraw.so.0.
            "libhidapi-dev",
            // GeoDjango's, found through ctypes by django.contrib.gis.
            "libgeos-c1v5",
        ],
        LOADER_LIBRARIES,
    ],
    finish: |dir| {
        chroot_with_network(
            dir,
            &format!(
                "set -e
python3 -m venv /opt/source-venv
/opt/source-venv/bin/pip install --quiet --no-binary psycopg2,lxml,Pillow psycopg2 lxml Pillow
python3 -m venv /opt/wheel-venv
/opt/wheel-venv/bin/pip install --quiet --only-binary :all: numpy psycopg2-binary
python3 -m venv /opt/loads-venv
/opt/loads-venv/bin/pip install --quiet {}
python3 -m venv /opt/django-venv
/opt/django-venv/bin/pip install --quiet 'Django>=5.2,<5.3'",
                LOADERS.iter().map(|(requirement, _)| *requirement).collect::<Vec<_>>().join(" ")
            ),
        )
    },
};

/// A bookworm rootfs with real virtualenvs: /opt/source-venv with psycopg2,
/// lxml and Pillow built from source against Debian's -dev packages;
/// /opt/wheel-venv with manylinux wheels (numpy, psycopg2-binary) that
/// bundle their libraries auditwheel's way; /opt/loads-venv with the
/// [`LOADERS`], which load their libraries at run time through ctypes or
/// cffi; /opt/django-venv with Django, whose GIS modules load GEOS and GDAL.
pub fn venvs() -> PathBuf {
    VENVS.get()
}

/// Packages from PyPI that load a C library at run time (ctypes or cffi's
/// ABI mode), each with a call that needs it: single names, alternative
/// lists, find_library and helper functions.
pub const LOADERS: &[(&str, &str)] = &[
    ("psycopg==3.2.12", "import psycopg; print(psycopg.pq.__impl__, psycopg.pq.version())"),
    ("python-magic==0.4.27", "import magic; print(magic.from_buffer(b'%PDF-1.4', mime=True))"),
    ("pyzbar==0.1.9", "from pyzbar.pyzbar import decode; print(decode((bytes(100), 10, 10)))"),
    ("libarchive-c==5.3", "import libarchive.ffi as f; print(f.version_number())"),
    ("pylibdmtx==0.1.10", "from pylibdmtx.pylibdmtx import encode; e = encode(b'hi'); print(e.width, e.height)"),
    ("cairocffi==1.7.1", "import cairocffi; print(cairocffi.cairo_version_string())"),
    ("sounddevice==0.5.6", "import sounddevice; print(sounddevice.get_portaudio_version())"),
    ("libusb1==3.4.0", "import usb1; print(usb1.getVersion())"),
    ("pyenchant==3.3.0", "import enchant; print(enchant.get_enchant_version())"),
    ("hid==1.0.9", "import hid; print(hid.enumerate())"),
    ("pysodium==0.7.19", "import pysodium; print(pysodium.randombytes(4).hex())"),
];

/// What find-libdeps must list for /opt/loads-venv: the [`LOADERS`]'
/// libraries, and libc6 for cffi's compiled backend.
pub const LOADER_LIBRARIES: &[&str] = &[
    "libarchive13",
    "libc6",
    "libcairo2",
    "libdmtx0b",
    "libenchant-2-2",
    "libhidapi-hidraw0",
    "libmagic1",
    "libportaudio2",
    "libpq5",
    "libsodium23",
    "libusb-1.0-0",
    "libzbar0",
];

const ARM64_VENVS: Fixture = Fixture {
    name: "rootfs-bookworm-arm64-venvs",
    suite: "bookworm",
    arch: Some("arm64"),
    revision: 1,
    packages: &[&["python3-venv", "python3-dev", "gcc", "libc6-dev", "libpq-dev", "binutils"]],
    finish: |dir| {
        // A C extension of our own, as psycopg2 from source takes more than
        // three minutes of gcc under qemu-user.
        let project = dir.join("tmp/linked");
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(project.join("linked.c"), LINKED_C).unwrap();
        std::fs::write(project.join("setup.py"), LINKED_SETUP).unwrap();
        // Under qemu-user: pip, and gcc, run as arm64 programs. --no-compile:
        // byte-compiling numpy there takes a third of its install.
        chroot_with_network(
            dir,
            "set -e
python3 -m venv /opt/source-venv
/opt/source-venv/bin/pip install --quiet --no-compile --no-build-isolation /tmp/linked
/opt/source-venv/bin/python -c 'import linked; print(linked.versions())'
rm -r /tmp/linked
python3 -m venv /opt/wheel-venv
/opt/wheel-venv/bin/pip install --quiet --no-compile --only-binary :all: numpy psycopg2-binary",
        )
    },
};

/// A CPython extension module that links libpq and zlib, as psycopg2 or
/// lxml built from source do.
const LINKED_C: &str = r#"#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <libpq-fe.h>
#include <zlib.h>

static PyObject *versions(PyObject *self, PyObject *unused) {
    return Py_BuildValue("(is)", PQlibVersion(), zlibVersion());
}

static PyMethodDef methods[] = {
    {"versions", versions, METH_NOARGS, "libpq's and zlib's versions"},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "linked", NULL, -1, methods};

PyMODINIT_FUNC PyInit_linked(void) { return PyModule_Create(&module); }
"#;

const LINKED_SETUP: &str = r#"from setuptools import Extension, setup

setup(
    name="linked",
    version="1.0",
    ext_modules=[
        Extension("linked", ["linked.c"], include_dirs=["/usr/include/postgresql"], libraries=["pq", "z"])
    ],
)
"#;

/// An arm64 bookworm rootfs (made on any machine, through qemu-user) with
/// /opt/source-venv, holding an extension built there from source against
/// libpq-dev and zlib1g-dev, and /opt/wheel-venv, manylinux aarch64 wheels
/// (numpy, psycopg2-binary) that bundle their libraries.
pub fn arm64_venvs() -> PathBuf {
    ARM64_VENVS.get()
}

const LOADERS_RUNTIME: Fixture = Fixture {
    name: "rootfs-bookworm-loaders-runtime",
    suite: "bookworm",
    arch: None,
    revision: 1,
    packages: &[&["python3"], LOADER_LIBRARIES],
    finish: |dir| {
        // The build stage's venv, copied to the same path (COPY --from).
        let venv = venvs().join("opt/loads-venv");
        let copied = Command::new("cp").arg("-a").arg(&venv).arg(dir.join("opt/")).status().unwrap();
        assert!(copied.success(), "cp -a {}", venv.display());
    },
};

const BENCH: Fixture = Fixture {
    name: "rootfs-bookworm-bench",
    suite: "bookworm",
    arch: None,
    revision: 1,
    packages: &[&["python3-venv", "dpkg-dev"]],
    finish: |dir| {
        chroot_with_network(
            dir,
            "set -e
python3 -m venv /opt/bench-venv
/opt/bench-venv/bin/pip install --quiet --only-binary :all: numpy scipy pandas pyarrow",
        )
    },
};

/// For `make bench` only: a bookworm rootfs with /opt/bench-venv, manylinux
/// wheels of numpy, scipy, pandas and pyarrow (about 10,000 files).
pub fn bench_venv() -> PathBuf {
    BENCH.get()
}

/// The runtime half for /opt/loads-venv: a minimal bookworm with Python and
/// only [`LOADER_LIBRARIES`], and the venv copied in.
pub fn loaders_runtime() -> PathBuf {
    LOADERS_RUNTIME.get()
}

impl Fixture {
    /// The fixture's directory, made first if this run has not made it.
    pub fn get(&self) -> PathBuf {
        let fixtures = fixtures_dir();
        std::fs::create_dir_all(&fixtures).unwrap();
        let dir = fixtures.join(self.name);
        let lock = std::fs::File::create(fixtures.join(format!("{}.lock", self.name))).unwrap();
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e).unwrap();
        if !self.is_complete() {
            remove_stale(&dir);
            let mut command = Command::new("mmdebstrap");
            command.args(["--quiet", "--variant=minbase", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]);
            if let Some(arch) = self.arch {
                command.arg(format!("--arch={arch}"));
            }
            let packages: Vec<&str> = self.packages.concat();
            if !packages.is_empty() {
                command.arg(format!("--include={}", packages.join(",")));
            }
            let output =
                command.arg(self.suite).arg(&dir).output().expect("mmdebstrap is missing: make test installs it");
            assert!(output.status.success(), "mmdebstrap {}: {}", self.suite, String::from_utf8_lossy(&output.stderr));
            (self.finish)(&dir);
            std::fs::write(dir.join(".venvkit-complete"), self.fingerprint()).unwrap();
        }
        drop(lock);
        dir
    }

    /// Whether it was made, by this definition.
    pub fn is_complete(&self) -> bool {
        let marker = fixtures_dir().join(self.name).join(".venvkit-complete");
        std::fs::read_to_string(marker).is_ok_and(|made| made == self.fingerprint())
    }

    /// What the completion marker holds: the definition it was made by.
    fn fingerprint(&self) -> String {
        let arch = self.arch.map(|arch| format!("arch {arch}\n")).unwrap_or_default();
        format!("{} {}\n{arch}revision {}\n", self.suite, self.packages.concat().join(" "), self.revision)
    }
}

/// Removes what an interrupted build left: first whatever is still mounted
/// inside it (a killed chroot's /proc and /dev), deepest first, then the
/// files. A directory that cannot be removed fails here, naming it, rather
/// than in mmdebstrap's "not empty".
fn remove_stale(dir: &Path) {
    if !dir.exists() {
        return;
    }
    let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut mounted: Vec<PathBuf> = mountinfo
        .lines()
        .filter_map(|line| line.split_whitespace().nth(4))
        .map(PathBuf::from)
        .filter(|mount| mount.starts_with(dir))
        .collect();
    mounted.sort_by_key(|mount| std::cmp::Reverse(mount.components().count()));
    for mount in mounted {
        let _ = Command::new("umount").arg("--lazy").arg(&mount).status();
    }
    if let Err(err) = std::fs::remove_dir_all(dir) {
        panic!("{}: an interrupted fixture build left it and it cannot be removed: {err}", dir.display());
    }
}

/// Runs `script` with sh chrooted into `dir`, in a private mount namespace
/// with /proc, /dev, the machine's resolv.conf and CA bundle (for pip,
/// bind-mounted, never copied into the rootfs) and pip's cache
/// (`~/.cache/venvkit/pip`, kept across runs). The environment is clean:
/// requests prefers REQUESTS_CA_BUNDLE over PIP_CERT.
pub fn chroot_with_network(dir: &Path, script: &str) {
    let pip_cache =
        PathBuf::from(std::env::var_os("HOME").unwrap_or_else(|| "/root".into())).join(".cache/venvkit/pip");
    std::fs::create_dir_all(&pip_cache).unwrap();
    std::fs::create_dir_all(dir.join("root/.cache/pip")).unwrap();
    for file in ["etc/venvkit-ca.crt", "etc/resolv.conf"] {
        let _ = std::fs::remove_file(dir.join(file));
        std::fs::write(dir.join(file), b"").unwrap();
    }
    let mounts = "set -e; R=\"$0\"; mount --bind /proc \"$R/proc\"; mount --bind /dev \"$R/dev\"; \
         mount --bind /etc/ssl/certs/ca-certificates.crt \"$R/etc/venvkit-ca.crt\"; \
         mount --bind /etc/resolv.conf \"$R/etc/resolv.conf\"; mount --bind \"$1\" \"$R/root/.cache/pip\"; \
         exec chroot \"$R\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root PIP_CERT=/etc/venvkit-ca.crt \
         PIP_DISABLE_PIP_VERSION_CHECK=1 sh -c \"$2\"";
    let output = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "sh", "-c", mounts])
        .arg(dir)
        .arg(&pip_cache)
        .arg(script)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "in the rootfs {}: {}\n{}",
        dir.display(),
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::write(dir.join("etc/resolv.conf"), b"").unwrap();
}

/// Runs `script` with sh chrooted into `dir`, with /proc and /dev (in a
/// private mount namespace) and a clean environment, as a container would
/// run it; no network is set up.
pub fn in_chroot(dir: &Path, script: &str) -> crate::fixtures::Run {
    crate::fixtures::run(&mut chroot_command(dir, script))
}

/// The command [`in_chroot`] runs, to start with [`crate::fixtures::Running`]
/// (a server: its process group is killed when the test ends).
pub fn chroot_command(dir: &Path, script: &str) -> Command {
    let mounts = "set -e; R=\"$0\"; mount --bind /proc \"$R/proc\"; mount --bind /dev \"$R/dev\"; \
         exec chroot \"$R\" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 sh -c \"$1\"";
    let mut command = Command::new("unshare");
    command.args(["--mount", "--propagation", "private", "sh", "-c", mounts]).arg(dir).arg(script);
    command
}

const SERVERS: Fixture = Fixture {
    name: "rootfs-bookworm-servers",
    suite: "bookworm",
    arch: None,
    revision: 1,
    packages: &[&["postgresql", "mariadb-server", "redis-server", "python3"]],
    finish: |_| {},
};

/// A bookworm rootfs with Debian's PostgreSQL, MariaDB, Redis and Python
/// (whose http.server is the HTTP server), for readiness tests: the tests
/// start each server themselves, on a loopback port, as a user of its own.
pub fn servers() -> PathBuf {
    SERVERS.get()
}
