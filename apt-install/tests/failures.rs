//! What goes wrong, against local repositories on 127.0.0.1: unknown
//! packages and versions, transient mirror failures retried and permanent
//! ones not, failing sources, a held lock, not being root, failing
//! maintainer scripts; each cleaned up after.

mod support;

use support::*;

const NO_LISTS: &str = "find /var/lib/apt/lists /var/cache/apt -type f \\( -name '*Packages*' -o -name '*Release*' -o -name '*.bin' -o -name '*.deb' \\)";

fn hello_repo(scratch: &Scratch, failures: usize) -> Server {
    Server::start(hello_packages(scratch), failures)
}

fn hello_packages(scratch: &Scratch) -> std::path::PathBuf {
    repository(
        scratch,
        &[
            Deb::new("venvkit-hello", "1.0"),
            Deb::new("venvkit-hello", "1.1"),
            Deb { provides: Some("venvkit-virtual"), ..Deb::new("venvkit-provider-a", "1.0") },
            Deb { provides: Some("venvkit-virtual"), ..Deb::new("venvkit-provider-b", "1.0") },
            Deb {
                postinst: Some("#!/bin/sh\necho failing on purpose >&2\nexit 1\n"),
                ..Deb::new("venvkit-fails", "1.0")
            },
        ],
    )
}

fn layer_with(name: &str, server: &Server) -> Layer {
    let layer = Layer::new(name);
    layer.sources(&server.source());
    layer
}

