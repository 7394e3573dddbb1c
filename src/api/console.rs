//! The operator web console: static HTML, JavaScript modules and CSS compiled into the binary
//! (nothing is loaded from elsewhere, so it works on an air-gapped host), served at `/` and
//! `/console/...`. The pages use only the `/v1` API, with the bearer token the operator enters
//! on the sign-in page (kept in the tab's `sessionStorage`, never in a URL).
//!
//! Every answer carries a strict Content-Security-Policy: scripts, styles and images only from
//! this origin, no inline script or style, no eval, no framing.

use std::sync::OnceLock;

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The policy of every console answer.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; font-src 'self'; \
     base-uri 'none'; form-action 'self'; frame-ancestors 'none'";

/// One embedded file.
pub struct Asset {
    pub name: &'static str,
    pub content_type: &'static str,
    pub body: &'static [u8],
}

macro_rules! assets {
    ($($name:literal => $ct:expr),+ $(,)?) => {
        &[$(Asset {
            name: $name,
            content_type: $ct,
            body: include_bytes!(concat!("console/", $name)),
        }),+]
    };
}

const JS: &str = "text/javascript; charset=utf-8";

/// Every file of the console.
pub const ASSETS: &[Asset] = assets!(
    "index.html" => "text/html; charset=utf-8",
    "style.css" => "text/css; charset=utf-8",
    "icon.svg" => "image/svg+xml",
    "app.js" => JS,
    "api.js" => JS,
    "ui.js" => JS,
    "chart.js" => JS,
    "calendar.js" => JS,
    "pages/signin.js" => JS,
    "pages/dashboard.js" => JS,
    "pages/jobs.js" => JS,
    "pages/job.js" => JS,
    "pages/browse.js" => JS,
    "pages/document.js" => JS,
    "pages/search.js" => JS,
    "pages/restore.js" => JS,
);

/// The entity tag of each asset (a hash of its bytes), computed once.
fn etag(i: usize) -> &'static str {
    static TAGS: OnceLock<Vec<String>> = OnceLock::new();
    &TAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| format!("\"{}\"", &blake3::hash(a.body).to_hex()[..32]))
            .collect()
    })[i]
}

/// The headers every console answer carries.
pub fn security_headers(h: &mut HeaderMap) {
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        "cross-origin-opener-policy",
        HeaderValue::from_static("same-origin"),
    );
}

fn serve_asset(name: &str, request: &HeaderMap) -> Response {
    let Some(i) = ASSETS.iter().position(|a| a.name == name) else {
        let mut r = (StatusCode::NOT_FOUND, "no such file in the console").into_response();
        security_headers(r.headers_mut());
        return r;
    };
    let asset = &ASSETS[i];
    let tag = etag(i);
    let unchanged = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == tag));
    let mut r = if unchanged {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        let mut r = asset.body.into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static(asset.content_type),
        );
        r
    };
    let h = r.headers_mut();
    security_headers(h);
    // Always revalidate: an upgraded daemon serves its own console at once.
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(v) = HeaderValue::from_str(tag) {
        h.insert(header::ETAG, v);
    }
    r
}

async fn index(headers: HeaderMap) -> Response {
    serve_asset("index.html", &headers)
}

async fn file(Path(name): Path<String>, headers: HeaderMap) -> Response {
    serve_asset(&name, &headers)
}

/// The console's routes (no state; they serve files only).
pub fn routes<S: Clone + Send + Sync + 'static>() -> Router<S> {
    Router::new()
        .route("/", get(index))
        .route("/index.html", get(index))
        .route("/console/{*file}", get(file))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The pages never carry inline script, inline style, event-handler attributes or eval,
    /// which the Content-Security-Policy would block, nor anything loaded from elsewhere.
    #[test]
    fn assets_obey_the_content_security_policy() {
        let mut imports = Vec::new();
        for a in ASSETS {
            let text = String::from_utf8_lossy(a.body);
            let lower = text.to_ascii_lowercase();
            for bad in [
                " style=\"",
                "setattribute('style'",
                "setattribute(\"style\"",
                ".innerhtml",
                "outerhtml",
                "eval(",
                "new function(",
                "javascript:",
                "http://",
                "https://",
                "@import",
                "document.write",
            ] {
                // The SVG namespace is an identifier, not a load.
                let occurrences = lower.matches(bad).count()
                    - if bad == "http://" {
                        lower.matches("http://www.w3.org/2000/svg").count()
                    } else {
                        0
                    };
                assert_eq!(occurrences, 0, "{} contains {bad:?}", a.name);
            }
            if a.name.ends_with(".html") {
                assert!(!lower.contains("<script>"), "inline script in {}", a.name);
                assert!(!lower.contains("<style"), "inline style in {}", a.name);
                for attr in [" onclick=", " onload=", " onerror=", " onsubmit="] {
                    assert!(!lower.contains(attr), "{attr} in {}", a.name);
                }
            }
            for line in text.lines() {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("import ")
                    && let Some(from) = rest.split(" from ").nth(1)
                {
                    imports.push((
                        a.name,
                        from.trim_matches(|c| c == '\'' || c == '"' || c == ';')
                            .to_string(),
                    ));
                }
            }
        }
        // Every module a module imports is embedded.
        for (from, module) in imports {
            let base = std::path::Path::new(from).parent().unwrap();
            let joined = base.join(&module);
            let mut parts: Vec<&str> = Vec::new();
            for p in joined.components() {
                match p.as_os_str().to_str().unwrap() {
                    "." => {}
                    ".." => {
                        parts.pop();
                    }
                    s => parts.push(s),
                }
            }
            let path = parts.join("/");
            assert!(
                ASSETS.iter().any(|a| a.name == path),
                "{from} imports {module} ({path}), which is not embedded"
            );
        }
    }

    #[test]
    fn answers_carry_the_policy_and_revalidate() {
        let r = serve_asset("app.js", &HeaderMap::new());
        assert_eq!(r.status(), StatusCode::OK);
        let h = r.headers();
        assert_eq!(h[header::CONTENT_SECURITY_POLICY], CONTENT_SECURITY_POLICY);
        assert!(
            h[header::CONTENT_TYPE]
                .to_str()
                .unwrap()
                .starts_with("text/javascript")
        );
        let tag = h[header::ETAG].clone();
        let mut again = HeaderMap::new();
        again.insert(header::IF_NONE_MATCH, tag);
        assert_eq!(
            serve_asset("app.js", &again).status(),
            StatusCode::NOT_MODIFIED
        );
        let missing = serve_asset("../Cargo.toml", &HeaderMap::new());
        assert_eq!(missing.status(), StatusCode::NOT_FOUND);
        assert!(
            missing
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
    }
}
