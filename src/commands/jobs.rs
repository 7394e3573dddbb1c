//! `imvault jobs list|show|cancel|watch`: the operator's view of the daemon's job queue,
//! through the daemon's HTTP API, or straight from the catalog when the daemon is down.

use std::io::IsTerminal as _;
use std::path::Path;
use std::time::Duration;

use anyhow::{Context as _, bail};
use serde_json::Value;

use super::runtime;
use super::{Exit, load_settings_offline};
use crate::catalog::{Catalog, JobFilter, JobId, JobKind, JobRecord, JobState};
use crate::cli::{JobIdArgs, JobsCommand, JobsListArgs};
use crate::config::Settings;

pub fn run(config: Option<&Path>, command: &JobsCommand) -> anyhow::Result<Exit> {
    let settings = load_settings_offline(config)?;
    runtime()?.block_on(async {
        let api = Api::new(&settings)?;
        match command {
            JobsCommand::List(a) => list(&api, &settings, a).await,
            JobsCommand::Show(a) => show(&api, &settings, a).await,
            JobsCommand::Cancel(a) => cancel(&api, &settings, a).await,
            JobsCommand::Watch(a) => watch(&api, &settings, a).await,
        }
    })
}

/// The daemon's API as configured (`[api] listen`, `token_file`).
struct Api {
    base: String,
    /// The token, or why it could not be read (said when the daemon answers 401).
    token: Result<crate::secret::Secret, String>,
    http: reqwest::Client,
}

/// The daemon did not answer: fall back to the catalog.
struct Down(String);

impl Api {
    fn new(settings: &Settings) -> anyhow::Result<Self> {
        let mut addr = settings.api.listen;
        if addr.ip().is_unspecified() {
            addr.set_ip(std::net::Ipv4Addr::LOCALHOST.into());
        }
        Ok(Self {
            base: format!("http://{addr}"),
            token: crate::daemon::read_api_token(settings)
                .map_err(|e| crate::repo::error_chain(&e)),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .context("building the HTTP client")?,
        })
    }

    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
    ) -> anyhow::Result<Result<Value, Down>> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Ok(t) = &self.token {
            req = req.bearer_auth(t.expose());
        }
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) if e.is_connect() => return Ok(Err(Down(format!("{}: {e}", self.base)))),
            Err(e) => {
                return Err(e)
                    .with_context(|| format!("calling the daemon at {}{path}", self.base));
            }
        };
        let status = resp.status();
        let body: Value = resp
            .json()
            .await
            .with_context(|| format!("reading the daemon's answer to {path}"))?;
        if status == reqwest::StatusCode::UNAUTHORIZED
            && let Err(why) = &self.token
        {
            bail!(
                "the daemon at {} refused the request (401): no API token was sent because it could not be read: {why}",
                self.base
            );
        }
        if !status.is_success() {
            bail!(
                "the daemon answered {status} to {path}: {}",
                body["error"].as_str().unwrap_or("(no message)")
            );
        }
        Ok(Ok(body))
    }
}

fn open_catalog(settings: &Settings, why: &Down) -> anyhow::Result<Catalog> {
    eprintln!(
        "imvault: the daemon is not reachable ({}); reading the catalog {} directly",
        why.0,
        settings.catalog_path.display()
    );
    Ok(crate::app::state::open_catalog(settings)?)
}

fn parse_id(s: &str) -> anyhow::Result<JobId> {
    s.parse()
        .with_context(|| format!("{s:?} is not a job id (a UUID as shown by `imvault jobs list`)"))
}

async fn list(api: &Api, settings: &Settings, a: &JobsListArgs) -> anyhow::Result<Exit> {
    let state: Option<JobState> = a
        .state
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| anyhow::anyhow!("--state: one of {}", names(JobState::ALL)))?;
    let kind: Option<JobKind> = a
        .kind
        .as_deref()
        .map(str::parse)
        .transpose()
        .map_err(|_| anyhow::anyhow!("--kind: one of {}", names(JobKind::ALL)))?;
    let mut q = vec![format!("limit={}", a.limit.clamp(1, 1000))];
    if let Some(s) = state {
        q.push(format!("state={s}"));
    }
    if let Some(k) = kind {
        q.push(format!("kind={k}"));
    }
    if let Some(l) = &a.library {
        q.push(format!(
            "library={}",
            url::form_urlencoded::byte_serialize(l.as_bytes()).collect::<String>()
        ));
    }
    let jobs: Vec<Value> = match api
        .call(reqwest::Method::GET, &format!("/v1/jobs?{}", q.join("&")))
        .await?
    {
        Ok(body) => body["jobs"].as_array().cloned().unwrap_or_default(),
        Err(down) => {
            let cat = open_catalog(settings, &down)?;
            cat.list_jobs(&JobFilter {
                state,
                kind,
                library: a.library.clone(),
                limit: Some(a.limit),
                ..JobFilter::default()
            })?
            .into_iter()
            .map(|j| serde_json::to_value(j).unwrap_or(Value::Null))
            .collect()
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&jobs)?);
        return Ok(Exit::Success);
    }
    // `catalog_rebuild` is the longest kind.
    println!(
        "{:<36}  {:<15}  {:<23}  {:<20}  what",
        "id", "kind", "state", "created"
    );
    for j in &jobs {
        println!(
            "{:<36}  {:<15}  {:<23}  {:<20}  {}",
            j["id"].as_str().unwrap_or("?"),
            j["kind"].as_str().unwrap_or("?"),
            j["state"].as_str().unwrap_or("?"),
            short_time(&j["created_at"]),
            what(j)
        );
    }
    Ok(Exit::Success)
}

