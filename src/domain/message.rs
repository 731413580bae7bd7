//! Message bodies: what a sender may store, decided before anything touches storage.

use super::sensitive::{find_sensitive, redact, SensitiveKind};
use thiserror::Error;

/// Default longest message, in characters.
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 5_000;

/// What to do with a message that contains a card number or IBAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum SensitivePolicy {
    /// Refuse the message with an error that says why.
    #[default]
    Reject,
    /// Store it with the number masked.
    Redact,
    /// Store it as sent.
    Off,
}

/// The rules a message body is checked against.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MessageRules {
    /// Longest allowed body, in characters after trimming.
    pub max_chars: usize,
    /// The sensitive-data policy.
    pub sensitive: SensitivePolicy,
}

impl Default for MessageRules {
    fn default() -> Self {
        Self { max_chars: DEFAULT_MAX_MESSAGE_CHARS, sensitive: SensitivePolicy::Reject }
    }
}

/// Why a message body was refused; the text is what the client reads under `message`.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum MessageError {
    /// Empty or whitespace only.
    #[error("can't be blank")]
    Blank,
    /// Over the character limit.
    #[error("is too long (maximum is {max} characters)")]
    TooLong {
        /// The limit in force.
        max: usize,
    },
    /// NUL or another control character other than tab and line breaks.
    #[error("contains control characters that are not allowed")]
    ControlCharacters,
    /// A card number or IBAN under the `reject` policy.
    #[error("looks like it contains {}; personal, sensitive or financial data must not be shared in chat", .0.describe())]
    Sensitive(SensitiveKind),
}

/// A message body that passed every rule: trimmed, within limits, guarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks `raw` against `rules`, returning the text to store.
    pub fn parse(raw: &str, rules: &MessageRules) -> Result<Self, MessageError> {
        let text = raw.trim();
        if text.is_empty() {
            return Err(MessageError::Blank);
        }
        if text.chars().nth(rules.max_chars).is_some() {
            return Err(MessageError::TooLong { max: rules.max_chars });
        }
        if text.chars().any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t')) {
            return Err(MessageError::ControlCharacters);
        }
        if rules.sensitive == SensitivePolicy::Off {
            return Ok(Self(text.to_owned()));
        }
        let found = find_sensitive(text);
        match (found.first(), rules.sensitive) {
            (None, _) => Ok(Self(text.to_owned())),
            (Some(first), SensitivePolicy::Reject) => Err(MessageError::Sensitive(first.kind)),
            (Some(_), _) => Ok(Self(redact(text, &found))),
        }
    }

    /// The text to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Takes the text out.
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn rules(sensitive: SensitivePolicy) -> MessageRules {
        MessageRules { max_chars: 10, sensitive }
    }

    #[test]
    fn trims_surrounding_whitespace() {
        let body = MessageBody::parse("  hello\n ", &MessageRules::default()).unwrap();
        assert_eq!(body.as_str(), "hello");
    }

    #[test]
    fn blank_and_whitespace_only_are_refused() {
        for raw in ["", " ", "\n\t ", "\u{3000}"] {
            assert_eq!(MessageBody::parse(raw, &MessageRules::default()), Err(MessageError::Blank), "{raw:?}");
        }
    }

    #[test]
    fn the_limit_counts_characters_not_bytes() {
        let rules = rules(SensitivePolicy::Reject);
        assert!(MessageBody::parse(&"é".repeat(10), &rules).is_ok());
        assert_eq!(MessageBody::parse(&"é".repeat(11), &rules), Err(MessageError::TooLong { max: 10 }));
        assert!(MessageBody::parse(&"👍".repeat(10), &rules).is_ok());
    }

    #[test]
    fn control_characters_are_refused_but_line_breaks_kept() {
        let rules = MessageRules::default();
        assert_eq!(MessageBody::parse("a\0b", &rules), Err(MessageError::ControlCharacters));
        assert_eq!(MessageBody::parse("a\u{7}b", &rules), Err(MessageError::ControlCharacters));
        assert_eq!(MessageBody::parse("a\r\n\tb", &rules).unwrap().as_str(), "a\r\n\tb");
    }

    #[test]
    fn card_numbers_follow_the_policy() {
        let text = "card 4111 1111 1111 1111 ok";
        let reject = MessageRules { sensitive: SensitivePolicy::Reject, ..Default::default() };
        let error = MessageBody::parse(text, &reject).unwrap_err();
        assert!(error.to_string().contains("payment card number"), "{error}");
        let redact = MessageRules { sensitive: SensitivePolicy::Redact, ..Default::default() };
        assert_eq!(MessageBody::parse(text, &redact).unwrap().as_str(), "card **** **** **** 1111 ok");
        let off = MessageRules { sensitive: SensitivePolicy::Off, ..Default::default() };
        assert_eq!(MessageBody::parse(text, &off).unwrap().as_str(), text);
    }

    proptest! {
        #[test]
        fn accepted_bodies_are_trimmed_non_blank_and_within_the_limit(raw in any::<String>()) {
            let rules = MessageRules { max_chars: 50, sensitive: SensitivePolicy::Reject };
            if let Ok(body) = MessageBody::parse(&raw, &rules) {
                prop_assert!(!body.as_str().is_empty());
                prop_assert_eq!(body.as_str(), raw.trim());
                prop_assert!(body.as_str().chars().count() <= 50);
            }
        }

        #[test]
        fn ordinary_text_round_trips_exactly(raw in "[a-zA-Z0-9 ,.!?éü中👍\u{301}\u{202E}]{1,40}") {
            let rules = MessageRules::default();
            if let Ok(body) = MessageBody::parse(&raw, &rules) {
                prop_assert_eq!(body.into_string(), raw.trim().to_owned());
            }
        }
    }
}
