//! On real Debian root filesystems (made once with mmdebstrap, cached under
//! target/): usrmerge in both directions, alternatives, /usr/local, and the
//! same answer from inside the rootfs as from outside with --root.

mod support;

use std::path::Path;
use support::*;

/// A tree inside `rootfs` (removed when dropped) and its path as seen from
/// inside the rootfs.
fn tree_in(rootfs: &Path, name: &str) -> (Scratch, String) {
    let tree = Scratch::under(&rootfs.join("srv"), name);
    let inner = format!("/srv/{}", tree.0.file_name().unwrap().to_str().unwrap());
    (tree, inner)
}

fn find(rootfs: &Path, args: &[&str]) -> Run {
    run(command().arg("--root").arg(rootfs).args(args))
}

#[test]
fn usrmerge_on_bookworm_maps_lib_and_usr_lib_listings_needs_root() {
    require_root();
    let rootfs = rootfs("bookworm");
    let list =
        |name: &str| std::fs::read_to_string(rootfs.join(format!("var/lib/dpkg/info/{name}:amd64.list"))).unwrap();
    assert!(list("zlib1g").contains("\n/lib/x86_64-linux-gnu/libz.so.1\n"), "zlib1g lists /lib/... on bookworm");
    assert!(
        list("libpq5").contains("\n/usr/lib/x86_64-linux-gnu/libpq.so.5\n"),
        "libpq5 lists /usr/lib/... on bookworm"
    );
    let (tree, inner) = tree_in(&rootfs, "usrmerge");
    Build { needs: &["libz.so.1", "libpq.so.5"], ..Build::library(&tree.path("module.so")) }.build();
    let run = find(&rootfs, &[&inner]);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libc6\nlibpq5\nzlib1g\n"), "{}", run.stderr);
}

#[test]
fn usrmerge_on_trixie_maps_the_interpreter_to_libc6_needs_root() {
    require_root();
    let rootfs = rootfs("trixie");
    let (tree, inner) = tree_in(&rootfs, "trixie");
    Build { executable: true, libc: true, ..Build::library(&tree.path("bin/tool")) }.build();
    let run = find(&rootfs, &["--format", "json", &inner]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let interpreter = run.stdout.lines().find(|l| l.contains("\"how\": \"interpreter\"")).expect(&run.stdout);
    assert!(
        interpreter.contains("/lib64/ld-linux-x86-64.so.2") && interpreter.contains("\"package\": \"libc6\""),
        "{interpreter}"
    );
    let names = find(&rootfs, &[&inner]);
    assert_eq!(names.stdout, "libc6\n");
}

#[test]
fn an_alternatives_managed_library_maps_to_the_selected_provider_needs_root() {
    require_root();
    let rootfs = rootfs("bookworm");
    let (tree, inner) = tree_in(&rootfs, "blas");
    Build { needs: &["libblas.so.3"], libc: false, ..Build::library(&tree.path("module.so")) }.build();
    let run = find(&rootfs, &["--format", "json", &inner]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.contains("\"packages\": [\"libblas3\"]"), "{}", run.stdout);
}

#[test]
fn a_library_in_usr_local_lib_owned_by_no_package_is_an_error_needs_root() {
    require_root();
    let rootfs = rootfs("bookworm");
    let soname = format!("libvenvkitlocal{}.so.1", std::process::id());
    let local = rootfs.join("usr/local/lib").join(&soname);
    Build { soname: Some(&soname), libc: false, ..Build::library(&local) }.build();
    let (tree, inner) = tree_in(&rootfs, "local");
    Build { needs: &[&soname], libc: false, ..Build::library(&tree.path("module.so")) }.build();
    let run = find(&rootfs, &[&inner]);
    std::fs::remove_file(&local).unwrap();
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains(&format!("/usr/local/lib/{soname}")) && run.stderr.contains("owned by no package"),
        "{}",
        run.stderr
    );
}

