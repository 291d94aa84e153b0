//! Debian version ordering (deb-version(7)): epoch, then upstream version
//! and revision compared by dpkg's rules, where `~` sorts before anything,
//! even the end of the string.

use std::cmp::Ordering;

/// Compares two Debian versions as `dpkg --compare-versions` does.
pub fn compare(a: &str, b: &str) -> Ordering {
    let (epoch_a, rest_a) = split_epoch(a);
    let (epoch_b, rest_b) = split_epoch(b);
    epoch_a.cmp(&epoch_b).then_with(|| {
        let (upstream_a, revision_a) = split_revision(rest_a);
        let (upstream_b, revision_b) = split_revision(rest_b);
        compare_part(upstream_a, upstream_b).then_with(|| compare_part(revision_a, revision_b))
    })
}

fn split_epoch(version: &str) -> (u64, &str) {
    match version.split_once(':') {
        Some((epoch, rest)) if epoch.bytes().all(|b| b.is_ascii_digit()) => (epoch.parse().unwrap_or(0), rest),
        _ => (0, version),
    }
}

fn split_revision(version: &str) -> (&str, &str) {
    version.rsplit_once('-').unwrap_or((version, ""))
}

/// Letters sort before non-letters, `~` before everything, the end of the
/// string after `~` only.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(b'~') => -1,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => i32::from(c),
        Some(c) => i32::from(c) + 256,
    }
}

fn compare_part(a: &str, b: &str) -> Ordering {
    let (a, b) = (a.as_bytes(), b.as_bytes());
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while (i < a.len() && !a[i].is_ascii_digit()) || (j < b.len() && !b[j].is_ascii_digit()) {
            let (x, y) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if x != y {
                return x.cmp(&y);
            }
            i += 1;
            j += 1;
        }
        while i < a.len() && a[i] == b'0' {
            i += 1;
        }
        while j < b.len() && b[j] == b'0' {
            j += 1;
        }
        let mut first_difference = Ordering::Equal;
        while i < a.len() && a[i].is_ascii_digit() && j < b.len() && b[j].is_ascii_digit() {
            if first_difference == Ordering::Equal {
                first_difference = a[i].cmp(&b[j]);
            }
            i += 1;
            j += 1;
        }
        if i < a.len() && a[i].is_ascii_digit() {
            return Ordering::Greater;
        }
        if j < b.len() && b[j].is_ascii_digit() {
            return Ordering::Less;
        }
        if first_difference != Ordering::Equal {
            return first_difference;
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;
    use Ordering::*;

    #[test]
    fn versions_order_as_dpkg_orders_them() {
        for (a, b, expected) in [
            ("2.34", "2.2.5", Greater),
            ("1:1.1.4", "1.2.13", Greater),
            ("10~~", "10", Less),
            ("10~~", "9.1~", Greater),
            ("1.0~rc1", "1.0", Less),
            ("1.0-1", "1.0-1", Equal),
            ("1.0a", "1.0", Greater),
            ("1.0+b1", "1.0", Greater),
            ("2.36-9+deb12u4", "2.36-9+deb12u10", Less),
            ("0", "", Equal),
        ] {
            assert_eq!(compare(a, b), expected, "{a} vs {b}");
        }
    }
}
