//! Real headless Chromium (Debian's chromium + chromedriver), driven over WebDriver with
//! fantoccini: the portal and sign-on tests share one way of starting it.

use crate::common::requirements::require_chromium;
use crate::common::wait::wait_until;
use fantoccini::{Client, ClientBuilder};
use serde_json::json;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A chromedriver process; killed on drop.
pub struct Driver {
    child: Child,
    url: String,
    _profiles: tempfile::TempDir,
}

impl Driver {
    /// Starts chromedriver on a free port.
    pub async fn start() -> Self {
        require_chromium();
        // fantoccini's TLS stack and ours bring two rustls providers: pick one for the process.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = Command::new("chromedriver")
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("chromedriver is installed (.ci/run installs Debian's chromium-driver)");
        let url = format!("http://127.0.0.1:{port}");
        wait_until(Duration::from_secs(5), || async { tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() }).await;
        Self { child, url, _profiles: tempfile::tempdir().unwrap() }
    }

    /// A fresh headless Chromium window.
    pub async fn browser(&self) -> Client {
        let profile = tempfile::tempdir_in(self._profiles.path()).unwrap().keep();
        let capabilities = json!({
            "goog:chromeOptions": {
                "binary": "/usr/bin/chromium",
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                    "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                    "--window-size=1200,800", format!("--user-data-dir={}", profile.display()),
                ]
            }
        });
        let capabilities = capabilities.as_object().unwrap().clone();
        ClientBuilder::rustls().expect("tls").capabilities(capabilities).connect(&self.url).await.expect("start Chromium")
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // Every Chromium process of our profiles, even when a test failed midway (they
        // outlive chromedriver otherwise).
        let _ = Command::new("pkill").arg("-9").arg("-f").arg(self._profiles.path()).status();
    }
}
