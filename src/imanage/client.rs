//! Request plumbing: every call goes through `Client::execute`, which takes a place from the
//! limiter, sends `X-Auth-Token`, turns error answers into [`ImanageError`], and retries by
//! [`ImanageError::retry`] alone: 401 → refresh once and repeat; 429 → slow down and wait out
//! `Retry-After`; 502/503/504 and connection errors → backoff with jitter; anything else fails.

use std::sync::Arc;
use std::time::Duration;

use reqwest::Method;
use reqwest::header::{HeaderMap, HeaderValue};
use serde::Deserialize;
use serde_json::Value;
use tracing::{debug, warn};

use super::auth::Auth;
use super::error::{ImanageError, RetryClass};
use super::limiter::{Limiter, Permit};
use super::model::{DiscoveredUser, Library, LibraryId};
use super::retry::{Decision, RetryPolicy};
use super::settings::ClientSettings;
use super::stats::{ClientStats, Counters};

/// A request body that can be built again for a retry.
#[derive(Clone)]
pub(crate) enum Body {
    None,
    Json(Value),
    Multipart(Arc<dyn Fn() -> reqwest::multipart::Form + Send + Sync>),
}

/// One logical call: retried attempts share it.
pub(crate) struct Call {
    pub method: Method,
    pub path: String,
    pub query: Vec<(&'static str, String)>,
    pub body: Body,
    /// What is being done, on which object: the start of every error message.
    pub action: String,
}

impl Call {
    pub fn get(path: String, action: String) -> Self {
        Self {
            method: Method::GET,
            path,
            query: vec![],
            body: Body::None,
            action,
        }
    }

    pub fn with_query(mut self, key: &'static str, value: impl ToString) -> Self {
        self.query.push((key, value.to_string()));
        self
    }

    pub fn with_json(mut self, method: Method, body: Value) -> Self {
        self.method = method;
        self.body = Body::Json(body);
        self
    }
}

/// Cheap to clone: everything lives behind one `Arc`.
#[derive(Clone)]
pub struct Client {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    pub http: reqwest::Client,
    pub settings: Arc<ClientSettings>,
    pub auth: Auth,
    pub limiter: Limiter,
    pub counters: Arc<Counters>,
    pub policy: RetryPolicy,
    pub user: DiscoveredUser,
    pub libraries: Vec<Library>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("base_url", &self.inner.settings.base_url.as_str())
            .field("user", &self.inner.user.id)
            .field("libraries", &self.inner.libraries.len())
            .finish()
    }
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Deserialize)]
struct ErrorDetail {
    #[serde(default)]
    code: Option<String>,
    #[serde(default)]
    code_message: Option<String>,
}

/// `Retry-After` in seconds (integer or decimal); HTTP dates are not used by the service.
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let v = headers.get(reqwest::header::RETRY_AFTER)?.to_str().ok()?;
    let secs: f64 = v.trim().parse().ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.min(3600.0)))
}

/// Error bodies are small JSON objects; never read more than this of one.
const MAX_ERROR_BODY: usize = 64 * 1024;

/// At most `cap` bytes of a body (what arrived before a failure, if the body breaks off).
pub(crate) async fn read_capped(mut resp: reqwest::Response, cap: usize) -> Vec<u8> {
    let mut out = Vec::new();
    while out.len() < cap {
        match resp.chunk().await {
            Ok(Some(c)) => out.extend_from_slice(&c[..c.len().min(cap - out.len())]),
            Ok(None) | Err(_) => break,
        }
    }
    out
}

/// Build the error for a non-success answer; reads (a bounded amount of) the body.
async fn error_from(action: &str, resp: reqwest::Response) -> ImanageError {
    let status = resp.status().as_u16();
    let retry_after = retry_after(resp.headers());
    let body = read_capped(resp, MAX_ERROR_BODY).await;
    let detail = serde_json::from_slice::<ErrorBody>(&body)
        .ok()
        .map(|b| b.error);
    let (code, message) = match detail {
        Some(d) => (d.code, d.code_message),
        None => (None, None),
    };
    if status == 403 {
        return ImanageError::AccessDenied {
            what: action.to_string(),
            code: code.unwrap_or_else(|| "NRC_ACCESS_DENIED".into()),
        };
    }
    ImanageError::Status {
        action: action.to_string(),
        status,
        code,
        message,
        retry_after,
    }
}

