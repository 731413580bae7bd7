//! One socket's graphql-transport-ws conversation after `connection_init`, spoken as
//! async-graphql's driver spoke it: `connection_ack`; `ping` → `pong`; `subscribe` runs
//! the operation (a query or mutation: `next` with its response, then `complete`);
//! `complete` from the client ends one (answered with `complete`); a second
//! `connection_init` closes with 4429, a message that does not parse with 1002.
//!
//! Every operation runs through async-graphql first, with `chatEvents` in the register
//! mode: validation and argument errors are exactly async-graphql's. A subscription it
//! accepted becomes a record in the fan-out engine (no executor state is kept), whose
//! rendered events arrive through the connection's [`Outbox`] and are framed here into
//! a reused buffer. A document with several `chatEvents` fields streams through
//! async-graphql as before.
//!
//! Besides the protocol: the [`OperationGate`] admits each `subscribe`; writes stall
//! at most the write timeout; the credential is re-checked every `ws_recheck`; shutdown,
//! a too-slow subscriber and the gate close the socket with their codes.

use crate::api::resolvers::{ChatEventsMode, ConnectionControl, Registrations};
use crate::api::state::ApiState;
use super::gate::OperationGate;
use crate::api::plans::{PlanSource, Plans};
use crate::realtime::{EndReason, Outbox, Outgoing, Subscription};
use async_graphql::http::ClientMessage;
use async_graphql::{Data, Executor, Request, Response};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes};
use tokio_util::bytes::{BufMut, BytesMut};
use futures_util::stream::BoxStream;
use futures_util::{Sink, SinkExt, Stream, StreamExt, TryFutureExt};
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use super::mailbox::Mailbox;

/// Why a subscription too slow for the engine closes its socket.
const TOO_SLOW: &str = "subscriber too slow; reconnect with after: the last cursor";
/// The frame buffer is dropped when idle above this size (bursts do not pin memory).
const KEEP_BUFFER: usize = 64 * 1024;

/// One socket's state.
pub struct Connection<'a> {
    state: &'a ApiState,
    gate: &'a OperationGate,
    /// Cancelled when a streamed subscription fell too far behind.
    control: ConnectionControl,
    /// The principal, credential and control, for every operation.
    data: Arc<Data>,
    /// The engine's messages for this socket's subscriptions.
    outbox: Arc<Outbox>,
    /// Operations in flight, by ID.
    operations: HashMap<String, Operation>,
    /// What the operations' tasks yield, tagged with their serial and ID.
    responses: Arc<Mailbox<Yielded>>,
    /// The serial of the next operation started (an ID may be reused).
    next_serial: u64,
    /// Frames are built here and split off (no allocation per frame once warm).
    frames: BytesMut,
    /// What was taken from the outbox, being written.
    taken: VecDeque<Outgoing>,
}

/// A response of operation `id` (its `serial`), or its end (`None`).
type Yielded = (u64, String, Option<Box<Response>>);

/// Responses buffered per connection before operations wait for the connection.
const RESPONSE_QUEUE: usize = 16;

/// An operation in flight.
enum Operation {
    /// Running through async-graphql on its own task (so what it holds, such as a pooled
    /// database connection, is never stuck behind this connection's other work);
    /// `registered` collects what its `chatEvents` fields asked (register mode), and
    /// `source` says how to render them.
    Running { serial: u64, _task: AbortOnDrop, registered: Option<(Registrations, Box<PlanSource>)>, responded: bool },
    /// A subscription of the fan-out engine.
    Subscribed(Arc<Subscription>),
}

/// What woke the connection.
enum Step {
    /// Close with this code and reason.
    Close(u16, &'static str),
    Refusal,
    Outbox,
    Response,
    Frame(Option<Result<Message, axum::Error>>),
    Recheck,
}

impl<'a> Connection<'a> {
    /// A connection past `connection_init`, for the client `data` describes.
    pub fn new(state: &'a ApiState, gate: &'a OperationGate, control: ConnectionControl, data: Data) -> Self {
        Self {
            responses: Arc::new(Mailbox::new(RESPONSE_QUEUE)),
            next_serial: 0,
            state,
            gate,
            control,
            data: Arc::new(data),
            outbox: state.broker.fanout.outbox(),
            operations: HashMap::new(),
            frames: BytesMut::new(),
            taken: VecDeque::new(),
        }
    }

