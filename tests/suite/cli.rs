//! SPEC §8: the command line, run as a real process.

use crate::common::app::TestApp;
use crate::common::cli::{marketchat_command, run_marketchat};
use crate::common::db::{backend, Backend, TestDatabase};
use crate::common::graphql::{payload_errors, BRIEF_LIST, SELLER_UPSERT};
use crate::common::nodes::NodeProcess;
use crate::common::ws::{Ended, WsClient};
use marketchat::domain::ids::{GlobalId, IdKind};
use reqwest::StatusCode;
use serde_json::{json, Value};
use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

fn marketchat(database_url: &str, args: &[&str]) -> Output {
    marketchat_command(database_url).args(args).output().expect("run marketchat")
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
    stdout(&marketchat(&url, &["migrate"]));
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
    stdout(&marketchat(&url, &["migrate"]));
    let seller = stdout(&marketchat(&url, &["seller", "create", "--name", "Acme"])).trim().to_owned();
    let key = stdout(&marketchat(&url, &["key", "create", "--seller", &seller])).trim().to_owned();
    let mut child = marketchat_command(&url)
        .args(["serve", "--bind", "127.0.0.1:0"])
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
    let admin_key = lines.iter().find_map(|l| l.strip_prefix("admin key:")).unwrap().split_whitespace().next().unwrap().to_owned();
    assert_eq!(exported["ADMIN_KEY"], admin_key);
    let client = reqwest::Client::new();
    let ask = |key: String, path: &str, query: &str| {
        client.post(format!("{base}{path}")).header("MARKETPLACER-API-KEY", key).json(&json!({ "query": query })).send()
    };
    let history: Value = ask(seller_key, "/graphql/seller", BRIEF_LIST).await.unwrap().json().await.unwrap();
    assert!(history["data"]["chatMessages"]["totalCount"].as_i64().unwrap() > 0, "{history}");
    let chats: Value = ask(operator_key.clone(), "/graphql/operator", "{ chats { totalCount } }").await.unwrap().json().await.unwrap();
    assert!(chats["data"]["chats"]["totalCount"].as_i64().unwrap() >= 2, "{chats}");
    // The demo sellers carry the marketplace's IDs; only the admin key may look them up.
    let lookup = r#"{ seller(externalId: "MP-1001") { id businessName } }"#;
    let found: Value = ask(admin_key, "/graphql/operator", lookup).await.unwrap().json().await.unwrap();
    assert_eq!(found["data"]["seller"]["id"], "U2VsbGVyLTE=", "{found}");
    let refused: Value = ask(operator_key, "/graphql/operator", lookup).await.unwrap().json().await.unwrap();
    assert_eq!(refused["errors"][0]["extensions"]["code"], "FORBIDDEN", "{refused}");
    child.kill().unwrap();
    let _ = child.wait();
}

fn stderr_line(output: &Output) -> String {
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line on stderr: {stderr:?}");
    stderr.trim_end().to_owned()
}

#[tokio::test]
async fn settings_that_make_no_sense_are_refused_at_start_with_one_line_naming_the_flag() {
    let database = TestDatabase::create().await;
    for flag in [
        "--retention-days",
        "--request-timeout-secs",
        "--max-message-chars",
        "--event-buffer",
        "--ws-write-timeout-secs",
        "--webhook-timeout-ms",
        "--webhook-retry-base-ms",
        "--max-subscriptions",
        "--db-pool-size",
        "--db-connect-timeout-ms",
        "--db-statement-timeout-ms",
    ] {
        let output = run_marketchat(&database.url, &["serve", "--bind", "127.0.0.1:0", flag, "0"], &[], None);
        assert_eq!(output.status.code(), Some(2), "{flag} 0 is refused as a usage error: {output:?}");
        let line = stderr_line(&output);
        assert!(line.starts_with("error: ") && line.contains(flag), "{line}");
        assert!(output.stdout.is_empty(), "nothing was served");
    }
}

#[tokio::test]
async fn usage_errors_are_one_line_and_exit_2_while_help_still_prints_in_full() {
    let database = TestDatabase::create().await;
    for args in [vec!["frobnicate"], vec!["seller", "create"], vec!["key", "list", "--no-such-flag"], vec!["user", "create", "--operator", "--email", "a@b.c"]] {
        let output = run_marketchat(&database.url, &args, &[], None);
        assert_eq!(output.status.code(), Some(2), "{args:?}");
        let line = stderr_line(&output);
        assert!(line.starts_with("error: ") && !line.contains("Usage:"), "{args:?}: {line}");
    }
    let missing = run_marketchat(&database.url, &["seller", "create"], &[], None);
    assert!(stderr_line(&missing).contains("--name"), "the line names what is missing");
    let help = run_marketchat(&database.url, &["seller", "create", "--help"], &[], None);
    assert!(help.status.success() && String::from_utf8_lossy(&help.stdout).contains("--external-id"));
}

