//! Riding out a storage outage: [`OutageStore`] wraps a remote object store and, when a call
//! fails in a way that looks transient (the endpoint refuses or drops connections, times out,
//! or answers 5xx), waits and tries again, until the store answers or the outage has lasted
//! `max_wait` (`[repository] outage_wait_secs`). A backup therefore pauses while the storage
//! is away and goes on where it was when it is back; its uploads hold its downloads back
//! (bounded buffers), so nothing piles up meanwhile.
//!
//! The wait is reported: a warning when it starts and every [`LOG_EVERY`], one line when the
//! store answers again, and [`status`] (process-wide: every store of the process shares it) for
//! progress lines and job records.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::path::Path;
use object_store::{
    CopyOptions, GetOptions, GetResult, ListResult, MultipartUpload, ObjectMeta, ObjectStore,
    PutMultipartOptions, PutOptions, PutPayload, PutResult, RenameOptions, Result,
};

/// Default of `[repository] outage_wait_secs`.
pub const DEFAULT_OUTAGE_WAIT: Duration = Duration::from_secs(600);
/// Waits between attempts grow from this …
const FIRST_WAIT: Duration = Duration::from_millis(500);
/// … up to this.
const LONGEST_WAIT: Duration = Duration::from_secs(5);
/// A waiting call logs at most this often.
pub const LOG_EVERY: Duration = Duration::from_secs(30);

/// Whether a storage error looks transient: a connection refused, reset or timed out, or a 5xx
/// answer (object_store's own retries have already run out when it gets here).
pub fn is_transient(e: &object_store::Error) -> bool {
    let object_store::Error::Generic { source, .. } = e else {
        return false;
    };
    let mut cur: Option<&(dyn std::error::Error + 'static)> = Some(source.as_ref());
    while let Some(c) = cur {
        // The Object Lock calls go through aws-sdk-s3 (`LockedStore`).
        if let Some(e) = c.downcast_ref::<crate::repo::s3_native::S3Error>() {
            return e.is_transient();
        }
        if let Some(h) = c.downcast_ref::<object_store::client::HttpError>() {
            use object_store::client::HttpErrorKind as K;
            return matches!(
                h.kind(),
                K::Connect | K::Request | K::Timeout | K::Interrupted
            );
        }
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            use std::io::ErrorKind as K;
            if matches!(
                io.kind(),
                K::ConnectionRefused
                    | K::ConnectionReset
                    | K::ConnectionAborted
                    | K::NotConnected
                    | K::TimedOut
                    | K::BrokenPipe
            ) {
                return true;
            }
        }
        // object_store's retry error is not public; its text names the status it got.
        let text = c.to_string();
        if let Some(rest) = text.split("status code: ").nth(1)
            && rest.starts_with('5')
        {
            return true;
        }
        cur = c.source();
    }
    false
}

/// The process's storage outage, as the waiting calls see it.
#[derive(Debug, Default)]
pub struct OutageStatus {
    /// Calls waiting for the store now.
    waiting: AtomicU64,
    /// When the current outage began (ms since the epoch; 0: none).
    since_ms: AtomicU64,
    /// Outages ridden out (the store answered again).
    outages: AtomicU64,
    /// Milliseconds spent in outages that ended.
    waited_ms: AtomicU64,
}

/// A copy of [`OutageStatus`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutageReport {
    /// Seconds the current outage has lasted (0: the store answers).
    pub waiting_secs: u64,
    pub outages: u64,
    pub waited_secs: u64,
}

static STATUS: OutageStatus = OutageStatus {
    waiting: AtomicU64::new(0),
    since_ms: AtomicU64::new(0),
    outages: AtomicU64::new(0),
    waited_ms: AtomicU64::new(0),
};

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// The process's storage outage now.
pub fn status() -> OutageReport {
    let since = STATUS.since_ms.load(Ordering::Relaxed);
    OutageReport {
        waiting_secs: if since == 0 {
            0
        } else {
            now_ms().saturating_sub(since) / 1000
        },
        outages: STATUS.outages.load(Ordering::Relaxed),
        waited_secs: STATUS.waited_ms.load(Ordering::Relaxed) / 1000,
    }
}

impl OutageStatus {
    /// A call starts waiting; returns when the outage began (ms).
    fn enter(&self) -> u64 {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let now = now_ms();
        match self
            .since_ms
            .compare_exchange(0, now, Ordering::SeqCst, Ordering::SeqCst)
        {
            Ok(_) => now,
            Err(earlier) => earlier,
        }
    }

