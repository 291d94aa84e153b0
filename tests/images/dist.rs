//! Getting venvkit's tools into any image: the tools-only image copied into
//! a plain Debian slim image, and `make dist`'s tarball and .deb; and every
//! image's labels.

use crate::support::*;
use std::process::Command;

#[test]
fn the_tools_image_holds_the_four_tools_and_they_run_in_a_plain_debian_slim() {
    let engine = engine_with_images();
    let created = engine.run(&["create", TOOLS, "none"]);
    assert_eq!(created.code(), 0, "{}", created.stderr);
    let id = created.stdout.trim().to_string();
    let listing = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "CONTAINERS_CONF={} podman export {id} | tar t | sort",
            repo().join("images/containers.conf").display()
        ))
        .output()
        .unwrap();
    engine.run(&["rm", &id]);
    let files: Vec<String> = String::from_utf8_lossy(&listing.stdout)
        .lines()
        .filter(|path| path.starts_with("usr/local/bin/") && path.len() > "usr/local/bin/".len())
        .map(|path| path.trim_start_matches("usr/local/bin/").to_string())
        .collect();
    assert_eq!(files, tools(), "the tools image holds more or less than the tools");

    let context = Scratch::new("copy-tools");
    context.write(
        "Dockerfile",
        "FROM docker.io/library/debian:bookworm-slim\nCOPY --from=venvkit/tools /usr/local/bin/ /usr/local/bin/\n",
    );
    let built = engine.build(&context.0, "venvkit-test/copied-tools", &[]);
    assert_eq!(built.code(), 0, "{}", built.stderr);
    let script: Vec<String> = tools().iter().map(|tool| format!("{tool} --version")).collect();
    let ran = engine.sh("venvkit-test/copied-tools", &script.join(" && "));
    engine.remove_image("venvkit-test/copied-tools");
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.lines().count(), tools().len(), "{}", ran.stdout);
}

fn make_dist(out: &std::path::Path) -> Run {
    run(Command::new(repo().join("packaging/tools/make-dist")).arg(out).env("SOURCE_DATE_EPOCH", "1700000000"))
}

#[test]
fn make_dist_is_checked_reproducible_and_its_deb_installs_in_a_fresh_minbase_image() {
    let engine = engine_with_images();
    let (first, second) = (Scratch::new("dist-1"), Scratch::new("dist-2"));
    for out in [&first, &second] {
        let made = make_dist(&out.0);
        assert_eq!(made.code(), 0, "{}", made.stderr);
    }
    let sums = std::fs::read_to_string(first.path("SHA256SUMS")).unwrap();
    assert_eq!(sums, std::fs::read_to_string(second.path("SHA256SUMS")).unwrap(), "two builds differ");
    let checked = run(Command::new("sha256sum").arg("-c").arg("SHA256SUMS").current_dir(&first.0));
    assert_eq!(checked.code(), 0, "{}", checked.stdout);
    assert_eq!(checked.stdout.lines().count(), 2, "{}", checked.stdout);
    // debian:bookworm-slim is a fresh minbase rootfs (images/debian-slim).
    let versions: Vec<String> = tools().iter().map(|tool| format!("{tool} --version")).collect();
    let installed = engine.run(&[
        "run",
        "--rm",
        "--network=none",
        "-v",
        &format!("{}:/dist:ro", first.display()),
        "docker.io/library/debian:bookworm-slim",
        "sh",
        "-c",
        &format!("dpkg -i /dist/venvkit-tools_*.deb >/dev/null && {} && dpkg --audit", versions.join(" && ")),
    ]);
    assert_eq!(installed.code(), 0, "{}", installed.stderr);
    assert_eq!(installed.stdout.lines().count(), tools().len(), "{}", installed.stdout);
}

#[test]
fn every_image_is_labelled_with_its_own_name_base_version_and_revision() {
    let engine = engine_with_images();
    let version = std::fs::read_to_string(repo().join("Cargo.toml"))
        .unwrap()
        .lines()
        .skip_while(|line| *line != "[workspace.package]")
        .find_map(|line| line.strip_prefix("version = \"").map(|v| v.trim_end_matches('"').to_string()))
        .unwrap();
    let label = |image: &str, name: &str| engine.inspect(image, &format!("{{{{index .Config.Labels \"{name}\"}}}}"));
    let mut expected = vec![(TOOLS.to_string(), "venvkit/tools".to_string(), String::new())];
    for (suite, python_version) in suites() {
        expected.push((base(suite), "venvkit/base".into(), format!("debian:{suite}-slim")));
        expected.push((build(suite), "venvkit/build".into(), base(suite)));
        expected.push((format!("venvkit/python:{python_version}-{suite}"), "venvkit/python".into(), base(suite)));
        expected.push((distroless(suite), "venvkit/python".into(), "scratch".into()));
    }
    for (image, title, base_name) in expected {
        assert_eq!(label(&image, "org.opencontainers.image.title"), title, "{image}");
        assert_eq!(label(&image, "org.opencontainers.image.version"), version, "{image}");
        assert_eq!(label(&image, "org.opencontainers.image.revision").len(), 40, "{image}: a commit");
        assert_eq!(label(&image, "org.opencontainers.image.licenses"), "MIT OR Apache-2.0", "{image}");
        if !base_name.is_empty() {
            assert_eq!(label(&image, "org.opencontainers.image.base.name"), base_name, "{image}");
        }
    }
}
