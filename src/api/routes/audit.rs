//! `GET /v1/audit`: the audit trail, filtered as `imvault audit` filters it.

use axum::Json;
use axum::extract::State;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};

use crate::api::{ApiError, ApiQuery, AppState, ErrorBody};
use crate::audit::{EntryOutcome, Filter};

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditQuery {
    /// Only actions started at or after this time (RFC 3339, or `YYYY-MM-DD[ HH:MM]` in the daemon host's time zone).
    pub since: Option<String>,
    /// Only actions started at or before this time.
    pub until: Option<String>,
    /// Only this action (`export`, `restore`, `forget`, `prune`, `recover`, `hold_add`,
    /// `hold_release`, `key_add`, `key_remove`, `key_passwd`, `init`, `config_reload`,
    /// `repair_index`, `cat`, `api_call`).
    pub action: Option<String>,
    /// Only this actor: an operating-system user, an API token's name, or the daemon's part.
    pub actor: Option<String>,
}

/// One action of the trail: its `started` and `finished` records joined.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditEntryView {
    pub time: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    /// `{"kind": "user"|"token"|"daemon", "name": …}`.
    #[schema(value_type = Object)]
    pub actor: Value,
    pub host: String,
    pub action: String,
    #[schema(value_type = Object)]
    pub parameters: Value,
    pub outcome: EntryOutcome,
    pub message: Option<String>,
    /// `versions`, `bytes`, `snapshots`, `failed`, `status`, `job`, as they apply.
    #[schema(value_type = Object)]
    pub figures: Value,
    pub writer: String,
    pub seq: u64,
}

fn bad(field: &str, message: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request(format!("{field}: {message}")).with_field(Some(field))
}

/// The filter the query names; a bad value is a 400 naming its parameter.
pub fn filter_of(q: &AuditQuery) -> Result<Filter, ApiError> {
    let time = |v: &Option<String>, field: &str| {
        v.as_deref()
            .map(crate::restore::when::parse_time)
            .transpose()
            .map_err(|e| bad(field, crate::repo::error_chain(&e)))
    };
    Ok(Filter {
        since: time(&q.since, "since")?,
        until: time(&q.until, "until")?,
        action: q
            .action
            .as_deref()
            .map(str::parse)
            .transpose()
            .map_err(|e: String| bad("action", e))?,
        actor: q.actor.clone(),
    })
}

/// The audit trail: every recorded action, oldest first.
#[utoipa::path(
    get,
    path = "/audit",
    operation_id = "list_audit",
    tag = "audit",
    params(AuditQuery),
    responses(
        (status = 200, description = "The actions the filters select, oldest first", body = Vec<AuditEntryView>),
        (status = 400, description = "A bad time or action (named in the message)", body = ErrorBody),
        (status = 401, description = "Missing or wrong bearer token", body = ErrorBody),
        (status = 503, description = "The repository cannot be opened or read", body = ErrorBody)
    )
)]
pub async fn list(
    State(state): State<AppState>,
    ApiQuery(q): ApiQuery<AuditQuery>,
) -> Result<Json<Vec<AuditEntryView>>, ApiError> {
    let filter = filter_of(&q)?;
    let settings = state.settings();
    let unavailable = |e: String| {
        ApiError::new(
            axum::http::StatusCode::SERVICE_UNAVAILABLE,
            format!("reading the audit trail: {e}"),
        )
    };
    // The daemon's auditor holds the opened repository (one key derivation per daemon).
    let auditor = state
        .audit
        .auditor(
            &settings,
            crate::audit::Actor::Daemon {
                name: "daemon".into(),
            },
        )
        .await
        .map_err(unavailable)?;
    let entries = crate::audit::query::list(auditor.objects(), &filter)
        .await
        .map_err(|e| unavailable(crate::repo::error_chain(&e)))?;
    Ok(Json(
        entries
            .into_iter()
            .map(|e| AuditEntryView {
                time: e.time,
                finished: e.finished,
                actor: serde_json::to_value(&e.actor).unwrap_or_default(),
                host: e.host,
                action: e.action.to_string(),
                parameters: e.parameters,
                outcome: e.outcome,
                message: e.message,
                figures: serde_json::to_value(&e.figures).unwrap_or_default(),
                writer: e.writer,
                seq: e.seq,
            })
            .collect(),
    ))
}
