//! Bad input: damaged and odd files warn and never crash; the output does
//! not depend on runs or directory order; no process is ever spawned.

mod support;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use support::*;

#[test]
fn damaged_empty_unreadable_and_looping_files_warn_without_crashing() {
    let tree = Scratch::new("garbage");
    Build::library(&tree.path("good.so")).build();
    let good = std::fs::read(tree.path("good.so")).unwrap();
    tree.write("truncated.so", &good[..good.len().min(300)]);
    tree.write("header-only.so", &good[..64]);
    let mut garbage = good[..64].to_vec();
    garbage[32..40].copy_from_slice(&u64::MAX.to_le_bytes());
    tree.write("garbage.so", &garbage);
    tree.write("empty.so", b"");
    tree.write("text.so", b"not an ELF file at all");
    tree.link("loop-b", "loop-a");
    tree.link("loop-a", "loop-b");
    tree.write("with space/lib name.so", &good);
    let unreadable = tree.write("secret/unreadable.so", &good);
    std::fs::set_permissions(&unreadable, std::fs::Permissions::from_mode(0o000)).unwrap();
    let run = run(command().arg(&tree.0));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libc6\n"), "{}", run.stderr);
    for warned in ["truncated.so", "header-only.so", "garbage.so"] {
        assert!(run.stderr.contains(&format!("{warned}: skipped, a damaged ELF file")), "{warned}: {}", run.stderr);
    }
    assert!(!run.stderr.contains("panicked"), "{}", run.stderr);
}

#[test]
fn an_unreadable_file_is_a_warning_for_a_user_who_cannot_read_it() {
    let tree = Scratch::new("unreadable");
    std::fs::set_permissions(&tree.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    Build::library(&tree.path("module.so")).build();
    let secret = tree.write("secret.so", b"\x7fELF");
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = command();
    if is_root() {
        // As root every file is readable: drop to nobody to see the warning.
        command = std::process::Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(binary());
    }
    let run = run(command.arg(&tree.0));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stderr.contains("secret.so: cannot read"), "{}", run.stderr);
}

#[test]
fn paths_with_spaces_and_quotes_are_escaped_in_json() {
    let tree = Scratch::new("json");
    Build::library(&tree.path("dir with \"quotes\"/mod ule.so")).build();
    let run = run(command().args(["--format", "json"]).arg(&tree.0));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    assert!(run.stdout.contains("dir with \\\"quotes\\\"/mod ule.so"), "{}", run.stdout);
}

#[test]
fn output_is_the_same_across_runs_and_directory_orders() {
    let build_tree = |order: &[&str]| {
        let tree = Scratch::new("order");
        for name in order {
            Build { needs: &["libz.so.1"], ..Build::library(&tree.path(&format!("{name}/m.so"))) }.build();
        }
        Build::library(&tree.path("b/other.so")).build();
        tree
    };
    let first = build_tree(&["a", "c", "b"]);
    let second = build_tree(&["b", "c", "a"]);
    let outputs: Vec<String> =
        [&first, &first, &second].iter().map(|tree| run(command().arg(&tree.0)).stdout).collect();
    assert_eq!(outputs[0], "libc6\nzlib1g\n");
    assert!(outputs.iter().all(|o| *o == outputs[0]), "{outputs:?}");
}

#[test]
fn a_tree_of_many_small_directories_is_walked_whole_with_few_descriptors() {
    // Each file waiting to be examined keeps its directory open: 600
    // directories of one slow file each would hold hundreds at once.
    let tree = Scratch::new("many-directories");
    let source = "x = 1\n".repeat(10_000);
    for index in 0..600 {
        tree.write(&format!("d{index:03}/module.py"), source.as_bytes());
    }
    Build::library(&tree.path("d000/first.so")).build();
    Build { needs: &["libz.so.1"], ..Build::library(&tree.path("d599/last.so")) }.build();
    let mut command = command();
    // SAFETY: setrlimit(2) only, between fork and exec.
    unsafe {
        command.pre_exec(|| {
            let limit = nix::libc::rlimit { rlim_cur: 128, rlim_max: 128 };
            match nix::libc::setrlimit(nix::libc::RLIMIT_NOFILE, &limit) {
                0 => Ok(()),
                _ => Err(std::io::Error::last_os_error()),
            }
        });
    }
    let run = run(command.arg(&tree.0));
    let first_warnings: Vec<&str> = run.stderr.lines().take(3).collect();
    assert_eq!((run.code(), run.stdout.as_str(), first_warnings), (0, "libc6\nzlib1g\n", vec![]));
}

