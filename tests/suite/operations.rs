//! SPEC §2 operations endpoints: health, readiness, metrics, schema SDL.

use crate::common::app::TestApp;
use crate::common::graphql::SELLER_SEND;
use reqwest::StatusCode;
use serde_json::json;

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
