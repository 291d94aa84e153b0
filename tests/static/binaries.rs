//! The release binaries are static, stripped, and run with nothing around
//! them, as in `FROM scratch`; so do their arm64 builds, under qemu-user.

use goblin::elf::header::{EM_AARCH64, EM_X86_64};
use goblin::elf::{dynamic::DT_NEEDED, Elf};
use std::path::Path;
use std::process::Command;
use venvkit_suites::{aarch64_binary, release_binary, tools};

/// The size budgets, in bytes, of the tools that have one: entrypoint is
/// in every image's PID 1, wait-for-port in every HEALTHCHECK.
const BUDGETS: &[(&str, u64)] = &[("entrypoint", 450 * 1024), ("wait-for-port", 1024 * 1024)];

/// `binary` is a static, stripped ELF executable for `machine`, within its
/// tool's budget.
fn assert_static_stripped_within_budget(tool: &str, binary: &Path, machine: u16) {
    let bytes = std::fs::read(binary).unwrap();
    let elf = Elf::parse(&bytes).unwrap();
    assert_eq!(elf.header.e_machine, machine, "{}: another machine", binary.display());
    assert_eq!(elf.interpreter, None, "{} asks for a dynamic loader", binary.display());
    let needed: Vec<_> = elf.dynamic.iter().flat_map(|d| d.dyns.iter()).filter(|d| d.d_tag == DT_NEEDED).collect();
    assert!(needed.is_empty(), "{} needs shared libraries", binary.display());
    assert!(elf.syms.is_empty(), "{} is not stripped", binary.display());
    if let Some((_, budget)) = BUDGETS.iter().find(|(name, _)| *name == tool) {
        let size = bytes.len() as u64;
        assert!(size <= *budget, "{} is {size} bytes, over its {budget}-byte budget", binary.display());
    }
}

#[test]
fn release_binaries_are_static_stripped_and_within_their_budgets() {
    for tool in tools() {
        assert_static_stripped_within_budget(tool, &release_binary(tool), EM_X86_64);
    }
}

#[test]
fn aarch64_binaries_are_static_stripped_and_within_the_same_budgets() {
    for tool in tools() {
        let binary = aarch64_binary(tool);
        assert_static_stripped_within_budget(tool, &binary, EM_AARCH64);
        // As file(1) tells a user who checks what they downloaded.
        let file = Command::new("file").arg("-b").arg(&binary).output().expect("file(1) runs (make deps-test)");
        let described = String::from_utf8_lossy(&file.stdout);
        assert!(described.contains("ARM aarch64") && described.contains("statically linked"), "{tool}: {described}");
    }
}

#[test]
fn aarch64_binaries_run_under_qemu_user_in_an_empty_root_needs_root() {
    venvkit_suites::fixtures::require_root("chroot");
    // binfmt_misc's F flag (Debian's qemu-user-static sets it) opens qemu
    // when the entry is registered, so the empty root needs no qemu of its own.
    let registered = std::fs::read_to_string("/proc/sys/fs/binfmt_misc/qemu-aarch64").unwrap_or_default();
    let flags = registered.lines().find_map(|line| line.strip_prefix("flags: ")).unwrap_or_default();
    assert!(
        registered.starts_with("enabled") && flags.contains('F'),
        "qemu-aarch64 is not registered with binfmt_misc, with the F flag (make deps-test does it): {registered:?}"
    );
    for tool in tools() {
        assert_version_in_empty_root(tool, &aarch64_binary(tool));
    }
}

/// `binary --version`, alone in an empty root (chroot), prints `tool`'s name.
fn assert_version_in_empty_root(tool: &str, binary: &Path) {
    // The binary's directory in the name too: plain `cargo test` runs the
    // x86-64 and arm64 tests on threads of one process.
    let machine = binary.parent().and_then(|dir| dir.file_name()).unwrap_or_default().to_string_lossy();
    let root = std::env::temp_dir().join(format!("venvkit-scratch-{machine}-{tool}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(binary, root.join(tool)).unwrap();
    let output = Command::new("chroot").arg(&root).arg(format!("/{tool}")).arg("--version").output().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(output.status.success(), "{} --version failed in an empty root: {output:?}", binary.display());
    assert!(String::from_utf8_lossy(&output.stdout).starts_with(tool));
}

#[test]
fn entrypoint_runs_a_command_as_pid1_in_an_empty_root_needs_root() {
    venvkit_suites::fixtures::require_root("chroot, PID namespaces");
    // FROM scratch plus one static program to run: nothing else exists.
    let root = std::env::temp_dir().join(format!("venvkit-scratch-ep-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(release_binary("entrypoint"), root.join("entrypoint")).unwrap();
    std::fs::copy(release_binary("wait-for-port"), root.join("wait-for-port")).unwrap();
    let output = Command::new("unshare")
        .args(["--pid", "--fork", "chroot"])
        .arg(&root)
        .args(["/entrypoint", "/wait-for-port", "--version"])
        .output()
        .unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("wait-for-port "));
}

#[test]
fn release_binaries_run_in_an_empty_root_needs_root() {
    venvkit_suites::fixtures::require_root("chroot, PID namespaces");
    for tool in tools() {
        assert_version_in_empty_root(tool, &release_binary(tool));
    }
}

#[test]
fn wait_for_port_waits_on_a_literal_address_in_an_empty_root_needs_root() {
    venvkit_suites::fixtures::require_root("chroot, PID namespaces");
    // No /etc/hosts, no resolv.conf, no /proc: only the binary.
    let root = std::env::temp_dir().join(format!("venvkit-scratch-wfp-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(&root).unwrap();
    std::fs::copy(release_binary("wait-for-port"), root.join("wait-for-port")).unwrap();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let target = listener.local_addr().unwrap().to_string();
    let output = Command::new("chroot").arg(&root).args(["/wait-for-port", "-t", "2s", &target]).output().unwrap();
    std::fs::remove_dir_all(&root).unwrap();
    assert_eq!(output.status.code(), Some(0), "{}", String::from_utf8_lossy(&output.stderr));
}
