//! The arm64 images (`make images ARCH=arm64`; `make test` builds
//! bookworm's), run on this amd64 machine under qemu-user: each is arm64,
//! carries the cross-built tools, which run; Python resolved through a
//! manifest list (`make images ARCH=all`'s plain names) is the platform
//! asked; the shell-less runtime works as uid 65532 and every ELF file in it
//! resolves, checked from outside with the host's find-libdeps.

use crate::deb::{field, install_and_serve, make_deb};
use crate::distroless::{export, STDLIB_CHECK};
use crate::support::*;

/// The suite whose arm64 images `make test` builds: one is enough to show
/// the build path (the other's differ only in Debian's packages), and each
/// costs minutes under emulation.
const SUITE: &str = "bookworm";

/// The per-architecture tag make-images gives every image it builds.
fn arm64(image: &str) -> String {
    format!("{image}-arm64")
}

/// The images `make images ARCH=arm64` builds for [`SUITE`], by their plain names.
fn plain_names() -> [String; 5] {
    [base(SUITE), build(SUITE), python(SUITE), distroless(SUITE), TOOLS.to_string()]
}

/// The engine, once the arm64 images of [`SUITE`] are there.
fn engine_with_arm64_images() -> Engine {
    let engine = engine_with_images();
    let missing: Vec<String> =
        plain_names().iter().map(|image| arm64(image)).filter(|image| !engine.has_image(image)).collect();
    assert!(
        missing.is_empty(),
        "{} missing: run `make images ARCH=arm64 SUITES={SUITE}` (make test does)",
        missing.join(", ")
    );
    engine
}

/// `args` in a container of `image` run as linux/arm64, without a network.
fn run_arm64(engine: &Engine, image: &str, args: &[&str]) -> Run {
    let mut all = vec!["run", "--rm", "--network=none", "--platform", "linux/arm64"];
    all.push(image);
    all.extend_from_slice(args);
    engine.run(&all)
}

#[test]
fn every_arm64_image_is_arm64_and_within_its_budget_and_base_runs_the_cross_built_tools() {
    let engine = engine_with_arm64_images();
    for image in plain_names() {
        let tagged = arm64(&image);
        assert_eq!(engine.inspect(&tagged, "{{.Os}}/{{.Architecture}}"), "linux/arm64", "{tagged}");
        if let Some(megabytes) = image_budget(&tagged) {
            let size: u64 = engine.inspect(&tagged, "{{.Size}}").parse().unwrap();
            assert!(size <= megabytes * 1_000_000, "{tagged} is {size} bytes, over its {megabytes} MB budget");
        }
    }
    // The tools in the image are the ones `make build` cross-compiled (not
    // the host's, which qemu-user would refuse or binfmt would pass through),
    // and each answers --version under emulation.
    let cross = venvkit_suites::bin_dir().join("aarch64");
    let mut script = String::from("uname -m; cd /usr/local/bin && sha256sum");
    for tool in tools() {
        script.push_str(&format!(" {tool}"));
    }
    for tool in tools() {
        script.push_str(&format!("; {tool} --version"));
    }
    let image = arm64(&base(SUITE));
    let ran = run_arm64(&engine, &image, &["sh", "-c", &script]);
    assert_eq!(ran.code(), 0, "{image}: {}", ran.stderr);
    let mut lines = ran.stdout.lines();
    assert_eq!(lines.next(), Some("aarch64"), "{image}: {}", ran.stdout);
    for tool in tools() {
        let line = lines.next().unwrap_or_default();
        let shipped = run(std::process::Command::new("sha256sum").arg(cross.join(tool)));
        assert_eq!(shipped.code(), 0, "{} (make build cross-compiles it)", shipped.stderr);
        let expected = format!("{}  {tool}", shipped.stdout.split_whitespace().next().unwrap_or_default());
        assert_eq!(line, expected, "{image}: /usr/local/bin/{tool} is not {}", cross.join(tool).display());
    }
    for tool in tools() {
        let line = lines.next().unwrap_or_default();
        assert!(line.starts_with(&format!("{tool} ")), "{image}: {tool} --version printed {line:?}\n{}", ran.stdout);
    }
}

#[test]
fn python_from_a_manifest_list_of_both_architectures_is_the_platform_asked() {
    let engine = engine_with_arm64_images();
    // The list made as `make images ARCH=all` makes the plain names', under
    // a name of the test's own: the other tests use the plain names as
    // `make images` left them, native images.
    let list = "venvkit-test/python-list:multiarch";
    let made = run(std::process::Command::new("bash")
        .arg("-c")
        .arg("source images/lib.sh && manifest_list \"$@\"")
        .arg("manifest_list")
        .arg(list)
        .arg(format!("{}-amd64", python(SUITE)))
        .arg(arm64(&python(SUITE)))
        .current_dir(repo()));
    assert_eq!(made.code(), 0, "{}", made.stderr);
    let machine = "import platform; print(platform.machine())";
    let asked = run_arm64(&engine, list, &["python", "-c", machine]);
    let native = engine.run(&["run", "--rm", "--network=none", list, "python", "-c", machine]);
    let _ = engine.run(&["manifest", "rm", list]);
    assert_eq!((asked.code(), asked.stdout.trim()), (0, "aarch64"), "--platform linux/arm64: {}", asked.stderr);
    assert_eq!((native.code(), native.stdout.trim()), (0, "x86_64"), "no --platform: {}", native.stderr);
}

