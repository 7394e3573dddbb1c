//! `GET /metrics`: Prometheus text exposition (format 0.0.4), encoded by the `prometheus`
//! crate. Job counts and the last success per library come from the catalog (they survive
//! restarts); bytes, requests and durations are counted by this process.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use prometheus::core::Collector;
use prometheus::{Encoder as _, GaugeVec, IntCounter, IntGauge, IntGaugeVec, Opts, Registry};

use super::AppState;
use crate::catalog::{JobKind, JobState};

/// What one scrape shows.
#[derive(Debug, Default)]
pub struct Figures {
    pub jobs: Vec<(JobKind, JobState, u64)>,
    pub running: u64,
    /// Bytes read from iManage: by finished jobs plus those running now.
    pub bytes_read: u64,
    /// New bytes stored by finished jobs.
    pub bytes_stored: u64,
    pub requests: u64,
    pub throttled: u64,
    pub retries: u64,
    /// Newest snapshot time per library, seconds since the epoch.
    pub last_success: BTreeMap<String, f64>,
    pub start_time: f64,
    pub signed_in: bool,
    /// Audit records this daemon could not write (each refused an action or left an outcome
    /// unrecorded).
    pub audit_write_failures: u64,
    /// Times `/readyz` opened the repository (its result is kept, see [`super::readiness`]).
    pub readyz_repository_checks: u64,
    /// Finished jobs' durations by kind (the daemon's histogram).
    pub durations: Option<prometheus::HistogramVec>,
}

/// The kinds of job the daemon runs: their counts are shown even when zero.
const DAEMON_KINDS: [JobKind; 4] = [
    JobKind::Backup,
    JobKind::Restore,
    JobKind::Verify,
    JobKind::Maintenance,
];

fn register(r: &Registry, c: impl Collector + 'static) -> prometheus::Result<()> {
    r.register(Box::new(c))
}

fn int_gauge(r: &Registry, name: &str, help: &str, v: u64) -> prometheus::Result<()> {
    let g = IntGauge::new(name, help)?;
    g.set(i64::try_from(v).unwrap_or(i64::MAX));
    register(r, g)
}

fn int_counter(r: &Registry, name: &str, help: &str, v: u64) -> prometheus::Result<()> {
    let c = IntCounter::new(name, help)?;
    c.inc_by(v);
    register(r, c)
}

/// The registry of one scrape.
fn registry(f: &Figures) -> prometheus::Result<Registry> {
    let r = Registry::new();
    let jobs = IntGaugeVec::new(
        Opts::new("imvault_jobs", "Jobs in the queue by kind and state."),
        &["kind", "state"],
    )?;
    for kind in JobKind::ALL {
        for state in JobState::ALL {
            let n = f
                .jobs
                .iter()
                .find(|(k, s, _)| k == kind && s == state)
                .map_or(0, |x| x.2);
            if n > 0 || DAEMON_KINDS.contains(kind) {
                jobs.with_label_values(&[kind.as_str(), state.as_str()])
                    .set(i64::try_from(n).unwrap_or(i64::MAX));
            }
        }
    }
    register(&r, jobs)?;
    int_gauge(
        &r,
        "imvault_jobs_running",
        "Jobs this daemon is running now.",
        f.running,
    )?;
    int_counter(
        &r,
        "imvault_bytes_read_total",
        "Bytes of document content read from iManage by this process.",
        f.bytes_read,
    )?;
    int_counter(
        &r,
        "imvault_bytes_stored_total",
        "New bytes written to the repository (after dedup and compression) by finished jobs.",
        f.bytes_stored,
    )?;
    int_counter(
        &r,
        "imvault_imanage_requests_total",
        "HTTP requests sent to iManage.",
        f.requests,
    )?;
    int_counter(
        &r,
        "imvault_imanage_throttled_total",
        "429 Too Many Requests answers from iManage.",
        f.throttled,
    )?;
    int_counter(
        &r,
        "imvault_imanage_retries_total",
        "Requests repeated after a transient failure or a 429.",
        f.retries,
    )?;
    int_counter(
        &r,
        "imvault_audit_write_failures_total",
        "Audit records this daemon could not write (the action was refused, or its outcome is not recorded).",
        f.audit_write_failures,
    )?;
    int_counter(
        &r,
        "imvault_readyz_repository_checks_total",
        "Times /readyz opened the repository to check it (the result is kept for a while).",
        f.readyz_repository_checks,
    )?;
    int_gauge(
        &r,
        "imvault_imanage_signed_in",
        "1 when the daemon is signed in to iManage.",
        u64::from(f.signed_in),
    )?;
    let last = GaugeVec::new(
        Opts::new(
            "imvault_last_success_timestamp_seconds",
            "Time of the newest snapshot of each library.",
        ),
        &["library"],
    )?;
    for (lib, t) in &f.last_success {
        last.with_label_values(&[lib.as_str()]).set(*t);
    }
    register(&r, last)?;
    if let Some(d) = &f.durations {
        register(&r, d.clone())?;
    }
    let start = prometheus::Gauge::new(
        "imvault_start_time_seconds",
        "When this daemon started, seconds since the epoch.",
    )?;
    start.set(f.start_time);
    register(&r, start)?;
    Ok(r)
}