#[test]
fn a_local_package_installs_and_the_layer_is_clean_needs_root() {
    require_root();
    let scratch = Scratch::new("local");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("local", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(
        stderr.lines().last().unwrap(),
        "apt-install: installed 1 package (venvkit-hello), 0.0 KiB added, 1 attempt"
    );
    let (_, status, _) = layer.run("dpkg-query -W -f '${db:Status-Abbrev}${Version}' venvkit-hello").into_parts();
    assert_eq!(status, "ii 1.1");
    let (_, left, _) = layer.run(NO_LISTS).into_parts();
    assert_eq!(left, "", "left behind");
}

#[test]
fn an_unknown_package_fails_at_once_naming_it_and_changes_nothing_needs_root() {
    require_root();
    let scratch = Scratch::new("unknown");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("unknown", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-hello venvkit-no-such-package").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("apt-install: unknown package venvkit-no-such-package"), "{stderr}");
    assert!(!stderr.contains("attempt 2"), "a permanent error was retried: {stderr}");
    let (_, status, _) = layer.run("dpkg-query -W venvkit-hello 2>&1 || true").into_parts();
    assert!(status.contains("no packages found"), "something was installed: {status}");
    let (_, left, _) = layer.run(NO_LISTS).into_parts();
    assert_eq!(left, "", "a failure must clean too");
}

#[test]
fn a_virtual_package_names_its_providers_needs_root() {
    require_root();
    let scratch = Scratch::new("virtual");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("virtual", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-virtual").into_parts();
    assert_eq!(code, 1);
    assert!(stderr.contains("venvkit-provider-a") && stderr.contains("venvkit-provider-b"), "{stderr}");
}

#[test]
fn a_missing_version_lists_the_versions_there_are_needs_root() {
    require_root();
    let scratch = Scratch::new("version");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("version", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-hello=9.9").into_parts();
    assert_eq!(code, 1);
    let line = stderr.lines().last().unwrap();
    assert!(
        line.contains("venvkit-hello has no version 9.9") && line.contains("1.0") && line.contains("1.1"),
        "{line}"
    );
}

#[test]
fn transient_mirror_failures_are_retried_until_it_answers_needs_root() {
    require_root();
    let scratch = Scratch::new("flaky");
    let server = Server::failing(hello_packages(&scratch), 1, ".deb");
    let layer = layer_with("flaky", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("attempt 2/3"), "{stderr}");
}

#[test]
fn a_mirror_that_always_fails_ends_after_exactly_n_attempts_needs_root() {
    require_root();
    let scratch = Scratch::new("down");
    let server = hello_repo(&scratch, usize::MAX);
    let layer = layer_with("down", &server);
    let (code, _, stderr) = layer.run("apt-install --retries 2 venvkit-hello").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("attempt 2/2") && !stderr.contains("attempt 3"), "{stderr}");
    assert!(stderr.lines().last().unwrap().contains("gave up after 2 attempts"), "{stderr}");
    assert!(stderr.contains("503"), "{stderr}");
}

#[test]
fn a_failing_source_fails_the_update_naming_it_unless_allowed_needs_root() {
    require_root();
    let scratch = Scratch::new("badsource");
    let server = hello_repo(&scratch, 0);
    let layer = Layer::new("badsource");
    // Another loopback address: apt gives up on a whole host after one
    // refused connection, so the good repository must not share it.
    layer.sources(&format!("{}deb [trusted=yes] http://127.0.0.2:9/ ./\n", server.source()));
    let (code, _, stderr) = layer.run("apt-install --retries 1 venvkit-hello").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.lines().last().unwrap().contains("http://127.0.0.2:9/"), "{stderr}");
    let (code, _, stderr) = layer.run("apt-install --retries 1 --allow-update-errors venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
}

#[test]
fn a_held_dpkg_lock_is_waited_for_then_124_naming_the_holder_needs_root() {
    require_root();
    let scratch = Scratch::new("lock");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("lock", &server);
    // The holder runs inside the layer and takes the same fcntl(2) lock dpkg takes.
    let run = format!(
        "{} > /tmp/holder & sleep 0.5; apt-install --lock-timeout 1s venvkit-hello; echo \"exit=$? holder=$(cat /tmp/holder)\"",
        lock_holder("/var/lib/dpkg/lock-frontend", 10)
    );
    let (_, stdout, stderr) = layer.run(&run).into_parts();
    let holder_pid = stdout.trim().rsplit("holder=").next().unwrap_or_default().to_string();
    assert!(holder_pid.parse::<u32>().is_ok(), "no holder PID: {stdout}");
    assert!(stdout.contains("exit=124"), "{stdout} {stderr}");
    assert!(stderr.contains(&format!("held by PID {holder_pid}")), "{stderr} (holder {holder_pid})");
}

#[test]
fn a_lock_released_in_time_is_waited_for_and_the_install_goes_on_needs_root() {
    require_root();
    let scratch = Scratch::new("lock-released");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("lock-released", &server);
    let holder = "perl -e 'use Fcntl; open(my $f, \">>\", \"/var/lib/dpkg/lock-frontend\") or die; my $l = pack(\"s s l l i\", F_WRLCK, 0, 0, 0, 0); fcntl($f, F_SETLK, $l) or die; sleep 2'";
    let run = format!("{holder} & sleep 0.5; apt-install --lock-timeout 20s venvkit-hello");
    let (code, _, stderr) = layer.run(&run).into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("waiting: /var/lib/dpkg/lock-frontend is held by PID"), "{stderr}");
}

#[test]
fn keep_cache_keeps_the_lists_and_the_downloaded_packages_needs_root() {
    require_root();
    let scratch = Scratch::new("keep");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("keep", &server);
    let (code, _, stderr) = layer.run("apt-install --keep-cache venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
    let (_, kept, _) =
        layer.run("ls /var/cache/apt/archives/*.deb; ls /var/lib/apt/lists | grep -c Packages").into_parts();
    assert!(kept.contains("venvkit-hello_1.1_all.deb") && kept.trim_end().ends_with('1'), "{kept}");
}

#[test]
fn not_root_fails_at_once_saying_so_needs_root() {
    require_root();
    let layer = Layer::new("notroot");
    let (code, _, stderr) = layer.run_as("apt-install tree", Some("nobody:nogroup")).into_parts();
    assert_eq!(code, 1);
    assert_eq!(stderr, "apt-install: must be run as root: it installs packages into this system\n");
}

#[test]
fn a_failing_maintainer_script_leaves_nothing_half_installed_needs_root() {
    require_root();
    let scratch = Scratch::new("postinst");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("postinst", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-fails").into_parts();
    assert!(
        stderr.lines().last().unwrap().ends_with(
            "venvkit-fails: its postinst (post-installation script) exited with status 1; its last words: failing on purpose"
        ),
        "{stderr}"
    );
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.lines().last().unwrap().contains("venvkit-fails"), "{stderr}");
    let (_, audit, _) = layer.run("dpkg --audit").into_parts();
    assert_eq!(audit, "", "half-installed packages remain");
    let (_, status, _) = layer.run("dpkg-query -W -f '${db:Status-Abbrev}' venvkit-fails 2>&1 || true").into_parts();
    assert!(!status.starts_with("i"), "{status}");
}

#[test]
fn a_dpkg_killed_mid_install_is_rolled_back_from_its_journal_needs_root() {
    require_root();
    let scratch = Scratch::new("killed");
    // dpkg records the new package as half-installed in its updates/
    // journal before the preinst runs; killed there, it never merges that
    // into status, which does not list the package at all.
    let killer = Deb { preinst: Some("#!/bin/sh\nkill -KILL $PPID\nexit 0\n"), ..Deb::new("venvkit-killer", "1.0") };
    let server = Server::start(repository(&scratch, &[killer]), 0);
    let layer = layer_with("killed", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-killer").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("purging what this run left half-installed: venvkit-killer"), "{stderr}");
    let (_, audit, _) = layer.run("dpkg --audit").into_parts();
    assert_eq!(audit, "", "dpkg --audit after the rollback");
    let (_, status, _) = layer.run("dpkg-query -W -f '${db:Status-Abbrev}' venvkit-killer 2>&1 || true").into_parts();
    assert!(!status.starts_with('i') && !status.starts_with("iH") && !status.starts_with("iF"), "{status}");
}

#[test]
fn a_system_broken_before_the_run_is_refused_unless_fix_broken_needs_root() {
    require_root();
    let scratch = Scratch::new("broken");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("broken", &server);
    let deb = "/venvkit-hello_1.0_all.deb";
    std::fs::copy(scratch.path("repo/venvkit-hello_1.0_all.deb"), layer.upper(deb)).unwrap();
    let (code, _, stderr) =
        layer.run(&format!("dpkg --unpack {deb} >/dev/null && apt-install venvkit-provider-a")).into_parts();
    assert_eq!(code, 1);
    assert!(stderr.contains("already broken") && stderr.contains("venvkit-hello"), "{stderr}");
    let (code, _, stderr) = layer.run("apt-install --fix-broken venvkit-provider-a").into_parts();
    assert_eq!(code, 0, "{stderr}");
    let (_, audit, _) = layer.run("dpkg --audit").into_parts();
    assert_eq!(audit, "");
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing_needs_root() {
    require_root();
    let scratch = Scratch::new("dry");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("dry", &server);
    let (code, stdout, stderr) = layer.run("apt-install --dry-run venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Inst venvkit-hello"), "{stdout}");
    let (_, status, _) = layer.run("dpkg-query -W venvkit-hello 2>&1 || true").into_parts();
    assert!(status.contains("no packages found"), "{status}");
    let (_, left, _) = layer.run(NO_LISTS).into_parts();
    assert_eq!(left, "");
}

#[test]
fn a_cache_mount_is_kept_and_reused_needs_root() {
    require_root();
    let scratch = Scratch::new("cache");
    let server = hello_repo(&scratch, 0);
    let mut layer = layer_with("cache", &server);
    let cache = scratch.path("cache-mount");
    std::fs::create_dir_all(&cache).unwrap();
    layer.binds.push((cache.clone(), "/var/cache/apt".into()));
    let (code, _, stderr) = layer.run("apt-install venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(cache.join("archives/venvkit-hello_1.1_all.deb").exists(), "the mounted cache was emptied");
    let (_, left, _) = layer.run("find /var/lib/apt/lists -name '*Packages*'").into_parts();
    assert_eq!(left, "", "what is not mounted is still cleaned");
}

#[test]
fn local_deb_files_install_and_a_missing_one_is_a_usage_error_needs_root() {
    require_root();
    let scratch = Scratch::new("debfile");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("debfile", &server);
    std::fs::copy(scratch.path("repo/venvkit-hello_1.0_all.deb"), layer.upper("/venvkit-hello_1.0_all.deb")).unwrap();
    let (code, _, stderr) = layer.run("cd / && apt-install venvkit-hello_1.0_all.deb").into_parts();
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = layer.run("cd / && apt-install missing_1.0_all.deb").into_parts();
    assert_eq!(code, 2);
    assert!(stderr.contains("./missing_1.0_all.deb"), "{stderr}");
}

/// perl (in every Debian) taking the fcntl(2) lock apt and dpkg take on
/// `path` (flock(1) would be another kind), printing its PID, then holding
/// the lock for `seconds`.
fn lock_holder(path: &str, seconds: u32) -> String {
    format!(
        "perl -e 'use Fcntl; open(my $f, \">>\", \"{path}\") or die; my $l = pack(\"s s l l i\", F_WRLCK, 0, 0, 0, 0); \
         fcntl($f, F_SETLK, $l) or die \"lock: $!\"; $| = 1; print \"$$\\n\"; sleep {seconds}'"
    )
}

#[test]
fn every_lock_apt_and_dpkg_take_is_waited_for_then_124_naming_its_holder_needs_root() {
    require_root();
    let scratch = Scratch::new("every-lock");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("every-lock", &server);
    for path in
        ["/var/lib/dpkg/lock-frontend", "/var/lib/dpkg/lock", "/var/lib/apt/lists/lock", "/var/cache/apt/archives/lock"]
    {
        let script = format!(
            "{} > /tmp/holder & sleep 0.5; apt-install --lock-timeout 1s venvkit-hello; echo \"exit=$? holder=$(cat /tmp/holder)\"",
            lock_holder(path, 10)
        );
        let (_, stdout, stderr) = layer.run(&script).into_parts();
        let holder = stdout.trim().rsplit("holder=").next().unwrap_or_default();
        assert!(holder.parse::<u32>().is_ok(), "{path}: no holder PID: {stdout}");
        assert!(stdout.contains("exit=124"), "{path}: {stdout} {stderr}");
        let line = stderr.lines().last().unwrap_or_default();
        assert!(line.contains(&format!("{path} is held by PID {holder} (perl)")), "{path}: {stderr}");
        layer.run("pkill -x perl; true");
    }
}

#[test]
fn a_lists_lock_released_in_time_is_waited_for_and_the_install_goes_on_needs_root() {
    require_root();
    let scratch = Scratch::new("lists-lock");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("lists-lock", &server);
    let script = format!(
        "{} & sleep 0.5; apt-install --lock-timeout 20s venvkit-hello",
        lock_holder("/var/lib/apt/lists/lock", 2)
    );
    let (code, _, stderr) = layer.run(&script).into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains("waiting: /var/lib/apt/lists/lock is held by PID"), "{stderr}");
}

#[test]
fn a_suite_without_a_release_file_is_named_whole_and_allowed_on_request_needs_root() {
    require_root();
    let scratch = Scratch::new("no-suite");
    let server = hello_repo(&scratch, 0);
    let layer = Layer::new("no-suite");
    let missing = format!("http://127.0.0.1:{}/debian/ no-such-suite main", server.port);
    layer.sources(&format!("{}deb [trusted=yes] {missing}\n", server.source()));
    let (code, _, stderr) = layer.run("apt-install --retries 1 venvkit-hello").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.lines().last().unwrap().contains(&format!("{missing}: 404")), "{stderr}");
    let (code, _, stderr) = layer.run("apt-install --retries 1 --allow-update-errors venvkit-hello").into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(stderr.contains(&format!("warning: {missing}: 404")), "{stderr}");
    let (_, status, _) = layer.run("dpkg-query -W -f '${db:Status-Abbrev}' venvkit-hello").into_parts();
    assert_eq!(status, "ii ");
}

#[test]
fn every_specification_form_apt_takes_is_taken_needs_root() {
    require_root();
    let scratch = Scratch::new("specs");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("specs", &server);
    let specs =
        "\"zlib1g:$(dpkg --print-architecture)=$(dpkg-query -W -f '${Version}' zlib1g)\" venvkit-hello:all=1.0 \
                 'venvkit-provider-?' venvkit-provider-a+ '?name(^venvkit-provider-b$)' zlib1g/now";
    let (code, stdout, stderr) = layer.run(&format!("apt-install --dry-run {specs}")).into_parts();
    assert_eq!(code, 0, "{stderr}");
    assert!(stdout.contains("Inst venvkit-hello (1.0"), "{stdout}");
}

#[test]
fn a_failed_upgrade_puts_the_old_version_back_needs_root() {
    require_root();
    let scratch = Scratch::new("upgrade");
    let failing = Some("#!/bin/sh\necho the new version refuses >&2\nexit 3\n");
    let repo = repository(
        &scratch,
        &[Deb::new("venvkit-up", "1.0"), Deb { postinst: failing, ..Deb::new("venvkit-up", "1.1") }],
    );
    let server = Server::start(repo, 0);
    let layer = layer_with("upgrade", &server);
    let (code, _, stderr) = layer.run("apt-install venvkit-up=1.0").into_parts();
    assert_eq!(code, 0, "{stderr}");
    let (code, _, stderr) = layer.run("apt-install venvkit-up").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert!(stderr.contains("venvkit-up 1.1 failed to install: venvkit-up 1.0 is installed again"), "{stderr}");
    assert!(
        stderr.lines().last().unwrap().contains("its postinst (post-installation script) exited with status 3"),
        "{stderr}"
    );
    let (_, status, _) = layer.run("dpkg-query -W -f '${db:Status-Abbrev}${Version}' venvkit-up").into_parts();
    assert_eq!(status, "ii 1.0");
    let (_, audit, _) = layer.run("dpkg --audit").into_parts();
    assert_eq!(audit, "", "dpkg --audit after the failed upgrade");
}

#[test]
fn apts_messages_are_read_in_english_whatever_the_images_locale_needs_root() {
    require_root();
    let scratch = Scratch::new("locale");
    let server = hello_repo(&scratch, 0);
    let layer = layer_with("locale", &server);
    let (code, _, stderr) = layer.run("LC_ALL=C.UTF-8 LANGUAGE=de apt-install venvkit-nope").into_parts();
    assert_eq!(code, 1, "{stderr}");
    assert_eq!(stderr.lines().last().unwrap(), "apt-install: unknown package venvkit-nope", "{stderr}");
}
