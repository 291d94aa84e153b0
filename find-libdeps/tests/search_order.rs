//! The loader's search rules on objects built by the tests: RPATH, its
//! inheritance, RUNPATH, $ORIGIN through symlinks, wrong-architecture
//! candidates, and what happens when nothing is found.

mod support;

use support::*;

/// module.so in pkg/, needing libA.so.1 bundled in pkg.libs/ (auditwheel's
/// layout); libA needs only libc.
fn bundled(tree: &Scratch, tag: Tag) {
    let lib = tree.path("pkg.libs/libA.so.1");
    Build { soname: Some("libA.so.1"), ..Build::library(&lib) }.build();
    let module = tree.path("pkg/module.so");
    Build { needs: &["libA.so.1"], search: &["$ORIGIN/../pkg.libs"], tag, ..Build::library(&module) }.build();
}

fn json(tree: &Scratch) -> Run {
    run(command().args(["--format", "json"]).arg(&tree.0))
}

#[test]
fn a_module_with_an_origin_rpath_to_its_bundled_library_needs_no_package_for_it() {
    for (tag, how) in [(Tag::Rpath, "rpath of "), (Tag::Runpath, "runpath")] {
        let tree = Scratch::new("bundled");
        bundled(&tree, tag);
        let names = run(command().arg(&tree.0));
        assert_eq!(names.code(), 0, "{}", names.stderr);
        assert_eq!(names.stdout, "libc6\n");
        let explained = json(&tree);
        let edge = explained.stdout.lines().find(|l| l.contains("\"needed\": \"libA.so.1\"")).expect(&explained.stdout);
        assert!(edge.contains(&format!("\"how\": \"{how}")) && edge.contains("\"in_tree\": true"), "{edge}");
        assert!(edge.contains("pkg/../pkg.libs/libA.so.1"), "opened through $ORIGIN unnormalised: {edge}");
    }
}

/// module (RPATH or RUNPATH to pkg.libs) -> libA.so.1 -> libB.so, both
/// bundled; libA has no search path of its own and libB no SONAME.
fn chain(tree: &Scratch, tag: Tag) {
    Build::library(&tree.path("pkg.libs/libB.so")).build();
    Build { soname: Some("libA.so.1"), needs: &["libB.so"], ..Build::library(&tree.path("pkg.libs/libA.so.1")) }
        .build();
    Build {
        needs: &["libA.so.1"],
        search: &["$ORIGIN/../pkg.libs"],
        tag,
        ..Build::library(&tree.path("pkg/module.so"))
    }
    .build();
}

#[test]
fn an_inherited_rpath_resolves_a_bundled_librarys_own_bundled_dependency() {
    let tree = Scratch::new("inherit");
    chain(&tree, Tag::Rpath);
    let run = json(&tree);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let edge = run.stdout.lines().find(|l| l.contains("\"needed\": \"libB.so\"")).unwrap();
    assert!(edge.contains("rpath of ") && edge.contains("module.so"), "found through the module's RPATH: {edge}");
}

#[test]
fn a_runpath_is_not_inherited() {
    let tree = Scratch::new("no-inherit");
    chain(&tree, Tag::Rpath);
    retag(&tree.path("pkg/module.so"), DT_RPATH, DT_RUNPATH);
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("libA.so.1: needs libB.so, not found"), "{}", run.stderr);
    assert_eq!(run.stdout, "libc6\n", "what was found is still printed");
}

#[test]
fn runpath_wins_over_rpath_on_the_same_object() {
    let tree = Scratch::new("both");
    for dir in ["by-rpath", "by-runpath"] {
        Build { soname: Some("libC.so.1"), ..Build::library(&tree.path(&format!("{dir}/libC.so.1"))) }.build();
    }
    // The SONAME entry's string becomes the RUNPATH: one object, both tags.
    let module = tree.path("module.so");
    Build {
        soname: Some("$ORIGIN/by-runpath"),
        needs: &["libC.so.1"],
        search: &["$ORIGIN/by-rpath"],
        ..Build::library(&module)
    }
    .build();
    retag(&module, DT_SONAME, DT_RUNPATH);
    let run = json(&tree);
    let edge =
        run.stdout.lines().find(|l| l.contains("\"needed\": \"libC.so.1\"") && l.contains("module.so\"")).unwrap();
    assert!(edge.contains("by-runpath/libC.so.1") && edge.contains("\"how\": \"runpath\""), "{edge}");
}

