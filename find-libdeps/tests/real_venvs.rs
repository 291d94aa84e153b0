//! Real virtualenvs in a real rootfs: psycopg2, lxml and Pillow built from
//! source, and manylinux wheels with bundled libraries, in an amd64 rootfs
//! and an arm64 one. The answer is compared with an independent oracle built
//! from `readelf -d`, the loader's own resolution (`ldd`, run inside the
//! rootfs, under qemu-user for arm64) and `dpkg-query -S` on the exact paths.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use support::*;

/// The oracle, run in the rootfs on the venv's ELF files: for each one's
/// NEEDED entries (and its PT_INTERP), the path ldd resolves it to, outside
/// the venv, and the package dpkg-query names for that path (or, failing
/// that, its real path). With `transitive`, every library ldd lists
/// instead: the loader's closure. One ldd per file and one dpkg-query per
/// path, as each is a process under qemu-user in the arm64 rootfs.
const ORACLE: &str = r#"
venv=$1; transitive=$2; shift 2
owner() { dpkg-query -S "$1" 2>/dev/null || dpkg-query -S "$(readlink -f "$1")" 2>/dev/null || echo "UNOWNED: $1"; }
for f in "$@"; do
  resolved=$(ldd "$f" 2>/dev/null || true)
  if [ -n "$transitive" ]; then
    printf '%s\n' "$resolved" | awk '$2 == "=>" && $3 ~ /^\// {print $3}'
    continue
  fi
  readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r needed; do
    printf '%s\n' "$resolved" | awk -v n="$needed" '$1 == n && $2 == "=>" {print $3}'
  done
  readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p'
done | sort -u | while read -r p; do
  case "$p" in "$venv"/*|"") ;; *) owner "$p" ;; esac
done | sed 's/:.*//' | sort -u
"#;

/// The ELF files under `venv` in `rootfs`, by their magic, as paths inside.
fn elf_files(rootfs: &Path, venv: &str) -> Vec<String> {
    let mut files = Vec::new();
    let mut pending = vec![rootfs.join(venv.trim_start_matches('/'))];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).unwrap().flatten() {
            let kind = entry.file_type().unwrap();
            let mut magic = [0u8; 4];
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file()
                && std::fs::File::open(entry.path())
                    .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
                    .is_ok()
                && magic == *b"\x7fELF"
            {
                files.push(format!("/{}", entry.path().strip_prefix(rootfs).unwrap().display()));
            }
        }
    }
    files
}

fn oracle(rootfs: &Path, venv: &str, transitive: bool) -> BTreeSet<String> {
    let flag = if transitive { "yes" } else { "" };
    let mut command = std::process::Command::new("chroot");
    command.arg(rootfs).args(["sh", "-c", ORACLE, "oracle", venv, flag]).args(elf_files(rootfs, venv));
    let run = run(&mut command);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    run.stdout.lines().map(str::to_string).collect()
}

fn ours(rootfs: &Path, venv: &str) -> BTreeSet<String> {
    let run = run(command().arg("--root").arg(rootfs).arg(venv));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    run.stdout.lines().map(str::to_string).collect()
}

#[test]
fn a_source_built_venv_equals_the_oracle_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    let found = ours(&rootfs, "/opt/source-venv");
    assert_eq!(found, oracle(&rootfs, "/opt/source-venv", false));
    for expected in ["libc6", "libpq5", "libxml2", "libxslt1.1", "libjpeg62-turbo", "zlib1g"] {
        assert!(found.contains(expected), "{expected} missing from {found:?}");
    }
    assert!(!found.iter().any(|p| p.ends_with("-dev")), "{found:?}");
}

#[test]
fn a_source_built_venv_yields_direct_owners_not_the_loaders_closure_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    let found = ours(&rootfs, "/opt/source-venv");
    let closure = oracle(&rootfs, "/opt/source-venv", true);
    assert!(found.is_subset(&closure), "{found:?} not within {closure:?}");
    let transitive_only: Vec<&String> = closure.difference(&found).collect();
    assert!(
        transitive_only.iter().any(|p| p.as_str() == "libssl3"),
        "libpq5's own libssl3 should be left to apt: {transitive_only:?}"
    );
    assert!(
        transitive_only.iter().any(|p| p.starts_with("libicu")),
        "libxml2's own ICU should be left to apt: {transitive_only:?}"
    );
}

#[test]
fn a_manylinux_venv_with_bundled_libraries_equals_the_oracle_needs_root() {
    require_root();
    let rootfs = venv_rootfs();
    let found = ours(&rootfs, "/opt/wheel-venv");
    assert_eq!(found, oracle(&rootfs, "/opt/wheel-venv", false));
    assert!(!found.contains("libpq5"), "psycopg2-binary bundles its libpq: {found:?}");
}

/// The arm64 rootfs, read with `--root` by a tool built for another machine
/// (x86-64, or aarch64 under qemu-user in the second pass of `make test`):
/// the same answer as the loader and dpkg give inside it, with plain package
/// names, as arm64 is the root's own architecture.
fn arm64_equals_the_oracle(venv: &str) -> BTreeSet<String> {
    require_root();
    let rootfs = arm64_venvs();
    let found = ours(&rootfs, venv);
    assert_eq!(found, oracle(&rootfs, venv, false));
    assert!(!found.iter().any(|p| p.ends_with("-dev") || p.contains(':')), "{found:?}");
    found
}

#[test]
fn an_arm64_source_built_venv_equals_the_oracle_run_inside_it_needs_root() {
    let found = arm64_equals_the_oracle("/opt/source-venv");
    assert!(found.contains("libpq5") && found.contains("zlib1g"), "{found:?}");
}

#[test]
fn an_arm64_manylinux_venv_with_bundled_libraries_equals_the_oracle_run_inside_it_needs_root() {
    let found = arm64_equals_the_oracle("/opt/wheel-venv");
    assert!(!found.contains("libpq5"), "psycopg2-binary bundles its libpq: {found:?}");
    assert!(found.contains("libc6"), "{found:?}");
}

#[test]
fn find_libdeps_run_inside_the_arm64_rootfs_agrees_with_root_from_outside_needs_root() {
    require_root();
    let rootfs = arm64_venvs();
    let aarch64 = Path::new(env!("CARGO_MANIFEST_DIR")).join("../target/bin/aarch64/find-libdeps");
    assert!(aarch64.is_file(), "{}: missing (make build cross-compiles it)", aarch64.display());
    let inside = Scratch::under(&rootfs.join("tmp"), "aarch64-tool");
    std::fs::copy(&aarch64, inside.path("find-libdeps")).unwrap();
    let tool = Path::new("/").join(inside.path("find-libdeps").strip_prefix(&rootfs).unwrap());
    for venv in ["/opt/source-venv", "/opt/wheel-venv"] {
        let run = run(std::process::Command::new("chroot").arg(&rootfs).arg(&tool).arg(venv));
        assert_eq!(run.code(), 0, "{}", run.stderr);
        let found: BTreeSet<String> = run.stdout.lines().map(str::to_string).collect();
        assert_eq!(found, ours(&rootfs, venv), "{venv}");
    }
}
