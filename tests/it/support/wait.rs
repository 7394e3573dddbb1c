//! The one way a test waits for something: poll with a deadline (never a fixed sleep).

use std::time::{Duration, Instant};

/// How often [`wait_until`] polls.
const POLL: Duration = Duration::from_millis(20);

/// Calls `probe` every 20 ms until it returns `Ok`, and returns that value. `Err` says what it
/// saw instead; at the deadline (`within`) the test fails with `what` and the last `Err`.
pub async fn wait_until<T>(
    what: &str,
    within: Duration,
    mut probe: impl AsyncFnMut() -> Result<T, String>,
) -> T {
    let deadline = Instant::now() + within;
    loop {
        let last = match probe().await {
            Ok(v) => return v,
            Err(last) => last,
        };
        assert!(
            Instant::now() < deadline,
            "waited {within:?} in vain for {what}: {last}"
        );
        tokio::time::sleep(POLL).await;
    }
}

/// [`wait_until`] for a condition that needs no explanation when it fails.
pub async fn wait_for(what: &str, within: Duration, mut cond: impl FnMut() -> bool) {
    wait_until(what, within, async || {
        if cond() { Ok(()) } else { Err(String::new()) }
    })
    .await
}
