//! SPEC §3 paging: newest first, keyset cursors, stable while messages arrive.

use crate::common::app::{TestApp, TestSeller};
use crate::common::graphql::{texts, SELLER_PAGE};
use serde_json::{json, Value};

async fn thread_of(app: &TestApp, count: usize) -> TestSeller {
    let seller = app.seller("Acme").await;
    for i in 1..=count {
        app.seller_sends(&seller.key, &format!("m{i}")).await;
    }
    seller
}

#[tokio::test]
async fn the_default_page_is_fifty_newest_first() {
    let app = TestApp::spawn().await;
    let seller = thread_of(&app, 55).await;
    let data = app.as_seller(&seller.key, SELLER_PAGE, json!({})).await;
    let page = &data["chatMessages"];
    let texts = texts(page);
    assert_eq!(texts.len(), 50);
    assert_eq!(texts[0], "m55");
    assert_eq!(texts[49], "m6");
    assert_eq!(page["totalCount"], 55);
    assert_eq!(page["pageInfo"]["hasNextPage"], true);
    assert_eq!(page["pageInfo"]["hasPreviousPage"], false);
    let edges = page["edges"].as_array().unwrap();
    assert_eq!(edges[0]["node"]["id"], page["nodes"][0]["id"]);
    assert_eq!(edges[0]["cursor"], page["pageInfo"]["startCursor"]);
    assert_eq!(edges[49]["cursor"], page["pageInfo"]["endCursor"]);
}

#[tokio::test]
async fn a_page_walk_sees_every_message_exactly_once_while_new_ones_arrive() {
    let app = TestApp::spawn().await;
    let seller = thread_of(&app, 23).await;
    let mut seen = Vec::new();
    let mut after = Value::Null;
    let mut arrivals = 0;
    loop {
        let data = app.as_seller(&seller.key, SELLER_PAGE, json!({ "first": 5, "after": after })).await;
        let page = &data["chatMessages"];
        seen.extend(texts(page));
        // Messages keep arriving between pages.
        arrivals += 1;
        app.seller_sends(&seller.key, &format!("late{arrivals}")).await;
        if page["pageInfo"]["hasNextPage"] != true {
            break;
        }
        assert_eq!(page["pageInfo"]["hasPreviousPage"], !after.is_null());
        after = page["pageInfo"]["endCursor"].clone();
    }
    let expected: Vec<String> = (1..=23).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(seen, expected, "every message once, newest first, none of the late arrivals");
}

#[tokio::test]
async fn last_and_before_page_towards_newer_messages() {
    let app = TestApp::spawn().await;
    let seller = thread_of(&app, 10).await;
    let oldest = app.as_seller(&seller.key, SELLER_PAGE, json!({ "last": 3 })).await;
    assert_eq!(texts(&oldest["chatMessages"]), ["m3", "m2", "m1"], "still newest first within the page");
    assert_eq!(oldest["chatMessages"]["pageInfo"]["hasPreviousPage"], true);
    assert_eq!(oldest["chatMessages"]["pageInfo"]["hasNextPage"], false);
    let before = oldest["chatMessages"]["pageInfo"]["startCursor"].clone();
    let newer = app.as_seller(&seller.key, SELLER_PAGE, json!({ "last": 3, "before": before })).await;
    assert_eq!(texts(&newer["chatMessages"]), ["m6", "m5", "m4"]);
    assert_eq!(newer["chatMessages"]["pageInfo"]["hasNextPage"], true);
    let mut walked = Vec::new();
    let mut before = Value::Null;
    loop {
        let data = app.as_seller(&seller.key, SELLER_PAGE, json!({ "last": 4, "before": before })).await;
        let mut page = texts(&data["chatMessages"]);
        page.extend(walked);
        walked = page;
        if data["chatMessages"]["pageInfo"]["hasPreviousPage"] != true {
            break;
        }
        before = data["chatMessages"]["pageInfo"]["startCursor"].clone();
    }
    let expected: Vec<String> = (1..=10).rev().map(|i| format!("m{i}")).collect();
    assert_eq!(walked, expected);
}

#[tokio::test]
async fn page_sizes_from_zero_to_five_hundred_are_accepted() {
    let app = TestApp::spawn().await;
    let seller = thread_of(&app, 3).await;
    let zero = app.as_seller(&seller.key, SELLER_PAGE, json!({ "first": 0 })).await;
    assert_eq!(zero["chatMessages"]["nodes"], json!([]));
    assert_eq!(zero["chatMessages"]["pageInfo"]["hasNextPage"], true);
    let max = app.as_seller(&seller.key, SELLER_PAGE, json!({ "first": 500 })).await;
    assert_eq!(texts(&max["chatMessages"]).len(), 3);
}
