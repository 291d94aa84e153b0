//! The container engine and the images `make images` built, as the image
//! suites see them.

use std::path::{Path, PathBuf};
use std::process::Command;

pub use venvkit_suites::fixtures::{run, Run, Running, Scratch};

/// An image build, the demo, a .deb: minutes on a cold cache, never an hour.
pub const BUILD_LIMIT: std::time::Duration = std::time::Duration::from_secs(30 * 60);

/// Runs a long step (a build, a script that builds) within [`BUILD_LIMIT`].
pub fn run_long(command: &mut Command) -> Run {
    Running::start(command).finish_within(BUILD_LIMIT)
}

pub use venvkit_suites::{image_budget, suites, tools};

pub fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap().to_path_buf()
}

pub fn base(suite: &str) -> String {
    format!("venvkit/base:{suite}")
}

pub fn build(suite: &str) -> String {
    format!("venvkit/build:{suite}")
}

pub fn python(suite: &str) -> String {
    let (_, version) = suites().into_iter().find(|(name, _)| *name == suite).unwrap();
    format!("venvkit/python:{version}-{suite}")
}

/// The shell-less runtime of `suite`.
pub fn distroless(suite: &str) -> String {
    format!("{}-distroless", python(suite))
}

/// The image holding only the four tools, for `COPY --from` into other bases.
pub const TOOLS: &str = "venvkit/tools:latest";

/// Every Debian-based image with a shell and dpkg that `make images` builds
/// (all but [`TOOLS`] and the [`distroless`] ones).
pub fn all_images() -> Vec<String> {
    suites().into_iter().flat_map(|(suite, _)| [base(suite), build(suite), python(suite)]).collect()
}

/// Every image `make images` builds: [`all_images`], the [`distroless`]
/// ones and [`TOOLS`].
pub fn made_by_make_images() -> Vec<String> {
    let shell_less = suites().into_iter().map(|(suite, _)| distroless(suite));
    all_images().into_iter().chain(shell_less).chain([TOOLS.to_string()]).collect()
}

/// podman, with the repository's containers.conf (images/lib.sh says why
/// podman only).
pub struct Engine;