#[tokio::test]
async fn lists_are_tab_separated_rows_of_global_ids_without_headers() {
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let seller = app.seller("Acme").await;
    app.operator_key("ops").await;
    stdout(&run_marketchat(&url, &["user", "create", "--seller", &seller.gid, "--email", "s@acme.test"], &[], Some("long enough")));
    stdout(&run_marketchat(&url, &["webhook", "add", "https://hooks.example.test/x"], &[], None));
    for (list, kind, columns) in [
        ("seller", IdKind::Seller, 2),
        ("key", IdKind::ApiKey, 7),
        ("user", IdKind::SellerUser, 6),
        ("webhook", IdKind::WebhookEndpoint, 4),
    ] {
        let out = stdout(&run_marketchat(&url, &[list, "list"], &[], None));
        assert!(!out.is_empty(), "{list} list");
        for line in out.lines() {
            let fields: Vec<&str> = line.split('\t').collect();
            assert_eq!(fields.len(), columns, "{list} list: {line:?}");
            assert_eq!(GlobalId::decode(fields[0]).map(|id| id.kind), Ok(kind), "{list} list starts each row with an ID, no header: {line:?}");
        }
    }
}

#[test]
fn demo_help_lists_only_what_demo_uses() {
    let demo = run_marketchat("sqlite://unused.db", &["demo", "--help"], &[], None);
    let demo = String::from_utf8_lossy(&demo.stdout).into_owned();
    assert!(demo.contains("--bind"), "{demo}");
    for ignored in ["--database-url", "--db-pool-size", "--db-statement-timeout-ms", "--db-connect-timeout-ms"] {
        assert!(!demo.contains(ignored), "demo --help offers {ignored}, which demo ignores");
    }
    for command in [&["serve", "--help"][..], &["seller", "list", "--help"], &["migrate", "--help"]] {
        let help = run_marketchat("sqlite://unused.db", command, &[], None);
        assert!(String::from_utf8_lossy(&help.stdout).contains("--database-url"), "{command:?}");
    }
}

#[tokio::test]
async fn a_second_server_on_one_sqlite_file_is_refused_while_cli_writes_still_work() {
    let database = TestDatabase::create().await;
    let url = database.url.clone();
    stdout(&run_marketchat(&url, &["migrate"], &[], None));
    let first = tokio::task::spawn_blocking({
        let url = url.clone();
        move || NodeProcess::start(&url)
    })
    .await
    .unwrap();
    let second = tokio::task::spawn_blocking({
        let url = url.clone();
        move || run_marketchat(&url, &["serve", "--bind", "127.0.0.1:0"], &[], None)
    })
    .await
    .unwrap();
    match backend() {
        Backend::Sqlite => {
            assert_eq!(second.status.code(), Some(1), "{second:?}");
            assert!(stderr_line(&second).contains("another marketchat server uses"), "{second:?}");
            assert!(second.stdout.is_empty(), "the second server never listened");
        }
        // PostgreSQL is made for several nodes: the second one serves.
        Backend::Postgres => assert!(String::from_utf8_lossy(&second.stdout).starts_with("listening on "), "{second:?}"),
    }
    // Commands that write keep working beside the running server.
    let seller = stdout(&run_marketchat(&url, &["seller", "create", "--name", "Acme"], &[], None)).trim().to_owned();
    let key = stdout(&run_marketchat(&url, &["key", "create", "--seller", &seller], &[], None)).trim().to_owned();
    let health = reqwest::Client::new()
        .post(format!("{}/graphql/seller", first.base))
        .header("MARKETPLACER-API-KEY", key)
        .json(&json!({ "query": BRIEF_LIST }))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), StatusCode::OK, "the server sees what the CLI wrote");
    let mut first = first;
    assert!(first.terminate().success());
    // Once the first server has stopped, the file is free again.
    let third = tokio::task::spawn_blocking(move || NodeProcess::start(&url)).await.unwrap();
    assert!(third.base.starts_with("http://127.0.0.1:"));
}

