//! Ownership from dpkg's database, on small synthetic roots (`--root`): the
//! updates journal, Multi-Arch list names, a missing info/format,
//! diversions, unowned libraries, ld.so.conf, and a corrupt database.

mod support;

use support::*;

/// A root whose /app/module.so needs libq.so.1 from /opt/q/lib, found
/// through ld.so.conf; no libc anywhere, so nothing else is needed.
fn root_with_libq(name: &str) -> Scratch {
    let root = Scratch::new(name);
    root.write("etc/ld.so.conf", b"include /etc/ld.so.conf.d/*.conf\n");
    root.write("etc/ld.so.conf.d/q.conf", b"/opt/q/lib # the q library\n");
    let lib = root.path("opt/q/lib/libq.so.1");
    Build { soname: Some("libq.so.1"), libc: false, ..Build::library(&lib) }.build();
    let module = root.path("app/module.so");
    Build { needs: &["libq.so.1"], libc: false, ..Build::library(&module) }.build();
    root
}

fn find_in(root: &Scratch) -> Run {
    run(command().arg("--root").arg(&root.0).arg("/app"))
}

#[test]
fn a_library_found_through_ld_so_conf_maps_to_its_package() {
    let root = root_with_libq("ldconf");
    Dpkg::new(&root).package("libq1", false, &["/opt/q/lib/libq.so.1"]).write(Some("1\n"));
    let run = find_in(&root);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libq1\n"), "{}", run.stderr);
}

#[test]
fn the_same_directory_through_two_paths_is_searched_once() {
    let root = root_with_libq("ldconf-twice");
    root.link("/opt/q", "opt/alias");
    root.write("etc/ld.so.conf.d/q.conf", b"/opt/q/lib\n/opt/alias/lib\n/opt/none\n");
    std::fs::remove_file(root.path("opt/q/lib/libq.so.1")).unwrap();
    let run = find_in(&root);
    assert_eq!(run.code(), 1);
    let line = run.stderr.lines().find(|l| l.contains("libq.so.1")).unwrap();
    assert!(line.contains("/opt/q/lib") && !line.contains("/opt/alias/lib") && line.contains("/opt/none"), "{line}");
}

#[test]
fn a_package_in_config_files_state_in_a_newer_journal_entry_owns_nothing() {
    let root = root_with_libq("journal");
    Dpkg::new(&root).package("libq1", false, &["/opt/q/lib/libq.so.1"]).write(Some("1\n"));
    root.write(
        "var/lib/dpkg/updates/0001",
        b"Package: libq1\nStatus: deinstall ok config-files\nArchitecture: amd64\nVersion: 1.0-1\n\n",
    );
    let run = find_in(&root);
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(
        run.stderr.contains("/opt/q/lib/libq.so.1") && run.stderr.contains("owned by no package"),
        "{}",
        run.stderr
    );
}

#[test]
fn multi_arch_same_packages_are_read_from_their_qualified_list() {
    let root = root_with_libq("multiarch");
    Dpkg::new(&root).package("libq1", true, &["/opt/q/lib/libq.so.1"]).write(Some("1\n"));
    let run = find_in(&root);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libq1\n"), "{}", run.stderr);
}

#[test]
fn without_info_format_plain_list_names_are_used() {
    let root = root_with_libq("format0");
    Dpkg::new(&root).package("libq1", false, &["/opt/q/lib/libq.so.1"]).write(None);
    let run = find_in(&root);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libq1\n"), "{}", run.stderr);
}

#[test]
fn a_foreign_architecture_package_is_printed_with_its_arch() {
    let root = root_with_libq("foreign");
    let mut dpkg = Dpkg::new(&root);
    dpkg.package("libq1", true, &["/opt/q/lib/libq.so.1"]);
    dpkg.status = dpkg.status.replace("Architecture: amd64", "Architecture: i386");
    std::fs::rename(root.path("var/lib/dpkg/info/libq1:amd64.list"), root.path("var/lib/dpkg/info/libq1:i386.list"))
        .unwrap();
    dpkg.write(Some("1\n"));
    let run = find_in(&root);
    assert_eq!(run.stdout, "libq1:i386\n", "{}", run.stderr);
}

