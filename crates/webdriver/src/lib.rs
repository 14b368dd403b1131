//! A small WebDriver client for Ferry's browser tests: it starts chromedriver, opens headless
//! Chromium (Debian's `chromium` and `chromium-driver`, which `scripts/test` installs when
//! missing) and offers the few commands the journeys use. Every click here is expected to lead
//! to a page; `ferry.js` marks the page being left so `click` can wait for the next one.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};

const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// The folder screenshots are saved to: `screenshots/` in the target directory of the crate at
/// `manifest_dir`.
pub fn screenshot_dir(manifest_dir: &str) -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(manifest_dir).join("../../target"));
    let dir = target.join("screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot folder");
    dir.canonicalize().unwrap_or(dir)
}

/// A headless Chromium session behind chromedriver.
pub struct Browser {
    http: reqwest::Client,
    session: String,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn start() -> Browser {
        let chromedriver =
            std::env::var("FERRY_CHROMEDRIVER").unwrap_or_else(|_| "chromedriver".into());
        let chromium =
            std::env::var("FERRY_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
        assert!(
            Path::new(&chromium).exists(),
            "Chromium is not installed at {chromium}: the browser tests need Debian's chromium and \
             chromium-driver, which scripts/test installs"
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!("cannot start {chromedriver} ({e}): install Debian's chromium-driver (scripts/test does)")
            });
        // Ferry builds reqwest without a TLS provider of its own; chromedriver speaks plain HTTP,
        // but a client cannot be built without one.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let http = reqwest::Client::new();
        let base = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while http.get(format!("{base}/status")).send().await.is_err() {
            assert!(
                Instant::now() < deadline,
                "chromedriver did not start on port {port}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let profile = tempfile::tempdir().expect("profile dir");
        let capabilities = json!({ "capabilities": { "alwaysMatch": {
            "browserName": "chrome",
            "goog:chromeOptions": {
                "binary": chromium,
                "args": [
                    "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                    "--disable-background-networking", "--disable-component-update",
                    "--no-first-run", "--disable-sync", "--disable-quic", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ],
            },
        }}});
        let answer: Value = http
            .post(format!("{base}/session"))
            .json(&capabilities)
            .send()
            .await
            .expect("new session")
            .json()
            .await
            .expect("session answer");
        let session = answer["value"]["sessionId"]
            .as_str()
            .unwrap_or_else(|| panic!("chromedriver refused the session: {answer}"))
            .to_owned();
        Browser {
            http,
            session: format!("{base}/session/{session}"),
            driver,
            _profile: profile,
        }
    }

    async fn call(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let mut request = self.http.request(method, format!("{}{path}", self.session));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let answer: Value = request
            .send()
            .await
            .expect("webdriver")
            .json()
            .await
            .expect("json");
        if answer["value"]["error"].is_string() {
            panic!("webdriver {path}: {}", answer["value"]);
        }
        answer["value"].clone()
    }

    pub async fn goto(&self, url: &str) {
        self.call(reqwest::Method::POST, "/url", Some(json!({ "url": url })))
            .await;
    }

    pub async fn url(&self) -> String {
        self.call(reqwest::Method::GET, "/url", None)
            .await
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }

    /// `http://host:port` of the page shown.
    pub async fn site_of_current(&self) -> String {
        let url = self.url().await;
        let after_scheme = url.find("://").map_or(0, |i| i + 3);
        let end = url[after_scheme..]
            .find('/')
            .map_or(url.len(), |i| i + after_scheme);
        url[..end].to_owned()
    }

    async fn find(&self, css: &str) -> String {
        let found = self
            .call(
                reqwest::Method::POST,
                "/element",
                Some(json!({ "using": "css selector", "value": css })),
            )
            .await;
        found[ELEMENT]
            .as_str()
            .unwrap_or_else(|| panic!("no element {css}: {found}"))
            .to_owned()
    }

    /// Clicks a link or button and waits for the page it leads to (every click here navigates).
    pub async fn click(&self, css: &str) {
        self.press(css).await;
        self.arrive(css).await;
    }

    /// Clicks a button that asks first, checks what it asks, and confirms.
    pub async fn click_and_confirm(&self, css: &str, asks: &str) {
        self.press(css).await;
        let text = self.call(reqwest::Method::GET, "/alert/text", None).await;
        assert!(
            text.as_str().unwrap_or_default().contains(asks),
            "{css} asks {text}, not {asks:?}"
        );
        self.call(reqwest::Method::POST, "/alert/accept", Some(json!({})))
            .await;
        self.arrive(css).await;
    }

    async fn press(&self, css: &str) {
        self.execute("window.__ferryLeaving = true").await;
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/click"),
            Some(json!({})),
        )
        .await;
    }

    async fn arrive(&self, css: &str) {
        let deadline = Instant::now() + Duration::from_secs(15);
        let arrived = "return !window.__ferryLeaving && document.readyState === 'complete'";
        while self.execute(arrived).await != Value::Bool(true) {
            assert!(Instant::now() < deadline, "clicking {css} led nowhere");
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    pub async fn type_into(&self, css: &str, text: &str) {
        let element = self.find(css).await;
        self.call(
            reqwest::Method::POST,
            &format!("/element/{element}/value"),
            Some(json!({ "text": text })),
        )
        .await;
    }

    /// The text of the first element `css` matches, found and read in one script: ferry.js
    /// replaces the jobs table while jobs run, which would leave an element found in one call
    /// and read in the next stale.
    pub async fn text(&self, css: &str) -> String {
        self.find(css).await;
        let text = self
            .call(
                reqwest::Method::POST,
                "/execute/sync",
                Some(json!({
                    "script": "const e = document.querySelector(arguments[0]); \
                               return e ? e.innerText.trim() : null;",
                    "args": [css],
                })),
            )
            .await;
        text.as_str()
            .unwrap_or_else(|| panic!("no element {css}"))
            .to_owned()
    }

    /// Waits up to 30 seconds for the script expression `condition` to be true, such as a page
    /// that reloads itself when a background job settles.
    pub async fn wait_for(&self, condition: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.execute(&format!("return {condition}")).await != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "never {condition}: {}",
                self.source().await
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    pub async fn source(&self) -> String {
        let source = self.call(reqwest::Method::GET, "/source", None).await;
        source.as_str().unwrap_or_default().to_owned()
    }

    pub async fn execute(&self, script: &str) -> Value {
        self.call(
            reqwest::Method::POST,
            "/execute/sync",
            Some(json!({ "script": script, "args": [] })),
        )
        .await
    }

    pub async fn window_width(&self, width: u32) {
        self.call(
            reqwest::Method::POST,
            "/window/rect",
            Some(json!({ "width": width, "height": 900 })),
        )
        .await;
    }

    pub async fn shot(&self, dir: &Path, name: &str) {
        let png = self.call(reqwest::Method::GET, "/screenshot", None).await;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(png.as_str().unwrap_or_default())
            .expect("png");
        std::fs::write(dir.join(format!("{name}.png")), bytes).expect("write screenshot");
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
