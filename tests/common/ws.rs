//! Subscriptions as a client sees them: a graphql-transport-ws client over a real socket,
//! and how a socket ended.

use crate::common::app::TestApp;
use futures_util::{SinkExt, StreamExt};
use serde_json::{json, Value};
use std::time::Duration;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

/// The subscription both APIs answer, selecting the fields they share.
pub const CHAT_EVENTS: &str = "subscription($after: String) {
  chatEvents(after: $after) {
    __typename
    ... on ChatMessageCreated { cursor chatMessage { id message sentByType } }
    ... on ChatMessagesRead { cursor sellerId sentByType readAt messageIds }
  }
}";

type WsStream = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// A graphql-transport-ws client over a real socket.
pub struct WsClient {
    ws: WsStream,
}

/// How a socket ended, as the client saw it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ended {
    /// A close frame with this code.
    Closed(u16),
    /// The connection dropped without a close frame.
    Dropped,
}

impl TestApp {
    /// Opens a WebSocket on `path` with the graphql-transport-ws subprotocol.
    pub async fn websocket(&self, path: &str) -> WsClient {
        WsClient::connect(&self.base, path).await
    }

    /// Connects with `key`, waits for the ack, and subscribes to `chatEvents(after:)`.
    pub async fn subscribe(&self, path: &str, key: &str, after: Option<&str>) -> WsClient {
        WsClient::subscribe(&self.base, path, key, after).await
    }
}

impl WsClient {
    /// Wraps a socket the caller opened (for header experiments).
    pub fn from_stream(ws: WsStream) -> Self {
        Self { ws }
    }

    /// Opens a WebSocket on `base` + `path` with the graphql-transport-ws subprotocol.
    pub async fn connect(base: &str, path: &str) -> WsClient {
        let url = format!("{}{path}", base.replace("http://", "ws://"));
        let mut request = url.into_client_request().expect("ws request");
        request.headers_mut().insert("Sec-WebSocket-Protocol", "graphql-transport-ws".parse().unwrap());
        let (ws, response) = tokio_tungstenite::connect_async(request).await.expect("ws connect");
        assert_eq!(response.headers()["sec-websocket-protocol"], "graphql-transport-ws");
        WsClient { ws }
    }

    /// Connects with `key`, waits for the ack, and subscribes to `chatEvents(after:)`.
    pub async fn subscribe(base: &str, path: &str, key: &str, after: Option<&str>) -> WsClient {
        let mut client = Self::initialised(base, path, key).await;
        client.send(json!({ "id": "1", "type": "subscribe", "payload": { "query": CHAT_EVENTS, "variables": { "after": after } } })).await;
        client
    }

    /// Opens a socket on `path` and completes `connection_init` with `key`.
    pub async fn initialised(base: &str, path: &str, key: &str) -> WsClient {
        let mut client = Self::connect(base, path).await;
        client.send(json!({ "type": "connection_init", "payload": { "MARKETPLACER-API-KEY": key } })).await;
        let ack = client.next_message().await.expect("connection_ack");
        assert_eq!(ack["type"], "connection_ack", "{ack}");
        client
    }

    /// Runs one query or mutation over the socket as operation `id`; returns the first
    /// message about it (`next` with the result, or `error`), or how the socket ended.
    pub async fn operation(&mut self, id: &str, query: &str, variables: Value) -> Result<Value, Ended> {
        self.send(json!({ "id": id, "type": "subscribe", "payload": { "query": query, "variables": variables } })).await;
        loop {
            let message = self.next_message().await?;
            if message["id"] == id && message["type"] != "complete" {
                return Ok(message);
            }
        }
    }

    /// Sends one protocol message.
    pub async fn send(&mut self, message: Value) {
        self.ws.send(Message::text(message.to_string())).await.expect("ws send");
    }

    /// The next protocol message, or `Err` with how the socket ended (5 s at most).
    pub async fn next_message(&mut self) -> Result<Value, Ended> {
        self.next_message_within(5).await
    }

    /// The next protocol message, or `Err` with how the socket ended.
    pub async fn next_message_within(&mut self, seconds: u64) -> Result<Value, Ended> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(seconds);
        loop {
            let frame = tokio::time::timeout_at(deadline, self.ws.next()).await.expect("no message in time");
            match frame {
                Some(Ok(Message::Text(text))) => return Ok(serde_json::from_str(&text).expect("JSON message")),
                Some(Ok(Message::Close(frame))) => return Err(Ended::Closed(frame.map_or(1005, |f| f.code.into()))),
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(Ended::Dropped),
            }
        }
    }

    /// The next `chatEvents` event (fails on anything else).
    pub async fn next_event(&mut self) -> Value {
        let message = self.next_message().await.expect("an event");
        assert_eq!(message["type"], "next", "{message}");
        assert!(message["payload"].get("errors").is_none(), "{message}");
        message["payload"]["data"]["chatEvents"].clone()
    }

    /// Asserts nothing arrives for `millis`.
    pub async fn expect_silence(&mut self, millis: u64) {
        let next = tokio::time::timeout(Duration::from_millis(millis), self.ws.next()).await;
        assert!(next.is_err(), "expected silence, got {next:?}");
    }

    /// Waits for the socket to end and says how (skipping any messages before).
    pub async fn ended(&mut self) -> Ended {
        loop {
            if let Err(ended) = self.next_message_within(10).await {
                return ended;
            }
        }
    }
}
