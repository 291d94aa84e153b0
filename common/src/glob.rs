//! fnmatch(3) without flags, for ld.so.conf's `include` globs, exclusions
//! of paths (where `*` matches `/` too, as dpkg's `path-exclude` does) and
//! sonames.

/// fnmatch(3) without FNM_PATHNAME: `*`, `?` and `[...]` (with `!`/`^`);
/// `*` matches any bytes, `/` included.
pub fn glob_match(pattern: &[u8], text: &[u8]) -> bool {
    match (pattern.first(), text.first()) {
        (None, None) => true,
        (Some(b'*'), _) => glob_match(&pattern[1..], text) || (!text.is_empty() && glob_match(pattern, &text[1..])),
        (Some(b'?'), Some(_)) => glob_match(&pattern[1..], &text[1..]),
        (Some(b'['), Some(&c)) => match class_end(pattern) {
            Some(end) => class_matches(&pattern[1..end], c) && glob_match(&pattern[end + 1..], &text[1..]),
            None => c == b'[' && glob_match(&pattern[1..], &text[1..]),
        },
        (Some(p), Some(t)) => p == t && glob_match(&pattern[1..], &text[1..]),
        _ => false,
    }
}

/// Where a `[...]` class ends; a `]` right after `[` or `[!` is literal.
fn class_end(pattern: &[u8]) -> Option<usize> {
    let start = if matches!(pattern.get(1), Some(b'!' | b'^')) { 2 } else { 1 };
    (start + 1..pattern.len()).find(|&i| pattern[i] == b']')
}

fn class_matches(class: &[u8], c: u8) -> bool {
    let (negated, class) = match class.first() {
        Some(b'!' | b'^') => (true, &class[1..]),
        _ => (false, class),
    };
    let mut matched = false;
    let mut i = 0;
    while i < class.len() {
        if i + 2 < class.len() && class[i + 1] == b'-' {
            matched |= (class[i]..=class[i + 2]).contains(&c);
            i += 3;
        } else {
            matched |= class[i] == c;
            i += 1;
        }
    }
    matched != negated
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_fnmatch() {
        assert!(glob_match(b"*.conf", b"x86_64-linux-gnu.conf"));
        assert!(!glob_match(b"*.conf", b"notes.txt"));
        assert!(glob_match(b"lib?.so", b"libz.so"));
        assert!(glob_match(b"[a-c]*.conf", b"b.conf"));
        assert!(!glob_match(b"[!a-c]*.conf", b"b.conf"));
        assert!(glob_match(b"*", b""));
    }

    #[test]
    fn star_crosses_slashes_as_in_dpkg_path_excludes() {
        assert!(glob_match(b"/usr/share/doc/*", b"/usr/share/doc/libc6/copyright"));
        assert!(glob_match(b"*/django/contrib/gis/*", b"/venv/lib/django/contrib/gis/geos/libgeos.py"));
        assert!(!glob_match(b"/usr/share/doc/*", b"/usr/share/docs"));
    }
}
