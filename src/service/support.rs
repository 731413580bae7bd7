//! Support inbox use cases (SPEC §12, operator side only): assigning, resolving and
//! reopening chats, marking them unread, internal notes, saved replies, the users a chat
//! may be assigned to, and `supportStats`. The API checks who may call; this applies the
//! rules and wakes the event broker after each change that records an event.

use super::clock::Clock;
use super::error::ServiceError;
use crate::domain::ids::SellerId;
use crate::domain::message::MessageRules;
use crate::domain::support::{day_label, parse_note, parse_title, ChatStatus, DurationSummary, Period};
use crate::domain::Principal;
use crate::store::{ChatRecord, CommitHook, ListPage, NoteRecord, OperatorUserRecord, SavedReplyRecord, Store};
use std::collections::BTreeMap;
use std::sync::Arc;
use tracing::instrument;

/// Who a change is credited to when the credential has no name (an unlabelled key).
const UNNAMED_AGENT: &str = "operator";

/// Messages of one UTC day, by side.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayCount {
    /// `YYYY-MM-DD`.
    pub day: String,
    /// Seller messages.
    pub seller: i64,
    /// Admin messages.
    pub admin: i64,
}

/// One agent's share of a period.
#[derive(Debug, Clone, PartialEq)]
pub struct AgentStats {
    /// The `sentBy` label (user name or key label).
    pub agent: String,
    /// Admin messages sent.
    pub messages: i64,
    /// First responses given.
    pub first_response: DurationSummary,
    /// Chats resolved.
    pub resolution: DurationSummary,
}

/// `supportStats` for a period.
#[derive(Debug, Clone, PartialEq)]
pub struct SupportStats {
    /// The period read.
    pub period: Period,
    /// Messages per UTC day the period touches (days without messages left out).
    pub messages_per_day: Vec<DayCount>,
    /// From a Seller message that waits to the Admin message answering it.
    pub first_response: DurationSummary,
    /// From a chat's opening to its resolution.
    pub resolution: DurationSummary,
    /// The same per agent, by agent.
    pub per_agent: Vec<AgentStats>,
    /// Chats opened (first Seller message while new or resolved, or reopened).
    pub chats_opened: i64,
    /// Chats resolved.
    pub chats_resolved: i64,
}

/// Support inbox use cases over a store.
#[derive(Clone)]
pub struct SupportService {
    store: Arc<dyn Store>,
    rules: MessageRules,
    clock: Clock,
    on_commit: CommitHook,
}

impl SupportService {
    /// A service over `store` checking text by `rules`, calling `on_commit` after each
    /// change that records an event.
    pub fn new(store: Arc<dyn Store>, rules: MessageRules, clock: Clock, on_commit: CommitHook) -> Self {
        Self { store, rules, clock, on_commit }
    }

    /// The chat after a change that recorded an event.
    async fn changed(&self, seller_id: SellerId, found: bool) -> Result<ChatRecord, ServiceError> {
        if !found {
            return Err(ServiceError::invalid("sellerId", "does not exist"));
        }
        (self.on_commit)();
        self.store.chat(seller_id).await?.ok_or_else(|| ServiceError::invalid("sellerId", "does not exist"))
    }

    /// Assigns the chat to operator user `assignee` (one who may chat), or unassigns it.
    #[instrument(skip_all)]
    pub async fn assign(&self, seller_id: SellerId, assignee: Option<i64>) -> Result<ChatRecord, ServiceError> {
        if let Some(user_id) = assignee {
            if self.store.operator_user(user_id).await?.is_none() {
                return Err(ServiceError::invalid("assigneeId", "is not an operator user who may chat"));
            }
        }
        let found = self.store.assign_chat(seller_id, assignee, self.clock.now()).await?;
        self.changed(seller_id, found).await
    }

    /// Resolves or reopens the chat, credited to `principal`.
    #[instrument(skip_all)]
    pub async fn set_status(&self, principal: &Principal, seller_id: SellerId, status: ChatStatus) -> Result<ChatRecord, ServiceError> {
        let found = self.store.set_chat_status(seller_id, status, &agent_of(principal), self.clock.now()).await?;
        self.changed(seller_id, found).await
    }

    /// Marks the chat unread for the operator (no message's `readAt` changes).
    #[instrument(skip_all)]
    pub async fn mark_unread(&self, seller_id: SellerId) -> Result<ChatRecord, ServiceError> {
        let found = self.store.mark_chat_unread(seller_id, self.clock.now()).await?;
        self.changed(seller_id, found).await
    }

