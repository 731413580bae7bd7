//! Portal users in tests: logging in for a session cookie, and GraphQL requests made with it.

use crate::common::app::TestApp;
use marketchat::domain::users::OperatorRole;
use marketchat::service::accounts::NewUserKind;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The password of users made by [`TestApp::operator_session`].
const PASSWORD: &str = "password-123";

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

impl TestApp {
    /// Creates an operator portal user with `role` (named after it) and logs in; returns
    /// the session cookie (name=value).
    pub async fn operator_session(&self, role: OperatorRole) -> String {
        let email = format!("{role}@operator.test");
        let kind = NewUserKind::Operator(role);
        self.state().accounts.create_user(&email, Some(role.as_str()), PASSWORD, kind).await.expect("create user");
        let (status, body, cookie) = login(self, &email, PASSWORD).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        cookie.expect("a session cookie")
    }
}
