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
            // The name is there but cannot run: a script or program whose
            // interpreter is missing, or a link to a Python that is gone (a
            // venv copied without its interpreter). Going on down PATH would
            // silently run another program of that name.
            Errno::ENOENT if candidate.symlink_metadata().is_ok() => return explain_direct(&candidate, Errno::ENOENT),
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
        Errno::ENOENT => ExecError { code: exit::NOT_FOUND, message: format!("{shown}: {}", why_missing(program)) },
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

const ANOTHER_PYTHON: &str = "was this virtualenv made with another Python?";

/// Why the kernel said ENOENT for `program`: it is missing, it is a link to
/// something missing, or what it needs to start (its `#!` interpreter, its
/// ELF loader) is missing.
fn why_missing(program: &Path) -> String {
    if program.symlink_metadata().is_err() {
        return "no such file or directory".into();
    }
    if !program.exists() {
        let target = std::fs::read_link(program).map(|t| t.display().to_string()).unwrap_or_default();
        return format!("a link to {target}, which does not exist ({ANOTHER_PYTHON})");
    }
    match missing_interpreter(program) {
        Some(Missing::Shebang(interpreter)) => match moved_venv(program, Path::new(&interpreter)) {
            Some((built_at, now_at)) => format!(
                "its interpreter {} does not exist: this virtualenv was built at {} and is now at {}, and a \
                 virtualenv cannot be moved (its scripts name the path it was built at): build it at {}",
                interpreter.to_string_lossy(),
                built_at.display(),
                now_at.display(),
                now_at.display()
            ),
            None => format!("its interpreter {} does not exist ({ANOTHER_PYTHON})", interpreter.to_string_lossy()),
        },
        Some(Missing::CarriageReturn(interpreter)) => format!(
            "its #! line ends in a carriage return (CRLF line endings), so the interpreter \"{}\\r\" does not exist",
            interpreter.to_string_lossy()
        ),
        Some(Missing::Loader(loader)) => {
            format!("its ELF loader {} does not exist (a program for another system)", loader.to_string_lossy())
        }
        None => "no such file or directory".into(),
    }
}

/// A console script of a venv at Y (`Y/bin/tool`, `Y/pyvenv.cfg`) whose
/// `#!` names `X/bin/python…` where no venv is: the venv was built at X
/// and copied to Y. Returns (X, Y).
fn moved_venv(program: &Path, interpreter: &Path) -> Option<(PathBuf, PathBuf)> {
    let (script_bin, interpreter_bin) = (program.parent()?, interpreter.parent()?);
    let (now_at, built_at) = (script_bin.parent()?, interpreter_bin.parent()?);
    let in_bins = script_bin.file_name()? == "bin" && interpreter_bin.file_name()? == "bin";
    let python = interpreter.file_name()?.to_string_lossy().starts_with("python");
    let moved = now_at != built_at && now_at.join("pyvenv.cfg").is_file() && !built_at.join("pyvenv.cfg").exists();
    (in_bins && python && moved).then(|| (built_at.to_path_buf(), now_at.to_path_buf()))
}

enum Missing {
    Shebang(OsString),
    CarriageReturn(OsString),
    Loader(OsString),
}

/// What an existing file needs to start that is missing: the `#!`
/// interpreter of a script, or the PT_INTERP loader of an ELF program.
fn missing_interpreter(program: &Path) -> Option<Missing> {
    let mut head = [0u8; 4096];
    let read = std::fs::File::open(program).ok()?.read(&mut head).ok()?;
    let head = &head[..read];
    if let Some(line) = head.strip_prefix(b"#!") {
        let line = line.split(|&b| b == b'\n').next()?;
        let interpreter = line.split(|&b| b == b' ' || b == b'\t').find(|word| !word.is_empty())?;
        if let Some(without_cr) = interpreter.strip_suffix(b"\r") {
            let without_cr = OsString::from_vec(without_cr.to_vec());
            return Path::new(&without_cr).exists().then_some(Missing::CarriageReturn(without_cr));
        }
        let interpreter = OsString::from_vec(interpreter.to_vec());
        return (!Path::new(&interpreter).exists()).then_some(Missing::Shebang(interpreter));
    }
    let loader = elf_interpreter(head)?;
    (!Path::new(&loader).exists()).then_some(Missing::Loader(loader))
}

