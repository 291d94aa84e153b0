//! The release binaries are static, stripped, and run with nothing around
//! them, as in `FROM scratch`.

use goblin::elf::{dynamic::DT_NEEDED, Elf};
use std::process::Command;
use venvkit_suites::{release_binary, tools};

#[test]
fn release_binaries_have_no_interpreter_and_no_needed_libraries() {
    for tool in tools() {
        let bytes = std::fs::read(release_binary(tool)).unwrap();
        let elf = Elf::parse(&bytes).unwrap();
        assert_eq!(elf.interpreter, None, "{tool} asks for a dynamic loader");
        let needed: Vec<_> = elf.dynamic.iter().flat_map(|d| d.dyns.iter()).filter(|d| d.d_tag == DT_NEEDED).collect();
        assert!(needed.is_empty(), "{tool} needs shared libraries");
        assert!(elf.syms.is_empty(), "{tool} is not stripped");
    }
}

#[test]
fn entrypoint_stays_within_450_kib() {
    let size = std::fs::metadata(release_binary("entrypoint")).unwrap().len();
    assert!(size <= 450 * 1024, "entrypoint is {size} bytes, over the 450 KiB budget");
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
        let root = std::env::temp_dir().join(format!("venvkit-scratch-{tool}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).unwrap();
        std::fs::copy(release_binary(tool), root.join(tool)).unwrap();
        let output = Command::new("chroot").arg(&root).arg(format!("/{tool}")).arg("--version").output().unwrap();
        std::fs::remove_dir_all(&root).unwrap();
        assert!(output.status.success(), "{tool} --version failed in an empty root: {output:?}");
        assert!(String::from_utf8_lossy(&output.stdout).starts_with(tool));
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
