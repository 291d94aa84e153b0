//! The python runtime images: the standard library, entrypoint as PID 1,
//! read-only operation as the app user, and the labels.

use crate::support::*;
use std::time::{Duration, Instant};

const STDLIB_CHECK: &str = r#"
import ssl, sqlite3, lzma, bz2, zlib, ctypes, decimal, zoneinfo, uuid, readline, datetime
cas = ssl.create_default_context().cert_store_stats()["x509_ca"]
assert cas >= 100, f"only {cas} CAs in the system store"
db = sqlite3.connect(":memory:")
assert db.execute("select sqlite_version()").fetchone()[0]
data = b"venvkit" * 100
assert lzma.decompress(lzma.compress(data)) == data
assert bz2.decompress(bz2.compress(data)) == data
assert zlib.decompress(zlib.compress(data)) == data
assert ctypes.CDLL("libc.so.6").getpid() > 0
assert decimal.Decimal("0.1") + decimal.Decimal("0.2") == decimal.Decimal("0.3")
summer = datetime.datetime(2024, 7, 1, tzinfo=zoneinfo.ZoneInfo("Europe/Paris"))
assert summer.utcoffset() == datetime.timedelta(hours=2)
assert uuid.uuid4().version == 4 and uuid.uuid1().version == 1
print("ok", cas)
"#;

#[test]
fn the_runtime_stdlib_works_with_the_system_ca_store() {
    let engine = engine_with_images();
    for (suite, _) in suites() {
        let ran = engine.run(&["run", "--rm", "--network=none", &python(suite), "python3", "-c", STDLIB_CHECK]);
        assert_eq!(ran.code(), 0, "{suite}: {}", ran.stderr);
        assert!(ran.stdout.starts_with("ok "), "{suite}: {}", ran.stdout);
    }
}

/// Starts a detached container and returns its id.
fn start(engine: &Engine, args: &[&str]) -> String {
    let mut all = vec!["run", "-d", "--network=none"];
    all.extend_from_slice(args);
    let ran = engine.run(&all);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    ran.stdout.trim().to_string()
}

fn stop_and_time(engine: &Engine, id: &str) -> (Duration, String) {
    // The sleeping Python must be running before the signal, or the stop
    // would only measure how fast an idle container dies.
    assert!(venvkit_suites::fixtures::eventually(Duration::from_secs(20), || {
        engine.run(&["top", id, "args"]).stdout.contains("time.sleep")
    }));
    let started = Instant::now();
    let stop = engine.run(&["stop", "-t", "5", id]);
    let took = started.elapsed();
    assert_eq!(stop.code(), 0, "{}", stop.stderr);
    let exit_code = engine.run(&["inspect", "--format", "{{.State.ExitCode}}", id]).stdout.trim().to_string();
    engine.run(&["rm", "-f", id]);
    (took, exit_code)
}

#[test]
fn stopping_a_runtime_container_takes_under_a_second_and_not_the_kill_timeout() {
    let engine = engine_with_images();
    let image = python("bookworm");
    let sleeper = ["python3", "-c", "import time; time.sleep(300)"];

    let mut with_entrypoint = vec![image.as_str()];
    with_entrypoint.extend_from_slice(&sleeper);
    let (took, exit_code) = stop_and_time(&engine, &start(&engine, &with_entrypoint));
    assert!(took < Duration::from_secs(1), "podman stop took {took:?} with entrypoint as PID 1");
    assert_eq!(exit_code, "143", "the SIGTERM that ended Python is passed on as 128+15");

    // The same Python as PID 1 without an init ignores SIGTERM (the kernel
    // drops signals a PID 1 has no handler for), so podman waits and kills.
    let mut without = vec!["--entrypoint=", image.as_str()];
    without.extend_from_slice(&sleeper);
    let (took, exit_code) = stop_and_time(&engine, &start(&engine, &without));
    assert!(took >= Duration::from_secs(5), "without an init the stop took only {took:?}");
    assert_eq!(exit_code, "137");
}

/// A grandchild whose parent exits is re-parented to PID 1; Python then
/// counts the zombies left after it ended. Python never reaps children it
/// did not start, so as PID 1 itself it leaves the zombie (a shell would
/// reap it while waiting for its own jobs).
const ORPHAN_THEN_COUNT_ZOMBIES: &str = r#"
import glob, subprocess, time
subprocess.run(["sh", "-c", "sleep 0.3 & exit 0"])
time.sleep(1.5)
zombies = 0
for status in glob.glob("/proc/[0-9]*/status"):
    try:
        zombies += any(line.startswith("State:") and "Z" in line for line in open(status))
    except OSError:
        pass
print(zombies)
"#;