#[test]
fn the_arm64_shell_less_runtime_works_as_the_app_user_and_resolves_from_outside() {
    let engine = engine_with_arm64_images();
    let image = arm64(&distroless(SUITE));
    let ran = run_arm64(&engine, &image, &["python", "-c", STDLIB_CHECK]);
    assert_eq!(ran.code(), 0, "{image}: {}", ran.stderr);
    assert!(ran.stdout.starts_with("ok "), "{image}: {}", ran.stdout);
    assert_eq!(engine.inspect(&image, "{{.Config.User}}"), "65532", "{image}");
    // The host's find-libdeps on the exported arm64 files: its target comes
    // from the root (status.d's records say Architecture: arm64, the ELF
    // files are aarch64), and every soname resolves there.
    let dir = Scratch::new("distroless-arm64-export");
    export(&engine, &image, &dir);
    let root = dir.path("root");
    assert!(root.join("usr/lib/aarch64-linux-gnu").is_dir(), "{image}: no aarch64 multiarch directory");
    let finder = venvkit_suites::bin_dir().join("find-libdeps");
    let listed = run(std::process::Command::new(&finder).arg("--root").arg(&root).args(["/usr/bin", "/usr/lib"]));
    assert_eq!(listed.code(), 0, "{image}: {}", listed.stderr);
    // Packages of the root's own architecture carry no `:arch`.
    assert!(listed.stdout.lines().any(|p| p == "libc6"), "{image}: libc6 in {}", listed.stdout);
    assert!(!listed.stderr.contains("skipped, an ELF file for"), "{image}: {}", listed.stderr);
}

#[test]
fn make_deb_for_arm64_depends_on_what_arm64_needs_installs_in_the_arm64_base_and_answers_json() {
    let engine = engine_with_arm64_images();
    let out = Scratch::new("deb-arm64");
    let deb = make_deb(&out.0, "arm64");
    assert!(deb.file_name().unwrap().to_str().unwrap().starts_with("polls_1.0.0_arm64"), "{deb:?}");
    assert_eq!(field(&deb, "Architecture"), "arm64");
    // Computed by the arm64 find-libdeps in the arm64 build image: the same
    // package names as on amd64, none of them qualified `:arch`.
    let depends = field(&deb, "Depends");
    assert!(depends.split(", ").any(|d| d == "python3.11"), "{depends}");
    assert!(depends.split(", ").any(|d| d.starts_with("libpq5 (>= ")), "{depends}");
    let names = || depends.split(", ").map(|d| d.split_whitespace().next().unwrap_or_default());
    assert!(names().all(|name| !name.contains(':') && !name.ends_with("-dev")), "{depends}");
    // Installed in the arm64 base under emulation, with its dependencies
    // from Debian's arm64 archive, and served against PostgreSQL (native, in
    // the same pod); its compiled files are aarch64 (psycopg2 was built from
    // source in the arm64 build image).
    let then = "od -An -tx1 -j18 -N2 \"$(find /opt/polls -name '_psycopg*.so' | head -n 1)\" | tr -d ' '
uname -m";
    let ran = install_and_serve(&engine, &arm64(&base(SUITE)), &deb, &["--platform", "linux/arm64"], then);
    assert_eq!(ran.code(), 0, "{}{}", ran.stdout, ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines.len(), 4, "{}", ran.stdout);
    assert_eq!(lines[0], "polls 1.0.0", "{}", ran.stdout);
    assert!(lines[1].starts_with("{\"status\": \"ok\""), "{}", ran.stdout);
    // e_machine 183 (0xb7, little-endian): EM_AARCH64.
    assert_eq!(lines[2..], ["b700", "aarch64"], "{}", ran.stdout);
}

#[test]
fn an_architecture_venvkit_does_not_build_for_is_one_line_and_status_2() {
    // Checked before anything is built: the three take their list from
    // images/lib.sh's VENVKIT_ARCHES (make-images also takes `all`).
    for (script, who, allowed) in [
        ("images/make-images", "images", "amd64 arm64 all"),
        ("examples/polls/demo", "demo", "amd64 arm64"),
        ("packaging/deb/make-deb", "make-deb", "amd64 arm64"),
    ] {
        let (code, stdout, stderr) =
            run(std::process::Command::new(repo().join(script)).env("ARCH", "riscv64")).into_parts();
        assert_eq!((code, stdout.as_str()), (2, ""), "{script}: {stderr}");
        assert_eq!(stderr, format!("{who}: ARCH=riscv64 is not one of: {allowed}\n"), "{script}");
    }
}
