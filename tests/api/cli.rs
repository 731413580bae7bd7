//! SPEC §8: the command line, run as a real process.

use crate::helpers::*;
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn marketchat(database_url: &str, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_marketchat"))
        .args(args)
        .env("MARKETCHAT_DATABASE_URL", database_url)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run marketchat")
}

fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "failed: {}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8(output.stdout.clone()).expect("utf-8")
}

#[tokio::test]
async fn sellers_and_keys_made_on_the_command_line_work_over_http() {
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let seller_id = stdout(&marketchat(&url, &["seller", "create", "--name", "Acme Outdoor"])).trim().to_owned();
    assert_eq!(marketchat::domain::ids::GlobalId::decode(&seller_id).unwrap().kind, marketchat::domain::ids::IdKind::Seller);
    let listed = stdout(&marketchat(&url, &["seller", "list"]));
    assert_eq!(listed, format!("{seller_id}\tAcme Outdoor\n"));

    let key = stdout(&marketchat(&url, &["key", "create", "--seller", &seller_id])).trim().to_owned();
    let op_key = stdout(&marketchat(&url, &["key", "create", "--operator", "--label", "CLI ops"])).trim().to_owned();
    assert_eq!(key.lines().count(), 1);
    app.seller_sends(&key, "hello from a CLI key").await;
    let reply = app.operator_sends(&op_key, &seller_id, "hi").await;
    assert_eq!(reply["chatMessage"]["sentBy"], "CLI ops");

    let keys = stdout(&marketchat(&url, &["key", "list"]));
    assert!(!keys.contains(&key) && !keys.contains(&op_key), "secrets are never listed");
    let seller_key_id = keys.lines().find(|l| l.contains("seller")).unwrap().split('\t').next().unwrap().to_owned();
    stdout(&marketchat(&url, &["key", "revoke", &seller_key_id]));
    let (status, body) = app.graphql("/graphql/seller", &key, BRIEF_LIST, Value::Null).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "a revoked key gets 401: {body}");
    assert!(stdout(&marketchat(&url, &["key", "list"])).contains("revoked"));
}

#[tokio::test]
async fn export_prints_json_lines_oldest_first() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "first").await;
    app.operator_sends(&op, &seller.gid, "second").await;
    app.seller_sends(&seller.key, "third\nwith a line break").await;
    let out = stdout(&marketchat(&app.database_url, &["export", "--seller", &seller.gid]));
    let lines: Vec<Value> = out.lines().map(|l| serde_json::from_str(l).expect("JSON line")).collect();
    let texts: Vec<&str> = lines.iter().map(|l| l["message"].as_str().unwrap()).collect();
    assert_eq!(texts, ["first", "second", "third\nwith a line break"]);
    assert_eq!(lines[1]["sentByType"], "Admin");
    assert!(lines[0]["createdAt"].is_string() && lines[0]["id"].is_string());
}

#[tokio::test]
async fn settings_set_chat_enabled_switches_seller_writes() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    stdout(&marketchat(&app.database_url, &["settings", "set", "chat-enabled", "false"]));
    let payload = app.seller_sends(&seller.key, "hello").await;
    assert_eq!(payload_errors(&payload)[0].1, "In-app chat is not enabled");
    stdout(&marketchat(&app.database_url, &["settings", "set", "chat-enabled", "true"]));
    assert!(app.seller_sends(&seller.key, "hello").await["errors"].is_null());
}

#[tokio::test]
async fn errors_exit_non_zero_with_one_line_on_stderr() {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    for args in [
        vec!["key", "create", "--seller", "U2VsbGVyLTk5"],
        vec!["key", "revoke", "12345"],
        vec!["export", "--seller", "garbage"],
        vec!["seller", "create", "--name", "  "],
    ] {
        let output = marketchat(&url, &args);
        assert!(!output.status.success(), "{args:?} should fail");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(stderr.trim().lines().count(), 1, "{args:?}: {stderr}");
        assert!(output.stdout.is_empty());
    }
    let bad_url = marketchat("mysql://nowhere", &["migrate"]);
    assert!(!bad_url.status.success());
    assert!(String::from_utf8_lossy(&bad_url.stderr).contains("unsupported database URL"));
}

