//! An adaptive concurrency window: a semaphore whose size follows AIMD between 1 and the
//! configured `concurrency`. A 429 caused by too many requests in flight looks the same as one
//! caused by too many per second, so the limiter narrows both; this half keeps the rate from
//! collapsing when the tenant's real limit is concurrent requests.
//!
//! Narrowing forgets idle permits at once; permits in use are forgotten as they come back
//! (`debt`), so the window never has more requests in flight than its current width for long.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

#[derive(Debug)]
struct WindowState {
    width: usize,
    /// Permits to forget when they come back (the window was narrowed while they were in use).
    debt: usize,
    successes: usize,
}

#[derive(Debug)]
pub(crate) struct Window {
    max: usize,
    semaphore: Arc<Semaphore>,
    state: Mutex<WindowState>,
}

/// One place in the window; gives it back (or retires it) on drop.
#[derive(Debug)]
pub struct WindowPermit {
    permit: Option<OwnedSemaphorePermit>,
    window: Arc<Window>,
}

impl Drop for WindowPermit {
    fn drop(&mut self) {
        let mut s = self.window.lock();
        if let Some(p) = self.permit.take() {
            if s.debt > 0 {
                s.debt -= 1;
                p.forget();
            } else {
                drop(p);
            }
        }
    }
}

impl Window {
    pub fn new(max: usize) -> Arc<Self> {
        let max = max.max(1);
        Arc::new(Self {
            max,
            semaphore: Arc::new(Semaphore::new(max)),
            state: Mutex::new(WindowState {
                width: max,
                debt: 0,
                successes: 0,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, WindowState> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn width(&self) -> usize {
        self.lock().width
    }

    pub async fn acquire(self: &Arc<Self>) -> WindowPermit {
        // The semaphore is owned here and never closed, so acquiring cannot fail.
        #[allow(clippy::expect_used)]
        let permit = self
            .semaphore
            .clone()
            .acquire_owned()
            .await
            .expect("the window's semaphore is never closed");
        WindowPermit {
            permit: Some(permit),
            window: self.clone(),
        }
    }

    /// Halve the width (at least 1).
    pub fn narrow(&self) {
        let mut s = self.lock();
        let target = (s.width / 2).max(1);
        let remove = s.width - target;
        let forgotten = self.semaphore.forget_permits(remove);
        s.debt += remove - forgotten;
        s.width = target;
        s.successes = 0;
    }

    /// One success; widen by one after a window's worth of them, never above the setting.
    pub fn on_success(&self) {
        let mut s = self.lock();
        if s.width >= self.max {
            return;
        }
        s.successes += 1;
        if s.successes >= s.width {
            s.successes = 0;
            s.width += 1;
            if s.debt > 0 {
                s.debt -= 1;
            } else {
                self.semaphore.add_permits(1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    async fn in_flight_limit(w: &Arc<Window>, try_n: usize) -> usize {
        let mut held = vec![];
        for _ in 0..try_n {
            match tokio::time::timeout(Duration::from_millis(10), w.acquire()).await {
                Ok(p) => held.push(p),
                Err(_) => break,
            }
        }
        held.len()
    }

    #[tokio::test(start_paused = true)]
    async fn narrowing_with_permits_in_use_takes_effect_as_they_return() {
        let w = Window::new(8);
        let held: Vec<WindowPermit> = futures::future::join_all((0..8).map(|_| w.acquire())).await;
        w.narrow();
        assert_eq!(w.width(), 4);
        drop(held);
        assert_eq!(
            in_flight_limit(&w, 20).await,
            4,
            "only 4 in flight after narrowing"
        );
        w.narrow();
        w.narrow();
        w.narrow();
        assert_eq!(w.width(), 1);
        assert_eq!(in_flight_limit(&w, 20).await, 1);
        // Widen back: one step per window's worth of successes, capped at the setting.
        for _ in 0..200 {
            w.on_success();
        }
        assert_eq!(w.width(), 8);
        assert_eq!(in_flight_limit(&w, 20).await, 8, "never above the setting");
    }

    #[tokio::test(start_paused = true)]
    async fn widening_pays_debt_before_adding_permits() {
        let w = Window::new(4);
        let held: Vec<WindowPermit> = futures::future::join_all((0..4).map(|_| w.acquire())).await;
        w.narrow(); // width 2, debt 2 (all permits in use)
        w.on_success();
        w.on_success(); // width 3: one debt forgiven instead of a new permit
        assert_eq!(w.width(), 3);
        drop(held); // 4 return, 1 retired
        assert_eq!(in_flight_limit(&w, 10).await, 3);
    }
}
