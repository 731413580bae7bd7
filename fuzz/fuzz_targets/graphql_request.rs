//! Any bytes as a GraphQL request body to the Seller and Operator APIs, through the real
//! router on a real SQLite store: never a panic and never a 500; whatever it sends, a
//! seller never changes another seller's chat.
#![no_main]

use axum::body::Body;
use axum::http::{Request, StatusCode};
use libfuzzer_sys::fuzz_target;
use marketchat::app::{router, AppState};
use marketchat::config::ServerConfig;
use marketchat::domain::keys::generate_key;
use marketchat::store::{self, Store};
use std::sync::{Arc, OnceLock};
use tower::ServiceExt;

struct Target {
    runtime: tokio::runtime::Runtime,
    state: Arc<AppState>,
    store: Arc<dyn Store>,
    seller_key: String,
    operator_key: String,
    other_seller: i64,
    _dir: tempfile::TempDir,
}

fn target() -> &'static Target {
    static TARGET: OnceLock<Target> = OnceLock::new();
    TARGET.get_or_init(|| {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fuzz.db").display());
        let (store, seller_key, operator_key, other_seller) = runtime.block_on(async {
            let store = store::connect(&url, &Default::default()).await.unwrap();
            let seller = store.create_seller("Fuzz", 0).await.unwrap();
            let other = store.create_seller("Other", 0).await.unwrap();
            let (seller_key, operator_key) = (generate_key(&mut rand::thread_rng()), generate_key(&mut rand::thread_rng()));
            store.create_api_key(&seller_key.hash, Some(seller.id), None, 0).await.unwrap();
            store.create_api_key(&operator_key.hash, None, Some("fuzz"), 0).await.unwrap();
            (store, seller_key.secret, operator_key.secret, other.id)
        });
        let config = ServerConfig { rate_limits: "off".parse().unwrap(), ..ServerConfig::default() };
        let state = Arc::new(AppState::new(store.clone(), &config));
        Target { runtime, state, store, seller_key, operator_key, other_seller, _dir: dir }
    })
}

fuzz_target!(|data: &[u8]| {
    let target = target();
    target.runtime.block_on(async {
        let before = target.store.chat(target.other_seller).await.unwrap().map(|c| c.message_count);
        for (path, key) in [("/graphql/seller", &target.seller_key), ("/graphql/operator", &target.operator_key)] {
            let request = Request::post(path)
                .header("content-type", "application/json")
                .header("marketplacer-api-key", key.as_str())
                .body(Body::from(data.to_vec()))
                .unwrap();
            let response = router(target.state.clone()).oneshot(request).await.unwrap();
            assert_ne!(response.status(), StatusCode::INTERNAL_SERVER_ERROR, "{path}: {data:?}");
            if path == "/graphql/seller" {
                let after = target.store.chat(target.other_seller).await.unwrap().map(|c| c.message_count);
                assert_eq!(before, after, "a seller key changed another seller's chat");
            }
        }
    });
});