#[test]
fn a_hundred_directories_given_at_once_are_each_walked() {
    // `find-libdeps site-packages/*/`: more trees than the walk keeps open.
    let tree = Scratch::new("many-arguments");
    let dirs: Vec<_> = (0..100).map(|index| tree.write(&format!("d{index:03}/pkg/data.txt"), b"text")).collect();
    let dirs: Vec<_> = dirs.iter().map(|file| file.parent().unwrap().parent().unwrap()).collect();
    Build::library(&tree.path("d099/pkg/last.so")).build();
    let run = run(command().args(&dirs));
    assert_eq!((run.code(), run.stdout.as_str(), run.stderr.as_str()), (0, "libc6\n", ""));
}

#[test]
fn a_directory_given_that_cannot_be_read_is_a_warning_not_a_wrong_error() {
    let tree = Scratch::new("unreadable-argument");
    std::fs::set_permissions(&tree.0, std::fs::Permissions::from_mode(0o755)).unwrap();
    Build::library(&tree.path("readable/module.so")).build();
    let closed = tree.path("closed");
    std::fs::create_dir(&closed).unwrap();
    std::fs::set_permissions(&closed, std::fs::Permissions::from_mode(0o000)).unwrap();
    let mut command = command();
    if is_root() {
        // As root every directory is readable: drop to nobody to see it.
        command = std::process::Command::new("setpriv");
        command.args(["--reuid=65534", "--regid=65534", "--clear-groups"]).arg(binary());
    }
    let run = run(command.arg(tree.path("readable")).arg(&closed));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libc6\n"), "{}", run.stderr);
    assert!(run.stderr.contains("closed: cannot list: Permission denied"), "{}", run.stderr);
}

#[test]
fn an_empty_tree_prints_nothing_warns_and_exits_0() {
    let tree = Scratch::new("empty");
    tree.write("README", b"no ELF here\n");
    let run = run(command().arg(&tree.0));
    assert_eq!((run.code(), run.stdout.as_str()), (0, ""));
    // A wrong path must not give an empty pkgdeps.txt silently.
    assert!(run.stderr.contains("warning: no ELF file and no library loaded at run time under"), "{}", run.stderr);
    assert!(run.stderr.contains("the package list is empty"), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
}

#[test]
fn it_spawns_no_process_and_so_needs_no_path() {
    let tree = Scratch::new("no-path");
    Build { needs: &["libz.so.1"], ..Build::library(&tree.path("m.so")) }.build();
    // An empty PATH searches only the (empty) working directory: any
    // program run by name would fail, and so would the run.
    let empty = Scratch::new("no-path-cwd");
    let run = run(command().env_clear().env("PATH", "").current_dir(&empty.0).arg(&tree.0));
    assert_eq!((run.code(), run.stdout.as_str()), (0, "libc6\nzlib1g\n"), "{}", run.stderr);
}

#[test]
fn a_directory_that_does_not_exist_is_exit_2() {
    let run = run(command().arg("/nonexistent/venvkit/tree"));
    assert_eq!(run.code(), 2);
    assert!(run.stderr.starts_with("find-libdeps: /nonexistent/venvkit/tree: no such directory ("), "{}", run.stderr);
    assert_eq!(run.stderr.lines().count(), 1);
}

#[test]
fn bad_usage_is_exit_2_in_one_line() {
    for args in [vec!["--format", "yaml", "/tmp"], vec![]] {
        let run = run(command().args(&args));
        assert_eq!(run.code(), 2, "{args:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{}", run.stderr);
        assert!(run.stderr.starts_with("find-libdeps: "), "{}", run.stderr);
    }
}