impl Client {
    /// Sign in, run discovery (`GET {host}/api`) and list the customer's libraries.
    pub async fn connect(settings: ClientSettings) -> Result<Client, ImanageError> {
        settings.validate()?;
        let http = reqwest::Client::builder()
            .connect_timeout(settings.connect_timeout)
            .read_timeout(settings.read_timeout)
            .pool_max_idle_per_host(settings.concurrency.max(1))
            .build()
            .map_err(|e| ImanageError::Transport {
                action: "building the HTTP client".into(),
                source: e,
            })?;
        let settings = Arc::new(settings);
        let counters = Arc::new(Counters::default());
        let auth = Auth::sign_in(http.clone(), settings.clone(), counters.clone()).await?;
        let policy = RetryPolicy {
            max_retries: settings.max_retries,
            base: settings.retry_base,
            cap: settings.retry_cap,
        };
        let mut inner = Inner {
            limiter: Limiter::new(settings.requests_per_second, settings.concurrency),
            http,
            settings,
            auth,
            counters,
            policy,
            user: DiscoveredUser {
                id: String::new(),
                customer_id: 0,
                user_type: super::model::UserType::Other,
                email: None,
            },
            libraries: vec![],
        };
        let user = discover(&inner).await?;
        inner.user = user;
        let libraries = list_libraries(&inner).await?;
        inner.libraries = libraries;
        tracing::info!(
            user = %inner.user.id,
            customer_id = inner.user.customer_id,
            user_type = ?inner.user.user_type,
            libraries = inner.libraries.len(),
            "iManage discovery done"
        );
        Ok(Client {
            inner: Arc::new(inner),
        })
    }

    pub fn user(&self) -> &DiscoveredUser {
        &self.inner.user
    }

    pub fn customer_id(&self) -> u64 {
        self.inner.user.customer_id
    }

    /// Every library discovery listed, hidden ones included.
    pub fn libraries(&self) -> &[Library] {
        &self.inner.libraries
    }

    pub fn settings(&self) -> &ClientSettings {
        &self.inner.settings
    }

    pub fn stats(&self) -> ClientStats {
        let lim = &self.inner.limiter;
        self.inner.counters.snapshot(
            (lim.rate(), lim.max_rate()),
            (lim.concurrency(), self.inner.settings.concurrency.max(1)),
        )
    }

    /// Why this client can no longer sign in (its token renewal was refused), if it can't:
    /// it makes no further grant, every call fails with this refusal.
    pub fn sign_in_refusal(&self) -> Option<ImanageError> {
        self.inner.auth.refusal()
    }

    /// Whether both handles are the same signed-in client.
    pub fn same_as(&self, other: &Client) -> bool {
        Arc::ptr_eq(&self.inner, &other.inner)
    }

    /// Revoke the access token; call on shutdown.
    pub async fn revoke(&self) -> Result<(), ImanageError> {
        self.inner.auth.revoke().await
    }

    /// `P/libraries/{lib}`: the library prefix `L` of the contract.
    pub(crate) fn lib_path(&self, library: &LibraryId) -> String {
        format!(
            "/work/api/v2/customers/{}/libraries/{}",
            self.inner.user.customer_id, library
        )
    }

    pub(crate) async fn execute(
        &self,
        call: &Call,
    ) -> Result<(reqwest::Response, Permit), ImanageError> {
        execute(&self.inner, call).await
    }

    /// Run a call and parse its JSON answer.
    pub(crate) async fn json(&self, call: &Call) -> Result<Value, ImanageError> {
        json(&self.inner, call).await
    }
}

async fn json(inner: &Inner, call: &Call) -> Result<Value, ImanageError> {
    let (resp, permit) = execute(inner, call).await?;
    let bytes = resp.bytes().await.map_err(|e| ImanageError::Transport {
        action: call.action.clone(),
        source: e.without_url(),
    })?;
    drop(permit);
    if bytes.is_empty() {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&bytes).map_err(|e| ImanageError::Decode {
        action: call.action.clone(),
        source: e,
    })
}

async fn discover(inner: &Inner) -> Result<DiscoveredUser, ImanageError> {
    let call = Call::get("/api".into(), "discovery (GET /api)".into());
    let v = json(inner, &call).await?;
    let user = v
        .pointer("/data/user")
        .cloned()
        .ok_or_else(|| ImanageError::Protocol {
            action: call.action.clone(),
            problem: "no data.user in the answer".into(),
        })?;
    serde_json::from_value(user).map_err(|e| ImanageError::Decode {
        action: call.action,
        source: e,
    })
}

