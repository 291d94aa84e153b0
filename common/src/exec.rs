//! exec(2) with the lookup and exit codes a POSIX shell has: the command is
//! never passed through a shell, and failures map to 127 (not found) or 126
//! (found, not executable) with a message that names what was looked at.

use nix::errno::Errno;
use std::ffi::{CString, OsStr, OsString};
use std::fmt;
use std::io::Read;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};

use crate::exit;

/// Why exec did not happen; `code` is the exit status a shell would give.
#[derive(Debug, PartialEq, Eq)]
pub struct ExecError {
    pub code: i32,
    pub message: String,
}

impl fmt::Display for ExecError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

/// The search path used when PATH is unset, as in Debian's shells.
pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// Replaces this process with `argv`, looked up in `path` when argv[0] has no
/// slash, with environment `env` (`KEY=VALUE` entries). Returns only on failure.
pub fn exec(argv: &[OsString], env: &[OsString], path: &OsStr) -> ExecError {
    let Some(program) = argv.first() else {
        return ExecError { code: exit::USAGE, message: "no command given".into() };
    };
    let (args, env) = match (to_cstrings(argv), to_cstrings(env)) {
        (Some(args), Some(env)) => (args, env),
        _ => {
            return ExecError {
                code: exit::NOT_EXECUTABLE,
                message: format!("{}: argument or environment contains a NUL byte", program.to_string_lossy()),
            }
        }
    };
    crate::signals::restore_dispositions();
    if program.as_bytes().contains(&b'/') {
        let errno = execve(Path::new(program), &args, &env);
        return explain_direct(Path::new(program), errno);
    }
    search_and_exec(program, &args, &env, path)
}

/// [`exec`] with this process's own environment and PATH.
pub fn exec_inheriting(argv: &[OsString]) -> ExecError {
    let env: Vec<OsString> = std::env::vars_os()
        .map(|(key, value)| {
            let mut entry = key;
            entry.push("=");
            entry.push(value);
            entry
        })
        .collect();
    let path = std::env::var_os("PATH").unwrap_or_else(|| DEFAULT_PATH.into());
    exec(argv, &env, &path)
}

fn search_and_exec(program: &OsStr, args: &[CString], env: &[CString], path: &OsStr) -> ExecError {
    let mut denied: Option<PathBuf> = None;
    for dir in path.as_bytes().split(|&b| b == b':') {
        // An empty PATH entry means the current directory, as in execvp.
        let dir = if dir.is_empty() { Path::new(".") } else { Path::new(OsStr::from_bytes(dir)) };
        let candidate = dir.join(program);
        match execve(&candidate, args, env) {
            Errno::ENOENT if candidate.exists() => return explain_direct(&candidate, Errno::ENOENT),
            Errno::ENOENT | Errno::ENOTDIR | Errno::ENAMETOOLONG | Errno::ELOOP => continue,
            Errno::EACCES | Errno::EPERM => {
                denied.get_or_insert(candidate);
            }
            errno => return explain_direct(&candidate, errno),
        }
    }
    let name = program.to_string_lossy();
    match denied {
        Some(candidate) => explain_direct(&candidate, Errno::EACCES),
        None => ExecError {
            code: exit::NOT_FOUND,
            message: format!("{name}: command not found in PATH={}", path.to_string_lossy()),
        },
    }
}

fn explain_direct(program: &Path, errno: Errno) -> ExecError {
    let shown = program.display();
    match errno {
        Errno::ENOENT => match missing_interpreter(program) {
            Some(interpreter) => ExecError {
                code: exit::NOT_FOUND,
                message: format!(
                    "{shown}: its interpreter {} does not exist (was this virtualenv made with another Python?)",
                    interpreter.to_string_lossy()
                ),
            },
            None => ExecError { code: exit::NOT_FOUND, message: format!("{shown}: no such file or directory") },
        },
        Errno::EACCES | Errno::EPERM if program.is_dir() => {
            ExecError { code: exit::NOT_EXECUTABLE, message: format!("{shown}: is a directory") }
        }
        Errno::EACCES | Errno::EPERM => {
            ExecError { code: exit::NOT_EXECUTABLE, message: format!("{shown}: permission denied") }
        }
        Errno::ENOEXEC => ExecError {
            code: exit::NOT_EXECUTABLE,
            message: format!("{shown}: exec format error (not a program for this machine, and no #! line)"),
        },
        other => ExecError { code: exit::NOT_EXECUTABLE, message: format!("{shown}: {}", other.desc()) },
    }
}

/// The `#!` interpreter of an existing script when that interpreter is missing,
/// the case where the kernel reports ENOENT for a file that is plainly there.
fn missing_interpreter(program: &Path) -> Option<OsString> {
    let mut head = [0u8; 256];
    let read = std::fs::File::open(program).ok()?.read(&mut head).ok()?;
    let line = head[..read].strip_prefix(b"#!")?;
    let line = line.split(|&b| b == b'\n').next()?;
    let interpreter = line.split(|&b| b == b' ' || b == b'\t').find(|word| !word.is_empty())?;
    let interpreter = OsString::from_vec(interpreter.to_vec());
    (!Path::new(&interpreter).exists()).then_some(interpreter)
}

fn execve(program: &Path, args: &[CString], env: &[CString]) -> Errno {
    let Ok(program) = CString::new(program.as_os_str().as_bytes()) else {
        return Errno::ENOENT;
    };
    match nix::unistd::execve(&program, args, env) {
        Err(errno) => errno,
        Ok(never) => match never {},
    }
}

fn to_cstrings(items: &[OsString]) -> Option<Vec<CString>> {
    items.iter().map(|item| CString::new(item.as_bytes()).ok()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn scratch_dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("venvkit-exec-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_script_with_a_missing_interpreter_names_the_interpreter() {
        let dir = scratch_dir("shebang");
        let script = dir.join("gunicorn");
        std::fs::write(&script, "#!/opt/gone/bin/python3.11 -s\nprint(1)\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        assert_eq!(missing_interpreter(&script), Some(OsString::from("/opt/gone/bin/python3.11")));
        let err = explain_direct(&script, Errno::ENOENT);
        assert_eq!(err.code, exit::NOT_FOUND);
        assert!(err.message.contains("/opt/gone/bin/python3.11"), "{}", err.message);
    }

    #[test]
    fn a_script_whose_interpreter_exists_is_not_blamed_on_it() {
        let dir = scratch_dir("present");
        let script = dir.join("tool");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert_eq!(missing_interpreter(&script), None);
    }

    #[test]
    fn a_directory_is_not_executable() {
        let dir = scratch_dir("dir");
        let err = explain_direct(&dir, Errno::EACCES);
        assert_eq!(err.code, exit::NOT_EXECUTABLE);
        assert!(err.message.ends_with("is a directory"), "{}", err.message);
    }

    #[test]
    fn a_name_found_nowhere_is_127_and_names_the_path_searched() {
        let args = [OsString::from("venvkit-no-such-command")];
        let err = exec(&args, &[], OsStr::new("/nonexistent/a:/nonexistent/b"));
        assert_eq!(err.code, exit::NOT_FOUND);
        assert!(err.message.contains("/nonexistent/a:/nonexistent/b"), "{}", err.message);
    }

    #[test]
    fn a_non_executable_file_found_in_path_is_126() {
        let dir = scratch_dir("noexec");
        std::fs::write(dir.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(dir.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = exec(&[OsString::from("tool")], &[], dir.as_os_str());
        assert_eq!(err.code, exit::NOT_EXECUTABLE);
        assert!(err.message.contains("permission denied"), "{}", err.message);
    }
}