impl Engine {
    pub fn command(&self) -> Command {
        let mut command = Command::new("podman");
        if std::env::var_os("CONTAINERS_CONF").is_none() {
            command.env("CONTAINERS_CONF", repo().join("images/containers.conf"));
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Run {
        run(self.command().args(args))
    }

    /// `script` under `sh -c` in a throwaway container of `image`, past its
    /// entrypoint and without a network.
    pub fn sh(&self, image: &str, script: &str) -> Run {
        self.run(&["run", "--rm", "--network=none", "--entrypoint=", image, "sh", "-c", script])
    }

    /// `image inspect` rather than podman's `image exists`: docker has it too.
    pub fn has_image(&self, image: &str) -> bool {
        self.run(&["image", "inspect", "--format", "{{.Id}}", image]).code() == 0
    }

    pub fn inspect(&self, image: &str, format: &str) -> String {
        let ran = self.run(&["image", "inspect", "--format", format, image]);
        assert_eq!(ran.code(), 0, "inspect {image}: {}", ran.stderr);
        ran.stdout.trim().to_string()
    }

    /// Builds `context` (with its Dockerfile) as `tag`, with the machine's CA
    /// bundle as the `extra_ca` secret for pip, as EXTRA_CA_CERT passes it.
    /// Built again once if podman lost a layer to another test's `rmi`
    /// while it looked for a cached one ("layer not known": podman 4.3
    /// checks cache candidates without a lock against removal).
    pub fn build(&self, context: &Path, tag: &str, extra: &[&str]) -> Run {
        let attempt = || {
            let mut command = self.command();
            command.args(["build", "--layers", "-t", tag]).args(extra);
            if let Some(bundle) = extra_ca_cert() {
                command.arg("--secret").arg(format!("id=extra_ca,src={}", bundle.display()));
            }
            run_long(command.arg(context))
        };
        let built = attempt();
        if built.code() != 0 && built.stderr.contains("layer not known") {
            attempt()
        } else {
            built
        }
    }

    pub fn remove_image(&self, image: &str) {
        let _ = self.run(&["rmi", "--force", image]);
    }
}

/// The site-packages of a release's venv, as a glob.
pub const VENV_SITE_PACKAGES: &str = "/usr/share/python3/app/lib/python3*/site-packages";

/// Checks the bytecode under `tree` (a glob: a venv's site-packages, the
/// stdlib) in `image` the way importlib checks it before use (PEP 552): a
/// hash-based file must carry its source's hash, a timestamp-based one its
/// source's mtime and size. Asserts that there are at least `at_least`
/// bytecode files with a source beside them and that none is stale (which
/// Python, as uid 65532, would compile again in memory at every start). Run
/// by the image's own python as uid 65532, so that nothing is rewritten.
pub fn assert_bytecode_valid_as_shipped(engine: &Engine, image: &str, tree: &str, at_least: usize) {
    const CHECK: &str = r#"import glob, importlib.util, os, struct, sys
checked, stale = 0, []
for pyc in glob.glob(sys.argv[1] + '/**/__pycache__/*.pyc', recursive=True):
    source = os.path.join(os.path.dirname(os.path.dirname(pyc)), os.path.basename(pyc).split('.')[0] + '.py')
    if not os.path.exists(source):
        continue
    checked += 1
    with open(pyc, 'rb') as f:
        head = f.read(16)
    with open(source, 'rb') as f:
        text = f.read()
    if struct.unpack('<I', head[4:8])[0] & 1:
        valid = head[8:16] == importlib.util.source_hash(text)
    else:
        st = os.stat(source)
        valid = struct.unpack('<II', head[8:16]) == (int(st.st_mtime) & 0xFFFFFFFF, st.st_size & 0xFFFFFFFF)
    if not valid:
        stale.append(source)
print(checked, len(stale), *stale[:5])"#;
    let ran = engine.run(&["run", "--rm", "--network=none", "--user", "65532", image, "python", "-c", CHECK, tree]);
    assert_eq!(ran.code(), 0, "{image}: {}", ran.stderr);
    let mut words = ran.stdout.split_whitespace();
    let checked: usize = words.next().and_then(|n| n.parse().ok()).unwrap_or_else(|| panic!("{}", ran.stdout));
    assert!(checked >= at_least, "{image}: {checked} bytecode files, expected {at_least} or more");
    assert_eq!(words.next(), Some("0"), "{image}: stale bytecode (of {checked}): {}", ran.stdout);
}

/// EXTRA_CA_CERT, else the system bundle (which holds a proxy's CA where one
/// intercepts TLS, and is harmless where none does).
pub fn extra_ca_cert() -> Option<PathBuf> {
    std::env::var_os("EXTRA_CA_CERT")
        .filter(|value| !value.is_empty())
        .map(PathBuf::from)
        .or_else(|| Some(PathBuf::from("/etc/ssl/certs/ca-certificates.crt")))
        .filter(|path| path.is_file())
}

/// The engine, once the images `make images` builds are there; a missing
/// engine or image fails the test, naming what to run.
pub fn engine_with_images() -> Engine {
    let engine = Engine;
    let missing: Vec<String> = if engine.command().arg("--version").output().is_err() {
        vec!["podman".to_string()]
    } else {
        made_by_make_images().into_iter().filter(|image| !engine.has_image(image)).collect()
    };
    assert!(missing.is_empty(), "{} missing: run `make images` (make test does)", missing.join(", "));
    engine
}

/// An exclusive lock named `name` under target/, held until dropped: one
/// process at a time builds what the others then reuse.
pub fn exclusive(name: &str) -> nix::fcntl::Flock<std::fs::File> {
    let dir = repo().join("target/venvkit-fixtures");
    std::fs::create_dir_all(&dir).unwrap();
    let file = std::fs::File::create(dir.join(format!("{name}.lock"))).unwrap();
    nix::fcntl::Flock::lock(file, nix::fcntl::FlockArg::LockExclusive).map_err(|(_, errno)| errno).unwrap()
}

/// Whether `path` was made after the last `make images`, i.e. in this run.
pub fn made_this_run(path: &Path) -> bool {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    matches!(
        (modified(path), modified(&repo().join("target/images/source-date-epoch"))),
        (Some(made), Some(images)) if made > images
    )
}

/// Each package installed in IMAGE, with the packages its Depends and
/// Pre-Depends name (alternatives kept, versions and architectures dropped):
/// read from dpkg's status file (packages whose Status is `installed`) and
/// from status.d/, where the shell-less images keep one stanza per package.
/// Read by the image's own Python, as the shell-less ones have no shell.
fn installed_packages(engine: &Engine, image: &str) -> std::collections::BTreeMap<String, Vec<String>> {
    let script = r#"import os, re
def stanzas():
    if os.path.exists("/var/lib/dpkg/status"):
        for s in open("/var/lib/dpkg/status").read().split("\n\n"):
            if re.search(r"^Status: .* installed$", s, re.M):
                yield s
    d = "/var/lib/dpkg/status.d"
    if os.path.isdir(d):
        for n in sorted(os.listdir(d)):
            if not n.endswith(".md5sums"):
                yield open(os.path.join(d, n)).read()
for s in stanzas():
    package = re.search(r"^Package: (\S+)", s, re.M)
    if package:
        fields = re.findall(r"^(?:Pre-)?Depends: (.*)$", s, re.M)
        names = {re.sub(r"\(.*?\)", "", w).strip().split(":")[0] for f in fields for w in re.split(r"[,|]", f)}
        print(package.group(1), *sorted(x for x in names if x))"#;
    let listed = engine.run(&["run", "--rm", "--network=none", "--entrypoint=", image, "python3", "-c", script]);
    assert_eq!(listed.code(), 0, "{image}: {}", listed.stderr);
    listed
        .stdout
        .lines()
        .filter_map(|line| {
            let mut words = line.split_whitespace().map(String::from);
            Some((words.next()?, words.collect()))
        })
        .collect()
}

/// Asserts that IMAGE has every NAMED package, and that each package it has
/// beyond BASE's is NAMED or needed by one that is, through the Depends and
/// Pre-Depends of packages IMAGE has: what `apt-install -f pkgdeps.txt`
/// should add to a runtime, and nothing else.
pub fn assert_adds_exactly_the_named_packages(engine: &Engine, image: &str, base: &str, named: &[&str]) {
    let has = installed_packages(engine, image);
    let had = installed_packages(engine, base);
    let missing: Vec<&&str> = named.iter().filter(|package| !has.contains_key(**package)).collect();
    assert!(missing.is_empty(), "{image}: named by find-libdeps but not installed: {missing:?}");
    let mut reached: std::collections::BTreeSet<String> = named.iter().map(|p| p.to_string()).collect();
    let mut pending: Vec<String> = reached.iter().cloned().collect();
    while let Some(package) = pending.pop() {
        for dependency in has.get(&package).into_iter().flatten() {
            if reached.insert(dependency.clone()) {
                pending.push(dependency.clone());
            }
        }
    }
    let unexplained: Vec<&String> =
        has.keys().filter(|package| !had.contains_key(*package) && !reached.contains(*package)).collect();
    assert!(unexplained.is_empty(), "{image}: added but neither named nor needed by what was: {unexplained:?}");
}
