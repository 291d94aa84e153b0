//! apt's sources as the user wrote them, so that a failing one is named
//! whole (`http://deb.debian.org/debian no-such-suite main`), not by the
//! host apt prints. Both formats of sources.list(5): one-line
//! (`deb [options] URI SUITE COMPONENT...`) in `sources.list` and
//! `sources.list.d/*.list`, and deb822 stanzas in `sources.list.d/*.sources`.

use std::path::Path;

/// One `deb` source: its URI (no trailing slash), suite and components.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Source {
    pub uri: String,
    pub suite: String,
    pub components: Vec<String>,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/ {}", self.uri, self.suite)?;
        self.components.iter().try_for_each(|component| write!(f, " {component}"))
    }
}

/// Every `deb` source configured under `etc_apt` (`/etc/apt` in use).
pub(crate) fn read(etc_apt: &Path) -> Vec<Source> {
    let mut sources = one_line(&std::fs::read_to_string(etc_apt.join("sources.list")).unwrap_or_default());
    let mut parts: Vec<_> = std::fs::read_dir(etc_apt.join("sources.list.d"))
        .into_iter()
        .flatten()
        .flatten()
        .map(|entry| entry.path())
        .collect();
    parts.sort();
    for part in parts {
        let text = std::fs::read_to_string(&part).unwrap_or_default();
        match part.extension().and_then(|e| e.to_str()) {
            Some("list") => sources.extend(one_line(&text)),
            Some("sources") => sources.extend(deb822(&text)),
            _ => {}
        }
    }
    sources
}

/// The source apt printed as `URI SUITE` (`Err:2 http://host/debian bookworm Release`).
pub(crate) fn find<'a>(sources: &'a [Source], uri: &str, suite: &str) -> Option<&'a Source> {
    sources.iter().find(|source| source.uri == uri.trim_end_matches('/') && source.suite == suite)
}

fn one_line(text: &str) -> Vec<Source> {
    text.lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or("");
            let rest = line.trim().strip_prefix("deb")?;
            if !rest.starts_with([' ', '\t']) {
                return None; // deb-src, or no separator
            }
            // `[ options ]` may hold spaces; what follows is URI SUITE COMPONENTS.
            let rest = match rest.trim_start().strip_prefix('[') {
                Some(options) => options.split_once(']')?.1,
                None => rest,
            };
            let mut words = rest.split_whitespace();
            let (uri, suite) = (words.next()?, words.next()?);
            Some(Source {
                uri: uri.trim_end_matches('/').to_string(),
                suite: suite.to_string(),
                components: words.map(str::to_string).collect(),
            })
        })
        .collect()
}

fn deb822(text: &str) -> Vec<Source> {
    let mut sources = Vec::new();
    for stanza in text.split("\n\n") {
        let field = |name: &str| -> Vec<String> {
            stanza
                .lines()
                .find_map(|line| line.strip_prefix(name)?.strip_prefix(':'))
                .map(|value| value.split_whitespace().map(str::to_string).collect())
                .unwrap_or_default()
        };
        if !field("Types").iter().any(|t| t == "deb") || field("Enabled").iter().any(|e| e == "no") {
            continue;
        }
        for uri in field("URIs") {
            for suite in field("Suites") {
                let uri = uri.trim_end_matches('/').to_string();
                sources.push(Source { uri, suite, components: field("Components") });
            }
        }
    }
    sources
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_line_sources_with_options_and_comments() {
        let text = "# mirror\ndeb [trusted=yes arch=amd64] http://127.0.0.1:8080/debian/ no-such-suite main contrib\n\
                    deb-src http://x/ y z\ndeb http://deb.debian.org/debian bookworm main # inline\n";
        let sources = one_line(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[0].to_string(), "http://127.0.0.1:8080/debian/ no-such-suite main contrib");
        assert_eq!(find(&sources, "http://deb.debian.org/debian", "bookworm").unwrap().components, ["main"]);
    }

    #[test]
    fn deb822_stanzas_expand_to_one_source_per_uri_and_suite() {
        let text = "Types: deb\nURIs: http://deb.debian.org/debian\nSuites: trixie trixie-updates\nComponents: main\n\
                    Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\n\
                    Types: deb-src\nURIs: http://x\nSuites: y\nComponents: z\n";
        let sources = deb822(text);
        assert_eq!(sources.len(), 2);
        assert_eq!(sources[1].to_string(), "http://deb.debian.org/debian/ trixie-updates main");
    }
}
