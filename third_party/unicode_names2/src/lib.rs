//! Stand-in for `unicode_names2` (see third_party/README.md): no character
//! names are known, so a `\N{...}` escape is reported as unknown.

/// The character named `name`: never known here.
pub fn character(_name: &str) -> Option<char> {
    None
}

#[cfg(test)]
mod tests {
    #[test]
    fn no_name_is_known() {
        assert_eq!(super::character("LATIN SMALL LETTER A"), None);
    }
}