#[test]
fn origin_through_a_symlinked_directory_resolves_on_disk_not_lexically() {
    let tree = Scratch::new("origin-symlink");
    // No SONAME: the in-tree SONAME fallback must not rescue a wrong search.
    Build::library(&tree.path("vendor/deps/libB.so.1")).build();
    let lib_a = tree.path("vendor/lib/libA.so.1");
    Build { soname: Some("libA.so.1"), needs: &["libB.so.1"], search: &["$ORIGIN/../deps"], ..Build::library(&lib_a) }
        .build();
    tree.link("vendor/lib", "libs");
    Build { needs: &["libA.so.1"], search: &["$ORIGIN/../libs"], ..Build::library(&tree.path("mod/module.so")) }
        .build();
    // libA is opened as .../libs/libA.so.1, so its $ORIGIN/../deps is
    // .../libs/../deps: vendor/deps on disk; lexically .../deps, which does
    // not exist.
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(!run.stderr.contains("warning"), "{}", run.stderr);
}

#[test]
fn origin_is_where_a_library_was_opened_through_a_symlinked_file() {
    let tree = Scratch::new("origin-file-link");
    Build::library(&tree.path("deps/libB.so.1")).build();
    Build {
        soname: Some("libA.so.1"),
        needs: &["libB.so.1"],
        search: &["$ORIGIN/../deps"],
        ..Build::library(&tree.path("vendor/x/libA.so.1"))
    }
    .build();
    tree.link("../vendor/x/libA.so.1", "lib/libA.so.1");
    Build { needs: &["libA.so.1"], search: &["$ORIGIN/../lib"], ..Build::library(&tree.path("app/module.so")) }.build();
    // libA is opened as lib/libA.so.1, so its $ORIGIN is lib/ and
    // $ORIGIN/../deps is deps/, as dlopen finds it; from vendor/x/ it is not.
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 0, "{}", run.stderr);
}

#[test]
fn a_module_that_another_module_loads_is_also_resolved_on_its_own() {
    let tree = Scratch::new("importable");
    Build::library(&tree.path("libs/libB.so.1")).build();
    Build { needs: &["libB.so.1"], ..Build::library(&tree.path("pkg/x.so")) }.build();
    Build { needs: &["x.so"], search: &["$ORIGIN/../libs", "$ORIGIN"], ..Build::library(&tree.path("pkg/y.so")) }
        .build();
    // Loaded through y.so, x.so inherits y's RPATH; imported by itself, it
    // has none, and libB.so.1 cannot be found.
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    assert!(run.stderr.contains("x.so: needs libB.so.1, not found"), "{}", run.stderr);
}

#[test]
fn a_missing_soname_names_itself_the_needing_file_and_the_dirs_searched() {
    let tree = Scratch::new("missing");
    Build { needs: &["libvenvkitmissing.so.7"], search: &["$ORIGIN/libs"], ..Build::library(&tree.path("module.so")) }
        .build();
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 1);
    let line = run.stderr.lines().find(|l| l.contains("libvenvkitmissing.so.7")).expect(&run.stderr);
    assert!(line.starts_with("find-libdeps: "), "{line}");
    assert!(line.contains("module.so: needs libvenvkitmissing.so.7, not found"), "{line}");
    for dir in ["/libs", "/lib/x86_64-linux-gnu", "/usr/lib/x86_64-linux-gnu", "/usr/lib"] {
        assert!(line.contains(dir), "{dir} missing from: {line}");
    }
    let ignored = run_ignoring(&tree, "libvenvkitmiss*");
    assert_eq!(ignored.code(), 0, "{}", ignored.stderr);
    assert_eq!(ignored.stdout, "libc6\n");
}

