//! SPEC §11, provisioning API: the marketplace keeps sellers and their keys in step with its
//! own through the Operator API, with admin credentials only.

use crate::common::app::TestApp;
use crate::common::graphql::{error_code, payload_errors, API_KEYS, API_KEY_REVOKE, BRIEF_LIST, SELLER_API_KEY_CREATE, SELLER_LOOKUP, SELLER_UPSERT};
use crate::common::session::as_user;
use futures_util::future::join_all;
use marketchat::domain::ids::{GlobalId, IdKind, SellerId};
use marketchat::domain::users::OperatorRole;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// Sellers, chats and API keys stored, and the sellers' names in order: what a refused
/// call must leave as it was.
async fn stored_state(app: &TestApp) -> (i64, i64, i64, i64, Vec<String>) {
    let sellers = app.query_i64("SELECT COUNT(*) FROM sellers").await;
    let chats = app.query_i64("SELECT COUNT(*) FROM chats").await;
    let keys = app.query_i64("SELECT COUNT(*) FROM api_keys").await;
    let revoked = app.query_i64("SELECT COUNT(*) FROM api_keys WHERE revoked_at IS NOT NULL").await;
    let query = marketchat::store::SellerListQuery { limit: 500, ..Default::default() };
    let names = app.store.list_sellers(&query).await.unwrap().items.into_iter().map(|s| s.business_name).collect();
    (sellers, chats, keys, revoked, names)
}

#[tokio::test]
async fn seller_upsert_creates_the_seller_with_its_chat_then_renames_it_and_a_repeated_sync_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("Nightly sync").await;

    let created = app.upsert_seller(&admin, "mp-1", "Acme").await;
    assert_eq!(created["created"], true, "{created}");
    assert!(created["errors"].is_null(), "{created}");
    assert_eq!(created["seller"]["externalId"], "mp-1");
    assert_eq!(created["seller"]["businessName"], "Acme");
    let seller_id = created["seller"]["id"].as_str().unwrap().to_owned();
    // The chat exists from the seller's creation: the operator can write into it at once.
    let operator = app.operator_key("Support").await;
    assert!(app.operator_sends(&operator, &seller_id, "Welcome!").await["errors"].is_null());

    let renamed = app.upsert_seller(&admin, "mp-1", "  Acme Outdoor  ").await;
    assert_eq!(renamed["created"], false, "{renamed}");
    assert_eq!(renamed["seller"]["id"], seller_id.as_str(), "the same seller");
    assert_eq!(renamed["seller"]["businessName"], "Acme Outdoor", "trimmed");

    let sync = [("mp-1", "Acme Outdoor"), ("mp-2", "Blue Harbor Books"), ("mp-3", "Copper Kettle")];
    for (external_id, name) in sync {
        app.upsert_seller(&admin, external_id, name).await;
    }
    let after_first_sync = stored_state(&app).await;
    assert_eq!(after_first_sync.0, 3);
    for (external_id, name) in sync {
        let again = app.upsert_seller(&admin, external_id, name).await;
        assert_eq!(again["created"], false, "{again}");
        assert_eq!(again["seller"]["businessName"], name);
    }
    assert_eq!(stored_state(&app).await, after_first_sync, "a repeated sync changes nothing");
    assert_eq!(app.stored_messages(GlobalId::decode_as::<SellerId>(&seller_id).unwrap()).await, 1, "renaming keeps the thread");

    let echoed = app.as_operator(&admin, SELLER_UPSERT, json!({ "externalId": "mp-2", "businessName": "Blue Harbor Books", "cmid": "sync-7" })).await;
    assert_eq!(echoed["sellerUpsert"]["clientMutationId"], "sync-7");
}

