//! Booleans in the environment, one syntax for every tool's variables
//! (shared/conventions.md): `1`/`0`, `true`/`false`, `yes`/`no`, `on`/`off`,
//! in any case; empty is false.

/// The syntax, as error messages list it.
pub const SYNTAX: &str = "1 or 0, true or false, yes or no, on or off";

/// Parses a boolean; the error names the value and lists [`SYNTAX`].
pub fn parse(text: &str) -> Result<bool, String> {
    match text.to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "" | "0" | "false" | "no" | "off" => Ok(false),
        _ => Err(format!("'{text}' is not a boolean (write {SYNTAX})")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_spelling_in_any_case_and_nothing_else() {
        for yes in ["1", "true", "TRUE", "Yes", "on"] {
            assert_eq!(parse(yes), Ok(true), "{yes}");
        }
        for no in ["", "0", "false", "NO", "Off"] {
            assert_eq!(parse(no), Ok(false), "{no}");
        }
        let err = parse("y").unwrap_err();
        assert!(err.contains("'y'") && err.contains(SYNTAX), "{err}");
    }
}
