//! The examples' compose.yaml files, as `make demo` uses them with
//! podman-compose: the app and its database up, the app answering on the
//! published port, the `test` service's suite passing, and `down` leaving no
//! container or network behind (images/lib.sh's compose_round).

use crate::demo::demo_script_output;
use crate::support::*;

#[test]
fn each_example_comes_up_with_compose_runs_its_test_service_and_down_leaves_nothing() {
    engine_with_images();
    for (example, health) in [("polls", "/api/health"), ("filebox", "/health")] {
        let output = demo_script_output(example);
        let section = output
            .split_once("== compose:")
            .map(|(_, rest)| rest)
            .unwrap_or_else(|| panic!("{example}: no compose section in\n{output}"));
        for line in
            [&format!("compose up: GET {health} -> 200"), "compose run test: passed", "compose down: nothing left"]
        {
            assert!(section.lines().any(|seen| seen == line), "{example}: no '{line}' in\n{section}");
        }
    }
}
