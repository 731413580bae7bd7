//! Speaking GraphQL over HTTP as an integration does: the brief's operations verbatim, the
//! requests tests send most, and readers of what comes back.

use crate::common::app::TestApp;
use reqwest::StatusCode;
use serde_json::{json, Value};

/// The brief's send mutation, verbatim.
pub const BRIEF_SEND: &str = r#"mutation SendMessgaeToOperator {
chatMessageCreate(
input: {
message: "Can you check to see when my remittance will be paid?"
}
) {
chatMessage {
id
}
errors {
field
messages
}
}
}"#;

/// The brief's list query, verbatim.
pub const BRIEF_LIST: &str = r#"query GetChatMessages {
chatMessages(first: 10, after: null) {
totalCount
pageInfo {
hasNextPage
endCursor
}
nodes {
id
createdAt
message
readAt
sentByType
}
}
}"#;

/// The brief's read mutation, verbatim.
pub const BRIEF_READ: &str = r#"mutation ConfirmReadOfChatMessage {
chatMessageRead(input: { sentBy: "Admin" }) {
errors {
messages
field
}
}
}"#;

/// Seller send with variables.
pub const SELLER_SEND: &str = "mutation($message: String!, $cmid: String) {
  chatMessageCreate(input: { message: $message, clientMutationId: $cmid }) {
    chatMessage { id message sentByType createdAt readAt sentBy }
    errors { field messages }
    clientMutationId
  }
}";

/// Operator send with variables.
pub const OPERATOR_SEND: &str = "mutation($sellerId: ID!, $message: String!, $cmid: String) {
  chatMessageCreate(input: { sellerId: $sellerId, message: $message, clientMutationId: $cmid }) {
    chatMessage { id message sentByType createdAt readAt sentBy seller { id businessName } }
    errors { field messages }
    clientMutationId
  }
}";

/// Seller page query with all four Relay arguments as variables.
pub const SELLER_PAGE: &str = "query($first: Int, $after: String, $last: Int, $before: String) {
  chatMessages(first: $first, after: $after, last: $last, before: $before) {
    totalCount
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
    nodes { id message sentByType readAt sentBy }
    edges { cursor node { id } }
  }
}";

/// `sellerUpsert` with variables `externalId`, `businessName`.
pub const SELLER_UPSERT: &str = "mutation($externalId: String!, $businessName: String!, $cmid: String) {
  sellerUpsert(input: { externalId: $externalId, businessName: $businessName, clientMutationId: $cmid }) {
    seller { id externalId businessName }
    created
    errors { field messages }
    clientMutationId
  }
}";

/// `sellerApiKeyCreate` with variables `sellerId`, `label`.
pub const SELLER_API_KEY_CREATE: &str = "mutation($sellerId: ID!, $label: String) {
  sellerApiKeyCreate(input: { sellerId: $sellerId, label: $label }) {
    apiKey { id label createdAt lastUsedAt revokedAt sellerId admin }
    secret
    errors { field messages }
  }
}";

/// `apiKeyRevoke` with variable `id`.
pub const API_KEY_REVOKE: &str = "mutation($id: ID!) {
  apiKeyRevoke(input: { id: $id }) {
    apiKey { id label revokedAt }
    errors { field messages }
  }
}";

/// `apiKeys` with variables `sellerId`, `first`, `after`.
pub const API_KEYS: &str = "query($sellerId: ID, $first: Int, $after: ID) {
  apiKeys(sellerId: $sellerId, first: $first, after: $after) { id label createdAt lastUsedAt revokedAt sellerId admin }
}";

/// `seller` with variables `id`, `externalId`.
pub const SELLER_LOOKUP: &str = "query($id: ID, $externalId: String) {
  seller(id: $id, externalId: $externalId) { id externalId businessName chat { id } }
}";

impl TestApp {
    /// `sellerUpsert` with `key` on the Operator API, which must answer HTTP 200 without
    /// GraphQL errors; returns the payload.
    pub async fn upsert_seller(&self, key: &str, external_id: &str, business_name: &str) -> Value {
        let variables = json!({ "externalId": external_id, "businessName": business_name });
        self.as_operator(key, SELLER_UPSERT, variables).await["sellerUpsert"].clone()
    }

    /// POSTs a GraphQL request with `MARKETPLACER-API-KEY: key` to `path`.
    pub async fn graphql(&self, path: &str, key: &str, query: &str, variables: Value) -> (StatusCode, Value) {
        let body = json!({ "query": query, "variables": variables });
        let request = self.client.post(format!("{}{path}", self.base)).header("MARKETPLACER-API-KEY", key).json(&body);
        Self::read(request).await
    }

    /// Sends a prepared request and returns its status and JSON body.
    pub async fn read(request: reqwest::RequestBuilder) -> (StatusCode, Value) {
        let response = request.send().await.expect("request");
        let status = response.status();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
        (status, body)
    }

    /// A request builder for `path` (for header and body experiments).
    pub fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.client.post(format!("{}{path}", self.base))
    }

    /// A request builder for `path` with any method.
    pub fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.client.request(method, format!("{}{path}", self.base))
    }

    /// A GET of `path`.
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        let response = self.client.get(format!("{}{path}", self.base)).send().await.expect("request");
        (response.status(), response.text().await.expect("body"))
    }

    /// Seller API request that must succeed at the HTTP level; returns `data`.
    pub async fn as_seller(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql("/graphql/seller", key, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Operator API request that must succeed at the HTTP level; returns `data`.
    pub async fn as_operator(&self, key: &str, query: &str, variables: Value) -> Value {
        let (status, body) = self.graphql("/graphql/operator", key, query, variables).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(body.get("errors").is_none(), "unexpected errors: {body}");
        body["data"].clone()
    }

    /// Sends `text` as the seller; returns the payload.
    pub async fn seller_sends(&self, key: &str, text: &str) -> Value {
        let data = self.as_seller(key, SELLER_SEND, json!({ "message": text })).await;
        data["chatMessageCreate"].clone()
    }

    /// Sends `text` into `seller_gid`'s thread as the operator; returns the payload.
    pub async fn operator_sends(&self, key: &str, seller_gid: &str, text: &str) -> Value {
        let data = self.as_operator(key, OPERATOR_SEND, json!({ "sellerId": seller_gid, "message": text })).await;
        data["chatMessageCreate"].clone()
    }
}

/// The `errors` of a payload as (field, first message) pairs.
pub fn payload_errors(payload: &Value) -> Vec<(String, String)> {
    payload["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .map(|e| (e["field"].as_str().unwrap_or("").to_owned(), e["messages"][0].as_str().unwrap_or("").to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// The `extensions.code` of the first GraphQL error.
pub fn error_code(body: &Value) -> &str {
    body["errors"][0]["extensions"]["code"].as_str().unwrap_or("")
}

/// The messages of a page, as their texts.
pub fn texts(connection: &Value) -> Vec<String> {
    connection["nodes"].as_array().expect("nodes").iter().map(|n| n["message"].as_str().expect("text").to_owned()).collect()
}
