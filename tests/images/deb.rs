//! `make deb`: the example app as a Debian package carrying its own venv,
//! checked with dpkg-deb, dpkg-shlibdeps and lintian, then installed, run,
//! removed and purged on fresh venvkit/base containers.

use crate::support::*;
use std::path::{Path, PathBuf};
use std::process::Command;

/// Builds the package into `out` with packaging/deb/make-deb, for `arch`
/// (a Debian architecture; empty: the machine's).
pub fn make_deb(out: &Path, arch: &str) -> PathBuf {
    let mut command = Command::new(repo().join("packaging/deb/make-deb"));
    command.env("OUT", out).env("SUITE", "bookworm").env("ARCH", arch);
    if let Some(bundle) = extra_ca_cert() {
        command.env("EXTRA_CA_CERT", bundle);
    }
    let built = run_long(&mut command);
    assert_eq!(built.code(), 0, "make-deb: {}", built.stderr);
    PathBuf::from(built.stdout.trim())
}

/// The package, built once per `make test` run under a lock.
fn package() -> PathBuf {
    let _once = exclusive("deb");
    let out = repo().join("target/deb/first");
    let existing = std::fs::read_dir(&out)
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "deb"));
    match existing {
        Some(deb) if made_this_run(&deb) => deb,
        _ => {
            let _ = std::fs::remove_dir_all(&out);
            make_deb(&out, "")
        }
    }
}