    /// Adds an internal note by `principal`.
    #[instrument(skip_all)]
    pub async fn create_note(&self, principal: &Principal, seller_id: SellerId, raw: &str) -> Result<(NoteRecord, ChatRecord), ServiceError> {
        let body = parse_note(raw, &self.rules).map_err(|e| ServiceError::invalid("note", e.to_string()))?;
        let Some(note) = self.store.create_note(seller_id, &body, &agent_of(principal), self.clock.now()).await? else {
            return Err(ServiceError::invalid("sellerId", "does not exist"));
        };
        let chat = self.changed(seller_id, true).await?;
        Ok((note, chat))
    }

    /// A page of the chat's notes, newest first.
    #[instrument(skip_all)]
    pub async fn notes(&self, seller_id: SellerId, before: Option<i64>, limit: i64) -> Result<ListPage<NoteRecord>, ServiceError> {
        Ok(self.store.notes(seller_id, before, limit).await?)
    }

    /// Operator users a chat may be assigned to, by name.
    #[instrument(skip_all)]
    pub async fn operator_users(&self) -> Result<Vec<OperatorUserRecord>, ServiceError> {
        Ok(self.store.operator_users().await?)
    }

    /// One operator user who may chat.
    #[instrument(skip_all)]
    pub async fn operator_user(&self, user_id: i64) -> Result<Option<OperatorUserRecord>, ServiceError> {
        Ok(self.store.operator_user(user_id).await?)
    }

    /// Saved replies by title.
    #[instrument(skip_all)]
    pub async fn saved_replies(&self) -> Result<Vec<SavedReplyRecord>, ServiceError> {
        Ok(self.store.saved_replies().await?)
    }

    /// Stores a saved reply (title 1..=100, body 1..=2000 characters, message rules).
    #[instrument(skip_all)]
    pub async fn create_saved_reply(&self, title: &str, body: &str) -> Result<SavedReplyRecord, ServiceError> {
        let title = parse_title(title, &self.rules).map_err(|e| ServiceError::invalid("title", e.to_string()))?;
        let body = parse_note(body, &self.rules).map_err(|e| ServiceError::invalid("body", e.to_string()))?;
        Ok(self.store.create_saved_reply(&title, &body, self.clock.now()).await?)
    }

    /// Changes the given parts of a saved reply.
    #[instrument(skip_all)]
    pub async fn update_saved_reply(&self, id: i64, title: Option<&str>, body: Option<&str>) -> Result<SavedReplyRecord, ServiceError> {
        let title = title.map(|t| parse_title(t, &self.rules)).transpose().map_err(|e| ServiceError::invalid("title", e.to_string()))?;
        let body = body.map(|b| parse_note(b, &self.rules)).transpose().map_err(|e| ServiceError::invalid("body", e.to_string()))?;
        let updated = self.store.update_saved_reply(id, title.as_deref(), body.as_deref(), self.clock.now()).await?;
        updated.ok_or_else(|| ServiceError::invalid("id", "does not exist"))
    }

    /// Removes a saved reply.
    #[instrument(skip_all)]
    pub async fn delete_saved_reply(&self, id: i64) -> Result<(), ServiceError> {
        if self.store.delete_saved_reply(id).await? {
            Ok(())
        } else {
            Err(ServiceError::invalid("id", "does not exist"))
        }
    }

    /// The statistics of `period`, from the small tables kept by the write paths.
    #[instrument(skip_all)]
    pub async fn stats(&self, period: Period) -> Result<SupportStats, ServiceError> {
        let facts = self.store.support_facts(period).await?;
        let mut agents: BTreeMap<String, (i64, Vec<i64>, Vec<i64>)> = BTreeMap::new();
        for (agent, messages) in &facts.agent_messages {
            agents.entry(agent.clone()).or_default().0 += messages;
        }
        for (agent, waited) in &facts.responses {
            agents.entry(agent.clone()).or_default().1.push(*waited);
        }
        for (agent, took) in &facts.resolutions {
            let entry = agents.entry(agent.clone()).or_default();
            entry.2.extend(took);
        }
        let per_agent = agents
            .into_iter()
            .map(|(agent, (messages, responses, resolutions))| AgentStats {
                agent,
                messages,
                first_response: DurationSummary::of(responses),
                resolution: DurationSummary::of(resolutions),
            })
            .collect();
        Ok(SupportStats {
            period,
            messages_per_day: facts.days.iter().map(|&(day, seller, admin, _, _)| DayCount { day: day_label(day), seller, admin }).collect(),
            first_response: DurationSummary::of(facts.responses.iter().map(|r| r.1).collect()),
            resolution: DurationSummary::of(facts.resolutions.iter().filter_map(|r| r.1).collect()),
            per_agent,
            chats_opened: facts.days.iter().map(|d| d.3).sum(),
            chats_resolved: facts.days.iter().map(|d| d.4).sum(),
        })
    }
}

/// The name a change is credited to: the user's name or the key's label.
fn agent_of(principal: &Principal) -> String {
    match principal {
        Principal::Operator { label: Some(label), .. } => label.clone(),
        _ => UNNAMED_AGENT.to_owned(),
    }
}
