//! Stand-in for `unicode-normalization` (see third_party/README.md): NFKC
//! normalisation is the identity, which it is for every ASCII identifier.

/// What ruff's parser calls on identifiers.
pub trait UnicodeNormalization<I: Iterator<Item = char>> {
    /// The characters unchanged.
    fn nfkc(self) -> I;
}

impl<'a> UnicodeNormalization<std::str::Chars<'a>> for &'a str {
    fn nfkc(self) -> std::str::Chars<'a> {
        self.chars()
    }
}

#[cfg(test)]
mod tests {
    use super::UnicodeNormalization;

    #[test]
    fn ascii_is_unchanged() {
        assert_eq!("find_library".nfkc().collect::<String>(), "find_library");
    }
}
