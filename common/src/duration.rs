//! Durations as users write them in Dockerfiles and compose files.
//!
//! Both humantime (`500ms`, `1m30s`) and the bare seconds of the scripts these
//! tools replace (`10`, `0.5`) are accepted. Anything else is refused rather
//! than guessed at: `2 s` and `10x` are typos, not durations.

use std::time::Duration;

/// How durations are written, as error messages say it.
pub const SYNTAX: &str = "write 500ms, 30s, 1m30s, or seconds such as 10 or 0.5";

/// Longer than any wait a tool could mean; beyond it deadlines would
/// overflow the clock.
pub const MAX: Duration = Duration::from_secs(100 * 365 * 24 * 3600);

/// Parses `500ms`, `30s`, `1m30s` or a bare, non-negative number of seconds,
/// up to [`MAX`].
pub fn parse(text: &str) -> Result<Duration, String> {
    let duration = parse_unbounded(text)?;
    if duration > MAX {
        return Err(format!("invalid duration '{text}': longer than 100 years ({SYNTAX})"));
    }
    Ok(duration)
}

fn parse_unbounded(text: &str) -> Result<Duration, String> {
    let invalid = |why: &str| format!("invalid duration '{text}': {why} ({SYNTAX})");
    if text.is_empty() {
        return Err(invalid("it is empty"));
    }
    if text.chars().any(char::is_whitespace) {
        return Err(invalid("it contains a space"));
    }
    if text.starts_with('-') {
        return Err(invalid("it is negative"));
    }
    if text.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return parse_seconds(text).ok_or_else(|| invalid("not a number of seconds"));
    }
    humantime::parse_duration(text).map_err(|_| invalid("not a duration"))
}

/// `10` or `0.5`, exactly, in integer arithmetic: float parsing would also
/// take `inf` and `1e3`, and its tables cost the static binaries ~20 KiB.
fn parse_seconds(text: &str) -> Option<Duration> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if whole.is_empty() && fraction.is_empty() || fraction.contains('.') {
        return None;
    }
    let seconds: u64 = if whole.is_empty() { 0 } else { whole.parse().ok()? };
    let nanos = fraction
        .bytes()
        .take(9)
        .enumerate()
        .fold(0u32, |nanos, (index, digit)| nanos + u32::from(digit - b'0') * 10u32.pow(8 - index as u32));
    Some(Duration::new(seconds, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bare_numbers_are_seconds() {
        assert_eq!(parse("10"), Ok(Duration::from_secs(10)));
        assert_eq!(parse("0.5"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("0"), Ok(Duration::ZERO));
        assert_eq!(parse(".25"), Ok(Duration::from_millis(250)));
        assert_eq!(parse("1.000000001"), Ok(Duration::new(1, 1)));
    }

    #[test]
    fn humantime_units_are_accepted() {
        assert_eq!(parse("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse("1m30s"), Ok(Duration::from_secs(90)));
    }

    #[test]
    fn typos_are_refused_with_the_text_quoted() {
        for bad in ["-1", "abc", "10x", "2 s", "", "1.2.3", ".", "inf", "1e3", "18446744073709551615s", "9999999999999"]
        {
            let err = parse(bad).expect_err(bad);
            assert!(err.contains(&format!("'{bad}'")), "{err}");
        }
    }
}