#[test]
fn an_orphaned_grandchild_is_reaped_by_entrypoint() {
    let engine = engine_with_images();
    let image = python("bookworm");
    let ran = engine.run(&["run", "--rm", "--network=none", &image, "python3", "-c", ORPHAN_THEN_COUNT_ZOMBIES]);
    assert_eq!(ran.code(), 0, "{}", ran.stderr);
    assert_eq!(ran.stdout.trim(), "0", "zombies left with entrypoint as PID 1");

    // Without an init, nothing reaps it: the check sees the zombie.
    let ran = engine.run(&[
        "run",
        "--rm",
        "--network=none",
        "--entrypoint=",
        &image,
        "python3",
        "-c",
        ORPHAN_THEN_COUNT_ZOMBIES,
    ]);
    assert_eq!(ran.stdout.trim(), "1", "the control without an init should leave one zombie");
}

#[test]
fn the_runtime_runs_read_only_as_user_65532_while_the_image_stays_root() {
    let engine = engine_with_images();
    let script = "import os, pwd, tempfile\n\
                  with tempfile.TemporaryFile() as scratch: scratch.write(b'x')\n\
                  try:\n    open('/usr/share/python3-write-test', 'w')\n\
                  except OSError as e: print('read-only:', e.errno == 30)\n\
                  print(os.getuid(), os.getgid(), pwd.getpwuid(os.getuid()).pw_name)";
    for (suite, _) in suites() {
        let image = python(suite);
        let ran = engine.run(&[
            "run",
            "--rm",
            "--network=none",
            "--read-only",
            "--tmpfs",
            "/tmp",
            "--user",
            "65532",
            &image,
            "python3",
            "-c",
            script,
        ]);
        assert_eq!(ran.code(), 0, "{suite}: {}", ran.stderr);
        assert_eq!(ran.stdout, "read-only: True\n65532 65532 app\n", "{suite}");
        assert_eq!(engine.inspect(&image, "{{.Config.User}}"), "", "{suite}: USER must stay root");
    }
}

#[test]
fn the_runtime_sets_its_entrypoint_unbuffered_output_and_oci_labels() {
    let engine = engine_with_images();
    for (suite, version) in suites() {
        let image = python(suite);
        assert_eq!(engine.inspect(&image, "{{json .Config.Entrypoint}}"), "[\"entrypoint\"]");
        assert!(engine.inspect(&image, "{{json .Config.Env}}").contains("\"PYTHONUNBUFFERED=1\""));
        let label = |name: &str| engine.inspect(&image, &format!("{{{{index .Config.Labels \"{name}\"}}}}"));
        assert_eq!(label("io.venvkit.python.version"), *version);
        let base_id = engine.inspect(&base(suite), "{{.Id}}");
        assert_eq!(
            label("org.opencontainers.image.base.digest"),
            format!("sha256:{}", base_id.trim_start_matches("sha256:"))
        );
        assert!(label("org.opencontainers.image.source").starts_with("https://"));
        assert_eq!(label("org.opencontainers.image.revision").len(), 40);
        assert!(label("org.opencontainers.image.created").ends_with('Z'));
        assert!(engine.has_image(&format!("venvkit/python:{version}")), "no short tag venvkit/python:{version}");
    }
}

/// A shell-less health check: `HEALTHCHECK CMD ["wait-for-port", "--once", URL]`
/// in an image built with `--format docker` (podman's OCI format drops it).
#[test]
fn a_healthcheck_with_wait_for_port_once_turns_the_container_healthy() {
    let engine = engine_with_images();
    let context = Scratch::new("healthcheck");
    context.write(
        "Dockerfile",
        format!(
            "FROM {}\nHEALTHCHECK --interval=2s --timeout=5s CMD [\"wait-for-port\", \"--once\", \"http://127.0.0.1:8000/\"]\n\
             CMD [\"python3\", \"-m\", \"http.server\", \"--bind\", \"127.0.0.1\", \"8000\"]\n",
            python("bookworm")
        ),
    );
    let tag = format!("venvkit-test/healthcheck:{}", std::process::id());
    let built = engine.build(&context.0, &tag, &["--format", "docker"]);
    assert_eq!(built.code(), 0, "{}{}", built.stdout, built.stderr);
    let id = start(&engine, &[&tag]);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut last = String::new();
    while Instant::now() < deadline {
        let check = engine.run(&["healthcheck", "run", &id]);
        last = format!("{} {}{}", check.code(), check.stdout, check.stderr);
        if check.code() == 0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    let status = engine.run(&["inspect", "--format", "{{.State.Health.Status}}", &id]);
    engine.run(&["rm", "-f", &id]);
    engine.remove_image(&tag);
    assert_eq!(status.stdout.trim(), "healthy", "last check: {last}");
}
