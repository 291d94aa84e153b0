//! Exit codes shared by every tool (see the README's table).

/// The job was done.
pub const SUCCESS: i32 = 0;
/// The job failed for a reason the message names.
pub const FAILURE: i32 = 1;
/// Usage or configuration error, detected before any side effect.
pub const USAGE: i32 = 2;
/// A time limit ran out, as `timeout(1)` reports it.
pub const TIMEOUT: i32 = 124;
/// The command to run exists but cannot be executed.
pub const NOT_EXECUTABLE: i32 = 126;
/// The command to run (or its interpreter) was not found.
pub const NOT_FOUND: i32 = 127;

/// The status a shell reports for a process killed by `signal`.
pub fn for_signal(signal: i32) -> i32 {
    128 + signal
}
