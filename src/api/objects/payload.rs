//! Mutation payloads: the result, or what the caller must fix in `errors` (nothing was
//! changed then). Storage trouble is a GraphQL error instead, never a payload error.

use super::message::MessageView;
use crate::api::error::Result;
use crate::service::ServiceError;
use async_graphql::SimpleObject;

/// A user-fixable problem with a mutation's input.
#[derive(SimpleObject, Clone, Debug)]
pub struct ValidationError {
    /// The input field, or `base` for the request as a whole.
    pub field: String,
    /// What is wrong, in words.
    pub messages: Vec<String>,
}

impl ValidationError {
    /// One message on one field.
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self { field: field.to_owned(), messages: vec![message.into()] }
    }
}

/// Splits a service result into the payload's value and its `errors`, or a GraphQL
/// error for what the caller cannot fix.
pub fn into_payload<T>(result: Result<T, ServiceError>) -> Result<(Option<T>, Option<Vec<ValidationError>>)> {
    match result {
        Ok(value) => Ok((Some(value), None)),
        Err(ServiceError::Invalid { field, message }) => Ok((None, Some(vec![ValidationError::new(field, message)]))),
        Err(error) => Err(error.into()),
    }
}

/// Result of `chatMessageCreate`.
#[derive(SimpleObject)]
pub struct ChatMessageCreatePayload<M: MessageView> {
    /// The stored message (or, for a repeated `clientMutationId`, the original one).
    pub chat_message: Option<M>,
    /// What was wrong with the input; nothing was stored when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

impl<M: MessageView> ChatMessageCreatePayload<M> {
    /// A payload refusing the input with one error on `field`.
    pub fn invalid(field: &str, error: impl std::fmt::Display, client_mutation_id: Option<String>) -> Self {
        Self { chat_message: None, errors: Some(vec![ValidationError::new(field, error.to_string())]), client_mutation_id }
    }
}

/// Result of `chatMessageRead`.
#[derive(SimpleObject)]
pub struct ChatMessageReadPayload {
    /// How many messages this call marked read.
    pub read_count: i64,
    /// What was wrong with the input; nothing changed when this is non-empty.
    pub errors: Option<Vec<ValidationError>>,
    /// Echo of the input's `clientMutationId`.
    pub client_mutation_id: Option<String>,
}

impl ChatMessageReadPayload {
    /// A payload refusing the input with one error on `field`.
    pub fn invalid(field: &str, error: impl std::fmt::Display, client_mutation_id: Option<String>) -> Self {
        Self { read_count: 0, errors: Some(vec![ValidationError::new(field, error.to_string())]), client_mutation_id }
    }
}