/// Renders the text format.
pub fn render(f: &Figures) -> prometheus::Result<String> {
    let r = registry(f)?;
    let mut out = Vec::new();
    prometheus::TextEncoder::new().encode(&r.gather(), &mut out)?;
    String::from_utf8(out).map_err(|e| prometheus::Error::Msg(e.to_string()))
}

/// Prometheus text exposition.
#[utoipa::path(
    get,
    path = "/metrics",
    operation_id = "metrics",
    tag = "meta",
    security(()),
    responses(
        (status = 200, description = "Jobs by kind and state, bytes read and stored, requests and 429s, last success per library, job durations", content_type = "text/plain", body = String),
        (status = 500, description = "The catalog could not be read", content_type = "text/plain", body = String)
    )
)]
pub async fn serve(State(state): State<AppState>) -> Response {
    let counts = state.queue.counts().await;
    let snaps = state
        .queue
        .reader()
        .run("listing snapshots", |c| c.snapshots(None))
        .await;
    let (jobs, snaps) = match (counts, snaps) {
        (Ok(j), Ok(s)) => (j, s),
        (Err(e), _) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::repo::error_chain(&e),
            )
                .into_response();
        }
        (_, Err(e)) => {
            return (
                StatusCode::INTERNAL_SERVER_ERROR,
                crate::repo::error_chain(&e),
            )
                .into_response();
        }
    };
    let mut last_success = BTreeMap::new();
    for s in snaps {
        let t = s.row.time.timestamp_millis() as f64 / 1000.0;
        let e = last_success
            .entry(s.row.library.as_str().to_string())
            .or_insert(t);
        if t > *e {
            *e = t;
        }
    }
    let running = state.running_jobs();
    let live_bytes_read: u64 = running
        .iter()
        .flat_map(|r| r.live.snapshot().into_values())
        .map(|c| c.bytes_read)
        .sum();
    let client = state.client();
    let stats = client.as_ref().map(|c| c.stats());
    let figures = Figures {
        jobs,
        running: running.len() as u64,
        bytes_read: state.metrics.bytes_read() + live_bytes_read,
        bytes_stored: state.metrics.bytes_stored(),
        requests: stats.as_ref().map_or(0, |s| s.requests),
        throttled: stats.as_ref().map_or(0, |s| s.throttled),
        retries: stats.as_ref().map_or(0, |s| s.retries),
        last_success,
        start_time: state.started_at.timestamp_millis() as f64 / 1000.0,
        signed_in: client.is_some(),
        audit_write_failures: state.audit.failures(),
        readyz_repository_checks: state.readiness.checks(),
        durations: Some(state.metrics.durations()),
    };
    let text = match render(&figures) {
        Ok(t) => t,
        Err(e) => {
            tracing::error!(error = %e, "cannot encode the metrics");
            return (StatusCode::INTERNAL_SERVER_ERROR, e.to_string()).into_response();
        }
    };
    let mut r = text.into_response();
    r.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_every_family_with_escaped_labels() {
        let m = crate::daemon::Metrics::default();
        m.job_finished(JobKind::Backup, 12.5, 0, 0);
        let text = render(&Figures {
            jobs: vec![
                (JobKind::Backup, JobState::Completed, 3),
                (JobKind::Prune, JobState::Failed, 1),
            ],
            bytes_read: 15,
            last_success: [("A\"B".to_string(), 1.5)].into(),
            durations: Some(m.durations()),
            ..Figures::default()
        })
        .unwrap();
        assert!(text.contains("imvault_jobs{kind=\"backup\",state=\"completed\"} 3\n"));
        assert!(text.contains("imvault_jobs{kind=\"restore\",state=\"failed\"} 0\n"));
        assert!(text.contains("imvault_jobs{kind=\"prune\",state=\"failed\"} 1\n"));
        assert!(
            !text.contains("kind=\"prune\",state=\"completed\""),
            "{text}"
        );
        assert!(text.contains("# TYPE imvault_bytes_read_total counter\n"));
        assert!(text.contains("imvault_bytes_read_total 15\n"));
        assert!(text.contains("imvault_last_success_timestamp_seconds{library=\"A\\\"B\"} 1.5\n"));
        assert!(
            text.contains("imvault_job_duration_seconds_bucket{kind=\"backup\",le=\"10\"} 0\n"),
            "{text}"
        );
        assert!(
            text.contains("imvault_job_duration_seconds_bucket{kind=\"backup\",le=\"60\"} 1\n")
        );
        assert!(
            text.contains("imvault_job_duration_seconds_bucket{kind=\"backup\",le=\"43200\"} 1\n")
        );
        assert!(text.contains("imvault_job_duration_seconds_count{kind=\"backup\"} 1\n"));
        for name in [
            "imvault_jobs_running",
            "imvault_bytes_stored_total",
            "imvault_imanage_requests_total",
            "imvault_imanage_throttled_total",
            "imvault_imanage_retries_total",
            "imvault_imanage_signed_in",
            "imvault_start_time_seconds",
        ] {
            assert!(text.contains(&format!("\n{name} 0\n")), "{name}: {text}");
        }
    }
}
