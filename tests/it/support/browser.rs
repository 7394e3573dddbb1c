//! A real headless Chromium for tests, driven over WebDriver (Debian's `chromium` and
//! `chromium-driver`, through fantoccini).
//!
//! - `chromium` and `chromedriver` on PATH (or `IMVAULT_TEST_CHROMIUM` / `IMVAULT_TEST_CHROMEDRIVER`):
//!   a chromedriver per test on a free 127.0.0.1 port, stopped with the test (a shell watchdog
//!   kills it when our stdin pipe closes, even if the test process dies).
//! - else: skip with a loud message, unless `CI=true`, where a missing browser is a failure.
//!
//! Every wait polls a condition with a deadline (no fixed sleeps). Screenshots go to
//! `target/console-screenshots/` and are checked not to be blank.

#![allow(dead_code)]

use std::io::Write as _;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{Value, json};

/// WebDriver key codes.
pub const TAB: &str = "\u{e004}";
pub const ENTER: &str = "\u{e007}";
pub const ARROW_DOWN: &str = "\u{e015}";
pub const SHIFT: &str = "\u{e008}";

/// How long any one wait may take.
pub const WAIT: Duration = Duration::from_secs(60);

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|p| {
        std::env::split_paths(&p)
            .map(|d| d.join(name))
            .find(|f| f.is_file())
    })
}

fn find(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Some(v) = std::env::var_os(var).filter(|v| !v.is_empty()) {
        return Some(PathBuf::from(v));
    }
    names.iter().find_map(|n| on_path(n))
}

/// A running chromedriver with one browser session.
pub struct Browser {
    pub client: Client,
    _driver: Child,
    _watchdog: ChildStdin,
    _profile: tempfile::TempDir,
}

/// Starts chromedriver and a headless Chromium of `width`×`height`, or `None` (after a loud
/// message) when they are not installed and `CI` is not `true`.
pub async fn browser(width: u32, height: u32) -> Option<Browser> {
    let chromium = find(
        "IMVAULT_TEST_CHROMIUM",
        &["chromium", "chromium-browser", "google-chrome"],
    );
    let driver = find("IMVAULT_TEST_CHROMEDRIVER", &["chromedriver"]);
    let (chromium, driver) = match (chromium, driver) {
        (Some(c), Some(d)) => (c, d),
        (c, d) => {
            let reason = format!(
                "no {} on PATH",
                match (c, d) {
                    (None, None) => "chromium nor chromedriver",
                    (None, _) => "chromium",
                    _ => "chromedriver",
                }
            );
            if std::env::var("CI").as_deref() == Ok("true") {
                panic!("the browser test needs Chromium under CI=true: {reason}");
            }
            let _ = writeln!(
                std::io::stderr(),
                "\n!!! SKIPPING BROWSER TEST: {reason} (install with `apt-get install -y chromium chromium-driver`) !!!\n"
            );
            return None;
        }
    };
    let port = TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let script = r#""$1" --port="$2" --allowed-ips=127.0.0.1 >/dev/null 2>&1 & p=$!; read _; kill $p; wait $p"#;
    let mut child = Command::new("sh")
        .args(["-c", script, "sh"])
        .arg(&driver)
        .arg(port.to_string())
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start chromedriver");
    let watchdog = child
        .stdin
        .take()
        .expect("a pipe to the chromedriver watchdog");
    let deadline = Instant::now() + WAIT;
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            Instant::now() < deadline,
            "chromedriver did not listen on 127.0.0.1:{port} in time"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let profile = tempfile::tempdir().expect("a browser profile dir");
    let caps = json!({
        "browserName": "chrome",
        "goog:chromeOptions": {
            "binary": chromium,
            "args": [
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--disable-dev-shm-usage",
                "--hide-scrollbars",
                "--force-device-scale-factor=1",
                format!("--window-size={width},{height}"),
                format!("--user-data-dir={}", profile.path().display()),
            ],
        },
    });
    let caps = match caps {
        Value::Object(m) => m,
        _ => unreachable!(),
    };
    let connector = hyper_util::client::legacy::connect::HttpConnector::new();
    let client = ClientBuilder::new(connector)
        .capabilities(caps)
        .connect(&format!("http://127.0.0.1:{port}"))
        .await
        .expect("a Chromium session through chromedriver");
    Some(Browser {
        client,
        _driver: child,
        _watchdog: watchdog,
        _profile: profile,
    })
}