#[test]
fn a_library_owned_by_no_package_is_an_error_naming_it() {
    let root = root_with_libq("unowned");
    Dpkg::new(&root).package("other", false, &["/usr/bin/other"]).write(Some("1\n"));
    let run = find_in(&root);
    assert_eq!(run.code(), 1);
    assert!(
        run.stderr.contains("/opt/q/lib/libq.so.1")
            && run.stderr.contains("app/module.so needs as libq.so.1 is owned by no package"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_diverted_library_belongs_to_the_package_that_shipped_it() {
    let root = root_with_libq("diversion");
    // The file the loader finds, /opt/q/lib/libq.so.1, is really qlib's
    // libq.so.1, moved there by a diversion from /opt/q/orig/libq.so.1.
    let mut dpkg = Dpkg::new(&root);
    dpkg.package("qlib", false, &["/opt/q/orig/libq.so.1"]).package("diverter", false, &["/opt/q/orig/libq.so.1"]);
    dpkg.write(Some("1\n"));
    root.write("var/lib/dpkg/diversions", b"/opt/q/orig/libq.so.1\n/opt/q/lib/libq.so.1\ndiverter\n");
    root.mkdir("opt/q/orig");
    let run = find_in(&root);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "qlib\n"), "{}", run.stderr);
}

#[test]
fn a_corrupt_status_file_is_exit_2() {
    let root = root_with_libq("corrupt");
    root.mkdir("var/lib/dpkg");
    root.write("var/lib/dpkg/status", b"Package: libq1\nthis is not a field\n");
    let run = find_in(&root);
    assert_eq!(run.code(), 2, "{}", run.stderr);
    assert!(run.stderr.contains("corrupt dpkg database"), "{}", run.stderr);
}

#[test]
fn an_alternatives_link_maps_to_the_selected_provider() {
    let root = root_with_libq("alternatives");
    let real = root.path("opt/q/provider-b/libq.so.1");
    std::fs::create_dir_all(real.parent().unwrap()).unwrap();
    std::fs::rename(root.path("opt/q/lib/libq.so.1"), &real).unwrap();
    root.link("/etc/alternatives/libq.so.1", "opt/q/lib/libq.so.1");
    root.link("/opt/q/provider-b/libq.so.1", "etc/alternatives/libq.so.1");
    let mut dpkg = Dpkg::new(&root);
    dpkg.package("libq-provider-a", false, &["/opt/q/provider-a/libq.so.1"]);
    dpkg.package("libq-provider-b", false, &["/opt/q/provider-b/libq.so.1"]);
    dpkg.write(Some("1\n"));
    let run = find_in(&root);
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libq-provider-b\n"), "{}", run.stderr);
}

#[test]
fn depends_for_a_library_with_neither_symbols_nor_shlibs_is_an_error_as_in_dpkg_shlibdeps() {
    let root = root_with_libq("no-shlibs");
    Dpkg::new(&root).package("libq1", false, &["/opt/q/lib/libq.so.1"]).write(Some("1\n"));
    let depends = || run(command().args(["--format", "depends", "--root"]).arg(&root.0).arg("/app"));
    let without = depends();
    assert_eq!((without.code(), without.stdout.as_str()), (1, "libq1\n"), "{}", without.stderr);
    let expected = "libq1: has neither a symbols nor a shlibs file for libq.so.1";
    assert!(without.stderr.contains(expected), "{}", without.stderr);
    // A shlibs file gives the dependency.
    root.write("var/lib/dpkg/info/libq1.shlibs", b"libq 1 libq1 (>= 1.0)\n");
    let with = depends();
    assert_eq!((with.code(), with.stdout.as_str()), (0, "libq1 (>= 1.0)\n"), "{}", with.stderr);
}

/// Rewrites an ELF64 file's e_machine (a test's x86-64 object, read as another machine's).
fn set_machine(path: &std::path::Path, machine: u16) {
    let mut bytes = std::fs::read(path).unwrap();
    bytes[18..20].copy_from_slice(&machine.to_le_bytes());
    std::fs::write(path, bytes).unwrap();
}

#[test]
fn a_root_without_dpkg_is_read_as_the_architecture_of_its_loader() {
    // A shell-less arm64 image: no /var/lib/dpkg/arch, status.d metadata,
    // objects whose machine is AArch64 (test objects relabelled).
    let root = Scratch::new("arm64-status-d");
    let libc = root.path("usr/lib/aarch64-linux-gnu/libc.so.6");
    Build { soname: Some("libc.so.6"), libc: false, ..Build::library(&libc) }.build();
    let module = root.path("app/module.so");
    Build { needs: &["libc.so.6"], libc: false, ..Build::library(&module) }.build();
    for object in [&libc, &module] {
        set_machine(object, 183);
    }
    root.write("usr/lib/ld-linux-aarch64.so.1", b"the loader's name is enough here");
    root.link("usr/lib", "lib");
    root.write(
        "var/lib/dpkg/status.d/libc6",
        b"Package: libc6\nVersion: 2.36-9\nArchitecture: arm64\nMulti-Arch: same\n",
    );
    root.write(
        "var/lib/dpkg/status.d/libc6.md5sums",
        b"0123456789abcdef0123456789abcdef  usr/lib/aarch64-linux-gnu/libc.so.6\n",
    );
    let run = run(command().arg("--root").arg(&root.0).arg("/app"));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libc6\n"), "{}", run.stderr);
    assert!(!run.stderr.contains("skipped"), "{}", run.stderr);
}

#[test]
fn a_bare_tree_is_read_as_the_architecture_of_its_objects_whatever_finds_it() {
    // No dpkg, no loader: the objects' machine decides, not the machine
    // find-libdeps was built for. An AArch64 object's need is searched for
    // in the arm64 directories (and found nowhere: an error naming it), not
    // skipped as foreign by this amd64 build; the arm64 build reads amd64
    // trees the same way (its run of this suite under qemu-user).
    let root = Scratch::new("bare-arm64");
    let module = root.path("app/module.so");
    Build { needs: &["libq.so.1"], libc: false, ..Build::library(&module) }.build();
    set_machine(&module, 183);
    let run = run(command().arg("--root").arg(&root.0).arg("/app"));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("libq.so.1") && run.stderr.contains("aarch64-linux-gnu"), "{}", run.stderr);
    assert!(!run.stderr.contains("skipped"), "{}", run.stderr);
    // An excluded object does not decide, even when it comes first.
    Build { libc: false, ..Build::library(&root.path("app/aaa-other.so")) }.build();
    let excluded = support::run(command().arg("--root").arg(&root.0).args(["--exclude", "*/aaa-other.so", "/app"]));
    assert!(excluded.stderr.contains("libq.so.1") && !excluded.stderr.contains("skipped"), "{}", excluded.stderr);
}
