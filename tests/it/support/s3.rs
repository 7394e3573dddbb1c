//! A real S3 server for tests.
//!
//! - `IMVAULT_TEST_S3_ENDPOINT` set: use that server (it must accept unsigned bucket creation,
//!   as moto does).
//! - else `moto_server` on PATH: start it once per test process on a free 127.0.0.1 port; it
//!   dies with the test process (a shell watchdog kills it when our stdin pipe closes).
//! - else: skip with a loud message, unless `CI=true`, where a missing server is a failure.
//!
//! Each test gets its own bucket with a unique name. Credentials `testing`/`testing`,
//! region `us-east-1`, `allow_http`.

#![allow(dead_code)]

use std::io::Write;
use std::net::{TcpListener, TcpStream};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use imvault::repo::BackendConfig;
use imvault::secret::Secret;

struct Server {
    endpoint: String,
    _child: Option<Child>,
    _watchdog: Option<Mutex<ChildStdin>>,
}

static SERVER: OnceLock<Result<Server, String>> = OnceLock::new();

fn free_port() -> std::io::Result<u16> {
    let l = TcpListener::bind("127.0.0.1:0")?;
    Ok(l.local_addr()?.port())
}

fn start() -> Result<Server, String> {
    if let Ok(ep) = std::env::var("IMVAULT_TEST_S3_ENDPOINT")
        && !ep.is_empty()
    {
        return Ok(Server {
            endpoint: ep.trim_end_matches('/').to_string(),
            _child: None,
            _watchdog: None,
        });
    }
    let on_path = std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).any(|d| d.join("moto_server").is_file()))
        .unwrap_or(false);
    if !on_path {
        return Err("moto_server is not on PATH and IMVAULT_TEST_S3_ENDPOINT is not set".into());
    }
    let port = free_port().map_err(|e| format!("no free port: {e}"))?;
    let script =
        r#"moto_server -H 127.0.0.1 -p "$1" >/dev/null 2>&1 & p=$!; read _; kill $p; wait $p"#;
    let mut child = Command::new("sh")
        .args(["-c", script, "sh", &port.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start moto_server: {e}"))?;
    let stdin = child
        .stdin
        .take()
        .ok_or("no stdin pipe to the moto watchdog")?;
    let deadline = Instant::now() + Duration::from_secs(60);
    // Readiness wait for an external process (not a timing assertion).
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if Instant::now() > deadline {
            let _ = child.kill();
            return Err(format!(
                "moto_server did not listen on 127.0.0.1:{port} within 60 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    Ok(Server {
        endpoint: format!("http://127.0.0.1:{port}"),
        _child: Some(child),
        _watchdog: Some(Mutex::new(stdin)),
    })
}

fn unique_bucket() -> String {
    format!("imvault-test-{}", uuid::Uuid::new_v4().simple())
}

/// A fresh, empty bucket on the test S3 server, or `None` (after a loud message) when there is
/// no server and `CI` is not `true`. Panics under `CI=true` when no server is available.
pub async fn s3_backend(prefix: &str) -> Option<BackendConfig> {
    s3_bucket(prefix, false).await
}

async fn s3_bucket(prefix: &str, object_lock: bool) -> Option<BackendConfig> {
    let server = SERVER.get_or_init(start);
    let server = match server {
        Ok(s) => s,
        Err(reason) => {
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("S3 tests need a server under CI=true: {reason}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! SKIPPING S3 TEST: {reason} (install with `pip install 'moto[server]'`) !!!\n"
            );
            return None;
        }
    };
    let bucket = unique_bucket();
    let mut req = reqwest::Client::new().put(format!("{}/{bucket}", server.endpoint));
    if object_lock {
        req = req.header("x-amz-bucket-object-lock-enabled", "true");
    }
    let resp = req
        .send()
        .await
        .unwrap_or_else(|e| panic!("creating bucket {bucket} on {}: {e}", server.endpoint));
    assert!(
        resp.status().is_success(),
        "creating bucket {bucket}: HTTP {}",
        resp.status()
    );
    Some(s3_config(&server.endpoint, &bucket, prefix))
}

/// As [`s3_backend`], the bucket created with Object Lock enabled (which enables versioning).
pub async fn s3_locked_backend(prefix: &str) -> Option<BackendConfig> {
    s3_bucket(prefix, true).await
}

/// As [`s3_backend`], the bucket created with versioning enabled but no Object Lock.
pub async fn s3_versioned_backend(prefix: &str) -> Option<BackendConfig> {
    let cfg = s3_backend(prefix).await?;
    let endpoint = s3_endpoint().expect("server running");
    let bucket = cfg.url["s3://".len()..]
        .split('/')
        .next()
        .unwrap()
        .to_string();
    let body = r#"<VersioningConfiguration xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><Status>Enabled</Status></VersioningConfiguration>"#;
    let resp = reqwest::Client::new()
        .put(format!("{endpoint}/{bucket}?versioning"))
        .body(body)
        .send()
        .await
        .expect("enabling versioning");
    assert!(
        resp.status().is_success(),
        "enabling versioning: HTTP {}",
        resp.status()
    );
    Some(cfg)
}

/// Backend config for `bucket` on the test server's endpoint (the bucket may not exist).
pub fn s3_config(endpoint: &str, bucket: &str, prefix: &str) -> BackendConfig {
    BackendConfig {
        url: format!("s3://{bucket}/{prefix}"),
        endpoint: Some(endpoint.to_string()),
        region: Some("us-east-1".into()),
        allow_http: true,
        access_key_id: Some("testing".into()),
        secret_access_key: Some(Secret::new("testing")),
        session_token: None,
        outage_wait_secs: None,
        object_lock: None,
        ..BackendConfig::default()
    }
}

/// The endpoint of the running test server, if any.
pub fn s3_endpoint() -> Option<String> {
    SERVER
        .get()
        .and_then(|s| s.as_ref().ok())
        .map(|s| s.endpoint.clone())
}

/// A TCP proxy in front of the test S3 server, so a test can make the endpoint unreachable
/// (connections refused, open ones cut) and bring it back on the same port, without losing
/// what the server stores (moto keeps its data in memory: restarting it would empty it).
///
/// Its port lies below the kernel's ephemeral range (32768 and up here), so while the proxy is
/// down no outgoing connection of a test running beside it can be given that port as its
/// source port and keep the proxy from binding it again; and `stop` returns only once the
/// listener and every forwarded connection are closed (an aborted task is dropped later, on
/// a worker thread: a connection it still held would keep the port bound).
pub struct S3Outage {
    port: u16,
    target: String,
    accept: Option<tokio::task::JoinHandle<()>>,
    conns: std::sync::Arc<Mutex<tokio::task::JoinSet<()>>>,
}

/// Ports tried for proxies: below the ephemeral range (`/proc/sys/net/ipv4/ip_local_port_range`,
/// 32768-60999 by default; checked in [`S3Outage::start`]).
const PROXY_PORTS: std::ops::Range<u16> = 20_000..32_000;

/// The ports of this process's live proxies, stopped ones included: another proxy starting
/// meanwhile does not take a stopped proxy's port.
static PROXY_PORTS_HELD: Mutex<Vec<u16>> = Mutex::new(Vec::new());

/// Whether the kernel may pick `ports` as source ports (its ephemeral range, when readable).
fn in_ephemeral_range(ports: &std::ops::Range<u16>) -> bool {
    let Ok(text) = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range") else {
        return false;
    };
    let mut bounds = text
        .split_whitespace()
        .filter_map(|n| n.parse::<u32>().ok());
    match (bounds.next(), bounds.next()) {
        (Some(low), Some(high)) => u32::from(ports.start) <= high && low < u32::from(ports.end),
        _ => false,
    }
}

fn proxy_listener(port: u16) -> std::io::Result<tokio::net::TcpListener> {
    let sock = tokio::net::TcpSocket::new_v4()?;
    sock.set_reuseaddr(true)?;
    sock.bind(([127, 0, 0, 1], port).into())?;
    sock.listen(64)
}

impl S3Outage {
    /// Starts forwarding 127.0.0.1:<free port> to `endpoint` (`http://host:port`).
    pub async fn start(endpoint: &str) -> Self {
        let target = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        // A start spread by the process id and the clock, then the next free port.
        let seed = std::process::id() as u64
            ^ std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.subsec_nanos() as u64);
        assert!(
            !in_ephemeral_range(&PROXY_PORTS),
            "the proxies' ports {PROXY_PORTS:?} overlap the kernel's ephemeral port range"
        );
        let span = (PROXY_PORTS.end - PROXY_PORTS.start) as u64;
        let mut held = PROXY_PORTS_HELD.lock().unwrap();
        let (port, listener) = (0..span)
            .map(|i| PROXY_PORTS.start + ((seed + i) % span) as u16)
            .filter(|port| !held.contains(port))
            .find_map(|port| proxy_listener(port).ok().map(|l| (port, l)))
            .expect("a free port for the proxy below the ephemeral range");
        held.push(port);
        drop(held);
        let mut p = Self {
            port,
            target,
            accept: None,
            conns: Default::default(),
        };
        p.serve(listener);
        p
    }

    /// The endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// The endpoint goes away: the listener closes, open connections are cut; returns once
    /// they are closed.
    pub async fn stop(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
            // Dropped once this returns: no connection is added after the set is taken.
            let _ = a.await;
        }
        let mut conns = std::mem::take(&mut *self.conns.lock().unwrap());
        conns.shutdown().await;
    }

    /// The endpoint comes back on the same port.
    pub fn resume(&mut self) {
        let listener = proxy_listener(self.port).expect("bind the proxy port again");
        self.serve(listener);
    }

    fn serve(&mut self, listener: tokio::net::TcpListener) {
        let (target, conns) = (self.target.clone(), self.conns.clone());
        self.accept = Some(tokio::spawn(async move {
            while let Ok((mut inbound, _)) = listener.accept().await {
                let target = target.clone();
                conns.lock().unwrap().spawn(async move {
                    if let Ok(mut outbound) = tokio::net::TcpStream::connect(&target).await {
                        let _ = tokio::io::copy_bidirectional(&mut inbound, &mut outbound).await;
                    }
                });
            }
        }));
    }
}