#[tokio::test]
async fn invalid_upserts_get_field_errors_and_change_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    app.upsert_seller(&admin, "mp-1", "Acme").await;
    let before = stored_state(&app).await;
    let too_long = "x".repeat(256);
    let cases = [
        ("", "Blue", "externalId", "can't be blank"),
        ("   ", "Blue", "externalId", "can't be blank"),
        ("mp-2", "", "businessName", "can't be blank"),
        ("mp-2", "\u{200B} \u{3000}", "businessName", "can't be blank"),
        ("mp-1", " ", "businessName", "can't be blank"),
        (too_long.as_str(), "Blue", "externalId", "is too long (maximum is 255 characters)"),
        ("mp-2", too_long.as_str(), "businessName", "is too long (maximum is 255 characters)"),
        ("mp-1", &"é".repeat(256), "businessName", "is too long (maximum is 255 characters)"),
        ("mp-2", "Blue\nHarbor", "businessName", "must be one line without control characters"),
        ("mp\u{0}2", "Blue", "externalId", "must be one line without control characters"),
        ("mp-2", "Blue\u{202E}koob", "businessName", "contains invisible direction-control characters that are not allowed"),
    ];
    for (external_id, name, field, message) in cases {
        let payload = app.upsert_seller(&admin, external_id, name).await;
        assert_eq!(payload_errors(&payload), [(field.to_owned(), message.to_owned())], "{external_id:?} {name:?}: {payload}");
        assert_eq!(payload["seller"], Value::Null);
        assert_eq!(payload["created"], false);
    }
    assert_eq!(stored_state(&app).await, before, "nothing was written");
    // 255 characters is the limit, not beyond it.
    let longest = app.upsert_seller(&admin, &"7".repeat(255), &"n".repeat(255)).await;
    assert_eq!(longest["created"], true, "{longest}");
}

#[tokio::test]
async fn twenty_concurrent_upserts_of_one_external_id_make_one_seller_and_none_fails() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    // Used once first, so the racing requests do not queue behind recording its first use.
    app.as_operator(&admin, "{ chatUnreadCount }", json!({})).await;
    for round in 0..5 {
        let external_id = format!("mp-race-{round}");
        let attempts = (0..20).map(|i| {
            let variables = json!({ "externalId": external_id, "businessName": format!("Racer {i}") });
            let (app, admin) = (&app, &admin);
            async move { app.graphql("/graphql/operator", admin, SELLER_UPSERT, variables).await }
        });
        let answers = join_all(attempts).await;
        let mut created = 0;
        let mut ids = std::collections::HashSet::new();
        for (status, body) in &answers {
            assert_eq!(*status, StatusCode::OK, "{body}");
            assert!(body.get("errors").is_none(), "no request fails: {body}");
            let payload = &body["data"]["sellerUpsert"];
            assert!(payload["errors"].is_null(), "{payload}");
            created += i32::from(payload["created"] == true);
            ids.insert(payload["seller"]["id"].as_str().unwrap().to_owned());
        }
        assert_eq!(created, 1, "exactly one call created the seller");
        assert_eq!(ids.len(), 1, "every call answered with the same seller");
        let stored = app.query_i64(&format!("SELECT COUNT(*) FROM sellers WHERE external_id = '{external_id}'")).await;
        assert_eq!(stored, 1, "one seller with {external_id}");
    }
    assert_eq!(app.query_i64("SELECT COUNT(*) FROM chats").await, 5, "one chat each");
}

/// Every provisioning operation, with what to pass; each must be refused for a
/// credential that is not an admin's.
fn provisioning_operations(seller_gid: &str, seller_key_id: &str) -> Vec<(&'static str, &'static str, Value)> {
    vec![
        ("sellerUpsert", SELLER_UPSERT, json!({ "externalId": "mp-new", "businessName": "Newcomer" })),
        ("sellerUpsert", SELLER_UPSERT, json!({ "externalId": "mp-1", "businessName": "Renamed" })),
        ("sellerApiKeyCreate", SELLER_API_KEY_CREATE, json!({ "sellerId": seller_gid, "label": "stolen" })),
        ("apiKeyRevoke", API_KEY_REVOKE, json!({ "id": seller_key_id })),
        ("seller", SELLER_LOOKUP, json!({ "externalId": "mp-1" })),
        ("apiKeys", API_KEYS, json!({})),
    ]
}

