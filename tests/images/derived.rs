//! Images derived from venvkit's: packages with postinst scripts, and the
//! build → runtime round trip with a venv of C extensions.

use crate::support::*;
use std::path::PathBuf;

fn dockerfile_context(text: &str) -> Scratch {
    let context = Scratch::new("derived");
    context.write("Dockerfile", text);
    context
}

#[test]
fn apt_install_postgresql_client_works_in_a_derived_image() {
    let engine = engine_with_images();
    for (suite, _) in suites() {
        let context =
            dockerfile_context(&format!("FROM {}\nRUN apt-install postgresql-client && psql --version\n", base(suite)));
        let tag = format!("venvkit-test/psql:{suite}");
        let built = engine.build(&context.0, &tag, &["--no-cache"]);
        engine.remove_image(&tag);
        assert_eq!(built.code(), 0, "{suite}: {}{}", built.stdout, built.stderr);
        assert!(built.stdout.contains("psql (PostgreSQL)"), "{suite}: {}", built.stdout);
    }
}

const ROUNDTRIP_BUILD: &str = "venvkit-test/roundtrip-build:bookworm";
const ROUNDTRIP: &str = "venvkit-test/roundtrip:bookworm";

/// The round trip's build stage and runtime. Tests run as separate
/// processes: the first builds under a lock, the others then find every
/// layer in the engine's cache.
fn roundtrip(engine: &Engine) -> (&'static str, &'static str) {
    let _built_once = exclusive("roundtrip");
    let context = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("images/roundtrip");
    let stage = engine.build(&context, ROUNDTRIP_BUILD, &["--target", "build"]);
    assert_eq!(stage.code(), 0, "build stage: {}{}", stage.stdout, stage.stderr);
    let runtime = engine.build(&context, ROUNDTRIP, &[]);
    assert_eq!(runtime.code(), 0, "runtime: {}{}", runtime.stdout, runtime.stderr);
    (ROUNDTRIP_BUILD, ROUNDTRIP)
}

#[test]
fn a_venv_built_from_source_runs_in_the_runtime_with_the_packages_find_libdeps_named() {
    let engine = engine_with_images();
    let (_, runtime) = roundtrip(&engine);

    let pkgdeps = engine.sh(runtime, "cat /usr/share/python3/app/pkgdeps.txt").stdout;
    for package in ["libpq5", "libxml2", "libxslt1.1", "libjpeg62-turbo"] {
        assert!(pkgdeps.lines().any(|line| line == package), "{package} not in pkgdeps.txt:\n{pkgdeps}");
    }
    assert!(!pkgdeps.contains("-dev"), "{pkgdeps}");

    let imports = "import psycopg2, lxml.etree, PIL.Image; print(psycopg2.__libpq_version__ > 0, lxml.etree.LXML_VERSION > (0,), PIL.Image.new('RGB', (1, 1)).size)";
    let ran = engine.run(&["run", "--rm", "--network=none", runtime, "python", "-c", imports]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "True True (1, 1)");

    // Every ELF file in the venv resolves in the runtime: find-libdeps fails
    // on any library not found or owned by no package.
    let resolved = engine.sh(runtime, "find-libdeps /usr/share/python3/app >/dev/null");
    assert_eq!(resolved.code(), 0, "unresolved libraries: {}", resolved.stderr);
    let compilers = engine.sh(
        runtime,
        "ls /usr/bin/gcc /usr/bin/cc /usr/include/libpq-fe.h 2>/dev/null; dpkg -l '*-dev' 2>/dev/null | grep ^ii",
    );
    assert_eq!(compilers.stdout, "", "the runtime has build dependencies");
}

#[test]
fn a_venv_copied_into_a_runtime_with_another_python_is_refused_by_name() {
    let engine = engine_with_images();
    let (build_stage, _) = roundtrip(&engine);
    let context = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("images/other-python");
    let tag = "venvkit-test/other-python:trixie";
    let runtime = python("trixie");
    let built = engine.build(
        &context,
        tag,
        &["--build-arg", &format!("VENV_IMAGE={build_stage}"), "--build-arg", &format!("RUNTIME={runtime}")],
    );
    assert_eq!(built.code(), 0, "{}", built.stderr);
    let ran = engine.run(&["run", "--rm", "--network=none", tag, "python", "-c", "import psycopg2"]);
    engine.remove_image(tag);
    assert_eq!(ran.code(), 2, "{}", ran.stderr);
    let message = ran.stderr.trim();
    assert!(
        message.starts_with("entrypoint: the virtualenv /usr/share/python3/app was made with Python 3.11."),
        "{message}"
    );
    assert!(message.contains("(/usr/bin/python3.11), which is not in this image"), "{message}");
    assert_eq!(message.lines().count(), 1, "{message}");
}
