//! Portal sessions as a browser holds them: logging in for the session cookie, and
//! GraphQL requests made with it (and the CSRF header).

use crate::common::app::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Logs in; returns the status, body and the session cookie (name=value).
pub async fn login(app: &TestApp, email: &str, password: &str) -> (StatusCode, Value, Option<String>) {
    let response = app.post("/login").json(&json!({ "email": email, "password": password })).send().await.unwrap();
    let status = response.status();
    let set_cookie = response.headers().get("set-cookie").map(|v| v.to_str().unwrap().to_owned());
    let body = response.json().await.unwrap_or(Value::Null);
    if let Some(cookie) = &set_cookie {
        for flag in ["HttpOnly", "SameSite=Strict", "Path=/"] {
            assert!(cookie.contains(flag), "{cookie} lacks {flag}");
        }
    }
    (status, body, set_cookie.map(|c| c.split(';').next().unwrap().to_owned()))
}

/// A GraphQL request authenticated by the session cookie (with the CSRF header).
pub async fn as_user(app: &TestApp, path: &str, cookie: &str, query: &str, variables: Value) -> (StatusCode, Value) {
    let request = app
        .post(path)
        .header("cookie", cookie)
        .header("x-requested-with", "marketchat")
        .json(&json!({ "query": query, "variables": variables }));
    TestApp::read(request).await
}
