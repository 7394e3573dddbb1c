//! Running the real `imvault serve` binary against a [`TestEnv`]: a config with a free API
//! port and a token file, a handle to call the API, and readiness/condition polling with
//! deadlines (never fixed sleeps).

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::Value;

use crate::support::env::{TestEnv, config_text};
use crate::support::wait::wait_until;

pub const TOKEN: &str = "test-token-0123456789abcdef";

/// A schedule that never fires during a test (03:00 on January 1st).
pub const NEVER: &str = "0 0 3 1 1 *";

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind 127.0.0.1:0")
        .local_addr()
        .unwrap()
        .port()
}

/// Writes `daemon.toml` next to the test's repository: the env's config plus [api],
/// [schedule] and [daemon] tables. Returns its path and the API base URL.
pub fn write_config(env: &TestEnv, port: u16, schedule: &str, token: &str) -> PathBuf {
    let token_file = env.dir.path().join("api_token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap();
    // A token file group or others can read is refused.
    std::fs::set_permissions(
        &token_file,
        std::os::unix::fs::PermissionsExt::from_mode(0o600),
    )
    .unwrap();
    let text = format!(
        "{}\n[api]\nlisten = \"127.0.0.1:{port}\"\ntoken_file = \"{}\"\n\n[schedule]\nbackup = \"{schedule}\"\n\n[daemon]\nworkers = 2\ncheckpoint_secs = 0.2\nprogress_secs = 0.2\ndrain_timeout_secs = 30\n",
        config_text(env.dir.path(), env.addr),
        token_file.display()
    );
    let path = env.dir.path().join("daemon.toml");
    imvault::private_fs::write(&path, text).unwrap();
    path
}

pub struct Daemon {
    pub child: Child,
    pub base: String,
    pub token: String,
    pub log: PathBuf,
    http: reqwest::Client,
}

impl Daemon {
    /// Starts `imvault serve` and waits until `/readyz` says ready.
    pub async fn start(env: &TestEnv, config: &std::path::Path, port: u16) -> Self {
        Self::start_with(env, config, port, &[]).await
    }

    /// Like [`Daemon::start`], with extra environment variables.
    pub async fn start_with(
        env: &TestEnv,
        config: &std::path::Path,
        port: u16,
        vars: &[(&str, String)],
    ) -> Self {
        let mut d = Self::spawn(env, config, port, vars);
        d.wait_ready().await;
        d
    }

    /// Starts `imvault serve` without waiting for it to get ready.
    pub fn spawn(
        env: &TestEnv,
        config: &std::path::Path,
        port: u16,
        vars: &[(&str, String)],
    ) -> Self {
        let n = std::fs::read_dir(env.dir.path()).unwrap().count();
        let log = env.dir.path().join(format!("daemon-{n}.log"));
        let child = Command::new(env!("CARGO_BIN_EXE_imvault"))
            .arg("--config")
            .arg(config)
            .arg("serve")
            .env("IMVAULT_LOG", "imvault=info")
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .spawn()
            .expect("spawn imvault serve");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
            token: TOKEN.to_string(),
            log,
            http: reqwest::Client::new(),
        }
    }

    /// Polls `GET /readyz` (with the token) until `done(status, body)` holds.
    pub async fn wait_readyz(
        &mut self,
        what: &str,
        done: impl Fn(StatusCode, &Value) -> bool,
    ) -> Value {
        let what = format!("/readyz to say {what}");
        wait_until(&what, Duration::from_secs(60), async || {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("imvault serve exited early ({status}):\n{}", self.logs());
            }
            let answer = self
                .http
                .get(format!("{}/readyz", self.base))
                .bearer_auth(&self.token)
                .send()
                .await;
            let mut v = Value::Null;
            if let Ok(r) = answer {
                let s = r.status();
                v = r.json().await.unwrap_or(Value::Null);
                if done(s, &v) {
                    return Ok(v);
                }
            }
            Err(format!("{v}\n{}", self.logs()))
        })
        .await
    }

    pub fn logs(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    pub async fn wait_ready(&mut self) {
        wait_until(
            "the daemon to get ready",
            Duration::from_secs(60),
            async || {
                if let Some(status) = self.child.try_wait().unwrap() {
                    panic!("imvault serve exited early ({status}):\n{}", self.logs());
                }
                if let Ok(r) = self.http.get(format!("{}/readyz", self.base)).send().await
                    && r.status() == StatusCode::OK
                {
                    return Ok(());
                }
                Err(self.logs())
            },
        )
        .await
    }

    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: Option<&str>,
        body: Option<&str>,
    ) -> (StatusCode, Value) {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req
                .header("content-type", "application/json")
                .body(b.to_string());
        }
        let r = req.send().await.expect("API call");
        let status = r.status();
        let text = r.text().await.unwrap();
        let v = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, v)
    }

    pub async fn get(&self, path: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::GET, path, Some(&self.token), None)
            .await
    }

    pub async fn post(&self, path: &str, body: &str) -> (StatusCode, Value) {
        self.call(reqwest::Method::POST, path, Some(&self.token), Some(body))
            .await
    }

    /// Posts a job request, asserts it is accepted (202), and waits until the job has finished;
    /// returns the finished job.
    pub async fn run_job(&self, path: &str, body: &str) -> Value {
        let (status, job) = self.post(path, body).await;
        assert_eq!(status, StatusCode::ACCEPTED, "{path} {body}: {job}");
        let id = job["id"].as_str().expect("a job id").to_string();
        self.wait_job(&id, "finished", |j| j["finished_at"].is_string())
            .await
    }

    /// Polls a job until `done(job)` holds; panics with the daemon log at the deadline.
    pub async fn wait_job(&self, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        let what = format!("job {id} to get {what}");
        wait_until(&what, Duration::from_secs(90), async || {
            let (status, job) = self.get(&format!("/v1/jobs/{id}")).await;
            assert_eq!(status, StatusCode::OK, "{job}");
            if done(&job) {
                return Ok(job);
            }
            Err(format!("{job}\n{}", self.logs()))
        })
        .await
    }

    pub fn signal(&self, sig: &str) {
        let ok = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.child.id().to_string())
            .status()
            .expect("run kill")
            .success();
        assert!(ok, "kill -{sig} failed");
    }

    /// Waits for the process to exit by itself.
    pub async fn wait_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        wait_until("the daemon to exit", within, async || {
            match self.child.try_wait().unwrap() {
                Some(s) => Ok(s),
                None => Err(self.logs()),
            }
        })
        .await
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if matches!(self.child.try_wait(), Ok(None)) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// Sum of a job's per-library progress counter `key`.
pub fn progress_total(job: &Value, key: &str) -> u64 {
    job["progress"]["libraries"]
        .as_object()
        .map(|m| m.values().map(|c| c[key].as_u64().unwrap_or(0)).sum())
        .unwrap_or(0)
}

pub fn downloads(s: &imvault_sim::SimStats) -> u64 {
    s.requests
        .iter()
        .filter(|(k, _)| k.contains("download"))
        .map(|(_, v)| *v)
        .sum()
}