#[test]
fn only_serve_demo_and_migrate_create_a_database_and_a_missing_directory_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let typo = dir.path().join("marketchta.db");
    let url = format!("sqlite://{}", typo.display());
    for args in [&["seller", "list"][..], &["key", "create", "--operator"], &["user", "list"], &["settings", "set", "chat-enabled", "true"]] {
        let output = run_marketchat(&url, args, &[], None);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        let line = stderr_line(&output);
        assert!(line.contains("no database at") && line.contains("marketchta.db"), "{line}");
        assert!(!typo.exists(), "{args:?} created an empty database");
    }
    let nowhere = format!("sqlite://{}", dir.path().join("missing-dir/x.db").display());
    let output = run_marketchat(&nowhere, &["migrate"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    assert!(stderr_line(&output).contains("does not exist"), "{output:?}");

    let opened = run_marketchat(&url, &["migrate"], &[("RUST_LOG", "marketchat=debug")], None);
    assert!(opened.status.success() && typo.exists());
    let log = String::from_utf8_lossy(&opened.stderr);
    assert!(log.contains("opened the database") && log.contains("marketchta.db"), "debug logs name the database: {log}");
}

#[test]
fn database_urls_in_logs_hide_the_password() {
    assert_eq!(marketchat::store::without_password("postgres://app:s3cret@db:5432/chat"), "postgres://app:***@db:5432/chat");
    assert_eq!(marketchat::store::without_password("sqlite:///var/lib/m.db"), "sqlite:///var/lib/m.db");
}

#[tokio::test]
async fn sellers_can_be_renamed_and_carry_a_unique_external_id() {
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let seller = stdout(&run_marketchat(&url, &["seller", "create", "--name", "Acme", "--external-id", "mp-42"], &[], None)).trim().to_owned();
    let again = run_marketchat(&url, &["seller", "create", "--name", "Other", "--external-id", "mp-42"], &[], None);
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr_line(&again).contains("mp-42"));
    stdout(&run_marketchat(&url, &["seller", "create", "--name", "Other", "--external-id", "mp-43"], &[], None));
    stdout(&run_marketchat(&url, &["seller", "update", &seller, "--name", "Acme Outdoor"], &[], None));
    let listed = stdout(&run_marketchat(&url, &["seller", "list"], &[], None));
    assert_eq!(listed.lines().next(), Some(format!("{seller}\tAcme Outdoor").as_str()), "{listed}");
    let missing = run_marketchat(&url, &["seller", "update", "U2VsbGVyLTk5", "--name", "X"], &[], None);
    assert_eq!(missing.status.code(), Some(1));
    stderr_line(&missing);
}

#[tokio::test]
async fn logs_have_no_colour_codes_off_a_terminal_and_can_be_json() {
    let database = TestDatabase::create().await;
    stdout(&run_marketchat(&database.url, &["migrate"], &[], None));
    let debug = [("RUST_LOG", "marketchat=debug")];
    let text = run_marketchat(&database.url, &["seller", "list"], &debug, None);
    let log = String::from_utf8_lossy(&text.stderr);
    assert!(log.contains("opened the database"), "{log}");
    assert!(!log.contains('\u{1b}'), "no ANSI escapes into a pipe: {log:?}");
    for json in [
        run_marketchat(&database.url, &["seller", "list", "--log-format", "json"], &debug, None),
        run_marketchat(&database.url, &["seller", "list"], &[("RUST_LOG", "marketchat=debug"), ("MARKETCHAT_LOG_FORMAT", "json")], None),
    ] {
        let log = String::from_utf8_lossy(&json.stderr);
        assert!(!log.trim().is_empty());
        for line in log.lines() {
            let record: Value = serde_json::from_str(line).unwrap_or_else(|e| panic!("{e}: {line}"));
            assert!(record["level"].is_string() && record["fields"].is_object(), "{record}");
        }
    }
}

#[test]
fn a_database_error_is_one_line_with_its_cause_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("not-a-database.db");
    std::fs::write(&path, vec![b'x'; 8192]).unwrap();
    let output = run_marketchat(&format!("sqlite://{}", path.display()), &["seller", "list"], &[], None);
    assert_eq!(output.status.code(), Some(1));
    let line = stderr_line(&output);
    assert!(line.starts_with("error: could not open the database: "), "{line}");
    assert_eq!(line.matches("file is not a database").count(), 1, "the cause appears once: {line}");
}

#[tokio::test]
async fn key_create_operator_admin_makes_a_key_that_may_provision_and_key_list_says_which_keys_are_admin() {
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let admin = stdout(&run_marketchat(&url, &["key", "create", "--operator", "--admin", "--label", "Nightly sync"], &[], None)).trim().to_owned();
    let plain = stdout(&run_marketchat(&url, &["key", "create", "--operator", "--label", "Support"], &[], None)).trim().to_owned();
    let upsert = app.upsert_seller(&admin, "mp-1", "Acme").await;
    assert_eq!(upsert["created"], true, "{upsert}");
    let seller = upsert["seller"]["id"].as_str().unwrap().to_owned();
    let (_, body) = app.graphql("/graphql/operator", &plain, SELLER_UPSERT, json!({ "externalId": "mp-2", "businessName": "Blue" })).await;
    assert_eq!(body["errors"][0]["extensions"]["code"], "FORBIDDEN", "{body}");

    for args in [&["key", "create", "--seller", &seller, "--admin"][..], &["key", "create", "--admin"]] {
        let output = run_marketchat(&url, args, &[], None);
        assert_eq!(output.status.code(), Some(2), "only an operator key can be an admin key: {args:?}");
        assert!(stderr_line(&output).contains("--admin") || stderr_line(&output).contains("--operator"), "{output:?}");
    }
    let listed = stdout(&run_marketchat(&url, &["key", "list"], &[], None));
    let admin_of = |label: &str| listed.lines().find(|l| l.split('\t').nth(2) == Some(label)).unwrap().split('\t').nth(6).unwrap().to_owned();
    assert_eq!(admin_of("Nightly sync"), "admin", "{listed}");
    assert_eq!(admin_of("Support"), "-", "{listed}");
    assert!(!listed.contains(&admin) && !listed.contains(&plain), "secrets are never listed");
    let too_long = run_marketchat(&url, &["key", "create", "--operator", "--label", &"x".repeat(256)], &[], None);
    assert_eq!(too_long.status.code(), Some(1));
    assert_eq!(stderr_line(&too_long), "error: --label is too long (maximum is 255 characters)");
}

