//! The concurrent loop: one task per target, each probing on its own
//! schedule, all bounded by one wall-clock deadline.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::task::JoinSet;
use tokio::time::Instant;
use venvkit_common::diag::Diag;

use crate::probe::{Failure, Phase, Prober};
use crate::protocol::StatusRanges;
use crate::target::Target;

/// What counts as done for a target.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Want {
    /// It accepts a connection.
    Open,
    /// It refuses, times out, or cannot be reached (`--closed`).
    Closed,
}

#[derive(Clone, Debug)]
pub struct Settings {
    /// None waits forever (`--timeout 0`).
    pub deadline: Option<Instant>,
    pub interval: Duration,
    pub connect_timeout: Duration,
    pub want: Want,
    /// One attempt at each target, then the outcome (docker-compose-wait's
    /// WAIT_TIMEOUT=0, and --once).
    pub single_round: bool,
    /// HTTP status codes that count as ready.
    pub accepted: StatusRanges,
}

#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    Ready,
    /// A target's task failed unexpectedly: never counted as ready.
    Broken(String),
    /// The targets still not done, each with why its last attempt failed.
    TimedOut(Vec<(String, String)>),
}

/// Where a target stands, read when the deadline passes.
#[derive(Default)]
struct Status {
    done: bool,
    last_failure: Option<String>,
    phase: Phase,
}

impl Status {
    fn unready_because(&self) -> Option<String> {
        match (&self.last_failure, self.done) {
            (_, true) => None,
            (Some(failure), false) => Some(failure.clone()),
            (None, false) => Some(self.phase.describe().to_string()),
        }
    }
}

type Statuses = Arc<Mutex<Vec<Status>>>;

pub async fn wait_all(targets: &[Target], settings: Settings, diag: Diag) -> Outcome {
    let statuses: Statuses = Arc::new(Mutex::new(targets.iter().map(|_| Status::default()).collect()));
    let mut tasks = JoinSet::new();
    for (index, target) in targets.iter().enumerate() {
        let statuses = Arc::clone(&statuses);
        let phase = lock(&statuses)[index].phase.clone();
        tasks.spawn(until_done(target.clone(), settings.clone(), diag, Prober::new(phase), move |failure| {
            let status = &mut lock(&statuses)[index];
            status.done = failure.is_none();
            status.last_failure = failure;
        }));
    }
    let unready = |statuses: &Statuses| -> Vec<(String, String)> {
        let statuses = lock(statuses);
        targets
            .iter()
            .zip(statuses.iter())
            .filter_map(|(target, status)| status.unready_because().map(|why| (target.to_string(), why)))
            .collect()
    };
    let all_done = async {
        while let Some(finished) = tasks.join_next().await {
            if let Err(err) = finished {
                return Outcome::Broken(err.to_string());
            }
        }
        // Every task ends once its target is ready, or after its one
        // attempt in a single round.
        match unready(&statuses) {
            unready if unready.is_empty() => Outcome::Ready,
            unready => Outcome::TimedOut(unready),
        }
    };
    let deadline = async {
        match settings.deadline {
            Some(deadline) => tokio::time::sleep_until(deadline).await,
            None => std::future::pending().await,
        }
    };
    tokio::select! {
        outcome = all_done => outcome,
        () = deadline => Outcome::TimedOut(unready(&statuses)),
    }
}

fn lock(statuses: &Statuses) -> std::sync::MutexGuard<'_, Vec<Status>> {
    // A panicking task cannot leave a Status half-written: plain assignments.
    statuses.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Bounds the tasks and sockets of one target when the interval is far
/// shorter than the connect timeout (or zero).
const MAX_OVERLAPPING_ATTEMPTS: usize = 16;

/// Starts an attempt every interval, each bounded by the connect timeout,
/// without waiting for the previous one: a SYN-dropping or resolver-stuck
/// attempt cannot delay noticing that the target came up meanwhile.
async fn until_done(target: Target, settings: Settings, diag: Diag, prober: Prober, report: impl Fn(Option<String>)) {
    let started = Instant::now();
    let target = std::sync::Arc::new(target);
    let accepted = Arc::new(settings.accepted.clone());
    let mut running = JoinSet::new();
    let mut next_start = started;
    let mut started_attempts = 0u64;
    loop {
        tokio::select! {
            () = tokio::time::sleep_until(next_start),
                if running.len() < MAX_OVERLAPPING_ATTEMPTS && !(settings.single_round && started_attempts > 0) => {
                started_attempts += 1;
                let now = Instant::now();
                let limit = match settings.deadline {
                    Some(deadline) => settings.connect_timeout.min(deadline.saturating_duration_since(now)),
                    None => settings.connect_timeout,
                };
                let (prober, target, attempt) = (prober.clone(), Arc::clone(&target), started_attempts);
                let accepted = Arc::clone(&accepted);
                running.spawn(async move { (attempt, prober.attempt(&target, &accepted, limit).await) });
                next_start = now + settings.interval;
            }
            Some(Ok((attempt, result))) = running.join_next() => {
                let failure = match (settings.want, result) {
                    (Want::Open, Ok(())) => None,
                    (Want::Open, Err(why)) => Some(why.to_string()),
                    (Want::Closed, Ok(()) | Err(Failure::NotReady(_))) => {
                        Some("still accepting connections".to_string())
                    }
                    // A name that does not resolve says nothing about the port.
                    (Want::Closed, Err(why @ Failure::Dns(_))) => Some(why.to_string()),
                    (Want::Closed, Err(_)) => None,
                };
                let Some(failure) = failure else {
                    report(None);
                    let state = if settings.want == Want::Open { "ready" } else { "closed" };
                    let after = started.elapsed().as_secs_f64();
                    let attempts = if attempt == 1 { "1 attempt".to_string() } else { format!("{attempt} attempts") };
                    diag.info(format_args!("{target} is {state} after {after:.2}s ({attempts})"));
                    return;
                };
                diag.verbose(format_args!("{target}: {failure} (attempt {attempt})"));
                report(Some(failure));
                if settings.single_round {
                    return;
                }
            }
        }
    }
}
