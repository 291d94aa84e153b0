//! Readiness of real servers from Debian (a cached bookworm rootfs with
//! postgresql, mariadb-server, redis-server and python3), each started by
//! the test in a chroot on a loopback port, after wait-for-port has started
//! waiting for it.

mod support;

use std::path::Path;
use std::process::Command;
use std::time::Duration;
use support::*;
use venvkit_suites::rootfs::{chroot_command, in_chroot, servers};

/// A directory inside the rootfs owned by `user`, removed when dropped.
fn data_dir(rootfs: &Path, name: &str, user: &str) -> (Scratch, String) {
    let dir = Scratch::under(&rootfs.join("tmp"), name);
    let inner = format!("/tmp/{}", dir.0.file_name().unwrap().to_str().unwrap());
    let owned = in_chroot(rootfs, &format!("chown {user}: {inner}"));
    assert_eq!(owned.code(), 0, "{}", owned.stderr);
    (dir, inner)
}

/// A server run by `user` in the rootfs, in the foreground, killed (its
/// process group) when the test ends.
fn serve(rootfs: &Path, user: &str, command: &str) -> Running {
    Running::start(&mut chroot_command(rootfs, &format!("exec runuser -u {user} -- {command}")))
}

/// wait-for-port started in the background, before the server.
fn waiting(args: &[&str]) -> Running {
    let running = Running::start(command().args(args));
    std::thread::sleep(Duration::from_millis(300));
    running
}

fn still_waiting(running: &mut Running) -> bool {
    running.child.try_wait().unwrap().is_none()
}

#[test]
fn postgres_is_ready_only_once_it_runs_and_the_named_database_exists_needs_root() {
    require_root();
    let rootfs = servers();
    let (_dir, data) = data_dir(&rootfs, "pg", "postgres");
    let bin = std::fs::read_dir(rootfs.join("usr/lib/postgresql")).unwrap().next().unwrap().unwrap().path();
    let bin = format!("/usr/lib/postgresql/{}/bin", bin.file_name().unwrap().to_str().unwrap());
    let init =
        in_chroot(&rootfs, &format!("runuser -u postgres -- {bin}/initdb -D {data}/db --auth=trust -U postgres"));
    assert_eq!(init.code(), 0, "{}", init.stderr);
    let port = ReservedPort::new().port;
    let mut wait = waiting(&["-t", "60s", "-i", "100ms", "-v", &format!("postgres://127.0.0.1:{port}/late")]);
    let server = serve(
        &rootfs,
        "postgres",
        &format!("{bin}/postgres -D {data}/db -p {port} -k {data} -c listen_addresses=127.0.0.1 -c fsync=off"),
    );
    // Up, but the database does not exist yet: still waiting.
    assert!(eventually(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));
    std::thread::sleep(Duration::from_millis(700));
    assert!(still_waiting(&mut wait), "released before the database existed");
    let created = in_chroot(&rootfs, &format!("runuser -u postgres -- {bin}/createdb -h 127.0.0.1 -p {port} late"));
    assert_eq!(created.code(), 0, "{}", created.stderr);
    let done = wait.finish_within(Duration::from_secs(10));
    assert_eq!(done.code(), 0, "{}", done.stderr);
    assert!(done.stderr.contains("database \"late\" does not exist (SQLSTATE 3D000)"), "{}", done.stderr);
    drop(server);
}

#[test]
fn mariadb_is_ready_once_it_sends_its_handshake_needs_root() {
    require_root();
    let rootfs = servers();
    let (_dir, data) = data_dir(&rootfs, "mariadb", "mysql");
    let install = in_chroot(
        &rootfs,
        &format!("mariadb-install-db --user=mysql --datadir={data}/db --skip-test-db --auth-root-authentication-method=normal"),
    );
    assert_eq!(install.code(), 0, "{}{}", install.stdout, install.stderr);
    let port = ReservedPort::new().port;
    let mut wait = waiting(&["-t", "60s", "-i", "100ms", &format!("mysql://127.0.0.1:{port}")]);
    assert!(still_waiting(&mut wait));
    let server = serve(
        &rootfs,
        "mysql",
        &format!(
            "mariadbd --no-defaults --datadir={data}/db --port={port} --bind-address=127.0.0.1 \
             --socket={data}/sock --pid-file={data}/pid --skip-log-bin"
        ),
    );
    let done = wait.finish_within(Duration::from_secs(60));
    assert_eq!(done.code(), 0, "{}", done.stderr);
    drop(server);
}

#[test]
fn redis_is_ready_once_it_answers_ping_needs_root() {
    require_root();
    let rootfs = servers();
    let (_dir, data) = data_dir(&rootfs, "redis", "redis");
    let port = ReservedPort::new().port;
    let mut wait = waiting(&["-t", "30s", "-i", "100ms", &format!("redis://127.0.0.1:{port}")]);
    assert!(still_waiting(&mut wait));
    let server = serve(
        &rootfs,
        "redis",
        &format!("redis-server --port {port} --bind 127.0.0.1 --dir {data} --save '' --appendonly no"),
    );
    let done = wait.finish_within(Duration::from_secs(30));
    assert_eq!(done.code(), 0, "{}", done.stderr);
    // With a password set, PING answers -NOAUTH: up, and so ready.
    drop(server);
    let port = ReservedPort::new().port;
    let _server = serve(
        &rootfs,
        "redis",
        &format!("redis-server --port {port} --bind 127.0.0.1 --dir {data} --save '' --requirepass s3cret"),
    );
    let done = run_args(&["-t", "30s", "-i", "100ms", &format!("redis://127.0.0.1:{port}")]);
    assert_eq!(done.code(), 0, "{}", done.stderr);
}

#[test]
fn http_is_ready_once_the_path_answers_2xx_and_once_checks_it_needs_root() {
    require_root();
    let rootfs = servers();
    let (dir, data) = data_dir(&rootfs, "http", "nobody");
    let port = ReservedPort::new().port;
    let url = format!("http://127.0.0.1:{port}/health.txt");
    let once = run_args(&["--once", &url]);
    assert_eq!((once.code(), once.stdout.as_str()), (1, ""), "{}", once.stderr);
    assert!(once.stderr.contains("connection refused"), "{}", once.stderr);
    let mut wait = waiting(&["-t", "30s", "-i", "100ms", &url]);
    let _server =
        serve(&rootfs, "nobody", &format!("python3 -m http.server --bind 127.0.0.1 --directory {data} {port}"));
    // Serving, but the path is 404 until the file is there.
    assert!(eventually(Duration::from_secs(30), || std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()));
    std::thread::sleep(Duration::from_millis(500));
    assert!(still_waiting(&mut wait), "released on a 404");
    let missing = run_args(&["--once", &url]);
    assert_eq!(missing.code(), 1);
    assert!(missing.stderr.contains("(http: 404 File not found)"), "{}", missing.stderr);
    dir.write("health.txt", b"ok\n");
    let done = wait.finish_within(Duration::from_secs(10));
    assert_eq!(done.code(), 0, "{}", done.stderr);
    let healthy = run(Command::new(binary()).args(["--once", &url]));
    assert_eq!((healthy.code(), healthy.stdout.as_str(), healthy.stderr.as_str()), (0, "", ""));
}