#[test]
fn inside_the_rootfs_and_from_outside_with_root_the_answer_is_the_same_needs_root() {
    require_root();
    let rootfs = rootfs("bookworm");
    let (tree, inner) = tree_in(&rootfs, "inside");
    Build { needs: &["libz.so.1", "libpq.so.5"], ..Build::library(&tree.path("lib/module.so")) }.build();
    Build { executable: true, needs: &["libblas.so.3"], ..Build::library(&tree.path("bin/tool")) }.build();
    std::fs::copy(binary(), tree.path("find-libdeps")).unwrap();
    let outside = find(&rootfs, &["--format", "json", &inner]);
    let inside = run(std::process::Command::new("chroot")
        .arg(&rootfs)
        .arg(format!("{inner}/find-libdeps"))
        .args(["--format", "json", &inner]));
    assert_eq!(outside.code(), 0, "{}", outside.stderr);
    assert_eq!(inside.code(), 0, "{}", inside.stderr);
    assert_eq!(inside.stdout, outside.stdout);
}

#[test]
fn depends_equals_dpkg_shlibdeps_minimum_versions_needs_root() {
    require_root();
    let rootfs = rootfs("bookworm");
    let (tree, inner) = tree_in(&rootfs, "depends");
    // Real objects with real symbol references: copies of the rootfs's own
    // libpq, zlib user and dpkg tools, as a venv would bundle them.
    let objects = ["usr/lib/x86_64-linux-gnu/libpq.so.5", "usr/bin/dpkg", "usr/bin/readelf", "usr/bin/objdump"];
    for object in objects {
        let name = std::path::Path::new(object).file_name().unwrap();
        std::fs::copy(rootfs.join(object), tree.path("objects").join(name))
            .or_else(|_| {
                std::fs::create_dir_all(tree.path("objects"))?;
                std::fs::copy(rootfs.join(object), tree.path("objects").join(name))
            })
            .unwrap();
    }
    tree.write("work/debian/control", b"Source: venvkit-test\n\nPackage: venvkit-test\nArchitecture: any\n");
    let ours = find(&rootfs, &["--format", "depends", &format!("{inner}/objects")]);
    assert_eq!(ours.code(), 0, "{}", ours.stderr);
    let script = format!("cd {inner}/work && dpkg-shlibdeps -O {inner}/objects/*");
    let theirs = run(std::process::Command::new("chroot").arg(&rootfs).args(["sh", "-c", &script]));
    assert_eq!(theirs.code(), 0, "{}", theirs.stderr);
    let theirs = theirs.stdout.trim().strip_prefix("shlibs:Depends=").unwrap_or(&theirs.stdout).to_string();
    assert_eq!(ours.stdout.trim(), theirs);
    assert!(theirs.contains("libc6 (>= ") && theirs.contains("zlib1g (>= "), "a meaningful comparison: {theirs}");
}

#[test]
fn a_trixie_program_checked_against_bookworm_fails_on_its_glibc_version_needs_root() {
    require_root();
    let (bookworm, trixie) = (rootfs("bookworm"), rootfs("trixie"));
    let (tree, inner) = tree_in(&bookworm, "versions");
    std::fs::copy(trixie.join("usr/bin/ls"), tree.path("ls")).unwrap();
    let run = find(&bookworm, &[&inner]);
    assert_eq!(run.code(), 1, "{}", run.stderr);
    let libc6 = std::fs::read_to_string(bookworm.join("var/lib/dpkg/status")).unwrap();
    let version = libc6.split("\n\n").find(|p| p.starts_with("Package: libc6\n")).unwrap();
    let version = version.lines().find_map(|l| l.strip_prefix("Version: ")).unwrap();
    let line = run.stderr.lines().find(|l| l.contains("GLIBC_2.38")).expect(&run.stderr);
    let parts = [format!("{inner}/ls: needs version GLIBC_2.38 of libc.so.6"), format!("(from libc6 {version})")];
    for part in parts.iter().map(String::as_str).chain(["whose newest is GLIBC_2.36"]) {
        assert!(line.contains(part), "{part:?} not in {line}");
    }
    // Where the library is new enough, the same program passes.
    let (tree, inner) = tree_in(&trixie, "versions");
    std::fs::copy(trixie.join("usr/bin/ls"), tree.path("ls")).unwrap();
    let run = find(&trixie, &[&inner]);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    // --check says the same without a dpkg database.
    let (tree, inner) = tree_in(&bookworm, "versions-check");
    std::fs::copy(trixie.join("usr/bin/ls"), tree.path("ls")).unwrap();
    let run = find(&bookworm, &["--check", &inner]);
    assert_eq!((run.code(), run.stdout.as_str()), (1, ""), "{}", run.stderr);
    assert!(run.stderr.contains("needs version GLIBC_2.38 of libc.so.6"), "{}", run.stderr);
}