#[tokio::test]
async fn only_admin_keys_and_full_admins_may_provision_every_other_operator_credential_is_forbidden_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    let acme = app.upsert_seller(&admin, "mp-1", "Acme").await["seller"].clone();
    let acme_gid = acme["id"].as_str().unwrap().to_owned();
    let made = app.as_operator(&admin, SELLER_API_KEY_CREATE, json!({ "sellerId": acme_gid })).await["sellerApiKeyCreate"].clone();
    let (seller_key, seller_key_id) = (made["secret"].as_str().unwrap().to_owned(), made["apiKey"]["id"].as_str().unwrap().to_owned());
    let plain_key = app.operator_key("Support").await;
    let mut refused_users = Vec::new();
    for role in [OperatorRole::Viewer, OperatorRole::CustomerSupport, OperatorRole::Webmaster] {
        refused_users.push((role, app.operator_session(role).await));
    }
    let full_admin = app.operator_session(OperatorRole::FullAdmin).await;
    let before = stored_state(&app).await;

    for (name, query, variables) in provisioning_operations(&acme_gid, &seller_key_id) {
        let (status, body) = app.graphql("/graphql/operator", &plain_key, query, variables.clone()).await;
        assert_eq!(status, StatusCode::OK, "{name}: {body}");
        assert_eq!(error_code(&body), "FORBIDDEN", "a plain operator key may not call {name}: {body}");
        assert!(body["data"].is_null() || body["data"][name].is_null(), "{name}: {body}");
        let (_, body) = app.graphql("/graphql", &plain_key, query, variables.clone()).await;
        assert_eq!(error_code(&body), "FORBIDDEN", "nor on /graphql: {name}: {body}");
        for (role, cookie) in &refused_users {
            let (_, body) = as_user(&app, "/graphql/operator", cookie, query, variables.clone()).await;
            assert_eq!(error_code(&body), "FORBIDDEN", "a {role} user may not call {name}: {body}");
            assert!(!body.to_string().contains("mck_"), "{body}");
        }
    }
    assert_eq!(stored_state(&app).await, before, "nothing changed");
    assert_eq!(app.seller_sends(&seller_key, "still works").await["errors"], Value::Null, "the seller's key was not revoked");

    // A Full Admin user and an admin key may.
    let (_, body) = as_user(&app, "/graphql/operator", &full_admin, SELLER_UPSERT, json!({ "externalId": "mp-2", "businessName": "Blue" })).await;
    assert_eq!(body["data"]["sellerUpsert"]["created"], true, "{body}");
    let (_, body) = as_user(&app, "/graphql/operator", &full_admin, API_KEYS, json!({ "sellerId": acme_gid })).await;
    assert_eq!(body["data"]["apiKeys"].as_array().map(Vec::len), Some(1), "{body}");
    let found = app.as_operator(&admin, SELLER_LOOKUP, json!({ "externalId": "mp-2" })).await;
    assert_eq!(found["seller"]["businessName"], "Blue");
}

