//! The concurrent loop: one task per target, each probing on its own
//! schedule, all bounded by one wall-clock deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use venvkit_common::diag::Diag;

use crate::probe::Prober;
use crate::target::Target;

/// What counts as done for a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// It accepts a connection.
    Open,
    /// It refuses, times out, or cannot be reached (`--closed`).
    Closed,
}

#[derive(Clone, Copy, Debug)]
pub struct Settings {
    /// None waits forever (`--timeout 0`).
    pub deadline: Option<Instant>,
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub want: Want,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    /// The targets still not done, each with why its last attempt failed.
    TimedOut(Vec<(String, String)>),
}

/// Each target's latest failure, read when the deadline passes.
type LastErrors = Arc<Mutex<Vec<Option<String>>>>;

pub async fn wait_all(targets: &[Target], settings: Settings, diag: Diag) -> Outcome {
    let last_errors: LastErrors = Arc::new(Mutex::new(vec![Some("not tried yet".into()); targets.len()]));
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().enumerate() {
        let errors = Arc::clone(&last_errors);
        tasks.spawn(until_done(target.clone(), settings, diag, move |error| {
            errors.lock().unwrap_or_else(|poison| poison.into_inner())[index] = error;
        }));
    }
    let all_done = async { while tasks.join_next().await.is_some() {} };
    let deadline = async {
        match settings.deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        () = all_done => Outcome::Ready,
        () = deadline => {
            let errors = last_errors.lock().unwrap_or_else(|poison| poison.into_inner());
            let unready = targets
                .iter()
                .zip(errors.iter())
                .filter_map(|(target, error)| error.as_ref().map(|e| (target.to_string(), e.clone())))
                .collect();
            Outcome::TimedOut(unready)
        }
    }
}

async fn until_done(target: Target, settings: Settings, diag: Diag, report: impl Fn(Option<String>)) {
    let started = Instant::now();
    let mut prober = Prober::default();
    for attempt in 1u64.. {
        let begun = Instant::now();
        let limit = match settings.deadline {
            Some(deadline) => settings.connect_timeout.min(deadline.saturating_duration_since(begun)),
            None => settings.connect_timeout,
        };
        let result = prober.attempt(&target.endpoint, limit).await;
        let failure = match (settings.want, result) {
            (Want::Open, Ok(())) => None,
            (Want::Open, Err(why)) => Some(why.to_string()),
            (Want::Closed, Ok(())) => Some("still accepting connections".to_string()),
            (Want::Closed, Err(_)) => None,
        };
        let Some(failure) = failure else {
            report(None);
            let state = if settings.want == Want::Open { "ready" } else { "closed" };
            let after = started.elapsed().as_secs_f64();
            diag.info(format_args!("{target} is {state} after {after:.2}s ({attempt} attempts)"));
            return;
        };
        diag.verbose(format_args!("{target}: {failure} (attempt {attempt})"));
        report(Some(failure));
        tokio::time::sleep_until(begun + settings.interval).await;
    }
}