fn names<T: std::fmt::Display>(all: &[T]) -> String {
    all.iter()
        .map(|x| x.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn short_time(v: &Value) -> String {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .map(|t| t.format("%Y-%m-%d %H:%M:%S").to_string())
        .unwrap_or_else(|| "-".into())
}

fn what(j: &Value) -> String {
    let p = &j["params"];
    match j["kind"].as_str() {
        Some("backup") => format!(
            "{}{}",
            p["libraries"]
                .as_array()
                .map(|l| l
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join(","))
                .unwrap_or_default(),
            if p["full"].as_bool() == Some(true) {
                " (full)"
            } else {
                ""
            }
        ),
        Some("restore") => {
            let pick = ["document", "folder", "workspace", "library"]
                .into_iter()
                .find_map(|k| p[k].as_str().map(|v| format!("{k} {v}")))
                .unwrap_or_else(|| "?".into());
            let version = p["version"]
                .as_u64()
                .map(|v| format!(" v{v}"))
                .unwrap_or_default();
            let when = match (p["snapshot"].as_str(), p["at"].as_str()) {
                (Some(s), _) => format!(" from snapshot {}", &s[..s.len().min(12)]),
                (None, Some(t)) => format!(" as of {t}"),
                _ => String::new(),
            };
            let to = match (
                p["to"].as_str(),
                p["into"].as_str(),
                p["into_folder"].as_str(),
            ) {
                (Some(d), _, _) => format!(" to {d}"),
                (_, Some(i), _) => format!(" into {i}"),
                (_, _, Some(f)) => format!(" into folder {f}"),
                _ => String::new(),
            };
            let dry = if p["dry_run"].as_bool() == Some(true) {
                " (dry run)"
            } else {
                ""
            };
            format!("{pick}{version}{when}{to}{dry}")
        }
        Some("verify") => format!(
            "{}, {}",
            p["library"].as_str().unwrap_or("all libraries"),
            match p["read_data_percent"].as_f64() {
                Some(pc) => format!("reading {pc}% of the data"),
                None => "structure only".into(),
            }
        ),
        _ => match p.as_object() {
            // Other kinds: their parameters as key=value, not raw JSON.
            Some(o) => o
                .iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| match v.as_str() {
                    Some(s) => format!("{k}={s}"),
                    None => format!("{k}={v}"),
                })
                .collect::<Vec<_>>()
                .join(" "),
            None => p.to_string(),
        },
    }
}

/// Totals over a job's libraries: (versions, downloaded, bytes read, skipped).
fn totals(j: &Value) -> (u64, u64, u64, u64) {
    let mut t = (0, 0, 0, 0);
    if let Some(libs) = j["progress"]["libraries"].as_object() {
        for c in libs.values() {
            let g = |k: &str| c[k].as_u64().unwrap_or(0);
            t.0 += g("versions");
            t.1 += g("versions_downloaded");
            t.2 += g("bytes_read");
            t.3 += g("skipped");
        }
    }
    t
}

fn describe(j: &Value) -> String {
    let (v, d, b, s) = totals(j);
    format!(
        "{} {}: {v} versions ({d} downloaded, {s} skipped), {:.1} MB read",
        j["kind"].as_str().unwrap_or("?"),
        j["state"].as_str().unwrap_or("?"),
        b as f64 / 1e6
    )
}

async fn get_job(api: &Api, settings: &Settings, id: JobId) -> anyhow::Result<Value> {
    match api
        .call(reqwest::Method::GET, &format!("/v1/jobs/{id}"))
        .await?
    {
        Ok(v) => Ok(v),
        Err(down) => {
            let cat = open_catalog(settings, &down)?;
            let job: JobRecord = cat
                .job(id)?
                .with_context(|| format!("no job {id} in the catalog"))?;
            Ok(serde_json::to_value(job)?)
        }
    }
}

async fn show(api: &Api, settings: &Settings, a: &JobIdArgs) -> anyhow::Result<Exit> {
    let id = parse_id(&a.id)?;
    let j = get_job(api, settings, id).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
        return Ok(Exit::Success);
    }
    println!("job      {}", j["id"].as_str().unwrap_or("?"));
    println!(
        "kind     {}  ({})",
        j["kind"].as_str().unwrap_or("?"),
        what(&j)
    );
    println!("state    {}", j["state"].as_str().unwrap_or("?"));
    println!("created  {}", short_time(&j["created_at"]));
    println!("started  {}", short_time(&j["started_at"]));
    println!("finished {}", short_time(&j["finished_at"]));
    println!("progress {}", describe(&j));
    if let Some(note) = j["progress"]["resumed_after"].as_str() {
        println!("resumed  after: {note}");
    }
    if let Some(e) = j["last_error"].as_str() {
        println!("error    {e}");
    }
    print_skipped(&j);
    Ok(Exit::Success)
}

