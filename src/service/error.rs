//! Why a use case failed: something the caller can fix, or storage trouble.

use crate::store::StoreError;
use thiserror::Error;

/// Why a use case failed.
#[derive(Debug, Error)]
pub enum ServiceError {
    /// The caller can fix this: it goes into a mutation payload's `errors`.
    #[error("{field} {message}")]
    Invalid {
        /// The input field, or `base`.
        field: &'static str,
        /// What is wrong, in words.
        message: String,
    },
    /// Storage failed; logged, never shown.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl ServiceError {
    /// A user-fixable error on `field`.
    pub fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        ServiceError::Invalid { field, message: message.into() }
    }
}
