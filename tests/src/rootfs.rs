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
    pub packages: &'static [&'static str],
    pub finish: fn(&Path),
}

/// Every fixture, for the builder: the cheap ones first.
pub const ALL: &[Fixture] = &[APT_BASE, PLAIN_BOOKWORM, PLAIN_TRIXIE, VENVS];

/// What the rootfs tests need: libraries whose packages list them under
/// /lib or /usr/lib, a -dev package, an alternatives-managed library, and
/// the tools the differential oracle uses.
const PLAIN_PACKAGES: &[&str] = &["libpq5", "zlib1g", "libc6-dev", "libblas3", "binutils", "dpkg-dev"];

const PLAIN_BOOKWORM: Fixture =
    Fixture { name: "rootfs-bookworm", suite: "bookworm", packages: PLAIN_PACKAGES, finish: |_| {} };
const PLAIN_TRIXIE: Fixture =
    Fixture { name: "rootfs-trixie", suite: "trixie", packages: PLAIN_PACKAGES, finish: |_| {} };

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
    packages: &[],
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
    packages: &[
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
    ],
    finish: |dir| {
        chroot_with_network(
            dir,
            "set -e
python3 -m venv /opt/source-venv
/opt/source-venv/bin/pip install --quiet --no-binary psycopg2,lxml,Pillow psycopg2 lxml Pillow
python3 -m venv /opt/wheel-venv
/opt/wheel-venv/bin/pip install --quiet --only-binary :all: numpy psycopg2-binary",
        )
    },
};

/// A bookworm rootfs with real virtualenvs: /opt/source-venv with psycopg2,
/// lxml and Pillow built from source against Debian's -dev packages, and
/// /opt/wheel-venv with manylinux wheels (numpy, psycopg2-binary) that
/// bundle their libraries auditwheel's way.
pub fn venvs() -> PathBuf {
    VENVS.get()
}

impl Fixture {
    /// The fixture's directory, made first if this run has not made it.
    pub fn get(&self) -> PathBuf {
        let fixtures = fixtures_dir();
        std::fs::create_dir_all(&fixtures).unwrap();
        let dir = fixtures.join(self.name);
        let lock = std::fs::File::create(fixtures.join(format!("{}.lock", self.name))).unwrap();
        let lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, e)| e).unwrap();
        if !dir.join(".venvkit-complete").exists() {
            remove_stale(&dir);
            let mut command = Command::new("mmdebstrap");
            command.args(["--quiet", "--variant=minbase", "--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr"]);
            if !self.packages.is_empty() {
                command.arg(format!("--include={}", self.packages.join(",")));
            }
            let output =
                command.arg(self.suite).arg(&dir).output().expect("mmdebstrap is missing: make test installs it");
            assert!(output.status.success(), "mmdebstrap {}: {}", self.suite, String::from_utf8_lossy(&output.stderr));
            (self.finish)(&dir);
            std::fs::write(dir.join(".venvkit-complete"), b"").unwrap();
        }
        drop(lock);
        dir
    }

    pub fn is_complete(&self) -> bool {
        fixtures_dir().join(self.name).join(".venvkit-complete").exists()
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
