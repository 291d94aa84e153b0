//! Fixtures for apt-install's tests: a bookworm rootfs made once with
//! mmdebstrap, a fresh overlay layer of it per test (as a Dockerfile's RUN
//! gets), local packages built with dpkg-deb and served by a small HTTP
//! server on 127.0.0.1 that can answer 503 on purpose.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

pub fn binary() -> PathBuf {
    match std::env::var_os("APT_INSTALL_BIN").filter(|path| !path.is_empty()) {
        Some(path) => PathBuf::from(path),
        None => assert_cmd::cargo::cargo_bin("apt-install"),
    }
}

// Not every test binary uses every shared fixture.
#[allow(unused_imports)]
pub use venvkit_suites::fixtures::{run, Run, Scratch};
#[allow(unused_imports)]
pub use venvkit_suites::rootfs::apt_base as base_rootfs;

pub fn require_root() {
    venvkit_suites::fixtures::require_root("mmdebstrap, overlay mounts, chroot")
}

/// One overlay layer on the base: what a test's RUN writes lands in
/// `upper`, the base stays untouched.
pub struct Layer {
    pub scratch: Scratch,
    lower: PathBuf,
    /// Extra bind mounts (host path, path inside the layer).
    pub binds: Vec<(PathBuf, String)>,
}

impl Layer {
    pub fn new(name: &str) -> Layer {
        let scratch = Scratch::new(name);
        for dir in ["upper", "work", "merged"] {
            std::fs::create_dir_all(scratch.path(dir)).unwrap();
        }
        let layer = Layer { scratch, lower: base_rootfs(), binds: Vec::new() };
        let bin = layer.upper("usr/local/bin/apt-install");
        std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
        std::fs::copy(binary(), &bin).unwrap();
        layer
    }

    /// A path in the layer's own changes.
    pub fn upper(&self, inner: &str) -> PathBuf {
        self.scratch.path("upper").join(inner.trim_start_matches('/'))
    }

    /// Writes a file into the layer (shadowing the base's).
    pub fn write(&self, inner: &str, contents: &str) {
        let path = self.upper(inner);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, contents).unwrap();
    }

    /// Points apt at `sources` only.
    pub fn sources(&self, sources: &str) {
        self.write("/etc/apt/sources.list", sources);
    }

    /// Runs `script` with sh inside the layer, as root in a chroot.
    pub fn run(&self, script: &str) -> Run {
        self.run_as(script, None)
    }

    pub fn run_as(&self, script: &str, user: Option<&str>) -> Run {
        let merged = self.scratch.path("merged");
        let mut mounts = format!(
            "mount -t overlay overlay -o lowerdir={},upperdir={},workdir={} {m} && mount -t proc proc {m}/proc && mount --bind /dev {m}/dev",
            self.lower.display(),
            self.scratch.path("upper").display(),
            self.scratch.path("work").display(),
            m = merged.display()
        );
        for (host, inner) in &self.binds {
            mounts.push_str(&format!(
                " && mkdir -p {m}{inner} && mount --bind {} {m}{inner}",
                host.display(),
                m = merged.display()
            ));
        }
        let chroot = match user {
            Some(user) => format!("chroot --userspec={user} {} sh -c \"$0\"", merged.display()),
            None => format!("chroot {} sh -c \"$0\"", merged.display()),
        };
        run(Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &format!("{mounts} && exec {chroot}"), script])
            .env_remove("APT_INSTALL_RETRIES")
            .env_remove("APT_INSTALL_LOCK_TIMEOUT")
            .env_remove("APT_INSTALL_KEEP_CACHE"))
    }
}

/// A package to build with dpkg-deb.
pub struct Deb<'a> {
    pub name: &'a str,
    pub version: &'a str,
    pub provides: Option<&'a str>,
    pub preinst: Option<&'a str>,
    pub postinst: Option<&'a str>,
}

impl<'a> Deb<'a> {
    pub fn new(name: &'a str, version: &'a str) -> Deb<'a> {
        Deb { name, version, provides: None, preinst: None, postinst: None }
    }
}

