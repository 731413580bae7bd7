//! Message bodies: what a sender may store, decided before anything touches storage.

use super::chars::{is_bidi_control, is_combining_mark, is_invisible};
use super::sensitive::{find_sensitive, redact, SensitiveKind};
use thiserror::Error;

/// Default longest message, in characters.
pub const DEFAULT_MAX_MESSAGE_CHARS: usize = 5_000;

/// Most combining marks allowed in a row on one character. Real writing stacks at most
/// three or four (Vietnamese, Hebrew points with cantillation, IPA); "zalgo" text stacks
/// dozens so that it spills over the lines around it.
pub const MAX_COMBINING_MARKS_PER_CHAR: usize = 8;

/// What to do with a message that contains a card number or IBAN.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
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
    /// Bidirectional embedding, override, isolate or mark characters, which can make text
    /// display in a different order than it was written.
    #[error("contains invisible direction-control characters that are not allowed")]
    DirectionControls,
    /// A character carrying more than [`MAX_COMBINING_MARKS_PER_CHAR`] combining marks.
    #[error("contains a character with too many combining marks (at most {max} are allowed)")]
    TooManyCombiningMarks {
        /// The limit in force.
        max: usize,
    },
    /// A card number or IBAN under the `reject` policy.
    #[error("looks like it contains {}; personal, sensitive or financial data must not be shared in chat", .0.describe())]
    Sensitive(SensitiveKind),
}

/// A message body that passed every rule: trimmed, within limits, guarded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageBody(String);

