//! Which virtualenv to activate, and what activating it means for the
//! child's environment: what `bin/activate` does, minus what it leaks.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use venvkit_common::exec::DEFAULT_PATH;

/// snakepacker's venv path, then pypackage's.
pub const DEFAULT_LOCATIONS: &[&str] = &["/usr/share/python3/app", "/appenv"];

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Venv {
    pub root: PathBuf,
    pub prompt: OsString,
    /// The Python it was made with, when pyvenv.cfg says.
    pub interpreter: Option<PathBuf>,
    pub version: Option<OsString>,
}

/// The venv named by `ENTRYPOINT_VENV`, else `VIRTUAL_ENV`, else the first
/// of `defaults` holding a `pyvenv.cfg`, else none. A venv named by a
/// variable must be a venv: anything else is an error naming both.
pub fn find(lookup: impl Fn(&str) -> Option<OsString>, defaults: &[&str]) -> Result<Option<Venv>, String> {
    for variable in ["ENTRYPOINT_VENV", "VIRTUAL_ENV"] {
        let Some(value) = lookup(variable).filter(|value| !value.is_empty()) else { continue };
        let root = absolute(Path::new(&value));
        return match read(&root) {
            Some(venv) => check_interpreter(venv).map(Some),
            None => Err(format!(
                "{variable}={}: no pyvenv.cfg there, so it is not a virtualenv (set it to the directory holding pyvenv.cfg)",
                root.display()
            )),
        };
    }
    defaults.iter().find_map(|candidate| read(Path::new(candidate))).map(check_interpreter).transpose()
}

/// A venv copied into an image whose Python is another version would start
/// the other Python through `bin/python3 -> /usr/bin/python3`, which then
/// cannot see the venv's `lib/pythonX.Y/site-packages`: every import of the
/// app fails far from the cause. pyvenv.cfg names the interpreter the venv was
/// made with; it must exist.
fn check_interpreter(venv: Venv) -> Result<Venv, String> {
    match &venv.interpreter {
        Some(interpreter) if !interpreter.exists() => Err(format!(
            "the virtualenv {} was made with Python {} ({}), which is not in this image: \
             build the venv with the Python of the image it runs in",
            venv.root.display(),
            venv.version.as_deref().map_or("?".into(), |version| version.to_string_lossy()),
            interpreter.display()
        )),
        _ => Ok(venv),
    }
}

fn absolute(path: &Path) -> PathBuf {
    let path = if path.is_absolute() {
        path.to_path_buf()
    } else {
        std::env::current_dir().map(|cwd| cwd.join(path)).unwrap_or_else(|_| path.to_path_buf())
    };
    // "/app/venv/" and "/app/venv" are one venv: keep PATH entries comparable.
    path.components().collect()
}

fn read(root: &Path) -> Option<Venv> {
    let config = std::fs::read(root.join("pyvenv.cfg")).ok()?;
    let value = |key: &str| config_value(&config, key).map(|v| OsStr::from_bytes(v).to_os_string());
    let prompt = value("prompt").or_else(|| root.file_name().map(OsStr::to_os_string)).unwrap_or_default();
    // `venv` writes `version`, virtualenv writes `version_info` (3.11.2.final.0).
    let version = value("version").or_else(|| value("version_info"));
    let interpreter = value("executable").map(PathBuf::from).or_else(|| {
        let major_minor = major_minor(version.as_deref()?)?;
        Some(Path::new(&value("home")?).join(format!("python{major_minor}")))
    });
    Some(Venv { root: root.to_path_buf(), prompt, interpreter, version })
}

fn major_minor(version: &OsStr) -> Option<String> {
    let mut parts = version.to_str()?.split('.');
    let (major, minor) = (parts.next()?, parts.next()?);
    let numeric = |part: &str| !part.is_empty() && part.bytes().all(|b| b.is_ascii_digit());
    (numeric(major) && numeric(minor)).then(|| format!("{major}.{minor}"))
}

/// `key = value`; Python writes `prompt` with repr quotes, which are dropped.
fn config_value<'a>(config: &'a [u8], wanted: &str) -> Option<&'a [u8]> {
    config.split(|&b| b == b'\n').find_map(|line| {
        let (key, value) = split_once(line, b'=')?;
        if trim(key) != wanted.as_bytes() {
            return None;
        }
        Some(match trim(value) {
            [b'\'', inner @ .., b'\''] | [b'"', inner @ .., b'"'] => inner,
            other => other,
        })
    })
}