#[tokio::test]
async fn a_key_made_through_the_api_works_on_the_seller_api_until_it_is_revoked() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    let seller = app.upsert_seller(&admin, "mp-1", "Acme").await["seller"].clone();
    let seller_gid = seller["id"].as_str().unwrap();

    let made = app.as_operator(&admin, SELLER_API_KEY_CREATE, json!({ "sellerId": seller_gid, "label": " Storefront " })).await["sellerApiKeyCreate"].clone();
    assert!(made["errors"].is_null(), "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    assert!(secret.starts_with("mck_"), "{secret}");
    let key = &made["apiKey"];
    assert_eq!((key["label"].as_str(), key["sellerId"].as_str(), key["admin"].as_bool()), (Some("Storefront"), Some(seller_gid), Some(false)));
    assert!(key["createdAt"].is_string() && key["lastUsedAt"].is_null() && key["revokedAt"].is_null(), "{key}");
    let key_id = key["id"].as_str().unwrap().to_owned();
    assert_eq!(GlobalId::decode(&key_id).unwrap().kind, IdKind::ApiKey);

    assert!(app.seller_sends(&secret, "Hello from our portal").await["errors"].is_null());
    let (status, body) = app.graphql("/graphql/operator", &secret, "{ chats { totalCount } }", json!({})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"), "a seller key, not an operator's: {body}");
    let listed = app.as_operator(&admin, API_KEYS, json!({ "sellerId": seller_gid })).await;
    assert!(listed["apiKeys"][0]["lastUsedAt"].is_string(), "its use is recorded: {listed}");

    let revoked = app.as_operator(&admin, API_KEY_REVOKE, json!({ "id": key_id })).await["apiKeyRevoke"].clone();
    assert!(revoked["errors"].is_null(), "{revoked}");
    let revoked_at = revoked["apiKey"]["revokedAt"].as_str().unwrap().to_owned();
    let (status, body) = app.graphql("/graphql/seller", &secret, BRIEF_LIST, json!({})).await;
    assert_eq!((status, error_code(&body)), (StatusCode::UNAUTHORIZED, "UNAUTHENTICATED"), "refused once revoked: {body}");
    let again = app.as_operator(&admin, API_KEY_REVOKE, json!({ "id": key_id })).await["apiKeyRevoke"].clone();
    assert_eq!(again["apiKey"]["revokedAt"], revoked_at.as_str(), "revoking again keeps the first time");
    assert_eq!(app.stored_messages(GlobalId::decode_as::<SellerId>(seller_gid).unwrap()).await, 1);
}

#[tokio::test]
async fn bad_key_requests_get_field_errors_and_create_or_revoke_nothing() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    let seller_gid = app.upsert_seller(&admin, "mp-1", "Acme").await["seller"]["id"].as_str().unwrap().to_owned();
    let before = stored_state(&app).await;
    let unknown_seller = GlobalId::new(IdKind::Seller, 999).encode();
    let unknown_key = GlobalId::new(IdKind::ApiKey, 999).encode();
    for (variables, field, message) in [
        (json!({ "sellerId": unknown_seller }), "sellerId", "does not exist"),
        (json!({ "sellerId": "garbage" }), "sellerId", "is not a valid ID"),
        (json!({ "sellerId": unknown_key }), "sellerId", "is not a Seller ID"),
        (json!({ "sellerId": seller_gid, "label": "x".repeat(256) }), "label", "is too long (maximum is 255 characters)"),
        (json!({ "sellerId": seller_gid, "label": "a\nb" }), "label", "must be one line without control characters"),
    ] {
        let payload = app.as_operator(&admin, SELLER_API_KEY_CREATE, variables.clone()).await["sellerApiKeyCreate"].clone();
        assert_eq!(payload_errors(&payload), [(field.to_owned(), message.to_owned())], "{variables}: {payload}");
        assert!(payload["secret"].is_null() && payload["apiKey"].is_null(), "{payload}");
    }
    for (id, message) in [(unknown_key.as_str(), "does not exist"), (seller_gid.as_str(), "is not a ApiKey ID"), ("", "is not a valid ID")] {
        let payload = app.as_operator(&admin, API_KEY_REVOKE, json!({ "id": id })).await["apiKeyRevoke"].clone();
        assert_eq!(payload_errors(&payload), [("id".to_owned(), message.to_owned())], "{id:?}: {payload}");
    }
    assert_eq!(stored_state(&app).await, before, "nothing was created or revoked");
}