    /// Speaks the protocol over `sink` and `incoming` with `schema` until the socket ends.
    pub async fn run<E: Executor>(
        mut self,
        schema: &E,
        plans: &Plans,
        sink: &mut (impl Sink<Message> + Unpin),
        incoming: &mut (impl Stream<Item = Result<Message, axum::Error>> + Unpin),
    ) {
        if !self.write(sink, text(r#"{"type":"connection_ack"}"#)).await {
            return;
        }
        let mut recheck = tokio::time::interval_at(tokio::time::Instant::now() + self.state.ws_recheck, self.state.ws_recheck);
        recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        // What a step awaits is boxed (allocated only while it runs), so an idle socket's
        // task holds just this loop's state, not the largest step's.
        loop {
            let step = tokio::select! {
                biased;
                _ = self.gate.ended.cancelled() => {
                    let (code, reason) = self.gate.end_reason();
                    Step::Close(code, reason)
                }
                _ = self.gate.refusals.ready() => Step::Refusal,
                _ = self.outbox.ready() => Step::Outbox,
                _ = self.responses.ready() => Step::Response,
                frame = incoming.next() => Step::Frame(frame),
                _ = self.control.0.cancelled() => Step::Close(1008, TOO_SLOW),
                _ = self.state.shutdown.cancelled() => Step::Close(1001, "server shutting down"),
                _ = recheck.tick() => Step::Recheck,
            };
            let open = match step {
                Step::Close(code, reason) => return close(sink, code, reason).await,
                Step::Refusal => match self.gate.refusals.take() {
                    Some(refusal) => self.write(sink, Message::Text(refusal.into())).await,
                    None => true,
                },
                Step::Outbox => Box::pin(self.write_outbox(sink)).await,
                Step::Response => match self.responses.take() {
                    Some((serial, id, response)) => Box::pin(self.responded(schema, plans, sink, serial, id, response)).await,
                    None => true,
                },
                Step::Frame(Some(Ok(Message::Text(frame)))) => Box::pin(self.received(schema, sink, frame.as_bytes().to_vec())).await,
                Step::Frame(Some(Ok(Message::Binary(frame)))) => Box::pin(self.received(schema, sink, frame.to_vec())).await,
                Step::Frame(Some(Ok(_))) => true,
                Step::Frame(Some(Err(_))) => {
                    // Over the size limit or broken: end the socket, saying why.
                    self.gate.end(1009, "frame larger than the request body limit or malformed");
                    true
                }
                Step::Frame(None) => {
                    let (code, reason) = if self.gate.ended.is_cancelled() { self.gate.end_reason() } else { (1000, "") };
                    return close(sink, code, reason).await;
                }
                Step::Recheck => {
                    match Box::pin(self.gate.credential_holds()).await {
                        Ok(true) => {}
                        Ok(false) => return close(sink, 4403, "Forbidden: the key was revoked or the session ended").await,
                        Err(error) => tracing::warn!(%error, "could not re-check a subscriber's credential; will retry"),
                    }
                    true
                }
            };
            if !open {
                return;
            }
        }
    }

    /// Handles one client message; `false` when the socket is gone.
    async fn received<E: Executor>(&mut self, schema: &E, sink: &mut (impl Sink<Message> + Unpin), frame: Vec<u8>) -> bool {
        let Some(frame) = self.gate.admit(frame).await else { return true };
        let message = match ClientMessage::from_bytes(&frame) {
            Ok(message) => message,
            Err(error) => {
                close(sink, 1002, &error.to_string()).await;
                return false;
            }
        };
        match message {
            ClientMessage::ConnectionInit { .. } => {
                close(sink, 4429, "Too many initialisation requests.").await;
                false
            }
            ClientMessage::Start { id, payload } => {
                self.start(schema, id, payload);
                true
            }
            ClientMessage::Stop { id } => match self.remove(&id) {
                Some(()) => self.complete(sink, &id).await,
                None => true,
            },
            ClientMessage::ConnectionTerminate => {
                close(sink, 1000, "").await;
                false
            }
            ClientMessage::Ping { .. } => self.write(sink, text(r#"{"type":"pong"}"#)).await,
            ClientMessage::Pong { .. } => true,
        }
    }

    /// Starts operation `id` (replacing one with the same ID, as async-graphql did).
    fn start<E: Executor>(&mut self, schema: &E, id: String, request: Request) {
        self.remove(&id);
        let registrations = Registrations::default();
        let source = Box::new(PlanSource::of(&request));
        let responses = schema.execute_stream(request.data(ChatEventsMode::Register(registrations.clone())), Some(self.data.clone()));
        let registered = Some((registrations, source));
        self.run_operation(id, responses, registered);
    }

    /// Runs `responses` of operation `id` on its own task, feeding this connection.
    fn run_operation(&mut self, id: String, mut responses: BoxStream<'static, Response>, registered: Option<(Registrations, Box<PlanSource>)>) {
        self.next_serial += 1;
        let serial = self.next_serial;
        let (mailbox, task_id) = (self.responses.clone(), id.clone());
        let task = tokio::spawn(async move {
            while let Some(response) = responses.next().await {
                mailbox.push((serial, task_id.clone(), Some(Box::new(response)))).await;
            }
            mailbox.push((serial, task_id, None)).await;
        });
        self.operations.insert(id, Operation::Running { serial, _task: AbortOnDrop(task), registered, responded: false });
    }

    /// Operation `id` yielded `response`, or ended (`None`).
    async fn responded<E: Executor>(&mut self, schema: &E, plans: &Plans, sink: &mut (impl Sink<Message> + Unpin), serial: u64, id: String, response: Option<Box<Response>>) -> bool {
        // What a replaced or completed operation still yielded goes nowhere.
        let Some(Operation::Running { serial: current, responded, .. }) = self.operations.get_mut(&id) else { return true };
        if *current != serial {
            return true;
        }
        if let Some(response) = response {
            *responded = true;
            let message = serde_json::to_string(&ServerMessage::Next { id: &id, payload: &response }).unwrap_or_default();
            return self.write(sink, Message::Text(message.into())).await;
        }
        let Some(Operation::Running { registered, responded, .. }) = self.operations.remove(&id) else { return true };
        if let (Some((registrations, source)), false) = (registered, responded) {
            let registrations = std::mem::take(&mut *registrations.lock().unwrap_or_else(|poisoned| poisoned.into_inner()));
            match registrations.as_slice() {
                [] => {}
                [one] => {
                    let plan = plans.intern(schema, *source);
                    let id_json = serde_json::to_string(&id).unwrap_or_default().into_boxed_str();
                    let subscription = self.state.broker.fanout.register(id_json, plan, one.seller_id, one.after, self.outbox.clone());
                    self.operations.insert(id, Operation::Subscribed(subscription));
                    return true;
                }
                _ => {
                    // Several `chatEvents` fields: async-graphql streams them, as before.
                    let responses = schema.execute_stream(source.request(None), Some(self.data.clone()));
                    self.run_operation(id, responses, None);
                    return true;
                }
            }
        }
        self.complete(sink, &id).await
    }

    /// Ends operation `id` without a message; `None` when there is none.
    fn remove(&mut self, id: &str) -> Option<()> {
        if let Operation::Subscribed(subscription) = self.operations.remove(id)? {
            self.state.broker.fanout.unregister(&subscription);
        }
        Some(())
    }

    /// Tells the client operation `id` is complete; it no longer counts against the cap.
    async fn complete(&mut self, sink: &mut (impl Sink<Message> + Unpin), id: &str) -> bool {
        self.gate.completed(id);
        let message = serde_json::to_string(&ServerMessage::Complete { id }).unwrap_or_default();
        self.write(sink, Message::Text(message.into())).await
    }

    /// Writes what the engine queued, flushing once.
    async fn write_outbox(&mut self, sink: &mut (impl Sink<Message> + Unpin)) -> bool {
        self.outbox.take(&mut self.taken);
        let mut too_slow = false;
        let write = async {
            while let Some(item) = self.taken.pop_front() {
                match item {
                    Outgoing::Event(subscription, payload) => {
                        if subscription.is_ended() {
                            continue;
                        }
                        let frame = next_frame(&mut self.frames, subscription.id_json(), &payload);
                        sink.feed(frame).await.map_err(drop)?;
                    }
                    Outgoing::Ended(subscription, error, reason) => {
                        // Unless the client completed it meanwhile: its error, then `complete`.
                        let id = self.operations.iter().find_map(|(id, op)| match op {
                            Operation::Subscribed(current) if Arc::ptr_eq(current, &subscription) => Some(id.clone()),
                            _ => None,
                        });
                        let Some(id) = id else { continue };
                        sink.feed(next_frame(&mut self.frames, subscription.id_json(), &error)).await.map_err(drop)?;
                        self.operations.remove(&id);
                        self.gate.completed(&id);
                        let message = serde_json::to_string(&ServerMessage::Complete { id: &id }).unwrap_or_default();
                        sink.feed(Message::Text(message.into())).await.map_err(drop)?;
                        too_slow |= reason == EndReason::TooSlow;
                    }
                }
            }
            sink.flush().await.map_err(drop)
        };
        let written = timed(self.state.ws_write_timeout, write).await;
        if self.frames.capacity() > KEEP_BUFFER {
            self.frames = BytesMut::new();
        }
        if written && too_slow {
            close(sink, 1008, TOO_SLOW).await;
            return false;
        }
        written
    }

    /// Writes one message; `false` when the socket failed or stayed unwritable.
    async fn write(&mut self, sink: &mut (impl Sink<Message> + Unpin), message: Message) -> bool {
        timed(self.state.ws_write_timeout, TryFutureExt::map_err(sink.send(message), drop)).await
    }
}

/// Runs a write within `timeout`; `false` when the socket failed or stayed unwritable.
async fn timed(timeout: std::time::Duration, write: impl std::future::Future<Output = Result<(), ()>>) -> bool {
    match tokio::time::timeout(timeout, write).await {
        Ok(Ok(())) => true,
        Ok(Err(())) => false,
        Err(_) => {
            tracing::info!("disconnecting a subscriber whose socket stayed unwritable");
            false
        }
    }
}

impl Drop for Connection<'_> {
    fn drop(&mut self) {
        for operation in self.operations.values() {
            if let Operation::Subscribed(subscription) = operation {
                self.state.broker.fanout.unregister(subscription);
            }
        }
    }
}

/// A task aborted when its operation is dropped (completed by the client, replaced or
/// left with the socket).
struct AbortOnDrop(tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// A `next` message for the operation with JSON-encoded ID `id_json`, framed around the
/// shared `payload` in `buffer` (whose memory is reused once the frame is written).
fn next_frame(buffer: &mut BytesMut, id_json: &str, payload: &[u8]) -> Message {
    const HEAD: &[u8] = br#"{"type":"next","id":"#;
    const PAYLOAD: &[u8] = br#","payload":"#;
    buffer.reserve(HEAD.len() + id_json.len() + PAYLOAD.len() + payload.len() + 1);
    buffer.put_slice(HEAD);
    buffer.put_slice(id_json.as_bytes());
    buffer.put_slice(PAYLOAD);
    buffer.put_slice(payload);
    buffer.put_u8(b'}');
    // JSON text is UTF-8; the check cannot fail.
    Message::Text(Utf8Bytes::try_from(buffer.split().freeze()).unwrap_or_default())
}

fn text(message: &'static str) -> Message {
    Message::Text(Utf8Bytes::from_static(message))
}

/// Server messages as async-graphql serialized them (the same field order).
#[derive(serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum ServerMessage<'a> {
    Next { id: &'a str, payload: &'a Response },
    Complete { id: &'a str },
}

/// Closes the socket with `code` and `reason` (within a second).
pub async fn close(sink: &mut (impl futures_util::Sink<Message> + Unpin), code: u16, reason: &str) {
    let frame = CloseFrame { code, reason: Utf8Bytes::from(reason) };
    let _ = tokio::time::timeout(std::time::Duration::from_secs(1), sink.send(Message::Close(Some(frame)))).await;
}