pub fn field(deb: &Path, name: &str) -> String {
    let output = Command::new("dpkg-deb").arg("--field").arg(deb).arg(name).output().unwrap();
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// `script` in a fresh container of `image` with the package's directory at /deb.
fn in_container(engine: &Engine, image: &str, deb: &Path, extra: &[&str], script: &str) -> Run {
    let volume = format!("{}:/deb:ro", deb.parent().unwrap().display());
    let mut args = vec!["run", "--rm", "--entrypoint=", "-v", &volume];
    args.extend_from_slice(extra);
    args.extend_from_slice(&[image, "bash", "-c", script]);
    engine.run(&args)
}

#[test]
fn the_package_has_its_control_fields_and_depends_on_python_and_libpq5_as_dpkg_shlibdeps_would() {
    let engine = engine_with_images();
    let deb = package();
    assert!(deb.file_name().unwrap().to_str().unwrap().starts_with("polls_1.0.0_amd64"), "{deb:?}");
    assert_eq!(field(&deb, "Package"), "polls");
    assert_eq!(field(&deb, "Version"), "1.0.0");
    assert_eq!(field(&deb, "Architecture"), "amd64");
    for name in ["Maintainer", "Description", "Installed-Size"] {
        assert!(!field(&deb, name).is_empty(), "no {name}");
    }
    let depends = field(&deb, "Depends");
    assert!(depends.split(", ").any(|d| d == "python3.11"), "{depends}");
    assert!(!depends.contains("-dev"), "{depends}");
    let ours =
        depends.split(", ").find(|d| d.starts_with("libpq5 (>= ")).unwrap_or_else(|| panic!("{depends}")).to_string();

    // dpkg-shlibdeps over the same compiled files, in the build image.
    let script =
        "mkdir -p /t/debian /x && cd /t && printf 'Source: t\\n\\nPackage: t\\nArchitecture: any\\n' > debian/control \
                  && dpkg -x /deb/*.deb /x \
                  && dpkg-shlibdeps -O $(find /x/opt -type f -name '*.so*' -printf '-e%p ') 2>/dev/null";
    let ran = in_container(&engine, &build("bookworm"), &deb, &["--network=none"], script);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    let theirs = ran
        .stdout
        .trim()
        .trim_start_matches("shlibs:Depends=")
        .split(", ")
        .find(|d| d.starts_with("libpq5 "))
        .unwrap_or("")
        .to_string();
    assert_eq!(ours, theirs, "dpkg-shlibdeps says {}", ran.stdout);
}

#[test]
fn lintian_reports_no_errors() {
    engine_with_images();
    let deb = package();
    let output = Command::new("lintian")
        .args(["--suppress-tags-from-file"])
        .arg(repo().join("packaging/deb/lintian-suppressed"))
        .arg(&deb)
        .output();
    let output = output.expect("lintian is missing: make deps-images installs it");
    let report = String::from_utf8_lossy(&output.stdout);
    let errors: Vec<&str> = report.lines().filter(|line| line.starts_with("E: ")).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}

/// Installs `deb` with its dependencies on a fresh `base` container (run with
/// `extra` engine flags), in a pod with a PostgreSQL server; checks that each
/// of its Depends is installed and no build tool came with them; migrates,
/// serves it with gunicorn and asks its JSON endpoint; then runs `then`.
/// Prints `polls --version`, any failed check, the endpoint's answer, then
/// what `then` prints.
pub fn install_and_serve(engine: &Engine, base: &str, deb: &Path, extra: &[&str], then: &str) -> Run {
    let postgres = engine.build(&repo().join("examples/postgres"), "venvkit/postgres:bookworm", &[]);
    assert_eq!(postgres.code(), 0, "{}", postgres.stderr);
    let pod = format!("venvkit-deb-smoke-{}-{}", std::process::id(), base.replace([':', '/', '.'], "-"));
    let created = engine.run(&["pod", "create", "--name", &pod, "--add-host", "db:127.0.0.1"]);
    assert_eq!(created.code(), 0, "{}", created.stderr);
    let db = engine.run(&["run", "-d", "--pod", &pod, "venvkit/postgres:bookworm"]);
    let script = r#"set -e
apt-install /deb/*.deb
polls --version
for package in $(dpkg-deb --field /deb/*.deb Depends | tr -d ' ' | tr ',' '\n' | sed 's/(.*//'); do
    dpkg-query -W -f '${db:Status-Status}\n' "$package" | grep -qx installed || echo "not installed: $package"
done
for package in gcc cpp libpq-dev python3-pip python3-venv python3-django; do
    dpkg-query -W -f '${db:Status-Status}' "$package" 2>/dev/null | grep -qx installed && echo "pulled in: $package"
done
cd /tmp
export POLLS_DB_HOST=db
wait-for-port -q --timeout 60s db:5432 -- polls migrate --noinput >/dev/null
/opt/polls/bin/gunicorn --bind 127.0.0.1:8000 polls.wsgi 2>/dev/null &
wait-for-port -q --timeout 60s 127.0.0.1:8000 -- /opt/polls/bin/python -c 'import urllib.request as r; print(r.urlopen("http://127.0.0.1:8000/api/health").read().decode())'
"#
    .to_string()
        + then;
    let mut flags = vec!["--pod", &pod];
    flags.extend_from_slice(extra);
    let ran = in_container(engine, base, deb, &flags, &script);
    engine.run(&["pod", "rm", "-f", &pod]);
    assert_eq!(db.code(), 0, "{}", db.stderr);
    ran
}

#[test]
fn the_package_installs_on_fresh_base_runs_against_postgresql_and_answers_json() {
    let engine = engine_with_images();
    let deb = package();
    let ran = install_and_serve(&engine, &base("bookworm"), &deb, &[], "");
    assert_eq!(ran.code(), 0, "{}{}", ran.stdout, ran.stderr);
    let lines: Vec<&str> = ran.stdout.lines().collect();
    assert_eq!(lines[0], "polls 1.0.0", "{}", ran.stdout);
    assert!(lines[1].starts_with("{\"status\": \"ok\""), "{}", ran.stdout);
    assert_eq!(lines.len(), 2, "{}", ran.stdout);
}

#[test]
fn remove_deletes_every_installed_file_and_purge_the_config_and_the_user() {
    let engine = engine_with_images();
    let deb = package();
    let script = r#"set -e
apt-install /deb/*.deb >/dev/null 2>&1
dpkg -L polls | while read -r path; do [ -f "$path" ] || [ -L "$path" ] && echo "$path"; done | grep -v '^/etc/' > /tmp/files
test -s /tmp/files
touch /opt/polls/lib/written-at-run-time   # no package's file
getent passwd polls >/dev/null && echo user-created
apt-get remove -y -qq polls >/dev/null 2>&1
while read -r path; do [ -e "$path" ] || [ -L "$path" ] && echo "left after remove: $path"; done < /tmp/files
test -e /opt/polls && echo "left after remove: /opt/polls"
test -f /etc/polls/polls.env && echo config-kept
apt-get purge -y -qq polls >/dev/null 2>&1
test -e /etc/polls && echo "left after purge: /etc/polls"
getent passwd polls >/dev/null && echo "left after purge: user polls"
dpkg -L polls >/dev/null 2>&1 && echo "dpkg still knows polls"
true"#;
    let ran = in_container(&engine, &base("bookworm"), &deb, &[], script);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert_eq!(ran.stdout, "user-created\nconfig-kept\n");
}

#[test]
fn the_bookworm_package_refuses_to_install_on_trixie_with_apts_dependency_message() {
    let engine = engine_with_images();
    let deb = package();
    let ran = in_container(&engine, &base("trixie"), &deb, &[], "apt-install /deb/*.deb");
    assert_ne!(ran.code(), 0);
    assert!(ran.stderr.contains("python3.11"), "{}", ran.stderr);
    assert!(ran.stderr.contains("not installable") || ran.stderr.contains("unmet dependencies"), "{}", ran.stderr);
}

#[test]
fn rebuilding_with_the_same_source_date_epoch_gives_a_byte_identical_package() {
    engine_with_images();
    let first = package();
    let again = make_deb(&repo().join("target/deb/again"), "");
    assert!(std::fs::read(&first).unwrap() == std::fs::read(&again).unwrap(), "{first:?} and {again:?} differ");
}

#[test]
fn a_service_command_with_shell_syntax_goes_into_the_unit_literally() {
    let command = r"sh -c 'migrate && serve | tee log' \x";
    let filled = run(Command::new(repo().join("packaging/deb/fill-template"))
        .arg(repo().join("packaging/deb/service"))
        .args(["PACKAGE=polls", "VENV=/opt/polls", &format!("SERVICE_COMMAND={command}")]));
    assert_eq!(filled.code(), 0, "{}", filled.stderr);
    assert!(filled.stdout.contains(&format!("\nExecStart=/opt/polls/bin/{command}\n")), "{}", filled.stdout);
    assert!(!filled.stdout.contains('@'), "a placeholder was left: {}", filled.stdout);
}
