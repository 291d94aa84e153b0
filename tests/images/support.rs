//! The container engine and the images `make images` built, as the image
//! suites see them.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

pub use venvkit_suites::fixtures::Scratch;

/// Each suite with the Python it ships.
pub const SUITES: &[(&str, &str)] = &[("bookworm", "3.11"), ("trixie", "3.13")];

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
    let (_, version) = SUITES.iter().find(|(name, _)| *name == suite).unwrap();
    format!("venvkit/python:{version}-{suite}")
}

/// Every image `make images` builds.
pub fn all_images() -> Vec<String> {
    SUITES.iter().flat_map(|(suite, _)| [base(suite), build(suite), python(suite)]).collect()
}

/// `CONTAINER_ENGINE`, else podman, with the repository's containers.conf.
pub struct Engine {
    program: String,
}

/// What a command printed and how it ended, as text.
pub struct Ran {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl From<Output> for Ran {
    fn from(output: Output) -> Ran {
        Ran {
            code: output.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
        }
    }
}

impl Engine {
    pub fn command(&self) -> Command {
        let mut command = Command::new(&self.program);
        if self.program == "podman" && std::env::var_os("CONTAINERS_CONF").is_none() {
            command.env("CONTAINERS_CONF", repo().join("images/containers.conf"));
        }
        command
    }

    pub fn run(&self, args: &[&str]) -> Ran {
        let output = self.command().args(args).output().unwrap_or_else(|e| panic!("{}: {e}", self.program));
        Ran::from(output)
    }

    /// `script` under `sh -c` in a throwaway container of `image`, past its
    /// entrypoint and without a network.
    pub fn sh(&self, image: &str, script: &str) -> Ran {
        self.run(&["run", "--rm", "--network=none", "--entrypoint=", image, "sh", "-c", script])
    }

    /// `image inspect` rather than podman's `image exists`: docker has it too.
    pub fn has_image(&self, image: &str) -> bool {
        self.run(&["image", "inspect", "--format", "{{.Id}}", image]).code == 0
    }

    pub fn inspect(&self, image: &str, format: &str) -> String {
        let ran = self.run(&["image", "inspect", "--format", format, image]);
        assert_eq!(ran.code, 0, "inspect {image}: {}", ran.stderr);
        ran.stdout.trim().to_string()
    }

    /// Builds `context` (with its Dockerfile) as `tag`, with the machine's CA
    /// bundle as the `extra_ca` secret for pip, as EXTRA_CA_CERT passes it.
    pub fn build(&self, context: &Path, tag: &str, extra: &[&str]) -> Ran {
        let mut command = self.command();
        command.args(["build", "--layers", "-t", tag]).args(extra);
        if let Some(bundle) = extra_ca_cert() {
            command.arg("--secret").arg(format!("id=extra_ca,src={}", bundle.display()));
        }
        Ran::from(command.arg(context).output().unwrap())
    }

    pub fn remove_image(&self, image: &str) {
        let _ = self.run(&["rmi", "--force", image]);
    }
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

/// The engine when the images are there. `make test` sets
/// VENVKIT_IMAGES_REQUIRED after `make images`, so there a missing engine or
/// image fails the test; elsewhere (a bare `cargo test`) it skips with why.
pub fn engine_with_images() -> Option<Engine> {
    let required = std::env::var_os("VENVKIT_IMAGES_REQUIRED").is_some();
    let program = std::env::var("CONTAINER_ENGINE").unwrap_or_else(|_| "podman".into());
    let engine = Engine { program };
    let missing: Vec<String> = if engine.command().arg("--version").output().is_err() {
        vec![format!("the container engine {}", engine.program)]
    } else {
        all_images().into_iter().filter(|image| !engine.has_image(image)).collect()
    };
    if missing.is_empty() {
        return Some(engine);
    }
    let why = format!("{} missing: run `make images` (make test does)", missing.join(", "));
    assert!(!required, "{why}");
    eprintln!("skipped: {why}");
    None
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
