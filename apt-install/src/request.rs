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
    result.map_err(|err| format!("{file}: {err}"))?;
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

/// Debian package names are lowercase letters, digits and `+-.`, starting
/// with a letter or digit; apt adds `:arch`, `=version`, `/release` and the
/// glob characters `*?[]`.
fn check_package(token: &str) -> Result<(), String> {
    let (name, rest) = match token.find([':', '=', '/']) {
        Some(at) => (&token[..at], &token[at..]),
        None => (token, ""),
    };
    if name.is_empty() {
        return Err("no package name".into());
    }
    let first = name.chars().next().unwrap_or('-');
    if !(first.is_ascii_lowercase() || first.is_ascii_digit() || "*?[".contains(first)) {
        return Err("a package name starts with a lowercase letter or a digit".into());
    }
    if let Some(bad) = name.chars().find(|c| !(c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.*?[]".contains(*c)))
    {
        return Err(format!("'{bad}' is not allowed in a package name"));
    }
    let suffix_ok = match rest.chars().next() {
        None => true,
        Some(':') => rest.len() > 1 && rest[1..].chars().all(|c| c.is_ascii_alphanumeric() || c == '-'),
        Some('=') => rest.len() > 1 && rest[1..].chars().all(|c| c.is_ascii_alphanumeric() || ".+~:-*".contains(c)),
        Some('/') => rest.len() > 1 && rest[1..].chars().all(|c| c.is_ascii_alphanumeric() || ".-+".contains(c)),
        Some(_) => false,
    };
    if !suffix_ok {
        return Err(format!("'{rest}' is not an architecture, version or release"));
    }
    Ok(())
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