#[tokio::test]
async fn seller_update_renames_by_id_or_external_id_and_sets_an_external_id_no_other_seller_has() {
    let app = TestApp::spawn().await;
    let url = app.database_url.clone();
    let acme = stdout(&run_marketchat(&url, &["seller", "create", "--name", "Acme", "--external-id", "mp-42"], &[], None)).trim().to_owned();
    let blue = stdout(&run_marketchat(&url, &["seller", "create", "--name", "Blue"], &[], None)).trim().to_owned();

    let renamed = stdout(&run_marketchat(&url, &["seller", "update", "--by-external-id", "mp-42", "--name", "Acme Outdoor"], &[], None));
    assert_eq!(renamed.trim(), acme, "prints the seller's ID");
    stdout(&run_marketchat(&url, &["seller", "update", &blue, "--external-id", "mp-43", "--name", "Blue Harbor"], &[], None));
    let blue_row = app.store.seller_by_external_id("mp-43").await.unwrap().expect("found by its new external ID");
    assert_eq!((blue_row.business_name.as_str(), blue_row.id.gid()), ("Blue Harbor", blue.clone()));
    let admin = app.admin_key("sync").await;
    let synced = app.upsert_seller(&admin, "mp-42", "Acme Outdoor").await;
    assert_eq!((synced["created"].as_bool(), synced["seller"]["id"].as_str()), (Some(false), Some(acme.as_str())), "the API sees the same sellers");

    let before = stdout(&run_marketchat(&url, &["seller", "list"], &[], None));
    for (args, expected) in [
        (vec!["seller", "update", &blue, "--external-id", "mp-42"], "error: --external-id \"mp-42\" belongs to another seller"),
        (vec!["seller", "update", "--by-external-id", "nope", "--name", "X"], "error: no seller with external ID \"nope\""),
        (vec!["seller", "update", &acme, "--name", "  "], "error: --name can't be blank"),
        (vec!["seller", "create", "--name", "Copper", "--external-id", "  "], "error: --external-id can't be blank"),
        (vec!["seller", "create", "--name", "Copper", "--external-id", "mp-43"], "error: --external-id \"mp-43\" belongs to another seller"),
    ] {
        let output = run_marketchat(&url, &args, &[], None);
        assert_eq!(output.status.code(), Some(1), "{args:?}");
        assert_eq!(stderr_line(&output), expected, "{args:?}");
        assert!(output.stdout.is_empty());
    }
    for args in [vec!["seller", "update", &acme], vec!["seller", "update", "--name", "X"], vec!["seller", "update", &acme, "--by-external-id", "mp-42", "--name", "X"]] {
        assert_eq!(run_marketchat(&url, &args, &[], None).status.code(), Some(2), "usage error: {args:?}");
    }
    assert_eq!(stdout(&run_marketchat(&url, &["seller", "list"], &[], None)), before, "refused updates change nothing");
}

#[tokio::test]
async fn export_never_includes_notes_status_or_assignee() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    let op = app.operator_key("ops").await;
    app.seller_sends(&seller.key, "first").await;
    app.as_operator(&op, "mutation($s: ID!) { chatNoteCreate(input: { sellerId: $s, note: \"internal note\" }) { note { id } } }", json!({ "s": seller.gid })).await;
    app.as_operator(&op, "mutation($s: ID!) { chatStatusUpdate(input: { sellerId: $s, status: RESOLVED }) { chat { id } } }", json!({ "s": seller.gid })).await;
    let out = stdout(&marketchat(&app.database_url, &["export", "--seller", &seller.gid]));
    assert_eq!(out.lines().count(), 1, "{out}");
    for hidden in ["internal note", "resolved", "RESOLVED", "status", "assignee", "note\""] {
        assert!(!out.contains(hidden), "export names {hidden}: {out}");
    }
}