async fn list_libraries(inner: &Inner) -> Result<Vec<Library>, ImanageError> {
    let call = Call::get(
        format!(
            "/work/api/v2/customers/{}/libraries",
            inner.user.customer_id
        ),
        format!(
            "listing the libraries of customer {}",
            inner.user.customer_id
        ),
    );
    let v = json(inner, &call).await?;
    let data = v.get("data").cloned().unwrap_or(Value::Null);
    serde_json::from_value(data).map_err(|e| ImanageError::Decode {
        action: call.action,
        source: e,
    })
}

async fn send_once(
    inner: &Inner,
    call: &Call,
    url: url::Url,
    token: HeaderValue,
) -> Result<reqwest::Response, reqwest::Error> {
    let mut req = inner
        .http
        .request(call.method.clone(), url)
        .header("X-Auth-Token", token);
    if !call.query.is_empty() {
        req = req.query(&call.query);
    }
    req = match &call.body {
        Body::None => req,
        Body::Json(v) => req.json(v),
        Body::Multipart(make) => req.multipart(make()),
    };
    req.send().await
}

/// `X-Auth-Token` marked sensitive, so no HTTP-layer debug output can show it.
fn auth_header(token: &crate::secret::Secret, call: &Call) -> Result<HeaderValue, ImanageError> {
    let mut v = HeaderValue::from_str(token.expose()).map_err(|_| ImanageError::Protocol {
        action: call.action.clone(),
        problem: "the token endpoint issued an access token that is not a valid header value"
            .into(),
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The retry loop. Returns a success answer with its limiter place, which the caller keeps while
/// it reads the body (so a streaming download counts against the concurrency limit).
async fn execute(inner: &Inner, call: &Call) -> Result<(reqwest::Response, Permit), ImanageError> {
    let url = inner.settings.url(&call.path)?;
    let mut retries = 0u32;
    let mut reauthed = false;
    loop {
        let permit = inner.limiter.acquire().await;
        let token = inner.auth.token().await?;
        Counters::bump(&inner.counters.requests);
        debug!(method = %call.method, path = %call.path, attempt = retries + 1, "iManage call");
        let err = match send_once(inner, call, url.clone(), auth_header(&token.value, call)?).await
        {
            Ok(resp) if resp.status().is_success() => {
                inner.limiter.on_success();
                return Ok((resp, permit));
            }
            Ok(resp) => error_from(&call.action, resp).await,
            Err(e) => {
                Counters::bump(&inner.counters.transport_errors);
                ImanageError::Transport {
                    action: call.action.clone(),
                    source: e.without_url(),
                }
            }
        };
        drop(permit);
        let class = err.retry();
        match err.status() {
            Some(429) => Counters::bump(&inner.counters.throttled),
            Some(s) if s >= 500 => Counters::bump(&inner.counters.server_errors),
            _ => {}
        }
        if let RetryClass::After(d) = class {
            inner.limiter.on_throttled(d);
        }
        match inner.policy.decide(class, retries, reauthed) {
            Decision::Fail => {
                return Err(if retries > 0 && class != RetryClass::Never {
                    ImanageError::RetriesExhausted {
                        action: call.action.clone(),
                        attempts: retries + 1,
                        source: Box::new(err),
                    }
                } else {
                    err
                });
            }
            Decision::Reauth => {
                debug!(path = %call.path, "401: renewing the token once");
                reauthed = true;
                inner.auth.reauth(token.generation).await?;
            }
            Decision::RetryAfter(delay) => {
                retries += 1;
                Counters::bump(&inner.counters.retries);
                warn!(action = %call.action, error = %err, retry = retries, delay_ms = delay.as_millis() as u64, "transient failure; retrying");
                tokio::time::sleep(delay).await;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use reqwest::header::RETRY_AFTER;

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("3"));
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("0.5"));
        assert_eq!(retry_after(&h), Some(Duration::from_millis(500)));
        h.insert(RETRY_AFTER, HeaderValue::from_static("soon"));
        assert_eq!(retry_after(&h), None);
        h.insert(RETRY_AFTER, HeaderValue::from_static("-1"));
        assert_eq!(retry_after(&h), None);
    }
}