/// A flat apt repository of `debs`, indexed with apt-ftparchive.
pub fn repository(dir: &Scratch, debs: &[Deb]) -> PathBuf {
    let repo = dir.path("repo");
    std::fs::create_dir_all(&repo).unwrap();
    for deb in debs {
        let root = dir.path(&format!("build/{}-{}", deb.name, deb.version));
        std::fs::create_dir_all(root.join("DEBIAN")).unwrap();
        std::fs::create_dir_all(root.join(format!("usr/share/{}", deb.name))).unwrap();
        std::fs::write(root.join(format!("usr/share/{}/version", deb.name)), deb.version).unwrap();
        let provides = deb.provides.map(|p| format!("Provides: {p}\n")).unwrap_or_default();
        std::fs::write(
            root.join("DEBIAN/control"),
            format!(
                "Package: {}\nVersion: {}\nArchitecture: all\nMaintainer: venvkit tests <tests@venvkit.invalid>\n{provides}Description: a venvkit test package\n",
                deb.name, deb.version
            ),
        )
        .unwrap();
        for (name, script) in [("preinst", deb.preinst), ("postinst", deb.postinst)] {
            if let Some(script) = script {
                let path = root.join("DEBIAN").join(name);
                std::fs::write(&path, script).unwrap();
                std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
            }
        }
        let built = Command::new("dpkg-deb")
            .args(["--root-owner-group", "--build"])
            .arg(&root)
            .arg(repo.join(format!("{}_{}_all.deb", deb.name, deb.version)))
            .output()
            .unwrap();
        assert!(built.status.success(), "dpkg-deb: {}", String::from_utf8_lossy(&built.stderr));
    }
    let packages = Command::new("apt-ftparchive").arg("packages").arg(".").current_dir(&repo).output().unwrap();
    assert!(packages.status.success(), "apt-ftparchive (make test installs apt-utils)");
    std::fs::write(repo.join("Packages"), &packages.stdout).unwrap();
    let release = Command::new("apt-ftparchive").arg("release").arg(".").current_dir(&repo).output().unwrap();
    std::fs::write(repo.join("Release"), &release.stdout).unwrap();
    repo
}

/// An HTTP server for a directory on 127.0.0.1 that answers 503 to the
/// first `failures` requests for files ending in `failing_suffix` (".deb":
/// downloads; "": everything; usize::MAX failures: always).
pub struct Server {
    pub port: u16,
    pub failed: Arc<AtomicUsize>,
}

impl Server {
    pub fn start(dir: PathBuf, failures: usize) -> Server {
        Server::failing(dir, failures, "")
    }

    pub fn failing(dir: PathBuf, failures: usize, failing_suffix: &'static str) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let failed = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&failed);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let dir = dir.clone();
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || {
                    serve(stream, &dir, |path| {
                        path.ends_with(failing_suffix) && counter.fetch_add(1, Ordering::SeqCst) < failures
                    })
                });
            }
        });
        Server { port, failed }
    }

    pub fn source(&self) -> String {
        format!("deb [trusted=yes] http://127.0.0.1:{}/ ./\n", self.port)
    }
}

fn serve(mut stream: std::net::TcpStream, dir: &Path, should_fail: impl Fn(&str) -> bool) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut request_line = String::new();
    if reader.read_line(&mut request_line).is_err() {
        return;
    }
    let mut header = String::new();
    while reader.read_line(&mut header).is_ok_and(|n| n > 2) {
        header.clear();
    }
    let path = request_line.split_whitespace().nth(1).unwrap_or("/").trim_start_matches('/').replace("./", "");
    let head = request_line.starts_with("HEAD");
    let response = if should_fail(&path) {
        (503, "Service Unavailable", Vec::new())
    } else {
        match std::fs::read(dir.join(&path)) {
            Ok(body) => (200, "OK", body),
            Err(_) => (404, "Not Found", Vec::new()),
        }
    };
    let (code, reason, body) = response;
    let _ = write!(stream, "HTTP/1.1 {code} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n", body.len());
    if !head {
        let _ = stream.write_all(&body);
    }
}
