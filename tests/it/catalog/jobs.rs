//! The persistent job queue.

use imvault::catalog::{Catalog, CatalogError, JobFilter, JobKind, JobState, NewJob};
use serde_json::json;

/// A job the daemon's stop interrupted goes back to the queue with a note; resumed and
/// completed, it keeps no error (the note is not its outcome). Completed with warnings keeps
/// its own.
#[test]
fn a_resumed_job_that_completes_keeps_no_interruption_note() {
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let note = "daemon stopping: interrupted at a checkpoint; resumes when the daemon starts again";
    for (end, error) in [
        (JobState::Completed, None),
        (JobState::CompletedWithWarnings, Some("1 version skipped")),
    ] {
        let j = cat
            .insert_job(&NewJob {
                kind: JobKind::Backup,
                params: json!({"library": "ACTIVE"}),
            })
            .expect("insert");
        assert_eq!(
            cat.claim_next_job().expect("claim").map(|j| j.id),
            Some(j.id)
        );
        let queued = cat
            .set_job_state(j.id, JobState::Queued, Some(note))
            .expect("requeue");
        assert_eq!(queued.last_error.as_deref(), Some(note));
        assert_eq!(
            cat.claim_next_job().expect("claim").map(|j| j.id),
            Some(j.id)
        );
        let done = cat.set_job_state(j.id, end, error).expect("complete");
        assert_eq!(done.last_error.as_deref(), error, "{done:?}");
    }
}

#[test]
fn job_lifecycle_and_refused_transitions() {
    let mut cat = Catalog::open_in_memory().expect("catalog");
    let a = cat
        .insert_job(&NewJob {
            kind: JobKind::Backup,
            params: json!({"library": "ACTIVE"}),
        })
        .expect("insert");
    let b = cat
        .insert_job(&NewJob {
            kind: JobKind::Restore,
            params: json!({"version": "ACTIVE!1.1"}),
        })
        .expect("insert");
    assert_eq!(a.state, JobState::Queued);
    assert_eq!(a.params, json!({"library": "ACTIVE"}));
    assert!(a.started_at.is_none() && a.finished_at.is_none());

    let claimed = cat.claim_next_job().expect("claim").expect("a job");
    assert_eq!(claimed.id, a.id, "oldest first");
    assert_eq!(claimed.state, JobState::Running);
    assert!(claimed.started_at.is_some());

    cat.update_job_progress(a.id, &json!({"versions": 10, "bytes": 2048}))
        .expect("progress");
    let done = cat
        .set_job_state(
            a.id,
            JobState::CompletedWithWarnings,
            Some("2 versions skipped"),
        )
        .expect("complete");
    assert_eq!(done.progress, Some(json!({"bytes": 2048, "versions": 10})));
    assert_eq!(done.last_error.as_deref(), Some("2 versions skipped"));
    assert!(done.finished_at.is_some_and(|f| f >= done.created_at));

    let err = cat
        .set_job_state(a.id, JobState::Running, None)
        .expect_err("terminal state is final");
    assert!(matches!(err, CatalogError::JobTransition { .. }), "{err:?}");
    assert!(err.to_string().contains(&a.id.to_string()), "{err}");

    let err = cat
        .set_job_state(b.id, JobState::Completed, None)
        .expect_err("queued cannot complete");
    assert!(
        matches!(
            err,
            CatalogError::JobTransition {
                from: JobState::Queued,
                ..
            }
        ),
        "{err:?}"
    );

    let running = cat.claim_next_job().expect("claim").expect("b");
    assert_eq!(running.id, b.id);
    assert!(cat.claim_next_job().expect("claim").is_none());
    assert_eq!(cat.requeue_interrupted_jobs().expect("requeue"), 1);
    assert_eq!(
        cat.job(b.id).expect("read").expect("present").state,
        JobState::Queued
    );
    let cancelled = cat
        .set_job_state(b.id, JobState::Cancelled, None)
        .expect("cancel");
    assert!(cancelled.state.is_terminal());

    let all = cat.list_jobs(&JobFilter::default()).expect("list");
    assert_eq!(all.len(), 2);
    let restores = cat
        .list_jobs(&JobFilter {
            kind: Some(JobKind::Restore),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(restores.iter().map(|j| j.id).collect::<Vec<_>>(), [b.id]);
    let warned = cat
        .list_jobs(&JobFilter {
            state: Some(JobState::CompletedWithWarnings),
            limit: Some(5),
            ..Default::default()
        })
        .expect("list");
    assert_eq!(warned.len(), 1);

    // Purging keeps unfinished jobs and those finished after the cut-off.
    let c = cat
        .insert_job(&NewJob {
            kind: JobKind::Prune,
            params: json!({}),
        })
        .expect("insert");
    assert_eq!(
        cat.purge_jobs(done.finished_at.expect("finished"))
            .expect("purge"),
        0
    );
    let future = chrono::Utc::now() + chrono::Duration::days(1);
    assert_eq!(
        cat.purge_jobs(future).expect("purge"),
        2,
        "a and b are finished"
    );
    let left: Vec<_> = cat
        .list_jobs(&JobFilter::default())
        .expect("list")
        .into_iter()
        .map(|j| j.id)
        .collect();
    assert_eq!(left, [c.id]);

    let ghost = imvault::catalog::JobId::new_random();
    assert!(matches!(
        cat.set_job_state(ghost, JobState::Running, None),
        Err(CatalogError::UnknownJob { .. })
    ));
    assert!(matches!(
        cat.update_job_progress(ghost, &json!({})),
        Err(CatalogError::UnknownJob { .. })
    ));
}

#[test]
fn state_machine_allows_exactly_the_documented_transitions() {
    use JobState::*;
    let allowed = [
        (Queued, Running),
        (Queued, Cancelled),
        (Running, Completed),
        (Running, CompletedWithWarnings),
        (Running, Failed),
        (Running, Cancelled),
        (Running, Queued),
    ];
    for from in JobState::ALL {
        for to in JobState::ALL {
            assert_eq!(
                from.can_become(*to),
                allowed.contains(&(*from, *to)),
                "{from} -> {to}"
            );
        }
    }
}

#[tokio::test]
async fn shared_catalog_runs_calls_off_the_async_threads() {
    use imvault::catalog::SharedCatalog;
    let shared = SharedCatalog::new(Catalog::open_in_memory().expect("catalog"));
    let job = shared
        .run("enqueue", |c| {
            c.insert_job(&NewJob {
                kind: JobKind::Verify,
                params: json!({}),
            })
        })
        .await
        .expect("enqueue");
    let other = shared.clone();
    let claimed = tokio::spawn(async move { other.run("claim", |c| c.claim_next_job()).await })
        .await
        .expect("task")
        .expect("claim")
        .expect("a job");
    assert_eq!(claimed.id, job.id);

    let err = shared
        .run("a panicking call", |_| -> Result<(), CatalogError> {
            panic!("boom")
        })
        .await
        .expect_err("panic reported");
    assert!(matches!(err, CatalogError::Worker { .. }), "{err:?}");
    assert!(err.to_string().contains("a panicking call"), "{err}");
    // Still usable after the panic.
    let state = shared
        .run("read", move |c| c.job(job.id))
        .await
        .expect("read")
        .expect("present")
        .state;
    assert_eq!(state, JobState::Running);
}