    /// A waiting call is done (the store answered, or it gave up).
    fn leave(&self, answered: bool) {
        if self.waiting.fetch_sub(1, Ordering::SeqCst) == 1 {
            let since = self.since_ms.swap(0, Ordering::SeqCst);
            if since != 0 && answered {
                self.outages.fetch_add(1, Ordering::Relaxed);
                self.waited_ms
                    .fetch_add(now_ms().saturating_sub(since), Ordering::Relaxed);
            }
        }
    }
}

/// One call's part in an outage: entered when it first meets a transient error, left when
/// dropped (also when the call is abandoned mid-wait), as answered or not.
struct Waiting {
    since_ms: u64,
    started: Instant,
    answered: bool,
}

impl Waiting {
    fn enter() -> Self {
        Self {
            since_ms: STATUS.enter(),
            started: Instant::now(),
            answered: false,
        }
    }

    /// How long the outage has lasted for this call.
    fn lasted(&self) -> Duration {
        Duration::from_millis(now_ms().saturating_sub(self.since_ms)).max(self.started.elapsed())
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        STATUS.leave(self.answered);
    }
}

/// An object store that waits out outages of `inner` (see the module docs).
#[derive(Debug)]
pub struct OutageStore<T: ObjectStore> {
    inner: Arc<T>,
    max_wait: Duration,
}

impl<T: ObjectStore> OutageStore<T> {
    pub fn new(inner: T, max_wait: Duration) -> Self {
        Self {
            inner: Arc::new(inner),
            max_wait,
        }
    }
}

impl<T: ObjectStore> std::fmt::Display for OutageStore<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.inner.fmt(f)
    }
}

/// Runs `op` until it succeeds, fails for good, or the outage has lasted `max_wait`.
async fn patiently<T, F, Fut>(max_wait: Duration, what: &str, mut op: F) -> Result<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T>>,
{
    let mut waiting: Option<Waiting> = None;
    let mut pause = FIRST_WAIT;
    let mut last_log: Option<Instant> = None;
    loop {
        let result = op().await;
        match result {
            Err(e) if !max_wait.is_zero() && is_transient(&e) => {
                let lasted = waiting.get_or_insert_with(Waiting::enter).lasted();
                if lasted >= max_wait {
                    tracing::error!(
                        operation = what,
                        waited_s = lasted.as_secs(),
                        max_wait_s = max_wait.as_secs(),
                        "storage still unreachable; giving up (repository.outage_wait_secs)"
                    );
                    return Err(e);
                }
                if last_log.is_none_or(|t| t.elapsed() >= LOG_EVERY) {
                    last_log = Some(Instant::now());
                    tracing::warn!(
                        operation = what,
                        waited_s = lasted.as_secs(),
                        max_wait_s = max_wait.as_secs(),
                        error = %crate::repo::error_chain(&e),
                        "storage unreachable; waiting for it to come back"
                    );
                }
                tokio::time::sleep(pause.min(max_wait - lasted)).await;
                pause = (pause * 2).min(LONGEST_WAIT);
            }
            r => {
                if let Some(mut w) = waiting.take() {
                    w.answered = true;
                    tracing::info!(
                        operation = what,
                        waited_s = w.started.elapsed().as_secs(),
                        "storage reachable again; going on"
                    );
                }
                return r;
            }
        }
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl<T: ObjectStore> ObjectStore for OutageStore<T> {
    async fn put_opts(
        &self,
        location: &Path,
        payload: PutPayload,
        opts: PutOptions,
    ) -> Result<PutResult> {
        patiently(self.max_wait, "put", || {
            self.inner.put_opts(location, payload.clone(), opts.clone())
        })
        .await
    }

    async fn put_multipart_opts(
        &self,
        location: &Path,
        opts: PutMultipartOptions,
    ) -> Result<Box<dyn MultipartUpload>> {
        patiently(self.max_wait, "multipart put", || {
            self.inner.put_multipart_opts(location, opts.clone())
        })
        .await
    }

    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        patiently(self.max_wait, "get", || {
            self.inner.get_opts(location, options.clone())
        })
        .await
    }

    async fn get_ranges(&self, location: &Path, ranges: &[Range<u64>]) -> Result<Vec<Bytes>> {
        patiently(self.max_wait, "get ranges", || {
            self.inner.get_ranges(location, ranges)
        })
        .await
    }

    fn delete_stream(
        &self,
        locations: BoxStream<'static, Result<Path>>,
    ) -> BoxStream<'static, Result<Path>> {
        let inner = self.inner.clone();
        let max_wait = self.max_wait;
        locations
            .then(move |p| {
                let inner = inner.clone();
                async move {
                    let p = p?;
                    patiently(max_wait, "delete", || {
                        let (inner, p) = (inner.clone(), p.clone());
                        async move {
                            let one = futures::stream::once(futures::future::ready(Ok(p.clone())));
                            let mut out = inner.delete_stream(one.boxed());
                            match out.next().await {
                                Some(r) => r,
                                None => Ok(p),
                            }
                        }
                    })
                    .await
                }
            })
            .boxed()
    }

    fn list(&self, prefix: Option<&Path>) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_from(prefix.cloned(), None)
    }

    fn list_with_offset(
        &self,
        prefix: Option<&Path>,
        offset: &Path,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        self.list_from(prefix.cloned(), Some(offset.clone()))
    }

    async fn list_with_delimiter(&self, prefix: Option<&Path>) -> Result<ListResult> {
        patiently(self.max_wait, "list", || {
            self.inner.list_with_delimiter(prefix)
        })
        .await
    }

    async fn copy_opts(&self, from: &Path, to: &Path, options: CopyOptions) -> Result<()> {
        patiently(self.max_wait, "copy", || {
            self.inner.copy_opts(from, to, options.clone())
        })
        .await
    }

    async fn rename_opts(&self, from: &Path, to: &Path, options: RenameOptions) -> Result<()> {
        patiently(self.max_wait, "rename", || {
            self.inner.rename_opts(from, to, options.clone())
        })
        .await
    }
}