fn split_once(line: &[u8], separator: u8) -> Option<(&[u8], &[u8])> {
    let at = line.iter().position(|&b| b == separator)?;
    Some((&line[..at], &line[at + 1..]))
}

fn trim(bytes: &[u8]) -> &[u8] {
    let start = bytes.iter().position(|b| !b.is_ascii_whitespace()).unwrap_or(bytes.len());
    let end = bytes.iter().rposition(|b| !b.is_ascii_whitespace()).map_or(start, |i| i + 1);
    &bytes[start..end]
}

/// PYTHONHOME would make the venv's Python look elsewhere for its standard
/// library; `_OLD_VIRTUAL_*` are what `activate` keeps only to undo itself.
fn removed(key: &OsStr) -> bool {
    key == "PYTHONHOME" || key.as_bytes().starts_with(b"_OLD_VIRTUAL_")
}

/// The child's environment: `env` with the venv activated. `<venv>/bin`
/// ends up first in PATH exactly once, however often entrypoint is nested.
pub fn activate(env: Vec<(OsString, OsString)>, venv: &Venv) -> Vec<(OsString, OsString)> {
    let bin = venv.root.join("bin");
    let old_path = env.iter().find(|(key, _)| key == "PATH").map(|(_, value)| value.clone());
    let path = prepend_once(bin.as_os_str(), old_path.as_deref().unwrap_or(OsStr::new(DEFAULT_PATH)));
    let mut activated: Vec<(OsString, OsString)> = env
        .into_iter()
        .filter(|(key, _)| !removed(key))
        .filter(|(key, _)| !matches!(key.to_str(), Some("PATH" | "VIRTUAL_ENV" | "VIRTUAL_ENV_PROMPT")))
        .collect();
    activated.push(("PATH".into(), path));
    activated.push(("VIRTUAL_ENV".into(), venv.root.clone().into_os_string()));
    activated.push(("VIRTUAL_ENV_PROMPT".into(), venv.prompt.clone()));
    activated
}

