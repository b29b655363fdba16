//! Headless Chromium through chromedriver's W3C WebDriver HTTP API: just the calls the page
//! test needs, over reqwest, so no WebDriver crate is pulled in.

use serde_json::{Value, json};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The W3C key of an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";

/// A chromedriver process with one browser session; both end on drop.
#[derive(Debug)]
pub struct Browser {
    driver: Child,
    base: String,
    session: String,
    client: reqwest::Client,
}

impl Browser {
    /// Starts chromedriver on a free loopback port and a headless Chromium session.
    pub async fn start() -> Browser {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let driver = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (scripts/setup.sh)");
        let base = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
        let mut browser = Browser { driver, base, session: String::new(), client };
        for _ in 0..100 {
            if browser.client.get(format!("{}/status", browser.base)).send().await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let binary = ["/usr/bin/chromium", "/usr/bin/chromium-browser"]
            .into_iter()
            .find(|p| std::path::Path::new(p).exists());
        let mut options = json!({
            "args": ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                     "--disable-component-update", "--disable-sync", "--disable-dev-shm-usage"]
        });
        if let Some(binary) = binary {
            options["binary"] = json!(binary);
        }
        let capabilities = json!({ "capabilities": { "alwaysMatch": { "browserName": "chrome", "goog:chromeOptions": options } } });
        let created = browser.call("POST", "/session", capabilities).await;
        browser.session = created["sessionId"].as_str().expect("a session").to_owned();
        browser
    }

    async fn call(&self, method: &str, path: &str, body: Value) -> Value {
        let url = format!("{}{path}", self.base);
        let request = match method {
            "GET" => self.client.get(url),
            "DELETE" => self.client.delete(url),
            _ => self.client.post(url).json(&body),
        };
        let response: Value = request.send().await.expect("chromedriver answers").json().await.expect("JSON");
        let value = response["value"].clone();
        assert!(value.get("error").is_none(), "WebDriver {method} {path}: {value}");
        value
    }

    fn session_path(&self, rest: &str) -> String {
        format!("/session/{}{rest}", self.session)
    }

    /// Opens `url`.
    pub async fn open(&self, url: &str) {
        self.call("POST", &self.session_path("/url"), json!({ "url": url })).await;
    }

    /// The element matching a CSS selector.
    pub async fn find(&self, css: &str) -> String {
        let found = self
            .call("POST", &self.session_path("/element"), json!({ "using": "css selector", "value": css }))
            .await;
        found[ELEMENT].as_str().expect("element reference").to_owned()
    }

    /// Types `text` into an element (for a file input: a path to upload).
    pub async fn send_keys(&self, element: &str, text: &str) {
        self.call("POST", &self.session_path(&format!("/element/{element}/value")), json!({ "text": text }))
            .await;
    }

    /// Clicks an element.
    pub async fn click(&self, element: &str) {
        self.call("POST", &self.session_path(&format!("/element/{element}/click")), json!({})).await;
    }

    /// Runs `script` in the page and returns its result.
    pub async fn eval(&self, script: &str) -> Value {
        self.call("POST", &self.session_path("/execute/sync"), json!({ "script": script, "args": [] })).await
    }
}

impl Browser {
    /// Ends the session (closing Chromium) and chromedriver.
    pub async fn close(self) {
        let path = self.session_path("");
        let _ = self.client.delete(format!("{}{path}", self.base)).send().await;
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}
