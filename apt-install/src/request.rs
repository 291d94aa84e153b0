//! What to install: package names (`name`, `name:arch`, `name=version`,
//! `name/release`, apt's globs) and local `.deb` files, from arguments and
//! from `-f FILE` lists, checked before anything is changed.

use std::io::Read;
use std::path::Path;

/// The packages and files to install, in order, each once.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Request {
    pub items: Vec<String>,
}

impl Request {
    pub fn add(&mut self, item: String) {
        if !self.items.contains(&item) {
            self.items.push(item);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }
}

/// Builds the request from arguments and list files; every problem is
/// found before any change, and named (`FILE:LINE` for list files).
pub fn build(arguments: &[String], files: &[String]) -> Result<Request, String> {
    let mut request = Request::default();
    for argument in arguments {
        request.add(item(argument).map_err(|why| format!("'{argument}': {why}"))?);
    }
    for file in files {
        let text = read_list(file)?;
        for (number, line) in text.lines().enumerate() {
            let line = line.split('#').next().unwrap_or("").trim_end_matches('\r');
            for token in line.split_whitespace() {
                let checked = item(token).map_err(|why| format!("{file}:{}: '{token}': {why}", number + 1))?;
                request.add(checked);
            }
        }
    }
    Ok(request)
}

fn read_list(file: &str) -> Result<String, String> {
    let mut text = String::new();
    let result = if file == "-" {
        std::io::stdin().read_to_string(&mut text).map(|_| ())
    } else {
        std::fs::File::open(file).and_then(|mut f| f.read_to_string(&mut text)).map(|_| ())
    };
    result.map_err(|err| {
        format!(
            "{file}: {} (give a list of packages, one or more a line, or - for stdin)",
            venvkit_common::io::plain(&err)
        )
    })?;
    Ok(text)
}

/// One checked item: a package specification, or a local .deb made a path.
fn item(token: &str) -> Result<String, String> {
    if token.ends_with(".deb") {
        let path = if token.contains('/') { token.to_string() } else { format!("./{token}") };
        if !Path::new(&path).is_file() {
            return Err(format!("no such file {path}"));
        }
        return Ok(path);
    }
    check_package(token)?;
    Ok(token.to_string())
}

/// What `apt-get install` accepts (apt-get(8), apt-patterns(7)):
/// `name[:arch][=version | /release]`, then an optional `+` (install) or
/// `-` (remove) action; fnmatch globs (`*?[]`) in the name and version; and
/// search patterns starting with `?` or `~`, which apt checks itself. Debian
/// names (policy 5.6.1) are lowercase letters, digits and `+-.`, starting
/// with a letter or digit; versions (policy 5.6.12) add an epoch's `:` and
/// `~`; architectures and releases are lowercase words with `-`, `.`, `+`.
fn check_package(token: &str) -> Result<(), String> {
    if token.starts_with(['?', '~']) {
        return Ok(());
    }
    let globs = "*?[]";
    let spec = token.strip_suffix(['+', '-']).filter(|spec| !spec.is_empty() && !spec.ends_with(['+', '-']));
    // `foo-` is a removal only where apt has no package `foo-`: keep both.
    let spec = spec.unwrap_or(token);
    let (name_arch, selector) = match spec.find(['=', '/']) {
        Some(at) => (&spec[..at], Some(&spec[at..])),
        None => (spec, None),
    };
    let (name, arch) = match name_arch.split_once(':') {
        Some((name, arch)) => (name, Some(arch)),
        None => (name_arch, None),
    };
    if name.is_empty() {
        return Err("no package name (write name, name:arch, name=version or name/release)".into());
    }
    if !name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit() || globs.contains(c)) {
        return Err("a package name starts with a lowercase letter or a digit (write it as Debian names it)".into());
    }
    if let Some(bad) = name
        .chars()
        .find(|&c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c) || globs.contains(c)))
    {
        return Err(format!("'{bad}' is not allowed in a package name (write lowercase letters, digits, +, - and .)"));
    }
    let word = |text: &str, extra: &str| {
        !text.is_empty() && text.chars().all(|c| c.is_ascii_alphanumeric() || extra.contains(c))
    };
    if let Some(arch) = arch {
        if !word(arch, "-") {
            return Err(format!("':{arch}' is not an architecture (write one such as amd64 or arm64)"));
        }
    }
    match selector {
        None => Ok(()),
        Some(version) if version.starts_with('=') && word(&version[1..], ".+~:-*?[]") => Ok(()),
        Some(release) if release.starts_with('/') && word(&release[1..], ".+-_") => Ok(()),
        Some(other) => Err(format!("'{other}' is not a version (=1.2-3) or a release (/bookworm-backports)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_suites::fixtures::Scratch;

    #[test]
    fn apt_specifications_are_accepted() {
        for good in [
            "tree",
            "libpq5",
            "libc6:amd64",
            "nginx=1.22.1-9",
            "python3/bookworm-backports",
            "lib*-dev",
            "g++",
            "libstdc++6",
        ] {
            assert_eq!(item(good), Ok(good.to_string()), "{good}");
        }
    }

    #[test]
    fn malformed_tokens_are_refused_with_a_reason() {
        for bad in ["Tree", "-y", "tree;rm", "tree=", "libc6:", "a/b/c!", "pkg$"] {
            assert!(item(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn list_files_tolerate_comments_blank_lines_crlf_and_duplicates() {
        let dir = Scratch::new("apt-install-request");
        let list = dir.join("pkgdeps.txt");
        std::fs::write(&list, "# from find-libdeps\r\nlibpq5\r\n\r\nzlib1g libc6 # inline\nlibpq5\n").unwrap();
        let request = build(&["tree".into(), "zlib1g".into()], &[list.display().to_string()]).unwrap();
        assert_eq!(request.items, ["tree", "zlib1g", "libpq5", "libc6"]);
    }

    #[test]
    fn a_malformed_token_in_a_list_names_file_and_line() {
        let dir = Scratch::new("apt-install-request-bad");
        let list = dir.join("pkgdeps.txt");
        std::fs::write(&list, "libpq5\nLibXML2\n").unwrap();
        let err = build(&[], &[list.display().to_string()]).unwrap_err();
        assert!(err.contains("pkgdeps.txt:2: 'LibXML2'"), "{err}");
    }

    #[test]
    fn a_bare_deb_file_name_becomes_a_path_and_must_exist() {
        assert!(item("missing-venvkit.deb").unwrap_err().contains("./missing-venvkit.deb"));
    }
}