#[tokio::test]
async fn api_keys_never_return_secrets_and_page_oldest_first() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    let plain = app.operator_key("Support").await;
    let acme = app.upsert_seller(&admin, "mp-1", "Acme").await["seller"]["id"].as_str().unwrap().to_owned();
    let blue = app.upsert_seller(&admin, "mp-2", "Blue").await["seller"]["id"].as_str().unwrap().to_owned();
    let mut secrets = vec![admin.clone(), plain.clone()];
    for (seller, label) in [(&acme, "a1"), (&blue, "b1"), (&acme, "a2"), (&acme, "a3")] {
        let made = app.as_operator(&admin, SELLER_API_KEY_CREATE, json!({ "sellerId": seller, "label": label })).await;
        secrets.push(made["sellerApiKeyCreate"]["secret"].as_str().unwrap().to_owned());
    }

    let all = app.as_operator(&admin, API_KEYS, json!({})).await;
    let labels: Vec<&str> = all["apiKeys"].as_array().unwrap().iter().map(|k| k["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["sync", "Support", "a1", "b1", "a2", "a3"], "every key, oldest first");
    assert_eq!(all["apiKeys"][0]["admin"], true);
    assert_eq!(all["apiKeys"][1]["admin"], false);
    assert_eq!(all["apiKeys"][1]["sellerId"], Value::Null, "an operator key has no seller");

    let acme_keys = app.as_operator(&admin, API_KEYS, json!({ "sellerId": acme, "first": 2 })).await;
    let page: Vec<&str> = acme_keys["apiKeys"].as_array().unwrap().iter().map(|k| k["label"].as_str().unwrap()).collect();
    assert_eq!(page, ["a1", "a2"]);
    let last = acme_keys["apiKeys"][1]["id"].clone();
    let rest = app.as_operator(&admin, API_KEYS, json!({ "sellerId": acme, "first": 2, "after": last })).await;
    assert_eq!(rest["apiKeys"].as_array().unwrap().len(), 1);
    assert_eq!(rest["apiKeys"][0]["label"], "a3");

    let everything = format!("{all}{acme_keys}{rest}");
    for secret in &secrets {
        assert!(!everything.contains(secret.as_str()), "a secret was listed");
    }
    assert!(!everything.contains("mck_"), "{everything}");

    for variables in [
        json!({ "first": 501 }),
        json!({ "first": -1 }),
        json!({ "sellerId": GlobalId::new(IdKind::Seller, 999).encode() }),
        json!({ "after": acme }),
    ] {
        let (status, body) = app.graphql("/graphql/operator", &admin, API_KEYS, variables.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{variables}: {body}");
    }
    // `apiKeys` counts its items like a connection's page: three full pages are too many.
    let wide = "{ a: apiKeys(first: 500) { id label createdAt lastUsedAt revokedAt sellerId admin } b: apiKeys(first: 500) { id } c: apiKeys(first: 500) { id } }";
    let (_, body) = app.graphql("/graphql/operator", &admin, wide, json!({})).await;
    assert_eq!(error_code(&body), "QUERY_TOO_COMPLEX", "{body}");
}

#[tokio::test]
async fn seller_takes_exactly_one_of_id_and_external_id() {
    let app = TestApp::spawn().await;
    let admin = app.admin_key("sync").await;
    let seller_gid = app.upsert_seller(&admin, "MP-1001", "Acme").await["seller"]["id"].as_str().unwrap().to_owned();
    let by_external = app.as_operator(&admin, SELLER_LOOKUP, json!({ "externalId": " MP-1001 " })).await;
    assert_eq!(by_external["seller"]["id"], seller_gid.as_str(), "{by_external}");
    assert!(by_external["seller"]["chat"]["id"].is_string());
    let by_id = app.as_operator(&admin, SELLER_LOOKUP, json!({ "id": seller_gid })).await;
    assert_eq!(by_id["seller"]["externalId"], "MP-1001");
    for missing in [json!({ "externalId": "mp-1001" }), json!({ "externalId": "" }), json!({ "id": GlobalId::new(IdKind::Seller, 999).encode() })] {
        let found = app.as_operator(&admin, SELLER_LOOKUP, missing.clone()).await;
        assert_eq!(found["seller"], Value::Null, "{missing}");
    }
    for bad in [json!({}), json!({ "id": seller_gid, "externalId": "MP-1001" }), json!({ "id": "garbage" })] {
        let (status, body) = app.graphql("/graphql/operator", &admin, SELLER_LOOKUP, bad.clone()).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(error_code(&body), "BAD_USER_INPUT", "{bad}: {body}");
        assert!(body["errors"][0]["message"].as_str().unwrap().contains("id"), "{body}");
    }
    // Every operator credential sees a seller's external ID on `Seller`.
    let plain = app.operator_key("Support").await;
    let listed = app.as_operator(&plain, "{ sellers { nodes { businessName externalId } } }", json!({})).await;
    assert_eq!(listed["sellers"]["nodes"][0]["externalId"], "MP-1001");
}