impl<T: ObjectStore> OutageStore<T> {
    /// A listing that, when the store goes away mid-way, waits and goes on after the last
    /// object it yielded (a listing's order is by key on S3 and the offset is exclusive).
    fn list_from(
        &self,
        prefix: Option<Path>,
        offset: Option<Path>,
    ) -> BoxStream<'static, Result<ObjectMeta>> {
        let inner = self.inner.clone();
        let max_wait = self.max_wait;
        struct St<T: ObjectStore> {
            inner: Arc<T>,
            prefix: Option<Path>,
            last: Option<Path>,
            stream: Option<BoxStream<'static, Result<ObjectMeta>>>,
            waiting: Option<Waiting>,
            pause: Duration,
            done: bool,
        }
        let st = St {
            inner,
            prefix,
            last: offset,
            stream: None,
            waiting: None,
            pause: FIRST_WAIT,
            done: false,
        };
        futures::stream::unfold(st, move |mut st| async move {
            if st.done {
                return None;
            }
            loop {
                let stream = st.stream.get_or_insert_with(|| match &st.last {
                    Some(off) => st.inner.list_with_offset(st.prefix.as_ref(), off),
                    None => st.inner.list(st.prefix.as_ref()),
                });
                match stream.next().await {
                    None => {
                        if let Some(mut w) = st.waiting.take() {
                            w.answered = true;
                        }
                        return None;
                    }
                    Some(Ok(meta)) => {
                        if let Some(mut w) = st.waiting.take() {
                            w.answered = true;
                            tracing::info!(
                                operation = "list",
                                waited_s = w.started.elapsed().as_secs(),
                                "storage reachable again; going on"
                            );
                        }
                        st.pause = FIRST_WAIT;
                        st.last = Some(meta.location.clone());
                        return Some((Ok(meta), st));
                    }
                    Some(Err(e)) if !max_wait.is_zero() && is_transient(&e) => {
                        let lasted = st.waiting.get_or_insert_with(Waiting::enter).lasted();
                        if lasted >= max_wait {
                            st.waiting = None;
                            st.done = true;
                            return Some((Err(e), st));
                        }
                        tracing::warn!(
                            operation = "list",
                            waited_s = lasted.as_secs(),
                            max_wait_s = max_wait.as_secs(),
                            error = %crate::repo::error_chain(&e),
                            "storage unreachable; waiting for it to come back"
                        );
                        st.stream = None;
                        tokio::time::sleep(st.pause.min(max_wait - lasted)).await;
                        st.pause = (st.pause * 2).min(LONGEST_WAIT);
                    }
                    Some(Err(e)) => {
                        st.waiting = None;
                        st.done = true;
                        return Some((Err(e), st));
                    }
                }
            }
        })
        .boxed()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn generic(source: Box<dyn std::error::Error + Send + Sync>) -> object_store::Error {
        object_store::Error::Generic {
            store: "S3",
            source,
        }
    }

    #[test]
    fn transient_errors_are_told_from_the_rest() {
        let refused = std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "refused");
        assert!(is_transient(&generic(Box::new(refused))));
        let text = "Error performing PUT in 1s - Server returned non-2xx status code: 503 Service Unavailable: ";
        assert!(is_transient(&generic(text.into())));
        let text = "Server returned non-2xx status code: 400 Bad Request: ";
        assert!(!is_transient(&generic(text.into())));
        assert!(!is_transient(&object_store::Error::NotFound {
            path: "x".into(),
            source: "gone".into()
        }));
        let denied = std::io::Error::new(std::io::ErrorKind::PermissionDenied, "no");
        assert!(!is_transient(&generic(Box::new(denied))));
    }
}
