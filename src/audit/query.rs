//! Reading the trail (`imvault audit`, `GET /v1/audit`): one [`Entry`] per action, its
//! `started` record joined with its `finished` one, filtered by time, action and actor.
//!
//! Cheap: names sort in chain order, so with `since` each writer's chain is read from its end
//! backwards and reading stops at the first action that started before `since` (a writer's
//! records are written in time order; a clock set back by more than the gap between two
//! actions can hide the actions just before it from a `since` query, never from a full one).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::Serialize;

use super::AuditError;
use super::chain;
use super::record::{Action, ActionKind, Actor, Event, Figures, Outcome};
use crate::repo::Objects;

/// Which actions to list.
#[derive(Debug, Clone, Default)]
pub struct Filter {
    pub since: Option<DateTime<Utc>>,
    pub until: Option<DateTime<Utc>>,
    pub action: Option<ActionKind>,
    /// An actor's name (user, token or daemon part), matched exactly.
    pub actor: Option<String>,
}

impl Filter {
    fn matches(&self, e: &Entry) -> bool {
        self.since.is_none_or(|s| e.time >= s)
            && self.until.is_none_or(|u| e.time <= u)
            && self.action.is_none_or(|a| e.action == a)
            && self.actor.as_deref().is_none_or(|a| e.actor.name() == a)
    }
}

/// How a listed action ended.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum EntryOutcome {
    Ok,
    Failed,
    /// No `finished` record (still running, or the process died or could not record it).
    Unknown,
}

/// One action of the trail.
#[derive(Debug, Clone, Serialize)]
pub struct Entry {
    /// When it started.
    pub time: DateTime<Utc>,
    pub finished: Option<DateTime<Utc>>,
    pub actor: Actor,
    pub host: String,
    pub action: ActionKind,
    /// The action's parameters (typed in [`Entry::details`]).
    pub parameters: serde_json::Value,
    #[serde(skip)]
    pub details: Action,
    pub outcome: EntryOutcome,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    pub figures: Figures,
    pub writer: String,
    /// The seq of its `started` record.
    pub seq: u64,
}

/// A `hold_add` started before its hold had an id: the id its finished record names.
fn with_placed_hold(action: Action, figures: Option<&Figures>) -> Action {
    match action {
        Action::HoldAdd {
            hold: None,
            scope,
            reason,
        } => Action::HoldAdd {
            hold: figures.and_then(|f| f.hold.clone()),
            scope,
            reason,
        },
        other => other,
    }
}

/// The actions the filter selects, oldest first. Damaged records are skipped here (with a
/// warning); `verify` names them.
pub async fn list(objects: &Objects, filter: &Filter) -> Result<Vec<Entry>, AuditError> {
    let (writers, _) = chain::list_all(objects).await?;
    let mut out = Vec::new();
    for (writer, records) in writers {
        // seq of a started record → its finished record's (time, outcome, figures).
        let mut finished: BTreeMap<u64, (DateTime<Utc>, Outcome, Figures)> = BTreeMap::new();
        for (_, key) in records.iter().rev() {
            let rec = match chain::read_record(objects, key).await {
                Ok((rec, _)) => rec,
                Err(e) => {
                    tracing::warn!(record = %key, error = %crate::repo::error_chain(&e), "skipping an unreadable audit record (verify reports it)");
                    continue;
                }
            };
            match rec.event {
                Event::Finished {
                    started,
                    outcome,
                    figures,
                } => {
                    finished.insert(started, (rec.time, outcome, figures));
                }
                Event::Started { action } => {
                    if filter.since.is_some_and(|s| rec.time < s) {
                        break;
                    }
                    let done = finished.remove(&rec.seq);
                    let action = with_placed_hold(action, done.as_ref().map(|d| &d.2));
                    let (outcome, message) = match done.as_ref().map(|d| &d.1) {
                        Some(Outcome::Ok) => (EntryOutcome::Ok, None),
                        Some(Outcome::Failed { message }) => {
                            (EntryOutcome::Failed, Some(message.clone()))
                        }
                        None => (EntryOutcome::Unknown, None),
                    };
                    let e = Entry {
                        time: rec.time,
                        finished: done.as_ref().map(|d| d.0),
                        actor: rec.actor,
                        host: rec.host,
                        action: action.kind(),
                        parameters: params_of(&action),
                        details: action,
                        outcome,
                        message,
                        figures: done.map(|d| d.2).unwrap_or_default(),
                        writer: writer.clone(),
                        seq: rec.seq,
                    };
                    if filter.matches(&e) {
                        out.push(e);
                    }
                }
            }
        }
    }
    out.sort_by(|a, b| (a.time, &a.writer, a.seq).cmp(&(b.time, &b.writer, b.seq)));
    Ok(out)
}

/// The fields of `action` without its tag.
fn params_of(action: &Action) -> serde_json::Value {
    let mut v = serde_json::to_value(action).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("action");
    }
    v
}

/// The CSV columns.
pub const CSV_HEADER: &[&str] = &[
    "time",
    "finished",
    "actor_kind",
    "actor",
    "host",
    "action",
    "parameters",
    "outcome",
    "message",
    "versions",
    "bytes",
    "writer",
    "seq",
];

/// One field quoted as RFC 4180 says: in double quotes (doubled inside) when it holds a comma,
/// a double quote, CR or LF.
pub fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\r', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

/// The entries as CSV: a header row, one row per entry, CRLF line ends (RFC 4180).
pub fn to_csv(entries: &[Entry]) -> String {
    let mut out = String::new();
    let row = |out: &mut String, fields: &[String]| {
        let f: Vec<String> = fields.iter().map(|f| csv_field(f)).collect();
        out.push_str(&f.join(","));
        out.push_str("\r\n");
    };
    row(
        &mut out,
        &CSV_HEADER.iter().map(|h| h.to_string()).collect::<Vec<_>>(),
    );
    let time = |t: DateTime<Utc>| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true);
    for e in entries {
        let actor_kind = match e.actor {
            Actor::User { .. } => "user",
            Actor::Token { .. } => "token",
            Actor::Daemon { .. } => "daemon",
        };
        let outcome = match e.outcome {
            EntryOutcome::Ok => "ok",
            EntryOutcome::Failed => "failed",
            EntryOutcome::Unknown => "unknown",
        };
        row(
            &mut out,
            &[
                time(e.time),
                e.finished.map(time).unwrap_or_default(),
                actor_kind.into(),
                e.actor.name().into(),
                e.host.clone(),
                e.action.to_string(),
                e.parameters.to_string(),
                outcome.into(),
                e.message.clone().unwrap_or_default(),
                e.figures
                    .versions
                    .map(|v| v.to_string())
                    .unwrap_or_default(),
                e.figures.bytes.map(|v| v.to_string()).unwrap_or_default(),
                e.writer.clone(),
                e.seq.to_string(),
            ],
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_fields_are_quoted_as_rfc_4180_says() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("two\nlines"), "\"two\nlines\"");
        assert_eq!(csv_field("cr\r"), "\"cr\r\"");
        assert_eq!(csv_field(""), "");
    }
}
