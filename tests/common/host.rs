//! A marketplace's own web server, as far as the embed tests need one: a tiny HTTP server
//! on another loopback address (127.0.0.2, 127.0.0.3, …: a different origin from the chat
//! server on 127.0.0.1) serving the HTML pages a test sets, the way a marketplace's seller
//! portal would embed the chat.

use axum::extract::State;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use tokio::net::TcpListener;
use tokio::sync::oneshot;

/// Pages by path.
type Pages = Arc<Mutex<HashMap<String, String>>>;

/// A running host server; stops when dropped.
pub struct HostSite {
    /// `http://IP:PORT`: the site's origin.
    pub origin: String,
    pages: Pages,
    _stop: oneshot::Sender<()>,
}

impl HostSite {
    /// Serves on `ip` (a loopback address), port picked by the system.
    pub async fn start(ip: &str) -> Self {
        let listener = TcpListener::bind((ip, 0)).await.unwrap_or_else(|e| panic!("bind {ip}: {e} (loopback addresses other than 127.0.0.1 are needed)"));
        let origin = format!("http://{}", listener.local_addr().expect("addr"));
        let pages = Pages::default();
        let app = Router::new().fallback(page).with_state(pages.clone());
        let (stop, stopped) = oneshot::channel::<()>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move {
                    let _ = stopped.await;
                })
                .await;
        });
        Self { origin, pages, _stop: stop }
    }

    /// Serves `html` at `path`; returns the page's URL.
    pub fn page(&self, path: &str, html: String) -> String {
        self.pages.lock().unwrap().insert(path.to_owned(), html);
        format!("{}{path}", self.origin)
    }
}

async fn page(State(pages): State<Pages>, uri: Uri) -> Response {
    match pages.lock().unwrap().get(uri.path()) {
        Some(html) => ([(header::CONTENT_TYPE, "text/html; charset=utf-8")], html.clone()).into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}