impl Drop for S3Outage {
    fn drop(&mut self) {
        if let Some(a) = self.accept.take() {
            a.abort();
        }
        // Dropping the set aborts its connections.
        drop(std::mem::take(&mut *self.conns.lock().unwrap()));
        if let Ok(mut held) = PROXY_PORTS_HELD.lock() {
            held.retain(|p| *p != self.port);
        }
    }
}

/// One request a client sent through an [`S3Recorder`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Recorded {
    pub method: String,
    /// Path and query, as sent.
    pub target: String,
    /// The access key id of its signature (`Credential=<id>/…`), if signed.
    pub key_id: Option<String>,
}

impl Recorded {
    /// A deletion: `DELETE`, or a bulk delete (`POST …?delete`).
    pub fn deletes(&self) -> bool {
        self.method == "DELETE" || (self.method == "POST" && self.target.contains("?delete"))
    }
}

/// A TCP proxy in front of the test S3 server that records each request's method, target and
/// the access key id that signed it (read from the request heads the client sends; bodies
/// pass untouched), so a test can tell which credentials made which calls.
pub struct S3Recorder {
    port: u16,
    seen: std::sync::Arc<Mutex<Vec<Recorded>>>,
    accept: tokio::task::JoinHandle<()>,
}

impl S3Recorder {
    pub async fn start(endpoint: &str) -> Self {
        let target = endpoint
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .expect("bind the recorder");
        let port = listener.local_addr().unwrap().port();
        let seen: std::sync::Arc<Mutex<Vec<Recorded>>> = Default::default();
        let log = seen.clone();
        let accept = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let (target, log) = (target.clone(), log.clone());
                tokio::spawn(async move {
                    let Ok(outbound) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    let (mut from_client, mut to_client) = inbound.into_split();
                    let (mut from_server, mut to_server) = outbound.into_split();
                    let back = tokio::spawn(async move {
                        let _ = tokio::io::copy(&mut from_server, &mut to_client).await;
                    });
                    use tokio::io::{AsyncReadExt, AsyncWriteExt};
                    let mut heads = HeadScanner::default();
                    let mut buf = vec![0u8; 64 * 1024];
                    loop {
                        let n = match from_client.read(&mut buf).await {
                            Ok(0) | Err(_) => break,
                            Ok(n) => n,
                        };
                        for r in heads.feed(&buf[..n]) {
                            log.lock().unwrap().push(r);
                        }
                        if to_server.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                    let _ = to_server.shutdown().await;
                    let _ = back.await;
                });
            }
        });
        Self { port, seen, accept }
    }

    /// The endpoint to give the client.
    pub fn endpoint(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    /// Every request recorded so far.
    pub fn requests(&self) -> Vec<Recorded> {
        self.seen.lock().unwrap().clone()
    }
}

