//! Which failures get another attempt, and when: a transient failure (a
//! mirror's 503, a dropped connection) is retried after 1 s, 2 s, 4 s...
//! until the attempts run out; anything else ends the run at once.

use std::time::Duration;

use venvkit_common::diag::Diag;

use crate::failure::Failure;

/// `attempts` in all (at least 1), the first retry after `first_delay`,
/// each later one after twice the delay before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    pub attempts: u32,
    pub first_delay: Duration,
}

impl RetryPolicy {
    /// Runs `step` until it succeeds, fails for good, or the attempts run
    /// out; waits with `sleep` (the real one, or a test's). Returns the
    /// step's value and the attempts it took.
    pub fn run<T>(
        &self,
        what: &str,
        diag: Diag,
        sleep: &mut dyn FnMut(Duration),
        mut step: impl FnMut() -> Result<T, Failure>,
    ) -> Result<(T, u32), Failure> {
        let attempts = self.attempts.max(1);
        let mut delay = self.first_delay;
        let mut attempt = 1;
        loop {
            if attempt > 1 {
                diag.info(format_args!("{what}: attempt {attempt}/{attempts}"));
            }
            match step() {
                Ok(value) => return Ok((value, attempt)),
                Err(failure) if failure.is_transient() && attempt < attempts => {
                    diag.info(format_args!("{what}: {failure}; retrying in {}", seconds(delay)));
                    sleep(delay);
                    delay = delay.saturating_mul(2);
                    attempt += 1;
                }
                Err(failure) if failure.is_transient() => {
                    return Err(Failure::GaveUp { last: Box::new(failure), attempts });
                }
                Err(failure) => return Err(failure),
            }
        }
    }
}

fn seconds(delay: Duration) -> String {
    let secs = delay.as_secs_f64();
    if secs.fract() == 0.0 {
        format!("{secs:.0}s")
    } else {
        format!("{secs}s")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venvkit_common::diag::Level;

    const QUIET: Diag = Diag::new("apt-install", Level::Quiet);

    fn policy(attempts: u32) -> RetryPolicy {
        RetryPolicy { attempts, first_delay: Duration::from_secs(1) }
    }

    fn transient() -> Failure {
        Failure::Download { reason: "503  Service Unavailable".into() }
    }

    #[test]
    fn transient_failures_are_retried_with_doubling_delays_until_success() {
        let mut slept = Vec::new();
        let mut failures_left = 2;
        let result = policy(4).run("step", QUIET, &mut |d| slept.push(d), || {
            if failures_left > 0 {
                failures_left -= 1;
                return Err(transient());
            }
            Ok("done")
        });
        assert_eq!(result, Ok(("done", 3)));
        assert_eq!(slept, [Duration::from_secs(1), Duration::from_secs(2)]);
    }

    #[test]
    fn a_permanent_failure_ends_at_once_without_waiting() {
        let mut slept = Vec::new();
        let mut calls = 0;
        let result: Result<((), u32), Failure> = policy(5).run("step", QUIET, &mut |d| slept.push(d), || {
            calls += 1;
            Err(Failure::UnknownPackage("nope".into()))
        });
        assert_eq!(result, Err(Failure::UnknownPackage("nope".into())));
        assert_eq!((calls, slept.len()), (1, 0));
    }

    #[test]
    fn the_last_transient_failure_is_reported_with_the_attempts_made() {
        let mut calls = 0;
        let result: Result<((), u32), Failure> = policy(3).run("step", QUIET, &mut |_| {}, || {
            calls += 1;
            Err(transient())
        });
        assert_eq!(calls, 3);
        let failure = result.unwrap_err();
        assert_eq!(failure, Failure::GaveUp { last: Box::new(transient()), attempts: 3 });
        assert_eq!(failure.to_string(), "download failed: 503  Service Unavailable (gave up after 3 attempts)");
    }
}