/// A backup job's skipped items (the first few of each library, as its result keeps them).
fn print_skipped(j: &Value) {
    let Some(libs) = j["progress"]["result"]["libraries"].as_array() else {
        return;
    };
    for lib in libs {
        let items = lib["skipped_items"]
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or(&[]);
        let total = lib["counters"]["skipped"]
            .as_u64()
            .unwrap_or(items.len() as u64);
        if total == 0 {
            continue;
        }
        println!(
            "skipped  {}: {total} item(s){}",
            lib["library"].as_str().unwrap_or("?"),
            lib["snapshot"]
                .as_str()
                .map(|s| format!(" (snapshot {})", &s[..s.len().min(12)]))
                .unwrap_or_default()
        );
        for it in items {
            println!(
                "         {}  {}: {}",
                it["object"].as_str().unwrap_or("?"),
                it["action"].as_str().unwrap_or("?"),
                it["reason"].as_str().unwrap_or("?")
            );
        }
        if total > items.len() as u64 {
            println!(
                "         … and {} more (`imvault snapshots --show ID`)",
                total - items.len() as u64
            );
        }
    }
}

async fn cancel(api: &Api, settings: &Settings, a: &JobIdArgs) -> anyhow::Result<Exit> {
    let id = parse_id(&a.id)?;
    let j = match api
        .call(reqwest::Method::POST, &format!("/v1/jobs/{id}/cancel"))
        .await?
    {
        Ok(v) => v,
        Err(down) => {
            // No daemon runs: nothing is running; a `running` row is a leftover of a killed one.
            let mut cat = open_catalog(settings, &down)?;
            let job = cat
                .job(id)?
                .with_context(|| format!("no job {id} in the catalog"))?;
            if job.state.is_terminal() {
                bail!("job {id} already ended ({})", job.state);
            }
            serde_json::to_value(cat.set_job_state(
                id,
                JobState::Cancelled,
                Some("cancelled by the operator while the daemon was down"),
            )?)?
        }
    };
    if a.json {
        println!("{}", serde_json::to_string_pretty(&j)?);
    } else if j["state"] == "running" {
        println!("job {id}: stopping at its next checkpoint");
    } else {
        println!("job {id}: {}", j["state"].as_str().unwrap_or("?"));
    }
    Ok(Exit::Success)
}

async fn watch(api: &Api, settings: &Settings, a: &JobIdArgs) -> anyhow::Result<Exit> {
    let id = parse_id(&a.id)?;
    let tty = std::io::stderr().is_terminal() && !a.json;
    let mut last = String::new();
    loop {
        let j = get_job(api, settings, id).await?;
        let state: Option<JobState> = j["state"].as_str().and_then(|s| s.parse().ok());
        let line = describe(&j);
        if a.json {
            println!("{}", serde_json::to_string(&j)?);
        } else if tty {
            eprint!("\r\x1b[2K{line}");
        } else if line != last {
            println!("{line}");
        }
        last = line;
        if let Some(s) = state.filter(|s| s.is_terminal()) {
            if tty {
                eprintln!();
                println!("{last}");
            }
            if let Some(e) = j["last_error"].as_str() {
                eprintln!("{e}");
            }
            return Ok(match s {
                JobState::Completed => Exit::Success,
                JobState::CompletedWithWarnings => Exit::Warnings,
                _ => Exit::Failure,
            });
        }
        tokio::time::sleep(Duration::from_secs(1)).await;
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    #[test]
    fn restore_and_verify_jobs_are_labelled() {
        let r = json!({"kind": "restore", "params": {"document": "ACTIVE!1042", "version": 2,
            "at": "2026-11-03T00:00:00Z", "to": "/srv/r1", "library": null}});
        assert_eq!(
            super::what(&r),
            "document ACTIVE!1042 v2 as of 2026-11-03T00:00:00Z to /srv/r1"
        );
        let r = json!({"kind": "restore", "params": {"folder": "ACTIVE!7", "into": "original"}});
        assert_eq!(super::what(&r), "folder ACTIVE!7 into original");
        let v = json!({"kind": "verify", "params": {"read_data_percent": 10, "library": null}});
        assert_eq!(super::what(&v), "all libraries, reading 10% of the data");
        let v = json!({"kind": "verify", "params": {"library": "ACTIVE"}});
        assert_eq!(super::what(&v), "ACTIVE, structure only");
        let f = json!({"kind": "forget", "params": {"dry_run": true, "library": null}});
        assert_eq!(super::what(&f), "dry_run=true");
    }
}