impl Drop for S3Recorder {
    fn drop(&mut self) {
        self.accept.abort();
    }
}

/// Finds HTTP/1.1 request heads in a client's byte stream (bodies are skipped by their
/// `Content-Length`).
#[derive(Default)]
struct HeadScanner {
    pending: Vec<u8>,
    /// Body bytes still to skip.
    skip: usize,
}

impl HeadScanner {
    fn feed(&mut self, bytes: &[u8]) -> Vec<Recorded> {
        let mut out = Vec::new();
        let mut input = bytes.to_vec();
        loop {
            let n = self.skip.min(input.len());
            self.skip -= n;
            input.drain(..n);
            if self.skip > 0 {
                return out;
            }
            self.pending.append(&mut input);
            let Some(end) = self.pending.windows(4).position(|w| w == b"\r\n\r\n") else {
                return out;
            };
            let head = String::from_utf8_lossy(&self.pending[..end]).into_owned();
            input = self.pending.split_off(end + 4);
            self.pending.clear();
            let mut lines = head.split("\r\n");
            let mut first = lines.next().unwrap_or("").split(' ');
            let (method, target) = (
                first.next().unwrap_or("").to_string(),
                first.next().unwrap_or("").to_string(),
            );
            let mut key_id = None;
            for l in lines {
                let (name, value) = l.split_once(':').unwrap_or((l, ""));
                match name.trim().to_ascii_lowercase().as_str() {
                    "authorization" => {
                        key_id = value
                            .split("Credential=")
                            .nth(1)
                            .and_then(|c| c.split('/').next())
                            .map(str::to_string);
                    }
                    "content-length" => self.skip = value.trim().parse().unwrap_or(0),
                    _ => {}
                }
            }
            out.push(Recorded {
                method,
                target,
                key_id,
            });
        }
    }
}
