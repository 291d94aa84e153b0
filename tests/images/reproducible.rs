//! Rebuilding with the same SOURCE_DATE_EPOCH and no changes gives the same
//! bytes: the Debian tarball, the base image, and a layer made by apt-install.

use crate::support::*;

/// A file `make images` writes under target/images, e.g. the epoch it used.
fn images_file(what: &str) -> String {
    let path = repo().join("target/images").join(what);
    std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{}: {e} (make images writes it)", path.display()))
        .trim()
        .into()
}

fn epoch() -> String {
    images_file("source-date-epoch")
}

/// The `--build-arg` values `make images` built base for `suite` and `arch`
/// with (labels: version, revision, date, base digest; another
/// architecture's Debian repository), one `NAME=value` a line.
fn base_build_args(suite: &str, arch: &str) -> Vec<String> {
    images_file(&format!("build-args/base-{suite}-{arch}")).lines().map(String::from).collect()
}

/// This machine's architecture, as Debian names it.
fn native_arch() -> String {
    let ran = run(std::process::Command::new("dpkg").arg("--print-architecture"));
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    ran.stdout.trim().to_string()
}

fn reproducible_build(
    engine: &Engine,
    context: &std::path::Path,
    tag: &str,
    epoch: &str,
    build_args: &[String],
    flags: &[&str],
) -> String {
    let mut args = vec!["--no-cache", "--timestamp", epoch];
    args.extend_from_slice(flags);
    let epoch_arg = format!("SOURCE_DATE_EPOCH={epoch}");
    args.extend_from_slice(&["--build-arg", &epoch_arg, "--build-arg", "SUITE=bookworm"]);
    for arg in build_args {
        args.extend_from_slice(&["--build-arg", arg]);
    }
    let built = engine.build(context, tag, &args);
    assert_eq!(built.code(), 0, "{tag}: {}{}", built.stdout, built.stderr);
    let id = engine.inspect(tag, "{{.Id}}");
    engine.remove_image(tag);
    id
}

#[test]
fn rebuilding_base_from_nothing_gives_the_same_image_id() {
    let engine = engine_with_images();
    let context = repo().join("target/images/context-base");
    let rebuilt = reproducible_build(
        &engine,
        &context,
        "venvkit-test/base-again:bookworm",
        &epoch(),
        &base_build_args("bookworm", &native_arch()),
        &[],
    );
    assert_eq!(rebuilt, engine.inspect(&base("bookworm"), "{{.Id}}"));
}

#[test]
fn rebuilding_the_arm64_base_from_nothing_under_qemu_gives_the_same_image_id() {
    // The arm64 build's RUN steps run under qemu-user and its tools are the
    // cross-built ones (make-images gives each architecture its own
    // context); neither may change the bytes.
    let engine = engine_with_images();
    let arm64 = format!("{}-arm64", base("bookworm"));
    assert!(engine.has_image(&arm64), "{arm64} missing: run `make images ARCH=arm64 SUITES=bookworm` (make test does)");
    let args = base_build_args("bookworm", "arm64");
    let context = repo().join("target/images/context-base-arm64");
    let tag = "venvkit-test/base-again:bookworm-arm64";
    let rebuilt = reproducible_build(&engine, &context, tag, &epoch(), &args, &["--platform", "linux/arm64"]);
    assert_eq!(rebuilt, engine.inspect(&arm64, "{{.Id}}"));
}

#[test]
fn an_apt_install_layer_built_twice_from_nothing_has_the_same_image_id() {
    let engine = engine_with_images();
    let context = Scratch::new("apt-layer");
    context.write("Dockerfile", format!("FROM {}\nRUN apt-install tree\n", base("bookworm")));
    let first = reproducible_build(&engine, &context.0, "venvkit-test/apt-layer:1", &epoch(), &[], &[]);
    let second = reproducible_build(&engine, &context.0, "venvkit-test/apt-layer:2", &epoch(), &[], &[]);
    assert_eq!(first, second);
}

#[test]
fn the_debian_tarball_made_twice_with_the_same_epoch_is_byte_identical_needs_root() {
    let engine = engine_with_images();
    let made = repo().join("target/images/debian-bookworm-slim/rootfs.tar");
    if !made.is_file() {
        eprintln!("skipped: debian:bookworm-slim came from a registry, not from images/debian-slim");
        return;
    }
    let again = Scratch::new("rootfs-again");
    let epoch = images_file("debian-bookworm-slim/source-date-epoch");
    let output = std::process::Command::new(repo().join("images/debian-slim/make-rootfs"))
        .args(["bookworm", again.path("rootfs.tar").to_str().unwrap()])
        .env("SOURCE_DATE_EPOCH", &epoch)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let (first, second) = (std::fs::read(&made).unwrap(), std::fs::read(again.path("rootfs.tar")).unwrap());
    assert!(first == second, "two tarballs with SOURCE_DATE_EPOCH={epoch} differ");

    // The same tarball gives the same image: the one make images tagged.
    std::fs::copy(repo().join("images/debian-slim/Containerfile"), again.path("Containerfile")).unwrap();
    let rebuilt = reproducible_build(&engine, &again.0, "venvkit-test/debian-again:bookworm-slim", &epoch, &[], &[]);
    assert_eq!(rebuilt, engine.inspect("docker.io/library/debian:bookworm-slim", "{{.Id}}"));
}

/// A second `make images` with nothing changed builds nothing: an image
/// built here from the same inputs is kept. A build from podman's layer
/// cache instead could take a `COPY` layer that another clone or an older
/// tree made at another epoch, with that epoch's timestamps in it.
#[test]
fn make_images_again_with_nothing_changed_keeps_every_image() {
    let engine = engine_with_images();
    let images = made_by_make_images();
    let ids = || images.iter().map(|image| engine.inspect(image, "{{.Id}}")).collect::<Vec<_>>();
    let before = ids();
    // A work directory of its own, with make images' records of what it
    // built: the real one's build contexts are read by other tests.
    let work = Scratch::new("images-again");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(repo().join("target/images/built"))
        .arg(&work.0)
        .status()
        .unwrap();
    assert!(copied.success(), "make images keeps its records in target/images/built");
    let again = run_long(
        std::process::Command::new(repo().join("images/make-images"))
            .env("IMAGES_WORK", &work.0)
            .env("SOURCE_DATE_EPOCH", epoch())
            .env_remove("REFRESH")
            .env_remove("ARCH"),
    );
    assert_eq!(again.code(), 0, "{}{}", again.stdout, again.stderr);
    let kept = again.stdout.matches("unchanged since the last build here").count();
    assert_eq!(kept, images.len(), "{}", again.stdout);
    assert_eq!(ids(), before, "{}", again.stdout);
}