fn run_ignoring(tree: &Scratch, glob: &str) -> Run {
    run(command().args(["--ignore-soname", glob]).arg(&tree.0))
}

#[test]
fn elf_files_are_found_by_magic_whatever_their_names() {
    let tree = Scratch::new("names");
    let bundled = "libbar-1a2b3c4d.so.1";
    Build { soname: Some(bundled), ..Build::library(&tree.path(&format!("libs/{bundled}"))) }.build();
    let tool = tree.path("bin/tool");
    Build { needs: &[bundled], search: &["$ORIGIN/../libs"], executable: true, ..Build::library(&tool) }.build();
    let run = json(&tree);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(
        run.stdout.contains(&format!("\"file\": \"{}\", \"needed\": \"{bundled}\"", tool.display())),
        "{}",
        run.stdout
    );
    assert!(run.stdout.contains(&format!("libs/{bundled}\", \"needed\": \"libc.so.6\"")), "{}", run.stdout);
    assert!(run.stdout.contains("\"how\": \"interpreter\""), "the executable's PT_INTERP counts: {}", run.stdout);
}

#[test]
fn a_wrong_architecture_candidate_is_skipped_and_the_search_goes_on() {
    let tree = Scratch::new("wrong-arch");
    // A 32-bit i386 header where the RPATH points first.
    let mut header = vec![0u8; 64];
    header[..4].copy_from_slice(b"\x7fELF");
    header[4] = 1;
    header[5] = 1;
    header[16] = 3;
    header[18] = 3;
    tree.write("wrong/libz.so.1", &header);
    Build { needs: &["libz.so.1"], search: &["$ORIGIN/wrong"], ..Build::library(&tree.path("module.so")) }.build();
    let run = json(&tree);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let edge = run.stdout.lines().find(|l| l.contains("\"needed\": \"libz.so.1\"")).unwrap();
    assert!(edge.contains("\"package\": \"zlib1g\""), "{edge}");
    assert!(run.stderr.contains("wrong/libz.so.1: skipped, an ELF file for 32-bit i386"), "{}", run.stderr);
}

#[test]
fn an_unresolvable_soname_of_a_library_in_the_tree_is_satisfied_with_a_warning() {
    let tree = Scratch::new("tree-soname");
    Build { soname: Some("libshared.so.2"), ..Build::library(&tree.path("elsewhere/libshared.so.2")) }.build();
    Build { needs: &["libshared.so.2"], ..Build::library(&tree.path("module.so")) }.build();
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stderr.contains("warning: ") && run.stderr.contains("libshared.so.2"), "{}", run.stderr);
}

#[test]
fn a_tree_needing_only_libc_yields_exactly_libc6_with_libc6_dev_installed() {
    assert!(
        std::path::Path::new("/var/lib/dpkg/info/libc6-dev:amd64.list").exists(),
        "the host has libc6-dev (make test installs it)"
    );
    let tree = Scratch::new("libc");
    Build::library(&tree.path("module.so")).build();
    let run = run(command().arg(&tree.0));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libc6\n"), "{}", run.stderr);
}

/// Runs a program the test built, as the real loader does.
fn start(program: &std::path::Path) -> Run {
    run(&mut std::process::Command::new(program))
}

