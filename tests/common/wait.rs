//! Waiting for something to happen: every test polls the condition it waits for through
//! these, with a deadline, instead of sleeping a fixed time and hoping it was long enough.

use std::future::Future;
use std::time::{Duration, Instant};

/// How often a condition is checked again.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Reads `probe` until `done` holds for the reading or `within` has passed, and returns the
/// last reading: the caller asserts on it, so a timeout fails with the caller's message.
pub async fn poll_until<T, Probe, Reading>(within: Duration, mut probe: Probe, done: impl Fn(&T) -> bool) -> T
where
    Probe: FnMut() -> Reading,
    Reading: Future<Output = T>,
{
    let deadline = Instant::now() + within;
    loop {
        let reading = probe().await;
        if done(&reading) || Instant::now() >= deadline {
            return reading;
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Waits until `condition` holds or `within` has passed; returns whether it held.
pub async fn wait_until<Condition, Check>(within: Duration, condition: Condition) -> bool
where
    Condition: FnMut() -> Check,
    Check: Future<Output = bool>,
{
    poll_until(within, condition, |held| *held).await
}

/// [`wait_until`] for code off the async runtime (a child process to finish, say).
pub fn wait_until_blocking(within: Duration, mut condition: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + within;
    loop {
        if condition() {
            return true;
        }
        if Instant::now() >= deadline {
            return false;
        }
        std::thread::sleep(POLL_INTERVAL);
    }
}
