//! The support inbox's objects on the Operator API (SPEC §12): chat status and list
//! order, operator users, notes, saved replies and `supportStats` (what carries a `Chat`
//! is in [`inbox`](super::inbox)). None of these exist on the Seller API.

use super::connection::{Edge, PageInfo};
use super::payload::ValidationError;
use crate::domain::ids::{NoteId, OperatorUserId, SavedReplyId};
use crate::domain::support::{ChatSort, ChatStatus, DurationSummary};
use crate::service::support::{AgentStats as AgentRecord, SupportStats as StatsRecord};
use crate::store::{NoteRecord, OperatorUserRecord, SavedReplyRecord};
use async_graphql::{Enum, SimpleObject, ID};

/// Whether a chat still needs the support team.
#[derive(Enum, Clone, Copy, PartialEq, Eq)]
#[graphql(name = "ChatStatus")]
pub enum ChatStatusValue {
    /// Needs attention; a Seller message reopens a resolved chat.
    Open,
    /// Done until the seller writes again.
    Resolved,
}

impl From<ChatStatus> for ChatStatusValue {
    fn from(status: ChatStatus) -> Self {
        match status {
            ChatStatus::Open => ChatStatusValue::Open,
            ChatStatus::Resolved => ChatStatusValue::Resolved,
        }
    }
}

impl From<ChatStatusValue> for ChatStatus {
    fn from(status: ChatStatusValue) -> Self {
        match status {
            ChatStatusValue::Open => ChatStatus::Open,
            ChatStatusValue::Resolved => ChatStatus::Resolved,
        }
    }
}

/// The order of `chats`.
#[derive(Enum, Clone, Copy, PartialEq, Eq, Default)]
#[graphql(name = "ChatSort")]
pub enum ChatSortValue {
    /// Most recently active first (the default).
    #[default]
    RecentActivity,
    /// Oldest `awaitingReplySince` first; chats not waiting for a reply are left out.
    WaitingLongest,
}

impl From<ChatSortValue> for ChatSort {
    fn from(sort: ChatSortValue) -> Self {
        match sort {
            ChatSortValue::RecentActivity => ChatSort::RecentActivity,
            ChatSortValue::WaitingLongest => ChatSort::WaitingLongest,
        }
    }
}

/// An operator portal user who may chat.
#[derive(SimpleObject, Clone)]
pub struct OperatorUser {
    /// Global ID (`OperatorUser`).
    #[graphql(owned)]
    pub id: ID,
    /// Display name.
    pub name: String,
    /// E-mail address.
    pub email: String,
    /// The §8 role name, e.g. `customer-support`.
    pub role: String,
}

impl From<OperatorUserRecord> for OperatorUser {
    fn from(user: OperatorUserRecord) -> Self {
        Self { id: ID(OperatorUserId::from(user.id).gid()), name: user.name, email: user.email, role: user.role }
    }
}

/// An internal note beside a thread, never shown to the seller.
#[derive(SimpleObject, Clone)]
pub struct ChatNote {
    /// Global ID (`ChatNote`).
    #[graphql(owned)]
    pub id: ID,
    /// The text.
    pub note: String,
    /// The user's name or the API key's label.
    pub author: String,
    /// When it was written.
    pub created_at: String,
}

impl From<NoteRecord> for ChatNote {
    fn from(note: NoteRecord) -> Self {
        Self { id: ID(NoteId::from(note.id).gid()), note: note.body, author: note.author, created_at: note.created_at.to_rfc3339() }
    }
}

/// A page of a chat's notes, newest first.
#[derive(SimpleObject)]
pub struct ChatNoteConnection {
    /// Where this page lies in the list.
    pub page_info: PageInfo,
    /// The notes of this page.
    pub nodes: Vec<ChatNote>,
    /// The notes with their cursors.
    pub edges: Vec<Edge<ChatNote>>,
}

