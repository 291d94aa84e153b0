//! Real virtualenvs in a real rootfs: psycopg2, lxml and Pillow built from
//! source, and manylinux wheels with bundled libraries. The answer is
//! compared with an independent oracle built from `readelf -d`, the loader's
//! own resolution (`ldd`, run inside the rootfs) and `dpkg-query -S` on the
//! exact paths.

mod support;

use std::collections::BTreeSet;
use std::path::Path;
use support::*;

/// The oracle, run in the rootfs: for each ELF file's NEEDED entries (and
/// its PT_INTERP), the path ldd resolves it to, outside the venv, and the
/// package dpkg-query names for that path (or, failing that, its real path).
/// With `transitive`, every library ldd lists instead: the loader's closure.
const ORACLE: &str = r#"
venv=$1; transitive=$2
owner() { dpkg-query -S "$1" 2>/dev/null || dpkg-query -S "$(readlink -f "$1")" 2>/dev/null || echo "UNOWNED: $1"; }
find "$venv" -type f | while read -r f; do
  [ "$(head -c4 "$f" | od -An -tx1 | tr -d ' \n')" = "7f454c46" ] || continue
  if [ -n "$transitive" ]; then
    ldd "$f" 2>/dev/null | awk '$2 == "=>" && $3 ~ /^\// {print $3}' | while read -r p; do
      case "$p" in "$venv"/*) ;; *) owner "$p" ;; esac
    done
    continue
  fi
  readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r needed; do
    p=$(ldd "$f" 2>/dev/null | awk -v n="$needed" '$1 == n && $2 == "=>" {print $3}')
    case "$p" in "$venv"/*|"") ;; *) owner "$p" ;; esac
  done
  interp=$(readelf -l "$f" 2>/dev/null | sed -n 's/.*Requesting program interpreter: \(.*\)\]/\1/p')
  [ -z "$interp" ] || owner "$interp"
done | sed 's/:.*//' | sort -u
"#;

fn oracle(rootfs: &Path, venv: &str, transitive: bool) -> BTreeSet<String> {
    let flag = if transitive { "yes" } else { "" };
    let run = run(std::process::Command::new("chroot").arg(rootfs).args(["sh", "-c", ORACLE, "oracle", venv, flag]));
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
