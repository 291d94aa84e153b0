//! The three output formats: package names, a `Depends:` value, or JSON
//! explaining every edge.

use std::fmt::Write;

use std::collections::BTreeSet;

use crate::analysis::Explained;
use crate::loads::Unresolved;
use crate::resolve::Missing;
use crate::versions::Unmet;

/// Every edge with its owner (`name` or `name:arch` for a package foreign
/// to `native`), the packages, what was not found, the run-time loads
/// found nowhere, and the symbol versions no library defines.
pub fn json(
    edges: &[Explained],
    packages: &[String],
    missing: &BTreeSet<Missing>,
    unresolved: &[Unresolved],
    unmet: &BTreeSet<Unmet>,
    native: &str,
) -> String {
    let mut out = String::from("{\n  \"packages\": [");
    out.push_str(&packages.iter().map(|p| quote(p)).collect::<Vec<_>>().join(", "));
    out.push(']');
    let edges = edges.iter().map(|explained| {
        let edge = explained.edge;
        let (package, version) = match explained.package {
            Some(package) => (quote(&package.id.qualified(native)), quote(&package.version)),
            None => ("null".into(), "null".into()),
        };
        format!(
            "{{\"file\": {}, \"needed\": {}, \"how\": {}, \"path\": {}, \"in_tree\": {}, \"package\": {package}, \"version\": {version}}}",
            quote(&edge.file.to_string_lossy()),
            quote(&edge.needed),
            quote(&edge.how.describe()),
            quote(&edge.path.to_string_lossy()),
            edge.in_tree,
        )
    });
    array(&mut out, "edges", edges);
    let missing = missing.iter().map(|missing| {
        let searched: Vec<String> = missing.searched.iter().map(|dir| quote(&dir.to_string_lossy())).collect();
        format!(
            "{{\"file\": {}, \"needed\": {}, \"searched\": [{}]}}",
            quote(&missing.file.to_string_lossy()),
            quote(&missing.needed),
            searched.join(", ")
        )
    });
    array(&mut out, "missing", missing);
    let unresolved = unresolved.iter().map(|load| {
        let candidates: Vec<String> = load.candidates.iter().map(|c| quote(&c.to_string())).collect();
        format!(
            "{{\"file\": {}, \"line\": {}, \"call\": {}, \"candidates\": [{}]}}",
            quote(&load.file.to_string_lossy()),
            load.line,
            quote(load.api.describe()),
            candidates.join(", ")
        )
    });
    array(&mut out, "unresolved_loads", unresolved);
    let unmet = unmet.iter().map(|unmet| {
        format!(
            "{{\"file\": {}, \"needed\": {}, \"version\": {}, \"library\": {}}}",
            quote(&unmet.file.to_string_lossy()),
            quote(&unmet.needed),
            quote(&unmet.version),
            quote(&unmet.library.to_string_lossy())
        )
    });
    array(&mut out, "unmet_versions", unmet);
    out.push_str("\n}\n");
    out
}

/// `,\n  "name": [...]`, one item a line.
fn array(out: &mut String, name: &str, items: impl Iterator<Item = String>) {
    let items: Vec<String> = items.collect();
    let _ = write!(out, ",\n  {}: [", quote(name));
    if !items.is_empty() {
        out.push_str("\n    ");
        out.push_str(&items.join(",\n    "));
        out.push_str("\n  ");
    }
    out.push(']');
}

/// A JSON string literal.
pub fn quote(text: &str) -> String {
    let mut quoted = String::with_capacity(text.len() + 2);
    quoted.push('"');
    for c in text.chars() {
        match c {
            '"' => quoted.push_str("\\\""),
            '\\' => quoted.push_str("\\\\"),
            '\n' => quoted.push_str("\\n"),
            '\t' => quoted.push_str("\\t"),
            '\r' => quoted.push_str("\\r"),
            c if (c as u32) < 0x20 => {
                let _ = write!(quoted, "\\u{:04x}", c as u32);
            }
            c => quoted.push(c),
        }
    }
    quoted.push('"');
    quoted
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_are_escaped_for_json() {
        assert_eq!(quote("a b"), "\"a b\"");
        assert_eq!(quote("q\"\\\n\u{1}"), "\"q\\\"\\\\\\n\\u0001\"");
    }
}
