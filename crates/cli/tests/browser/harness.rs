//! A real browser for the tests: headless Chromium driven through chromedriver (WebDriver).
//!
//! Each [`Browser`] owns its own chromedriver process (on a free port) and a fresh profile
//! directory, so tests in this binary run in parallel without sharing anything; both go
//! away when the `Browser` is dropped, also when a test panics.
//!
//! Where Chromium or chromedriver is missing, [`Browser::start`] returns `None` and the test
//! returns early with a message, except under `CI=true`, where it fails (`scripts/test`
//! installs Debian's `chromium` and `chromium-driver`).

#![allow(dead_code)] // each browser test uses a different part of this

use fantoccini::{Client, ClientBuilder, Locator};
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long `fill`, `click` and `text` wait for their element to appear.
const FIND_TIMEOUT: Duration = Duration::from_secs(10);

/// The audit run in the page by [`Browser::accessibility`].
const AUDIT_JS: &str = include_str!("audit.js");

/// The window height used throughout: a phone held upright.
const HEIGHT: u32 = 800;

/// Headless Chromium, driven by its own chromedriver.
pub struct Browser {
    client: Client,
    // Dropped in this order: the driver (and Chromium) ends, then the profile is removed.
    driver: Driver,
    /// Chromium's profile.
    profile: tempfile::TempDir,
}

/// A chromedriver process, killed with the Chromium it started when dropped.
struct Driver(Child);

impl Drop for Driver {
    fn drop(&mut self) {
        // The process group `process_group(0)` gave it: chromedriver and Chromium.
        let _ = Command::new("kill")
            .args(["-KILL", "--", &format!("-{}", self.0.id())])
            .stderr(Stdio::null())
            .status();
        let _ = self.0.wait();
    }
}

impl std::fmt::Debug for Browser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Browser")
            .field("driver", &self.driver.0.id())
            .field("profile", &self.profile.path())
            .finish()
    }
}

/// A program from `$var`, else the first of `defaults` that exists (a bare name is looked
/// up on `PATH`); what was looked for when none is there.
fn program(var: &str, defaults: &[&str]) -> Result<PathBuf, String> {
    if let Some(p) = std::env::var_os(var).filter(|p| !p.is_empty()) {
        let p = PathBuf::from(p);
        return if p.is_file() {
            Ok(p)
        } else {
            Err(format!("{var}={} does not exist", p.display()))
        };
    }
    let found = defaults.iter().find_map(|d| {
        if d.contains('/') {
            Path::new(d).is_file().then(|| PathBuf::from(d))
        } else {
            std::env::var_os("PATH").and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|dir| dir.join(d))
                    .find(|p| p.is_file())
            })
        }
    });
    found.ok_or_else(|| format!("no {} (nor ${var})", defaults.join(" nor ")))
}

/// A port nobody listens on right now (another process may still take it before
/// chromedriver does; the caller retries).
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Where test output (screenshots) goes: the workspace's target directory.
pub fn target_dir() -> PathBuf {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    match std::env::var_os("CARGO_TARGET_DIR").filter(|d| !d.is_empty()) {
        Some(dir) => workspace.join(dir), // an absolute path replaces `workspace`
        None => workspace.join("target"),
    }
}

