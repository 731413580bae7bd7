//! SPEC §2 operations endpoints: health, readiness, metrics, schema SDL.

use crate::common::app::TestApp;
use crate::common::graphql::SELLER_SEND;
use crate::common::requirements::require_promtool;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashMap;

#[tokio::test]
async fn health_and_readiness_answer() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await, (StatusCode::OK, "ok".to_owned()));
    assert_eq!(app.get("/readyz").await.0, StatusCode::OK);
}

#[tokio::test]
async fn metrics_count_requests_and_created_messages() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    app.seller_sends(&seller.key, "one").await;
    app.as_seller(&seller.key, SELLER_SEND, json!({ "message": "two", "cmid": "x" })).await;
    app.as_seller(&seller.key, SELLER_SEND, json!({ "message": "two", "cmid": "x" })).await;
    let (status, text) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    assert!(text.contains(r#"marketchat_messages_created_total{sent_by="Seller"} 2"#), "{text}");
    assert!(text.contains(r#"marketchat_http_requests_total{path="/graphql/seller",status="200"} 3"#), "{text}");
    assert!(text.contains("marketchat_http_request_duration_seconds_bucket"), "{text}");
}

#[tokio::test]
async fn schema_sdl_is_served_for_both_apis() {
    let app = TestApp::spawn().await;
    let (status, seller) = app.get("/graphql/seller/schema.graphql").await;
    assert_eq!(status, StatusCode::OK);
    assert!(seller.contains("chatMessageCreate(input: ChatMessageCreateInput!): ChatMessageCreatePayload!"), "{seller}");
    assert!(seller.contains("type Query"), "root types use the standard names");
    assert!(!seller.contains("chats("), "the Seller API has no operator queries");
    let (_, operator) = app.get("/graphql/operator/schema.graphql").await;
    assert!(
        operator.contains(
            "chats(first: Int, after: String, unreadOnly: Boolean, search: String, status: ChatStatus, assignedToMe: Boolean, \
             unassigned: Boolean, awaitingReply: Boolean, sort: ChatSort): ChatConnection!"
        ),
        "{operator}"
    );
    assert!(operator.contains("type Seller implements Node"));
}

#[tokio::test]
async fn the_committed_schemas_are_what_the_server_serves() {
    let app = TestApp::spawn().await;
    for (api, committed) in [
        ("seller", include_str!("../../docs/schema/seller.graphql")),
        ("operator", include_str!("../../docs/schema/operator.graphql")),
    ] {
        let (status, served) = app.get(&format!("/graphql/{api}/schema.graphql")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            served == committed,
            "docs/schema/{api}.graphql differs from what the server serves: update it with\n  curl -s http://127.0.0.1:8080/graphql/{api}/schema.graphql > docs/schema/{api}.graphql"
        );
    }
}

/// The layering in src/lib.rs holds: no import circles and no module naming a higher layer
/// (scripts/import_graph.py reads the tree; it exits 1 and names the edges otherwise).
#[test]
fn every_import_in_src_points_down_the_layers() {
    let output = std::process::Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/import_graph.py"))
        .output()
        .expect("python3 runs scripts/import_graph.py");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{report}");
    assert!(report.contains("0 import circle(s), 0 upward import(s)"), "{report}");
}

/// The alert rules are valid and each alert fires as its unit test says
/// (`promtool check rules` and `promtool test rules`; a missing promtool ends the run).
#[test]
fn the_alert_rules_pass_promtool() {
    require_promtool();
    let rules = concat!(env!("CARGO_MANIFEST_DIR"), "/docs/prometheus");
    for args in [["check", "rules", "alerts.yml"], ["test", "rules", "alerts.test.yml"]] {
        let output = std::process::Command::new("promtool").args(args).current_dir(rules).output().expect("run promtool");
        let said = format!("{}{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr));
        assert!(output.status.success(), "promtool {}: {said}", args.join(" "));
    }
}

/// Every `marketchat_…` series the alert rules and the Grafana dashboard name is one a
/// running server exposes: a family `/metrics` declares, with the suffix its type gives
/// its samples (`_total` for counters, `_bucket`/`_sum`/`_count` for histograms).
#[tokio::test]
async fn the_alerts_and_the_dashboard_name_only_metrics_that_exist() {
    let app = TestApp::spawn().await;
    let seller = app.seller("Acme").await;
    app.seller_sends(&seller.key, "one").await;
    let (status, metrics) = app.get("/metrics").await;
    assert_eq!(status, StatusCode::OK);
    let families: HashMap<&str, &str> = metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE "))
        .filter_map(|rest| rest.split_once(' '))
        .collect();
    let exists = |name: &str| {
        let suffixes: &[(&str, &str)] =
            &[("", "gauge"), ("_total", "counter"), ("_bucket", "histogram"), ("_sum", "histogram"), ("_count", "histogram")];
        suffixes.iter().any(|(suffix, kind)| name.strip_suffix(suffix).is_some_and(|family| families.get(family) == Some(kind)))
    };
    assert!(exists("marketchat_database_up") && metrics.contains("marketchat_database_up 1"), "{metrics}");
    assert!(metrics.contains("marketchat_max_subscriptions 50000"), "{metrics}");
    for (file, text) in [
        ("docs/prometheus/alerts.yml", include_str!("../../docs/prometheus/alerts.yml")),
        ("docs/grafana/marketchat.json", include_str!("../../docs/grafana/marketchat.json")),
    ] {
        let named = metric_names(text);
        assert!(named.len() >= 8, "{file} names {named:?}");
        for name in named {
            assert!(exists(&name), "{file} names {name}, which /metrics does not have:\n{metrics}");
        }
    }
    let dashboard: serde_json::Value = serde_json::from_str(include_str!("../../docs/grafana/marketchat.json")).expect("the dashboard is JSON");
    assert!(dashboard["panels"].as_array().is_some_and(|panels| panels.len() >= 10));
}

/// The distinct `marketchat_…` identifiers in `text`.
fn metric_names(text: &str) -> Vec<String> {
    let mut names: Vec<String> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|word| word.starts_with("marketchat_"))
        .map(str::to_owned)
        .collect();
    names.sort();
    names.dedup();
    names
}
