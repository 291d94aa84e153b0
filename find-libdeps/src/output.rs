//! The three output formats: package names, a `Depends:` value, or JSON
//! explaining every edge.

use std::fmt::Write;

use crate::analysis::Explained;
use crate::resolve::Missing;

/// Every edge with its owner (`name` or `name:arch` for a package foreign
/// to `native`), the packages, and what was not found.
pub fn json(edges: &[Explained], packages: &[String], missing: &[&Missing], native: &str) -> String {
    let mut out = String::from("{\n  \"packages\": [");
    out.push_str(&packages.iter().map(|p| quote(p)).collect::<Vec<_>>().join(", "));
    out.push_str("],\n  \"edges\": [");
    for (index, explained) in edges.iter().enumerate() {
        let edge = explained.edge;
        let (package, version) = match explained.package {
            Some(package) => (quote(&package.id.qualified(native)), quote(&package.version)),
            None => ("null".into(), "null".into()),
        };
        let _ = write!(
            out,
            "{}\n    {{\"file\": {}, \"needed\": {}, \"how\": {}, \"path\": {}, \"in_tree\": {}, \"package\": {package}, \"version\": {version}}}",
            if index == 0 { "" } else { "," },
            quote(&edge.file.to_string_lossy()),
            quote(&edge.needed),
            quote(&edge.how.describe()),
            quote(&edge.path.to_string_lossy()),
            edge.in_tree,
        );
    }
    out.push_str(if edges.is_empty() { "],\n  \"missing\": [" } else { "\n  ],\n  \"missing\": [" });
    for (index, missing) in missing.iter().enumerate() {
        let searched: Vec<String> = missing.searched.iter().map(|dir| quote(&dir.to_string_lossy())).collect();
        let _ = write!(
            out,
            "{}\n    {{\"file\": {}, \"needed\": {}, \"searched\": [{}]}}",
            if index == 0 { "" } else { "," },
            quote(&missing.file.to_string_lossy()),
            quote(&missing.needed),
            searched.join(", ")
        );
    }
    out.push_str(if missing.is_empty() { "]\n}\n" } else { "\n  ]\n}\n" });
    out
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
