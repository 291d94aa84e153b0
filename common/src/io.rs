//! I/O errors as a user reads them: the system's words for the error, not
//! Rust's `(os error 2)` after them.

/// `No such file or directory` for ENOENT; other errors as they display.
pub fn plain(err: &std::io::Error) -> String {
    match err.raw_os_error() {
        Some(code) => nix::errno::Errno::from_raw(code).desc().to_string(),
        None => err.to_string(),
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn os_errors_lose_rusts_suffix() {
        let err = std::fs::read("/nonexistent/venvkit").unwrap_err();
        assert_eq!(super::plain(&err), "No such file or directory");
    }
}
