//! The second example (`examples/filebox`, `make demo`): built with uv, its
//! pytest suite against PostgreSQL, the shell-less release serving uploads
//! typed by libmagic; then what the release image holds.

use crate::demo::{demo_script_output, release_build_after_a_code_change, step_cached};
use crate::support::*;

#[test]
fn filebox_tests_against_postgresql_and_types_uploads_with_libmagic() {
    engine_with_images();
    let output = demo_script_output("filebox");
    assert!(output.contains("wait-for-port: postgres://db:5432/filebox is ready after"), "{output}");
    assert!(output.lines().any(|line| line.contains(" passed") && !line.contains("failed")), "{output}");
    assert!(output.contains("uploaded dot.png -> image/png"), "{output}");
    assert!(output.contains("uploaded doc.pdf -> application/pdf"), "{output}");
    assert!(output.contains("health check: healthy"), "{output}");
    // SIGTERM: a graceful shutdown, then uvicorn's own re-raise (143).
    assert!(output.contains("uvicorn finished its shutdown: yes"), "{output}");
}

#[test]
fn filebox_rebuilds_after_a_pin_change_with_the_new_pin_and_prints_the_time() {
    engine_with_images();
    let output = demo_script_output("filebox");
    // The demo locks python-multipart 0.0.33 in a copy and fails unless the
    // rebuilt release has it.
    assert!(output.contains("with python-multipart 0.0.33"), "{output}");
    let label = "rebuild after one dependency pin change";
    let line = output.lines().find(|line| line.starts_with(label)).unwrap_or_else(|| panic!("no {label} in {output}"));
    let seconds = line[label.len()..].trim().strip_suffix('s').and_then(|n| n.parse::<f64>().ok());
    assert!(seconds.is_some_and(|s| s > 0.0), "{line}");
}

#[test]
fn a_filebox_code_change_runs_neither_the_dependencies_sync_nor_apt_install_again() {
    // uv's guide: the dependencies' `uv sync --no-install-project` is cached
    // until uv.lock or pyproject.toml changes; pkgdeps.txt comes out the same,
    // so the libs stage's apt-install is cached too.
    let engine = engine_with_images();
    demo_script_output("filebox");
    let built = release_build_after_a_code_change(&engine, "filebox", "src/filebox/changed_by_test.py");
    let cached = |marker: &str| step_cached(&built, marker);
    assert!(cached("uv sync --locked --no-dev --no-install-project"), "dependencies were synced again:\n{built}");
    assert!(cached("apt-install --root /staging"), "apt-install ran again:\n{built}");
    assert!(!cached("COPY . /src"), "the change was not copied in:\n{built}");
}

#[test]
fn filebox_release_ships_bytecode_that_python_uses_as_it_is() {
    // Without SOURCE_DATE_EPOCH in the project's step, UV_COMPILE_BYTECODE
    // wrote mtime-checked bytecode: the project's own files were stale (the
    // build's --timestamp rewrote their mtimes), and any dependency's would
    // be whose wheel is newer than the build's epoch.
    let engine = engine_with_images();
    demo_script_output("filebox");
    assert_bytecode_valid_as_shipped(&engine, "venvkit/filebox:latest", VENV_SITE_PACKAGES, 200);
}

#[test]
fn filebox_release_is_shell_less_with_exactly_the_libraries_its_venv_loads() {
    let engine = engine_with_images();
    let output = demo_script_output("filebox");
    let named = output.lines().find_map(|line| line.strip_prefix("find-libdeps named: ")).expect(&output);
    let named: Vec<&str> = named.split_whitespace().collect();
    for package in ["libmagic1", "libpq5"] {
        assert!(named.contains(&package), "{package} not in {named:?}");
    }
    assert!(!named.iter().any(|p| p.ends_with("-dev")), "{named:?}");
    let image = "venvkit/filebox:latest";
    assert_eq!(engine.inspect(image, "{{.Config.User}}"), "65532");
    // No shell, no pip, no uv, no setuptools in the venv.
    let shell = engine.run(&["run", "--rm", "--network=none", "--entrypoint", "/bin/sh", image, "-c", "true"]);
    assert_ne!(shell.code(), 0, "{image} has a shell");
    let script =
        "import importlib.util as u, shutil; print([m for m in ('pip', 'uv', 'setuptools', 'wheel', 'pytest') \
                  if u.find_spec(m)], shutil.which('uv'), shutil.which('gcc'))";
    let found = engine.run(&["run", "--rm", "--network=none", image, "python", "-c", script]);
    assert_eq!(found.stdout.trim(), "[] None None", "{}", found.stderr);
    // Exactly the named packages, and what they need, added to the runtime.
    assert_adds_exactly_the_named_packages(&engine, image, &distroless("bookworm"), &named);
}

#[test]
fn the_same_dockerfile_builds_filebox_for_trixie_with_that_suites_package_names() {
    // No package name is written for a suite: find-libdeps names trixie's
    // (libmagic1t64 after the 64-bit time_t transition) and apt-install
    // stages them onto trixie's shell-less runtime.
    let engine = engine_with_images();
    let (trixie, python_version) =
        suites().into_iter().find(|(suite, _)| *suite == "trixie").expect("venvkit.conf has no trixie suite");
    let tag = format!("venvkit-test/filebox-{trixie}:{}", std::process::id());
    let built = engine.build(
        &repo().join("examples/filebox"),
        &tag,
        &[
            "--format",
            "docker",
            "--target",
            "release",
            "--build-arg",
            &format!("SUITE={trixie}"),
            "--build-arg",
            &format!("PYTHON_VERSION={python_version}"),
        ],
    );
    let script = "import sys, magic, psycopg.pq\n\
                  print(sys.version_info[:2], magic.from_buffer(b'%PDF-1.4\\n', mime=True), psycopg.pq.__impl__)\n\
                  print(' '.join(open('/usr/share/python3/app/pkgdeps.txt').read().split()))";
    let ran = (built.code() == 0).then(|| engine.run(&["run", "--rm", "--network=none", &tag, "python", "-c", script]));
    engine.remove_image(&tag);
    assert_eq!(built.code(), 0, "{}", built.stderr);
    let ran = ran.unwrap();
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    let mut lines = ran.stdout.lines();
    let (major, minor) = python_version.split_once('.').unwrap();
    assert_eq!(lines.next(), Some(format!("({major}, {minor}) application/pdf python").as_str()), "{}", ran.stdout);
    let named: Vec<&str> = lines.next().unwrap_or_default().split_whitespace().collect();
    assert!(named.contains(&"libmagic1t64") && named.contains(&"libpq5"), "{named:?}");
}