/// A reply kept for reuse.
#[derive(SimpleObject, Clone)]
pub struct SavedReply {
    /// Global ID (`SavedReply`).
    #[graphql(owned)]
    pub id: ID,
    /// Its title.
    pub title: String,
    /// The text the composer inserts.
    pub body: String,
}

impl From<SavedReplyRecord> for SavedReply {
    fn from(reply: SavedReplyRecord) -> Self {
        Self { id: ID(SavedReplyId::from(reply.id).gid()), title: reply.title, body: reply.body }
    }
}

/// Messages of one UTC day by side.
#[derive(SimpleObject)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Seller messages.
    pub seller: i64,
    /// Admin messages.
    pub admin: i64,
}

/// How many durations, with their median and 90th percentile.
#[derive(SimpleObject)]
pub struct DurationStats {
    /// How many.
    pub count: i64,
    /// The median in seconds; null when there are none.
    pub median_seconds: Option<f64>,
    /// The 90th percentile (nearest rank) in seconds; null when there are none.
    pub p90_seconds: Option<f64>,
}

impl From<DurationSummary> for DurationStats {
    fn from(summary: DurationSummary) -> Self {
        Self { count: summary.count, median_seconds: summary.median_seconds, p90_seconds: summary.p90_seconds }
    }
}

/// One agent's share of the period.
#[derive(SimpleObject)]
pub struct AgentStats {
    /// The agent: a user's name or an API key's label (as `sentBy`).
    pub agent: String,
    /// Admin messages sent.
    pub messages: i64,
    /// First responses given.
    pub first_response: DurationStats,
    /// Chats resolved.
    pub resolution: DurationStats,
}

impl From<AgentRecord> for AgentStats {
    fn from(agent: AgentRecord) -> Self {
        Self { agent: agent.agent, messages: agent.messages, first_response: agent.first_response.into(), resolution: agent.resolution.into() }
    }
}

/// The support team's figures for a period.
#[derive(SimpleObject)]
pub struct SupportStats {
    /// Start of the period.
    pub from: String,
    /// End of the period (exclusive).
    pub to: String,
    /// Messages per UTC day by side (days the period touches; days without messages left out).
    pub messages_per_day: Vec<DayCount>,
    /// From a Seller message that follows an Admin message or opens the thread to the
    /// next Admin message (by the time of that answer).
    pub first_response: DurationStats,
    /// From a chat's opening to `chatStatusUpdate` RESOLVED (by the time of resolving).
    pub resolution: DurationStats,
    /// The same per agent, by agent.
    pub per_agent: Vec<AgentStats>,
    /// Chats opened in the period's days.
    pub chats_opened: i64,
    /// Chats resolved in the period's days.
    pub chats_resolved: i64,
}

impl From<StatsRecord> for SupportStats {
    fn from(stats: StatsRecord) -> Self {
        Self {
            from: stats.period.from.to_rfc3339(),
            to: stats.period.to.to_rfc3339(),
            messages_per_day: stats.messages_per_day.into_iter().map(|d| DayCount { day: d.day, seller: d.seller, admin: d.admin }).collect(),
            first_response: stats.first_response.into(),
            resolution: stats.resolution.into(),
            per_agent: stats.per_agent.into_iter().map(AgentStats::from).collect(),
            chats_opened: stats.chats_opened,
            chats_resolved: stats.chats_resolved,
        }
    }
}

/// Result of `savedReplyCreate` and `savedReplyUpdate`.
#[derive(SimpleObject)]
pub struct SavedReplyPayload {
    /// The saved reply as stored.
    pub saved_reply: Option<SavedReply>,
    /// What was wrong with the input; nothing changed when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

/// Result of `savedReplyDelete`.
#[derive(SimpleObject)]
pub struct SavedReplyDeletePayload {
    /// The removed reply's ID.
    pub deleted_id: Option<ID>,
    /// What was wrong with the input; nothing changed when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}