impl MessageBody {
    /// Checks `raw` against `rules`, returning the text to store.
    ///
    /// Refused: blank text (nothing visible: whitespace, invisible characters such as
    /// zero-width spaces and fillers, combining marks with nothing to combine with), text
    /// over the limit, control characters other than tab and line breaks, bidi controls,
    /// more than [`MAX_COMBINING_MARKS_PER_CHAR`] combining marks in a row, and sensitive
    /// numbers under the `reject` policy.
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
        if text.chars().any(is_bidi_control) {
            return Err(MessageError::DirectionControls);
        }
        if !text.chars().any(is_visible) {
            return Err(MessageError::Blank);
        }
        if longest_mark_stack(text) > MAX_COMBINING_MARKS_PER_CHAR {
            return Err(MessageError::TooManyCombiningMarks { max: MAX_COMBINING_MARKS_PER_CHAR });
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

/// Whether `c` shows something by itself: not whitespace, not an invisible character,
/// not a combining mark.
fn is_visible(c: char) -> bool {
    !c.is_whitespace() && !is_invisible(c) && !is_combining_mark(c)
}

/// The most combining marks in a row in `text`; invisible characters between marks
/// (joiners, variation selectors) neither count nor break the row.
fn longest_mark_stack(text: &str) -> usize {
    let mut longest = 0;
    let mut current = 0;
    for c in text.chars() {
        if is_combining_mark(c) {
            current += 1;
            longest = longest.max(current);
        } else if !is_invisible(c) {
            current = 0;
        }
    }
    longest
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

    #[test]
    fn direction_controls_are_refused_with_a_clear_error() {
        let rules = MessageRules::default();
        for raw in [
            "invoice\u{202E}fdp.exe",
            "\u{202A}embedded\u{202C}",
            "\u{202B}x",
            "\u{202D}x",
            "a\u{2066}isolated\u{2069}",
            "\u{2067}x",
            "\u{2068}x",
            "mark\u{200E}",
            "mark\u{200F}",
            "arabic mark\u{061C}",
            "\u{202E}",
        ] {
            let error = MessageBody::parse(raw, &rules).unwrap_err();
            assert_eq!(error, MessageError::DirectionControls, "{raw:?}");
            assert_eq!(error.to_string(), "contains invisible direction-control characters that are not allowed");
        }
    }

    #[test]
    fn invisible_only_text_is_blank() {
        let rules = MessageRules::default();
        for raw in [
            "\u{200B}",
            "\u{200B}\u{200C}\u{200D}\u{2060}\u{FEFF}",
            " \u{200B} \n\u{3000}",
            "\u{3164}",
            "\u{115F}\u{1160}",
            "\u{FFA0}",
            "\u{2800}\u{2800}",
            "\u{180E}",
            "\u{00AD}",
            "\u{301}",
            "\u{301}\u{302}\u{20DD}",
            "\u{FE0F}",
            "\u{E0041}\u{E007F}",
            "\u{E0100}",
            "\u{034F}",
        ] {
            assert_eq!(MessageBody::parse(raw, &rules), Err(MessageError::Blank), "{raw:?}");
        }
    }

    #[test]
    fn zalgo_stacks_are_refused_but_real_accents_kept() {
        let rules = MessageRules::default();
        let stack = |marks: usize| format!("he{}llo", "\u{0300}\u{0301}\u{0302}\u{0303}".repeat(4).chars().take(marks).collect::<String>());
        let limit = MAX_COMBINING_MARKS_PER_CHAR;
        assert!(MessageBody::parse(&stack(limit), &rules).is_ok());
        let error = MessageBody::parse(&stack(limit + 1), &rules).unwrap_err();
        assert_eq!(error, MessageError::TooManyCombiningMarks { max: limit });
        assert_eq!(error.to_string(), "contains a character with too many combining marks (at most 8 are allowed)");
        let zalgo = "Z\u{0351}\u{036B}\u{0343}\u{036A}\u{0302}\u{036B}\u{033D}\u{034F}\u{0334}\u{0319}\u{0324}\u{031E}\u{0349}\u{035A}\u{032F}\u{031E}\u{0320}\u{034D}algo";
        assert_eq!(MessageBody::parse(zalgo, &rules), Err(MessageError::TooManyCombiningMarks { max: limit }));
        // Joiners between marks neither reset nor add to the count.
        let hidden = format!("a{}", "\u{0301}\u{200D}".repeat(limit + 1));
        assert_eq!(MessageBody::parse(&hidden, &rules), Err(MessageError::TooManyCombiningMarks { max: limit }));
        // Marks spread over many letters are fine.
        assert!(MessageBody::parse(&"e\u{0301}\u{0302}".repeat(100), &rules).is_ok());
    }

    #[test]
    fn writing_systems_emoji_and_accents_are_accepted_unchanged() {
        let rules = MessageRules::default();
        for raw in [
            "Crème brûlée, naïve café, São Paulo, Łódź, Øresund",
            "Cafe\u{0301} with a combining accent",
            "Tiếng Việt có dấu: người, được, những",
            "👩\u{200D}👩\u{200D}👧 family, 👨\u{200D}💻 coder, 🏳\u{FE0F}\u{200D}🌈",
            "flags 🇦🇺 🇩🇪 🇯🇵, skin tones 👍🏽 👋🏿",
            "keycap 1\u{FE0F}\u{20E3} and ❤\u{FE0F}",
            "สวัสดีครับ ขอบคุณมาก",
            "नमस्ते, आपका ऑर्डर भेज दिया गया है",
            "مرحبا، تم شحن طلبك رقم ١٢٣٤",
            "שלום, ההזמנה שלך נשלחה",
            "בְּרֵאשִׁית בָּרָא",
            "こんにちは、注文番号は12345です",
            "안녕하세요",
            "Привет, заказ отправлен",
            "zero\u{200B}width space inside text",
            "ZWNJ in Persian: می\u{200C}خواهم",
        ] {
            assert_eq!(MessageBody::parse(raw, &rules).map(MessageBody::into_string), Ok(raw.to_owned()), "{raw:?}");
        }
    }

    proptest! {
        #[test]
        fn accepted_bodies_are_trimmed_non_blank_and_within_the_limit(raw in any::<String>()) {
            let rules = MessageRules { max_chars: 50, sensitive: SensitivePolicy::Reject };
            if let Ok(body) = MessageBody::parse(&raw, &rules) {
                prop_assert!(!body.as_str().is_empty());
                prop_assert_eq!(body.as_str(), raw.trim());
                prop_assert!(body.as_str().chars().count() <= 50);
                prop_assert!(!body.as_str().chars().any(is_bidi_control));
                prop_assert!(body.as_str().chars().any(is_visible));
                prop_assert!(longest_mark_stack(body.as_str()) <= MAX_COMBINING_MARKS_PER_CHAR);
            }
        }

        /// Ordinary text comes back exactly; the one bidi override in the alphabet makes
        /// a text refused with `DirectionControls`, never silently changed.
        #[test]
        fn ordinary_text_round_trips_exactly(raw in "[a-zA-Z0-9 ,.!?éü中👍\u{301}\u{202E}]{1,40}") {
            let rules = MessageRules::default();
            let has_override = raw.contains('\u{202E}');
            match MessageBody::parse(&raw, &rules) {
                Ok(body) => {
                    prop_assert!(!has_override);
                    prop_assert_eq!(body.into_string(), raw.trim().to_owned());
                }
                Err(MessageError::DirectionControls) => prop_assert!(has_override),
                Err(_) => {}
            }
        }
    }
}
