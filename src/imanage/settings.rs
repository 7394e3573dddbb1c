//! What the client needs to know: where the tenant is, who signs in, and how politely to call it.

use std::time::Duration;

use url::Url;

use super::error::ImanageError;
use crate::secret::Secret;

/// Settings of one iManage tenant connection; the config module builds it from the TOML file.
#[derive(Debug, Clone)]
pub struct ClientSettings {
    /// `{host}` of the contract, e.g. `https://cloudimanage.com`.
    pub base_url: Url,
    /// The pre-approved application's client id.
    pub client_id: String,
    pub client_secret: Secret,
    /// The service account's sign-in name (e-mail).
    pub username: String,
    /// The service account's auth key (sent as the password of the password grant).
    pub auth_key: Secret,
    /// Optional OAuth scope (`admin` or `user`).
    pub scope: Option<String>,
    /// Ceiling of the request rate; the client adapts below it when 429s appear.
    pub requests_per_second: u32,
    /// Requests in flight at once.
    pub concurrency: usize,
    /// Retries of one call after a transient failure (so `max_retries + 1` attempts).
    pub max_retries: u32,
    /// First backoff delay; doubles per retry up to `retry_cap`.
    pub retry_base: Duration,
    pub retry_cap: Duration,
    pub connect_timeout: Duration,
    /// Longest silence while reading an answer (a whole download may take longer).
    pub read_timeout: Duration,
    /// `limit` of paged listings (1–500).
    pub page_size: u32,
    /// `limit` of sync crawl pages (1–1000).
    pub crawl_page_size: u32,
    /// Refresh the access token when less than this is left (at most a tenth of its life).
    pub refresh_margin: Duration,
}

impl ClientSettings {
    /// Settings with the defaults for everything but the tenant and the credentials.
    pub fn new(
        base_url: Url,
        client_id: impl Into<String>,
        client_secret: Secret,
        username: impl Into<String>,
        auth_key: Secret,
    ) -> Self {
        Self {
            base_url,
            client_id: client_id.into(),
            client_secret,
            username: username.into(),
            auth_key,
            scope: None,
            requests_per_second: 20,
            concurrency: 8,
            max_retries: 8,
            retry_base: Duration::from_millis(100),
            retry_cap: Duration::from_secs(15),
            connect_timeout: Duration::from_secs(10),
            read_timeout: Duration::from_secs(60),
            page_size: 500,
            crawl_page_size: 1000,
            refresh_margin: Duration::from_secs(60),
        }
    }

    /// Refuse settings the client cannot work with, saying which and why.
    pub fn validate(&self) -> Result<(), ImanageError> {
        let bad = |problem: String| Err(ImanageError::Settings { problem });
        if !matches!(self.base_url.scheme(), "http" | "https") {
            return bad(format!(
                "base_url {} must be an http or https URL",
                self.base_url
            ));
        }
        if self.client_id.is_empty() {
            return bad("client_id is empty".into());
        }
        if self.client_secret.is_empty() {
            return bad("client_secret is empty".into());
        }
        if self.username.is_empty() {
            return bad("username is empty".into());
        }
        if self.auth_key.is_empty() {
            return bad("auth_key is empty".into());
        }
        if self.requests_per_second == 0 {
            return bad("requests_per_second must be at least 1".into());
        }
        if self.concurrency == 0 {
            return bad("concurrency must be at least 1".into());
        }
        if !(1..=500).contains(&self.page_size) {
            return bad(format!("page_size {} is outside 1–500", self.page_size));
        }
        if !(1..=1000).contains(&self.crawl_page_size) {
            return bad(format!(
                "crawl_page_size {} is outside 1–1000",
                self.crawl_page_size
            ));
        }
        Ok(())
    }

    /// An absolute URL for a path of the contract (`/api`, `/work/api/v2/…`), keeping any path
    /// prefix of `base_url`.
    pub(crate) fn url(&self, path: &str) -> Result<Url, ImanageError> {
        let s = format!("{}{}", self.base_url.as_str().trim_end_matches('/'), path);
        Url::parse(&s).map_err(|e| ImanageError::Settings {
            problem: format!("cannot build a URL from base_url and {path}: {e}"),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(base: &str) -> ClientSettings {
        ClientSettings::new(
            Url::parse(base).unwrap(),
            "id",
            Secret::new("s3cr3t"),
            "svc@x",
            Secret::new("k3y"),
        )
    }

    #[test]
    fn urls_keep_the_prefix_and_the_bang() {
        let s = settings("https://h.example/tenant/");
        assert_eq!(
            s.url("/work/api/v2/customers/1/libraries/A/documents/A!4.2")
                .unwrap()
                .as_str(),
            "https://h.example/tenant/work/api/v2/customers/1/libraries/A/documents/A!4.2"
        );
        assert!(s.validate().is_ok());
    }

    #[test]
    fn bad_settings_are_named_and_secrets_never_printed() {
        let mut s = settings("https://h.example");
        s.page_size = 900;
        let e = s.validate().unwrap_err().to_string();
        assert!(e.contains("page_size 900"), "{e}");
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("k3y"), "{dbg}");
        let mut s = settings("ftp://h.example");
        s.page_size = 10;
        assert!(s.validate().unwrap_err().to_string().contains("http"));
    }
}