#[test]
fn a_programs_missing_library_is_not_excused_by_an_in_tree_soname() {
    // bin/prog (RUNPATH $ORIGIN/../lib) -> lib/liba.so (RUNPATH
    // $ORIGIN/../sub/lib:$ORIGIN) -> sub/lib/libb.so.1, a symlink to
    // ../../lib/libb.so.1 (RUNPATH $ORIGIN, so sub/lib) -> libk.so.1, which
    // is only in lib/. Nothing has loaded libk when a program starts.
    let tree = Scratch::new("no-excuse");
    Build { soname: Some("libk.so.1"), ..Build::library(&tree.path("lib/libk.so.1")) }.build();
    let libb = tree.path("lib/libb.so.1");
    Build {
        soname: Some("libb.so.1"),
        needs: &["libk.so.1"],
        search: &["$ORIGIN"],
        tag: Tag::Runpath,
        ..Build::library(&libb)
    }
    .build();
    tree.mkdir("sub/lib");
    std::os::unix::fs::symlink("../../lib/libb.so.1", tree.path("sub/lib/libb.so.1")).unwrap();
    let liba = tree.path("lib/liba.so");
    let search = ["$ORIGIN/../sub/lib", "$ORIGIN"];
    Build {
        soname: Some("liba.so"),
        needs: &["libb.so.1"],
        search: &search,
        tag: Tag::Runpath,
        ..Build::library(&liba)
    }
    .build();
    let prog = tree.path("bin/prog");
    let search = ["$ORIGIN/../lib"];
    Build { needs: &["liba.so"], search: &search, tag: Tag::Runpath, executable: true, ..Build::library(&prog) }
        .build();
    let run = both_miss(&prog, &tree, "libk.so.1");
    let line = run.stderr.lines().find(|l| l.contains("needs libk.so.1, not found")).expect(&run.stderr);
    assert!(line.contains("lib/libb.so.1 (opened as ") && line.contains("/sub/lib/libb.so.1)"), "{line}");
}

#[test]
fn origin_in_a_needed_entry_is_expanded() {
    let tree = Scratch::new("origin-needed");
    Build { soname: Some("libdep.so"), ..Build::library(&tree.path("bin/libdep.so")) }.build();
    let prog = tree.path("bin/prog");
    Build { needs: &["$ORIGIN/libdep.so"], executable: true, ..Build::library(&prog) }.build();
    assert_eq!(start(&prog).code(), 0, "the loader expands $ORIGIN in DT_NEEDED");
    let run = json(&tree);
    assert_eq!(run.code(), 0, "{}", run.stderr);
    let edge = run.stdout.lines().find(|l| l.contains("\"needed\": \"$ORIGIN/libdep.so\"")).expect(&run.stdout);
    assert!(edge.contains("\"in_tree\": true") && edge.contains("bin/libdep.so"), "{edge}");
}

#[test]
fn an_ancestor_with_a_runpath_lends_no_rpath() {
    // prog (no search path) -> liba.so (RPATH by-rpath/ and RUNPATH
    // $ORIGIN: the RPATH is ignored) -> libb.so.1 (none) -> libk.so.1, only
    // in by-rpath/.
    let tree = Scratch::new("no-lend");
    Build { soname: Some("libk.so.1"), ..Build::library(&tree.path("by-rpath/libk.so.1")) }.build();
    Build { soname: Some("libb.so.1"), needs: &["libk.so.1"], ..Build::library(&tree.path("lib/libb.so.1")) }.build();
    let liba = tree.path("lib/liba.so");
    let rpath = tree.path("by-rpath").display().to_string();
    // The SONAME entry's string becomes the RUNPATH: one object, both tags.
    Build { soname: Some("$ORIGIN"), needs: &["libb.so.1"], search: &[&rpath], ..Build::library(&liba) }.build();
    retag(&liba, DT_SONAME, DT_RUNPATH);
    let prog = tree.path("lib/prog");
    let runpath = tree.path("lib").display().to_string();
    Build { needs: &["liba.so"], search: &[&runpath], tag: Tag::Runpath, executable: true, ..Build::library(&prog) }
        .build();
    let run = both_miss(&prog, &tree, "libk.so.1");
    assert!(run.stderr.contains("libb.so.1: needs libk.so.1, not found"), "{}", run.stderr);
}

/// Runs `prog` (the loader must fail on `soname`) and find-libdeps on
/// `tree` (exit 1); returns find-libdeps' run, for what it says.
fn both_miss(prog: &std::path::Path, tree: &Scratch, soname: &str) -> Run {
    let started = start(prog);
    let refusal = format!("{soname}: cannot open shared object file");
    assert!(started.stderr.contains(&refusal), "the loader agrees: {}", started.stderr);
    let run = run(command().arg(&tree.0));
    assert_eq!(run.code(), 1, "{}", run.stderr);
    run
}