fn prepend_once(dir: &OsStr, path: &OsStr) -> OsString {
    let mut joined = dir.as_bytes().to_vec();
    for entry in path.as_bytes().split(|&b| b == b':').filter(|entry| *entry != dir.as_bytes()) {
        joined.push(b':');
        joined.extend_from_slice(entry);
    }
    OsStr::from_bytes(&joined).to_os_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_suites::fixtures::Scratch;

    fn scratch_venv(name: &str, config: &str) -> Scratch {
        let dir = Scratch::new(&format!("entrypoint-venv-{name}"));
        dir.mkdir("bin");
        dir.write("pyvenv.cfg", config);
        dir
    }

    fn lookup<'a>(vars: &'a [(&'a str, &'a OsStr)]) -> impl Fn(&str) -> Option<OsString> + 'a {
        move |name| vars.iter().find(|(k, _)| *k == name).map(|(_, v)| v.to_os_string())
    }

    #[test]
    fn entrypoint_venv_beats_virtual_env_which_beats_the_defaults() {
        let first = scratch_venv("first", "home = /usr/bin\n");
        let second = scratch_venv("second", "home = /usr/bin\n");
        let default = scratch_venv("default", "home = /usr/bin\n");
        let defaults = [default.to_str().unwrap()];
        let both = [("ENTRYPOINT_VENV", first.as_os_str()), ("VIRTUAL_ENV", second.as_os_str())];
        assert_eq!(find(lookup(&both), &defaults).unwrap().unwrap().root, first.0);
        let one = [("VIRTUAL_ENV", second.as_os_str())];
        assert_eq!(find(lookup(&one), &defaults).unwrap().unwrap().root, second.0);
        assert_eq!(find(lookup(&[]), &defaults).unwrap().unwrap().root, default.0);
    }

    #[test]
    fn the_first_default_holding_pyvenv_cfg_wins_and_none_means_no_activation() {
        let venv = scratch_venv("second-default", "");
        let defaults = ["/nonexistent/venvkit/app", venv.to_str().unwrap()];
        assert_eq!(find(lookup(&[]), &defaults).unwrap().unwrap().root, venv.0);
        assert_eq!(find(lookup(&[]), &["/nonexistent/venvkit/app"]).unwrap(), None);
    }

    #[test]
    fn a_named_directory_without_pyvenv_cfg_is_an_error_naming_variable_and_path() {
        let err = find(lookup(&[("VIRTUAL_ENV", OsStr::new("/nonexistent/venv"))]), &[]).unwrap_err();
        assert!(err.contains("VIRTUAL_ENV=/nonexistent/venv"), "{err}");
        assert!(err.contains("pyvenv.cfg"), "{err}");
    }

    #[test]
    fn the_prompt_comes_from_pyvenv_cfg_or_the_directory_name() {
        let quoted = scratch_venv("quoted", "home = /usr/bin\nprompt = 'polls'\n");
        assert_eq!(read(&quoted).unwrap().prompt, "polls");
        let bare = scratch_venv("bare", "prompt=my app\n");
        assert_eq!(read(&bare).unwrap().prompt, "my app");
        let unnamed = scratch_venv("unnamed", "home = /usr/bin\n");
        assert_eq!(read(&unnamed).unwrap().prompt, unnamed.file_name().unwrap());
    }

    #[test]
    fn a_venv_made_with_a_python_missing_here_is_an_error_naming_version_and_path() {
        let other = scratch_venv(
            "other-python",
            "home = /usr/bin\nversion = 3.99.1\nexecutable = /nonexistent/bin/python3.99\n",
        );
        let err = find(lookup(&[("VIRTUAL_ENV", other.as_os_str())]), &[]).unwrap_err();
        assert!(err.contains("made with Python 3.99.1 (/nonexistent/bin/python3.99)"), "{err}");
        let defaults = [other.to_str().unwrap()];
        assert!(find(lookup(&[]), &defaults).is_err(), "a default venv is checked too");
    }

    #[test]
    fn without_executable_the_interpreter_is_home_plus_major_minor() {
        let virtualenv = scratch_venv("virtualenv", "home = /nonexistent/bin\nversion_info = 3.11.2.final.0\n");
        assert_eq!(read(&virtualenv).unwrap().interpreter.unwrap(), Path::new("/nonexistent/bin/python3.11"));
        let unversioned = scratch_venv("unversioned", "home = /nonexistent/bin\n");
        assert_eq!(read(&unversioned).unwrap().interpreter, None, "nothing to check without a version");
    }

    #[test]
    fn a_venv_whose_interpreter_exists_is_activated() {
        let this_python = std::env::current_exe().unwrap();
        let config = format!("home = /usr/bin\nversion = 3.11.2\nexecutable = {}\n", this_python.display());
        let venv = scratch_venv("existing-python", &config);
        assert_eq!(find(lookup(&[("VIRTUAL_ENV", venv.as_os_str())]), &[]).unwrap().unwrap().root, venv.0);
    }

    fn venv() -> Venv {
        Venv { root: "/app/venv".into(), prompt: "app".into(), interpreter: None, version: None }
    }

    fn get<'a>(env: &'a [(OsString, OsString)], key: &str) -> Option<&'a OsStr> {
        env.iter().find(|(k, _)| k == key).map(|(_, v)| v.as_os_str())
    }

    #[test]
    fn activation_sets_virtual_env_prompt_and_path_and_drops_leaks() {
        let env = vec![
            ("PATH".into(), "/usr/bin:/bin".into()),
            ("PYTHONHOME".into(), "/usr".into()),
            ("_OLD_VIRTUAL_PATH".into(), "/x".into()),
            ("_OLD_VIRTUAL_ZDOTDIR".into(), "/y".into()),
            ("HOME".into(), "/root".into()),
        ];
        let env = activate(env, &venv());
        assert_eq!(get(&env, "PATH").unwrap(), "/app/venv/bin:/usr/bin:/bin");
        assert_eq!(get(&env, "VIRTUAL_ENV").unwrap(), "/app/venv");
        assert_eq!(get(&env, "VIRTUAL_ENV_PROMPT").unwrap(), "app");
        assert_eq!(get(&env, "HOME").unwrap(), "/root");
        assert_eq!(get(&env, "PYTHONHOME"), None);
        assert_eq!(get(&env, "_OLD_VIRTUAL_PATH"), None);
        assert_eq!(get(&env, "_OLD_VIRTUAL_ZDOTDIR"), None);
        assert_eq!(get(&env, "PS1"), None);
    }

    #[test]
    fn activating_twice_keeps_one_venv_entry_in_path() {
        let once = activate(vec![("PATH".into(), "/usr/bin".into())], &venv());
        let twice = activate(once, &venv());
        assert_eq!(get(&twice, "PATH").unwrap(), "/app/venv/bin:/usr/bin");
        assert_eq!(twice.iter().filter(|(k, _)| k == "PATH").count(), 1);
    }

    #[test]
    fn without_path_the_debian_default_is_the_base() {
        let env = activate(vec![], &venv());
        assert_eq!(get(&env, "PATH").unwrap(), format!("/app/venv/bin:{DEFAULT_PATH}").as_str());
    }
}