/// PT_INTERP of an ELF program, from its first page (where linkers put it).
fn elf_interpreter(head: &[u8]) -> Option<OsString> {
    let elf = venvkit_elf::Elf::open(head).ok()??;
    elf.interpreter().ok()?.map(OsString::from)
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
    use venvkit_suites::fixtures::Scratch;

    /// [`exec`] in a forked child, so that a regression that makes it
    /// succeed replaces the child, not the test process. The pipe is
    /// close-on-exec: a command that really ran leaves it empty.
    fn exec_in_child(argv: &[OsString], env: &[OsString], path: &OsStr) -> ExecError {
        use std::io::Write;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC).unwrap();
        // SAFETY: the child only calls exec, writes to the pipe and _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                drop(read);
                let failure = exec(argv, env, path);
                let _ = write!(std::fs::File::from(write), "{}\n{}", failure.code, failure.message);
                // SAFETY: leaves without running the test harness's exit handlers.
                unsafe { nix::libc::_exit(0) }
            }
            nix::unistd::ForkResult::Parent { child } => {
                drop(write);
                let mut text = String::new();
                std::fs::File::from(read).read_to_string(&mut text).unwrap();
                let status = nix::sys::wait::waitpid(child, None).unwrap();
                let (code, message) = text
                    .split_once('\n')
                    .unwrap_or_else(|| panic!("exec ran the command ({status:?}) instead of failing"));
                ExecError { code: code.parse().unwrap(), message: message.to_string() }
            }
        }
    }

    fn scratch_dir(name: &str) -> Scratch {
        Scratch::new(&format!("exec-{name}"))
    }

    #[test]
    fn a_script_with_a_missing_interpreter_names_the_interpreter() {
        let dir = scratch_dir("shebang");
        let script = dir.join("gunicorn");
        std::fs::write(&script, "#!/opt/gone/bin/python3.11 -s\nprint(1)\n").unwrap();
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = explain_direct(&script, Errno::ENOENT);
        assert_eq!(err.code, exit::NOT_FOUND);
        assert!(err.message.contains("/opt/gone/bin/python3.11"), "{}", err.message);
    }

    #[test]
    fn a_venv_copied_to_another_path_is_named_as_moved() {
        let dir = scratch_dir("moved");
        dir.write("srv/venv/pyvenv.cfg", "home = /usr/bin\n");
        let script =
            dir.write_mode("srv/venv/bin/gunicorn", format!("#!{}/app/venv/bin/python3\n", dir.display()), 0o755);
        let err = explain_direct(&script, Errno::ENOENT);
        assert_eq!(err.code, exit::NOT_FOUND);
        let built_at = format!("built at {}/app/venv", dir.display());
        assert!(err.message.contains(&built_at) && err.message.contains("cannot be moved"), "{}", err.message);
        assert!(!err.message.contains("another Python"), "{}", err.message);
    }

    #[test]
    fn a_script_whose_interpreter_exists_is_not_blamed_on_it() {
        let dir = scratch_dir("present");
        let script = dir.join("tool");
        std::fs::write(&script, "#!/bin/sh\n").unwrap();
        assert!(missing_interpreter(&script).is_none());
    }

    #[test]
    fn crlf_line_endings_are_named_as_such() {
        let dir = scratch_dir("crlf");
        let script = dir.join("tool");
        std::fs::write(&script, "#!/bin/sh\r\necho hi\r\n").unwrap();
        let err = explain_direct(&script, Errno::ENOENT);
        assert!(err.message.contains("CRLF"), "{}", err.message);
    }

    #[test]
    fn a_link_to_a_missing_python_is_named_with_its_target() {
        let dir = scratch_dir("dangling");
        std::os::unix::fs::symlink("/nonexistent/python3.11", dir.join("python3")).unwrap();
        let err =
            exec_in_child(&[OsString::from("python3")], &[], OsStr::new(&format!("{}:/usr/bin:/bin", dir.display())));
        assert_eq!(err.code, exit::NOT_FOUND);
        assert!(err.message.contains("/nonexistent/python3.11"), "{}", err.message);
    }

    #[test]
    fn a_program_whose_elf_loader_is_missing_names_the_loader() {
        let dir = scratch_dir("loader");
        let mut program = std::fs::read(std::env::current_exe().unwrap()).unwrap();
        let interpreter = elf_interpreter(&program[..4096]).expect("this test binary has a PT_INTERP");
        let at = program.windows(interpreter.len()).position(|w| w == interpreter.as_bytes()).unwrap();
        program[at + 1] = b'X';
        let copy = dir.join("program");
        std::fs::write(&copy, &program).unwrap();
        std::fs::set_permissions(&copy, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = exec_in_child(&[copy.clone().into_os_string()], &[], OsStr::new("/bin"));
        assert_eq!(err.code, exit::NOT_FOUND);
        assert!(err.message.contains("ELF loader /Xib64") || err.message.contains("ELF loader /X"), "{}", err.message);
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
        let err = exec_in_child(&args, &[], OsStr::new("/nonexistent/a:/nonexistent/b"));
        assert_eq!(err.code, exit::NOT_FOUND);
        assert!(err.message.contains("/nonexistent/a:/nonexistent/b"), "{}", err.message);
    }

    #[test]
    fn a_non_executable_file_found_in_path_is_126() {
        let dir = scratch_dir("noexec");
        std::fs::write(dir.join("tool"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(dir.join("tool"), std::fs::Permissions::from_mode(0o644)).unwrap();
        let err = exec_in_child(&[OsString::from("tool")], &[], dir.as_os_str());
        assert_eq!(err.code, exit::NOT_EXECUTABLE);
        assert!(err.message.contains("permission denied"), "{}", err.message);
    }
}