impl Browser {
    /// Starts chromedriver and a headless Chromium 360 px wide. `None` (with a message) when
    /// either is not installed, unless `CI=true`, where that panics.
    ///
    /// Programs: `$LIENLOCK_CHROMEDRIVER`, else `chromedriver` on `PATH`, else
    /// `/usr/bin/chromedriver`; `$LIENLOCK_CHROMIUM`, else `/usr/bin/chromium`, else
    /// `chromium` on `PATH`.
    pub async fn start() -> Option<Browser> {
        // Two rustls crypto providers are compiled in (see the workspace Cargo.toml); name
        // one, or the WebDriver client cannot build its TLS config. Later calls are no-ops.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let driver = program(
            "LIENLOCK_CHROMEDRIVER",
            &["chromedriver", "/usr/bin/chromedriver"],
        );
        let chromium = program("LIENLOCK_CHROMIUM", &["/usr/bin/chromium", "chromium"]);
        let (driver, chromium) = match (driver, chromium) {
            (Ok(driver), Ok(chromium)) => (driver, chromium),
            (driver, chromium) => {
                let missing: Vec<String> = [driver.err(), chromium.err()]
                    .into_iter()
                    .flatten()
                    .collect();
                let why = format!(
                    "the browser tests need Chromium and chromedriver ({}); on Debian: \
                     apt-get install chromium chromium-driver",
                    missing.join("; ")
                );
                if std::env::var("CI").as_deref() == Ok("true") {
                    panic!("{why}");
                }
                eprintln!("skipped: {why}");
                return None;
            }
        };
        let profile = tempfile::tempdir().unwrap();
        let mut last_error = String::new();
        for attempt in 0..5 {
            // A fresh directory each time: a Chromium that failed may have left its lock.
            let dir = profile.path().join(attempt.to_string());
            match Self::launch(&driver, &chromium, &dir).await {
                Ok((driver, client)) => {
                    let browser = Browser {
                        client,
                        driver,
                        profile,
                    };
                    browser.set_width(360).await;
                    return Some(browser);
                }
                Err(e) => {
                    eprintln!("starting the browser, attempt {}: {e}", attempt + 1);
                    last_error = e;
                }
            }
        }
        panic!("cannot start {}: {last_error}", driver.display());
    }

    /// One attempt: chromedriver on a free port, then a session on it.
    async fn launch(
        driver: &Path,
        chromium: &Path,
        profile: &Path,
    ) -> Result<(Driver, Client), String> {
        use std::os::unix::process::CommandExt as _;

        let port = free_port();
        std::fs::create_dir_all(profile).unwrap();
        let log = profile.join("chromedriver.log");
        let child = Command::new(driver)
            .arg(format!("--port={port}"))
            .arg(format!("--log-path={}", log.display()))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // Its own process group, so that dropping the Browser also ends Chromium.
            .process_group(0)
            .spawn()
            .map_err(|e| format!("cannot run {}: {e}", driver.display()))?;
        let mut child = Driver(child);
        let url = format!("http://127.0.0.1:{port}");
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            if let Ok(Some(status)) = child.0.try_wait() {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                return Err(format!("chromedriver exited ({status}): {log}"));
            }
            let ready = reqwest::get(format!("{url}/status"))
                .await
                .ok()
                .filter(|r| r.status().is_success());
            if let Some(resp) = ready {
                let status: Value = resp.json().await.unwrap_or_default();
                if status["value"]["ready"] == true {
                    break;
                }
            }
            if Instant::now() > deadline {
                return Err(format!("chromedriver did not answer on {url} within 10 s"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": chromium,
                "args": [
                    "--headless=new",
                    // Needed to run as root (CI containers); the pages are our own.
                    "--no-sandbox",
                    "--disable-gpu",
                    "--disable-dev-shm-usage",
                    "--disable-quic",
                    "--no-first-run",
                    "--disable-background-networking",
                    "--disable-component-update",
                    "--disable-sync",
                    format!("--user-data-dir={}", profile.display()),
                    format!("--window-size=360,{HEIGHT}"),
                ],
            }),
        );
        let client = ClientBuilder::rustls()
            .expect("the WebDriver client's TLS configuration")
            .capabilities(caps)
            .connect(&url)
            .await
            .map_err(|e| {
                let log = std::fs::read_to_string(&log).unwrap_or_default();
                let tail: Vec<&str> = log.lines().rev().take(20).collect();
                let tail: Vec<&str> = tail.into_iter().rev().collect();
                format!(
                    "cannot start a session on chromedriver: {e}\nits log ends with:\n{}",
                    tail.join("\n")
                )
            })?;
        Ok((child, client))
    }

    /// The WebDriver client, for what the helpers below do not cover.
    pub fn client(&self) -> &Client {
        &self.client
    }

    /// Opens `url` and waits for it to load.
    pub async fn goto(&self, url: &str) {
        self.client
            .goto(url)
            .await
            .unwrap_or_else(|e| panic!("cannot open {url}: {e}"));
    }

    /// The URL shown now.
    pub async fn url(&self) -> String {
        self.client.current_url().await.unwrap().to_string()
    }

    /// Waits for the element `css` (10 s at most).
    pub async fn find(&self, css: &str) -> fantoccini::elements::Element {
        self.client
            .wait()
            .at_most(FIND_TIMEOUT)
            .for_element(Locator::Css(css))
            .await
            .unwrap_or_else(|e| panic!("no element {css:?}: {e}"))
    }

    /// Replaces the text of the field `css` with `text`, typed key by key.
    pub async fn fill(&self, css: &str, text: &str) {
        let field = self.find(css).await;
        field.clear().await.unwrap();
        field
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {css:?}: {e}"));
    }

    /// Clicks the element `css`.
    pub async fn click(&self, css: &str) {
        self.find(css)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {css:?}: {e}"));
    }

    /// The visible text of the element `css`.
    pub async fn text(&self, css: &str) -> String {
        self.find(css)
            .await
            .text()
            .await
            .unwrap_or_else(|e| panic!("no text in {css:?}: {e}"))
    }

    /// Waits until the element `css` shows `needle` (after a navigation, or a live update
    /// without one) and returns its text; panics with what it showed after `timeout`.
    pub async fn wait_for_text(&self, css: &str, needle: &str, timeout: Duration) -> String {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            // Between a click and the next page the element may be stale or missing: retry.
            if let Ok(el) = self.client.find(Locator::Css(css)).await {
                if let Ok(text) = el.text().await {
                    if text.contains(needle) {
                        return text;
                    }
                    last = Some(text);
                }
            }
            if Instant::now() > deadline {
                let shown = match last {
                    Some(t) => format!("it showed {t:?}"),
                    None => "it was not on the page".to_owned(),
                };
                panic!(
                    "{css:?} did not show {needle:?} within {timeout:?}; {shown} (at {})",
                    self.url().await
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Runs `script` (a function body; `arguments[i]` are `args`) and returns its result.
    pub async fn execute(&self, script: &str, args: Vec<Value>) -> Value {
        self.client
            .execute(script, args)
            .await
            .unwrap_or_else(|e| panic!("script failed: {e}"))
    }

    /// Saves what the window shows to `<target>/screenshots/<name>.png` and returns the path.
    pub async fn screenshot(&self, name: &str) -> PathBuf {
        let png = self.client.screenshot().await.unwrap();
        let dir = target_dir().join("screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Makes the page `px` CSS pixels wide (`window.innerWidth`), 800 high.
    pub async fn set_width(&self, px: u32) {
        let mut width = px;
        for _ in 0..3 {
            self.client.set_window_size(width, HEIGHT).await.unwrap();
            let inner = self.execute("return window.innerWidth;", vec![]).await;
            let Some(inner) = inner.as_u64() else {
                panic!("no window.innerWidth: {inner}");
            };
            if inner == u64::from(px) {
                return;
            }
            // The window frame, if any, takes the difference.
            width = (i64::from(width) + i64::from(px) - inner as i64) as u32;
        }
        panic!("cannot make the page {px} px wide");
    }

    /// Our accessibility audit of the page as it is now: one line per problem (missing
    /// names, labels, alt texts, `lang`, a single `h1`, text contrast below WCAG AA, a page
    /// wider than the window). See `audit.js`.
    pub async fn accessibility(&self) -> Vec<String> {
        let found = self.execute(AUDIT_JS, vec![]).await;
        match found.as_array() {
            Some(problems) => problems
                .iter()
                .map(|p| p.as_str().map_or_else(|| p.to_string(), str::to_owned))
                .collect(),
            None => panic!("the audit returned {found}"),
        }
    }

    /// Panics listing the problems [`Browser::accessibility`] finds on `page_name`.
    pub async fn assert_accessible(&self, page_name: &str) {
        let problems = self.accessibility().await;
        assert!(
            problems.is_empty(),
            "{page_name} is not accessible ({}):\n  {}",
            self.url().await,
            problems.join("\n  ")
        );
    }

    /// Ends the session cleanly (dropping the Browser also works, more abruptly).
    pub async fn close(self) {
        let _ = self.client.clone().close().await;
    }
}

#[cfg(test)]
mod tests {
    use super::Browser;

    /// `html` as a `data:` URL (the page needs no server).
    fn page(html: &str) -> String {
        let mut url = "data:text/html;charset=utf-8,".to_owned();
        for c in html.chars() {
            match c {
                '%' | '#' | '&' | '?' | '\n' => url.push_str(&format!("%{:02X}", c as u32)),
                c => url.push(c),
            }
        }
        url
    }

    #[tokio::test]
    async fn the_audit_finds_each_kind_of_problem() {
        let Some(browser) = Browser::start().await else {
            return;
        };
        browser
            .goto(&page(
                r#"<!doctype html><html><body>
                <h1>One</h1><h1>Two</h1>
                <img src="x.png">
                <img src="y.png" alt="" role="presentation">
                <input id="nameless">
                <label>Wrapped <input id="wrapped"></label>
                <input type="hidden" name="csrf">
                <button id="empty"></button>
                <a href="/somewhere" id="blank"></a>
                <p style="color: rgb(130, 130, 130)">Pale grey on white</p>
                <p style="color: rgb(130, 130, 130); font-size: 24px">Large pale grey</p>
                <p style="color: rgb(255, 255, 255); background: rgb(0, 100, 0)">White on green</p>
                <div style="width: 500px">Too wide</div>
                </body></html>"#,
            ))
            .await;
        let found = browser.accessibility().await;
        let expected = [
            "<html> has no lang attribute",
            "the page has 2 <h1> elements",
            "image without alt text: img src=x.png",
            "form field without a label: input#nameless",
            "button without an accessible name: button#empty",
            "link without an accessible name: a#blank",
            "text contrast 3.84:1 (needs 4.5:1): p \"Pale grey on white\"",
            "page is wider than the screen: ",
        ];
        for e in expected {
            assert!(
                found.iter().any(|f| f.starts_with(e)),
                "{e:?} not in {found:#?}"
            );
        }
        // Large text needs 3:1 only; labelled and hidden fields are fine; the rest passes.
        assert_eq!(found.len(), expected.len(), "{found:#?}");

        browser
            .goto(&page(
                r#"<!doctype html><html lang="en"><body><main><h1>Fine</h1>
                <label for="f">Field</label><input id="f">
                <button aria-label="Close">x</button><a href="/a"><img src="i.png" alt="Home"></a>
                </main></body></html>"#,
            ))
            .await;
        assert_eq!(browser.accessibility().await, Vec::<String>::new());
    }
}