#[test]
fn migrate_creates_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("fresh.db");
    let output = marketchat(&format!("sqlite://{}", path.display()), &["migrate"]);
    assert!(output.status.success() && output.stdout.is_empty());
    assert!(path.exists());
}

#[tokio::test]
async fn serve_prints_its_address_first_and_stops_gracefully_on_sigterm() {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    let seller = stdout(&marketchat(&url, &["seller", "create", "--name", "Acme"])).trim().to_owned();
    let key = stdout(&marketchat(&url, &["key", "create", "--seller", &seller])).trim().to_owned();
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketchat"))
        .args(["serve", "--bind", "127.0.0.1:0"])
        .env("MARKETCHAT_DATABASE_URL", &url)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap()).read_line(&mut first).unwrap();
    let addr = first.trim().strip_prefix("listening on http://").expect("first line names the address").to_owned();
    let health = reqwest::get(format!("http://{addr}/healthz")).await.unwrap();
    assert_eq!(health.status(), StatusCode::OK);
    let mut subscription = WsClient::subscribe(&format!("http://{addr}"), "/graphql/seller", &key, None).await;

    Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
    assert_eq!(subscription.ended().await, Ended::Closed(1001), "open subscriptions are closed as going away");
    let status = tokio::task::spawn_blocking(move || child.wait()).await.unwrap().unwrap();
    assert!(status.success(), "graceful shutdown exits 0: {status}");
}

#[tokio::test]
async fn demo_serves_working_keys() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_marketchat"))
        .args(["demo", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut reader = BufReader::new(child.stdout.take().unwrap());
    let mut lines = Vec::new();
    while !lines.last().is_some_and(|l: &String| l.starts_with("export ")) {
        let mut line = String::new();
        assert!(reader.read_line(&mut line).unwrap() > 0, "demo output ended early: {lines:?}");
        lines.push(line.trim().to_owned());
    }
    let base = lines[0].strip_prefix("listening on ").unwrap().to_owned();
    let operator_key = lines.iter().find_map(|l| l.strip_prefix("operator key:")).unwrap().trim().to_owned();
    let seller_line = lines.iter().find(|l| l.starts_with("seller \"Acme")).unwrap();
    let seller_key = seller_line.split("key ").nth(1).unwrap().trim().to_owned();
    // The line to paste exports the same values the README's commands use.
    let exported: std::collections::HashMap<&str, &str> =
        lines.last().unwrap().trim_start_matches("export ").split(' ').filter_map(|pair| pair.split_once('=')).collect();
    assert_eq!(exported["MARKETCHAT_URL"], base);
    assert_eq!(exported["OPERATOR_KEY"], operator_key);
    assert_eq!(exported["SELLER_KEY"], seller_key);
    assert_eq!(exported["SELLER_ID"], "U2VsbGVyLTE=");
    let client = reqwest::Client::new();
    let ask = |key: String, path: &str, query: &str| {
        client.post(format!("{base}{path}")).header("MARKETPLACER-API-KEY", key).json(&json!({ "query": query })).send()
    };
    let history: Value = ask(seller_key, "/graphql/seller", BRIEF_LIST).await.unwrap().json().await.unwrap();
    assert!(history["data"]["chatMessages"]["totalCount"].as_i64().unwrap() > 0, "{history}");
    let chats: Value = ask(operator_key, "/graphql/operator", "{ chats { totalCount } }").await.unwrap().json().await.unwrap();
    assert!(chats["data"]["chats"]["totalCount"].as_i64().unwrap() >= 2, "{chats}");
    child.kill().unwrap();
    let _ = child.wait();
}
