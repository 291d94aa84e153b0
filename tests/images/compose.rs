//! The examples' compose.yaml files: the app and its database up, the app
//! answering on the published port, the test services' suites passing, and
//! `down` leaving no container or network behind (images/lib.sh's
//! compose_round, run by examples/compose-round). `make demo` runs it with
//! podman-compose when no Docker engine answers, and with `docker compose`
//! when one does: a private one here (images/docker-engine: Debian's dockerd
//! in namespaces of its own).

use std::process::Command;

use crate::demo::demo_script_output;
use crate::support::*;

/// The examples, their health paths and their test services.
const EXAMPLES: [(&str, &str, &[&str]); 2] =
    [("polls", "/api/health", &["test", "test-mariadb"]), ("filebox", "/health", &["test"])];

fn assert_round(example: &str, health: &str, tests: &[&str], engine: &str, output: &str) {
    let mut expected = vec![format!("compose up: GET {health} -> 200")];
    expected.extend(tests.iter().map(|test| format!("compose run {test}: passed")));
    expected.push("compose down: nothing left".to_string());
    let seen: Vec<&str> = output.lines().collect();
    assert!(
        seen.iter().any(|line| line.starts_with(&format!("compose engine: {engine}"))),
        "{example}: not run by {engine}:\n{output}"
    );
    for line in &expected {
        assert!(seen.contains(&line.as_str()), "{example}: no '{line}' in\n{output}");
    }
}

/// images/docker-engine MODE COMMAND, from the checkout.
fn docker_engine(mode: &str, command: &[&str]) -> Command {
    let mut engine = Command::new(repo().join("images/docker-engine"));
    engine.arg(mode).args(command).current_dir(repo());
    engine
}

/// The private engine's command: CMD in its namespaces.
fn with_docker_engine(command: &[&str]) -> Command {
    docker_engine("run", command)
}

#[test]
fn each_example_comes_up_with_compose_runs_its_test_services_and_down_leaves_nothing() {
    engine_with_images();
    for (example, health, tests) in EXAMPLES {
        let output = demo_script_output(example);
        let section = output
            .split_once("== compose:")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{example}: no compose section in\n{output}"));
        // Whichever engine answers on this machine: podman-compose on CI.
        assert_round(example, health, tests, "", section);
    }
}

#[test]
fn with_a_docker_engine_answering_the_examples_run_under_docker_compose_needs_root() {
    engine_with_images();
    for (example, health, tests) in EXAMPLES {
        // The demo builds the example's images (once per run).
        demo_script_output(example);
        let round = run_long(&mut with_docker_engine(&["examples/compose-round", example]));
        let output = format!("{}{}", round.stdout, round.stderr);
        assert_eq!(round.code(), 0, "{example}: the round under docker compose failed:\n{output}");
        assert_round(example, health, tests, "docker compose", &output);
    }
}

#[test]
fn compose_engine_is_docker_only_when_a_local_docker_engine_answers_needs_root() {
    let choose = |command: &mut Command| {
        let (code, stdout, stderr) = run_long(command.env_remove("VENVKIT_COMPOSE")).into_parts();
        (code, stdout.trim().to_string(), stderr)
    };
    let script = "source images/lib.sh && compose_engine";
    // The CLI and its compose plugin, but DOCKER_HOST as given.
    let client = |host: Option<&str>| {
        let mut client = docker_engine("client", &["bash", "-c", script]);
        client.env_remove("DOCKER_HOST");
        if let Some(host) = host {
            client.env("DOCKER_HOST", host);
        }
        client
    };
    let podman = (0, "podman".to_string(), String::new());
    // Nothing answers on the socket.
    assert_eq!(choose(&mut client(None)), podman);
    // A remote engine: the round could not reach its published ports here.
    assert_eq!(choose(&mut client(Some("tcp://127.0.0.1:9"))), podman);
    // podman's own Docker API answers: its images are podman's already.
    let scratch = Scratch::new("compose-engine");
    let socket = scratch.path("podman.sock");
    let mut service = Engine
        .command()
        .args(["system", "service", "--time=0", &format!("unix://{}", socket.display())])
        .spawn()
        .unwrap();
    let listening = venvkit_suites::fixtures::eventually(std::time::Duration::from_secs(30), || socket.exists());
    let on_podman = choose(&mut client(Some(&format!("unix://{}", socket.display()))));
    service.kill().unwrap();
    service.wait().unwrap();
    assert!(listening, "podman system service made no socket in 30 s");
    assert_eq!(on_podman, podman);
    // Docker's engine, on a unix socket here.
    assert_eq!(choose(&mut with_docker_engine(&["bash", "-c", script])), (0, "docker".to_string(), String::new()));
    // VENVKIT_COMPOSE chooses; anything else is one line and status 2.
    let mut forced =
        with_docker_engine(&["bash", "-c", "VENVKIT_COMPOSE=podman; source images/lib.sh && compose_engine"]);
    assert_eq!(choose(&mut forced), podman);
    let mut bad = Command::new("bash");
    bad.args(["-c", "VENVKIT_COMPOSE=compose; source images/lib.sh && compose_engine"]).current_dir(repo());
    let (code, stdout, stderr) = choose(&mut bad);
    assert_eq!((code, stdout.as_str()), (2, ""), "{stderr}");
    assert_eq!(stderr, "venvkit: VENVKIT_COMPOSE=compose: expected docker or podman\n");
}

#[test]
fn docker_load_copies_an_image_once_replaces_it_when_podmans_changes_and_refuses_a_missing_one_needs_root() {
    let engine = engine_with_images();
    let (first, second) = (TOOLS.to_string(), distroless("bookworm"));
    let id = |image: &str| engine.inspect(image, "{{.Id}}");
    let script = r#"set -uo pipefail
        source images/lib.sh
        name=venvkit-test/docker-load:latest
        # `podman untag IMAGE` alone would take every name the image has.
        trap 'podman untag "$name" "$name" 2>/dev/null' EXIT
        podman tag "$1" "$name" && docker_load "$name" && first=$(docker image inspect --format '{{.Id}}' "$name")
        echo "first $first"
        docker_load "$name"
        podman tag "$2" "$name" && docker_load "$name"
        echo "second $(docker image inspect --format '{{.Id}}' "$name")"
        docker image inspect "$first" >/dev/null 2>&1 && echo "first kept" || echo "first removed"
        podman untag "$name" "$name"
        docker_load "$name"
        echo "missing: $?"
        docker image rm "$name" >/dev/null"#;
    let loaded = run_long(&mut with_docker_engine(&["bash", "-c", script, "bash", &first, &second]));
    let loading = "loading into the Docker engine: venvkit-test/docker-load:latest";
    assert_eq!(
        loaded.stdout.lines().collect::<Vec<_>>(),
        [
            loading,
            &format!("first sha256:{}", id(&first)),
            // The second call: Docker has that image ID under that name.
            loading,
            &format!("second sha256:{}", id(&second)),
            "first removed",
            "missing: 1"
        ],
        "{}",
        loaded.stderr
    );
    assert_eq!(
        loaded.stderr,
        "venvkit: podman has no image venvkit-test/docker-load:latest: build it first (make demo does)\n"
    );
}
