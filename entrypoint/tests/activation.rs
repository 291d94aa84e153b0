//! What the command sees: the venv activated exactly as `activate` would,
//! minus its leaks, nested or not, and bytes passed through untouched.

mod support;

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use support::*;

fn env_of(command: &mut std::process::Command) -> Vec<(String, String)> {
    let run = run(command.args(["env"]));
    assert_eq!(run.code(), 0, "{}", run.stderr);
    run.stdout.lines().filter_map(|line| line.split_once('=')).map(|(k, v)| (k.into(), v.into())).collect()
}

fn get<'a>(env: &'a [(String, String)], key: &str) -> Option<&'a str> {
    env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_str())
}

#[test]
fn the_venv_is_activated_for_the_command_needs_root() {
    require_root();
    let scratch = Scratch::new("activate");
    let venv = scratch.venv("app", Some("polls"));
    for mut command in [plain(), as_pid1()] {
        command
            .env("ENTRYPOINT_VENV", &venv)
            .env("PATH", "/usr/bin:/bin")
            .env("PYTHONHOME", "/usr")
            .env("_OLD_VIRTUAL_PATH", "/stale")
            .env_remove("PS1");
        let env = env_of(&mut command);
        assert_eq!(get(&env, "VIRTUAL_ENV"), venv.to_str());
        assert_eq!(get(&env, "PATH").unwrap(), format!("{}/bin:/usr/bin:/bin", venv.display()));
        assert_eq!(get(&env, "VIRTUAL_ENV_PROMPT"), Some("polls"));
        for absent in ["PYTHONHOME", "_OLD_VIRTUAL_PATH", "PS1"] {
            assert_eq!(get(&env, absent), None, "{absent} is set");
        }
    }
}

#[test]
fn virtual_env_is_used_when_entrypoint_venv_is_unset() {
    let scratch = Scratch::new("virtual-env");
    let venv = scratch.venv("env", None);
    let env = env_of(plain().env("VIRTUAL_ENV", &venv));
    assert_eq!(get(&env, "VIRTUAL_ENV_PROMPT"), Some("env"), "the prompt defaults to the directory name");
    assert!(get(&env, "PATH").unwrap().starts_with(&format!("{}/bin:", venv.display())));
}

#[test]
fn without_path_the_search_starts_from_debians_default() {
    let scratch = Scratch::new("nopath");
    let venv = scratch.venv("app", None);
    let run = run(plain().env("ENTRYPOINT_VENV", &venv).env_remove("PATH").args(["/bin/sh", "-c", "echo $PATH"]));
    let expected = format!("{}/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", venv.display());
    assert_eq!(run.stdout.trim(), expected);
}

#[test]
fn nested_entrypoints_put_the_venv_in_path_once_needs_root() {
    require_root();
    let scratch = Scratch::new("nested");
    let venv = scratch.venv("app", None);
    for mut command in [plain(), as_pid1()] {
        command.env("ENTRYPOINT_VENV", &venv).env("PATH", "/usr/bin:/bin");
        let run = run(command.arg(binary()).args(["sh", "-c", "echo $PATH"]));
        assert_eq!(run.stdout.trim(), format!("{}/bin:/usr/bin:/bin", venv.display()));
    }
}

#[test]
fn python_resolves_to_the_venvs_own_needs_root() {
    require_root();
    let scratch = Scratch::new("python");
    let venv = scratch.venv("app", None);
    for mut command in [plain(), as_pid1()] {
        let run = run(command.env("ENTRYPOINT_VENV", &venv).env("PATH", "/usr/bin:/bin").arg("python"));
        assert_eq!(run.stdout.trim(), format!("venv python: {}/bin/python", venv.display()));
    }
}

#[test]
fn a_real_venvs_python_runs_with_the_venv_as_prefix() {
    let scratch = Scratch::new("real-venv");
    let venv = scratch.path("venv");
    let made = std::process::Command::new(real_python()).args(["-m", "venv", "--without-pip"]).arg(&venv).status();
    assert!(made.unwrap().success(), "python3 -m venv failed");
    let run = run(plain().env("ENTRYPOINT_VENV", &venv).args(["python", "-c", "import sys; print(sys.prefix)"]));
    assert_eq!(run.stdout.trim(), venv.to_str().unwrap(), "{}", run.stderr);
}

#[test]
fn a_slash_in_the_command_means_a_path_not_a_search() {
    let scratch = Scratch::new("slash");
    scratch.write_mode("on-path/sub/tool", "#!/bin/sh\necho found through PATH\n", 0o755);
    let elsewhere = scratch.path("cwd");
    std::fs::create_dir_all(&elsewhere).unwrap();
    let path = format!("{}:/usr/bin:/bin", scratch.path("on-path").display());
    let run = run(plain().env("PATH", path).current_dir(&elsewhere).arg("sub/tool"));
    assert_eq!(run.code(), 127, "sub/tool must be relative to the working directory, not looked up: {}", run.stdout);
}

#[test]
fn a_venv_python_linking_to_a_missing_interpreter_is_127_not_another_python_needs_root() {
    require_root();
    let scratch = Scratch::new("dangling-python");
    let venv = scratch.venv("app", None);
    std::os::unix::fs::symlink("/nonexistent/bin/python3.11", venv.join("bin/python3")).unwrap();
    for mut command in [plain(), as_pid1()] {
        let run =
            run(command.env("ENTRYPOINT_VENV", &venv).env("PATH", "/usr/bin:/bin").args(["python3", "-c", "print(1)"]));
        assert_eq!(run.code(), 127, "ran another python: {}", run.stdout);
        assert!(run.stderr.contains("/nonexistent/bin/python3.11"), "{}", run.stderr);
    }
}

#[test]
fn non_utf8_arguments_and_environment_pass_through_needs_root() {
    require_root();
    for mut command in [plain(), as_pid1()] {
        let output = command
            .env(OsStr::from_bytes(b"BYTES"), OsStr::from_bytes(b"caf\xe9"))
            .args(["sh", "-c", "printf '%s|%s' \"$1\" \"$BYTES\"", "sh"])
            .arg(OsStr::from_bytes(b"\xff\xfe"))
            .output()
            .unwrap();
        assert_eq!(output.stdout, b"\xff\xfe|caf\xe9");
    }
}

#[test]
fn a_venv_copied_to_another_path_is_named_as_moved_not_as_another_python() {
    let scratch = Scratch::new("moved-venv");
    // Built at .../built/app, found at .../moved/app: its scripts name the former.
    let built = scratch.path("built/app");
    let moved = scratch.venv("moved/app", None);
    scratch.write_mode("moved/app/bin/gunicorn", format!("#!{}/bin/python3\n", built.display()), 0o755);
    let run = run(plain().env("ENTRYPOINT_VENV", &moved).env("PATH", "/usr/bin:/bin").arg("gunicorn"));
    assert_eq!(run.code(), 127, "{}", run.stderr);
    assert!(run.stderr.contains(&format!("built at {}", built.display())), "{}", run.stderr);
    assert!(run.stderr.contains("cannot be moved") && !run.stderr.contains("another Python"), "{}", run.stderr);
}