impl Browser {
    /// Runs `script` (a function body; `arguments` are `args`) in the page.
    pub async fn js(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("running {script:?}: {e}"))
    }

    /// Polls `script` until it returns something truthy (not null/false/""/0); returns it.
    pub async fn until(&self, what: &str, script: &str, args: Vec<Value>) -> Value {
        let deadline = Instant::now() + WAIT;
        loop {
            let v = self.js(script, args.clone()).await;
            let truthy = match &v {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::String(s) => !s.is_empty(),
                Value::Number(n) => n.as_f64() != Some(0.0),
                _ => true,
            };
            if truthy {
                return v;
            }
            if Instant::now() >= deadline {
                let text = self.js("return document.body.innerText", vec![]).await;
                panic!(
                    "the page never showed {what}; it shows:\n{}",
                    text.as_str().unwrap_or_default()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Waits for an element matching `css` and returns it.
    /// A page that redraws itself (the dashboard's refresh) may remove the element between the
    /// check and the find: then it is looked for again, until the deadline.
    pub async fn el(&self, css: &str) -> fantoccini::elements::Element {
        let deadline = Instant::now() + WAIT;
        loop {
            self.until(
                &format!("an element {css}"),
                "return document.querySelector(arguments[0]) !== null",
                vec![json!(css)],
            )
            .await;
            match self.client.find(Locator::Css(css)).await {
                Ok(el) => return el,
                Err(e) if Instant::now() >= deadline => panic!("finding {css}: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
            }
        }
    }

    /// Waits until the page's text contains `needle`.
    pub async fn text(&self, needle: &str) {
        self.until(
            &format!("the text {needle:?}"),
            "return document.body.innerText.includes(arguments[0])",
            vec![json!(needle)],
        )
        .await;
    }

    /// Clicks the element matching `css`. A page that redraws itself while it polls (the jobs
    /// list, a running job) may replace the element between finding and clicking it: then the
    /// new one is found and clicked, until the deadline.
    pub async fn click(&self, css: &str) {
        let deadline = Instant::now() + WAIT;
        loop {
            match self.el(css).await.click().await {
                Ok(_) => return,
                Err(e) if e.to_string().contains("stale element") && Instant::now() < deadline => {
                    continue;
                }
                Err(e) => panic!("clicking {css}: {e}"),
            }
        }
    }

    /// Replaces the value of the input matching `css` by typing `text`.
    pub async fn type_into(&self, css: &str, text: &str) {
        let e = self.el(css).await;
        e.clear()
            .await
            .unwrap_or_else(|e| panic!("clearing {css}: {e}"));
        e.send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
    }

    /// Presses and releases each key of `keys` (WebDriver key codes: `\u{e004}` Tab,
    /// `\u{e007}` Enter, `\u{e015}` ArrowDown...) on whatever has the focus, as a keyboard would.
    pub async fn keys(&self, keys: &str) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let mut seq = KeyActions::new("keyboard".into());
        for k in keys.chars() {
            seq = seq
                .then(KeyAction::Down { value: k })
                .then(KeyAction::Up { value: k });
        }
        self.client
            .perform_actions(seq)
            .await
            .unwrap_or_else(|e| panic!("pressing {keys:?}: {e}"));
    }

    /// Presses Tab until the focused element matches `css` (at most `max` presses); panics
    /// with the focus path seen when it never does.
    pub async fn tab_to(&self, css: &str, max: usize) {
        self.tab_until(css, max, false).await;
    }

    /// Like [`Browser::tab_to`], backwards (Shift+Tab).
    pub async fn tab_back_to(&self, css: &str, max: usize) {
        self.tab_until(css, max, true).await;
    }

    async fn tab_until(&self, css: &str, max: usize, back: bool) {
        use fantoccini::actions::{InputSource, KeyAction, KeyActions};
        let tab = TAB.chars().next().unwrap();
        let shift = SHIFT.chars().next().unwrap();
        let mut seen = Vec::new();
        for _ in 0..max {
            let mut seq = KeyActions::new("keyboard".into());
            if back {
                seq = seq.then(KeyAction::Down { value: shift });
            }
            seq = seq
                .then(KeyAction::Down { value: tab })
                .then(KeyAction::Up { value: tab });
            if back {
                seq = seq.then(KeyAction::Up { value: shift });
            }
            self.client
                .perform_actions(seq)
                .await
                .unwrap_or_else(|e| panic!("pressing Tab: {e}"));
            let at = self
                .js(
                    "const a = document.activeElement;
                     return a.matches(arguments[0]) ? true : (a.outerHTML || '').slice(0, 100);",
                    vec![json!(css)],
                )
                .await;
            if at == Value::Bool(true) {
                return;
            }
            seen.push(at.as_str().unwrap_or_default().to_string());
        }
        panic!(
            "{max} Tab presses never reached {css}; the focus went:\n{}",
            seen.join("\n")
        );
    }

    /// The URL's fragment (`#/...`).
    pub async fn hash(&self) -> String {
        self.js("return location.hash", vec![])
            .await
            .as_str()
            .unwrap_or_default()
            .to_string()
    }

    /// Waits for two animation frames (pending layout settled).
    async fn frames(&self) {
        self.client
            .execute_async(
                "const done = arguments[0]; requestAnimationFrame(() => requestAnimationFrame(() => done(true)));",
                vec![],
            )
            .await
            .expect("animation frames");
    }

    /// Writes a screenshot of the whole page (the window grown to the page's height, at most
    /// 6000 px, then put back) to `dir/name.png` after checking it is not blank.
    pub async fn screenshot(&self, dir: &Path, name: &str) -> PathBuf {
        self.frames().await;
        let (width, height) = self.client.get_window_size().await.expect("window size");
        let need = self
            .js(
                "return document.scrollingElement.scrollHeight + (window.outerHeight - window.innerHeight)",
                vec![],
            )
            .await
            .as_u64()
            .unwrap_or(height)
            .min(6000);
        if need > height {
            self.client
                .set_window_size(width as u32, need as u32)
                .await
                .expect("grow the window");
            self.frames().await;
        }
        let png = self.client.screenshot().await.expect("a screenshot");
        if need > height {
            self.client
                .set_window_size(width as u32, height as u32)
                .await
                .expect("restore the window");
            self.frames().await;
        }
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, &png).expect("write the screenshot");
        check_not_blank(&png, &path);
        path
    }
}

/// Where the screenshots go: `target/console-screenshots/`.
pub fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let dir = target.join("console-screenshots");
    std::fs::create_dir_all(&dir).expect("create the screenshot dir");
    dir
}

/// Decodes the PNG and checks it shows something: many distinct colours, no one colour
/// covering nearly everything.
pub fn check_not_blank(png_bytes: &[u8], path: &Path) {
    let decoder = png::Decoder::new(std::io::Cursor::new(png_bytes));
    let mut reader = decoder
        .read_info()
        .unwrap_or_else(|e| panic!("{}: not a PNG: {e}", path.display()));
    let mut buf = vec![0; reader.output_buffer_size().expect("a buffer size")];
    let info = reader
        .next_frame(&mut buf)
        .unwrap_or_else(|e| panic!("{}: undecodable PNG: {e}", path.display()));
    let channels = info.color_type.samples();
    assert!(
        info.width >= 300 && info.height >= 300,
        "{}: {}x{}",
        path.display(),
        info.width,
        info.height
    );
    let mut counts = std::collections::HashMap::new();
    let pixels = (info.width * info.height) as usize;
    for px in buf[..pixels * channels].chunks(channels) {
        // Quantised to 4 bits a channel.
        let key: Vec<u8> = px.iter().take(3).map(|c| c >> 4).collect();
        *counts.entry(key).or_insert(0usize) += 1;
    }
    let top = counts.values().max().copied().unwrap_or(0);
    assert!(
        counts.len() >= 12,
        "{}: only {} colours: blank?",
        path.display(),
        counts.len()
    );
    assert!(
        (top as f64) < 0.97 * pixels as f64,
        "{}: one colour covers {:.1}% of the page: blank?",
        path.display(),
        100.0 * top as f64 / pixels as f64
    );
}
