//! What the marketplace provisions: sellers' business names and external IDs, and API key
//! labels. Each is parsed once at the edge (API or CLI), so a stored value always obeys
//! these rules: one line of visible text, trimmed, within its limit.

use super::chars::{is_bidi_control, is_combining_mark, is_invisible};
use thiserror::Error;

/// Longest business name, in characters.
pub const MAX_BUSINESS_NAME_CHARS: usize = 255;
/// Longest external ID (the marketplace's own seller ID), in characters.
pub const MAX_EXTERNAL_ID_CHARS: usize = 255;
/// Longest API key label, in characters.
pub const MAX_KEY_LABEL_CHARS: usize = 255;

/// Why a provisioned text was refused; the text is what the client reads under its field.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TextError {
    /// Empty, or nothing visible.
    #[error("can't be blank")]
    Blank,
    /// Over the limit.
    #[error("is too long (maximum is {max} characters)")]
    TooLong {
        /// The limit.
        max: usize,
    },
    /// A line break, tab, NUL or other control character.
    #[error("must be one line without control characters")]
    ControlCharacters,
    /// Bidirectional controls, which can make text display in another order than stored.
    #[error("contains invisible direction-control characters that are not allowed")]
    DirectionControls,
}

/// Trims `raw` and checks it is one line of visible text of at most `max` characters.
fn one_line(raw: &str, max: usize) -> Result<String, TextError> {
    let text = raw.trim();
    if text.chars().nth(max).is_some() {
        return Err(TextError::TooLong { max });
    }
    if text.chars().any(char::is_control) {
        return Err(TextError::ControlCharacters);
    }
    if text.chars().any(is_bidi_control) {
        return Err(TextError::DirectionControls);
    }
    if !text.chars().any(|c| !c.is_whitespace() && !is_invisible(c) && !is_combining_mark(c)) {
        return Err(TextError::Blank);
    }
    Ok(text.to_owned())
}

/// A seller's display name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BusinessName(String);

impl BusinessName {
    /// Trims `raw` and checks it (one visible line, at most [`MAX_BUSINESS_NAME_CHARS`]).
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        one_line(raw, MAX_BUSINESS_NAME_CHARS).map(Self)
    }

    /// The name.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The marketplace's own ID of a seller (unique among sellers); compared exactly, after
/// trimming.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExternalId(String);

impl ExternalId {
    /// Trims `raw` and checks it (one visible line, at most [`MAX_EXTERNAL_ID_CHARS`]).
    pub fn parse(raw: &str) -> Result<Self, TextError> {
        one_line(raw, MAX_EXTERNAL_ID_CHARS).map(Self)
    }

    /// The ID.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// An API key's label (an operator key's label is the `sentBy` of its messages).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyLabel(String);

impl KeyLabel {
    /// `None` for no label or a blank one; else the trimmed label, checked (one visible
    /// line, at most [`MAX_KEY_LABEL_CHARS`]).
    pub fn parse_optional(raw: Option<&str>) -> Result<Option<Self>, TextError> {
        match raw.map(str::trim) {
            None | Some("") => Ok(None),
            Some(text) => one_line(text, MAX_KEY_LABEL_CHARS).map(|label| Some(Self(label))),
        }
    }

    /// The label.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_are_trimmed_single_visible_lines() {
        assert_eq!(BusinessName::parse("  Acme Outdoor ").unwrap().as_str(), "Acme Outdoor");
        assert_eq!(ExternalId::parse(" mp-42\t").unwrap().as_str(), "mp-42");
        for blank in ["", "   ", "\u{200B}", "\u{3000}\u{FEFF}"] {
            assert_eq!(BusinessName::parse(blank), Err(TextError::Blank), "{blank:?}");
            assert_eq!(ExternalId::parse(blank), Err(TextError::Blank), "{blank:?}");
        }
        for hostile in ["a\nb", "a\0b", "a\u{7}b", "a\tb"] {
            assert_eq!(BusinessName::parse(hostile), Err(TextError::ControlCharacters), "{hostile:?}");
            assert_eq!(ExternalId::parse(hostile), Err(TextError::ControlCharacters), "{hostile:?}");
        }
        assert_eq!(BusinessName::parse("evil\u{202E}gnp.exe"), Err(TextError::DirectionControls));
    }

    #[test]
    fn limits_count_characters_not_bytes() {
        assert!(BusinessName::parse(&"é".repeat(MAX_BUSINESS_NAME_CHARS)).is_ok());
        assert_eq!(BusinessName::parse(&"é".repeat(MAX_BUSINESS_NAME_CHARS + 1)), Err(TextError::TooLong { max: MAX_BUSINESS_NAME_CHARS }));
        assert!(ExternalId::parse(&"7".repeat(MAX_EXTERNAL_ID_CHARS)).is_ok());
        assert_eq!(ExternalId::parse(&"7".repeat(MAX_EXTERNAL_ID_CHARS + 1)), Err(TextError::TooLong { max: MAX_EXTERNAL_ID_CHARS }));
        assert_eq!(TextError::TooLong { max: 255 }.to_string(), "is too long (maximum is 255 characters)");
    }

    #[test]
    fn a_blank_label_is_no_label() {
        assert_eq!(KeyLabel::parse_optional(None), Ok(None));
        assert_eq!(KeyLabel::parse_optional(Some("  ")), Ok(None));
        assert_eq!(KeyLabel::parse_optional(Some(" Nightly sync ")).unwrap().unwrap().as_str(), "Nightly sync");
        assert_eq!(KeyLabel::parse_optional(Some("a\nb")), Err(TextError::ControlCharacters));
        assert!(KeyLabel::parse_optional(Some(&"x".repeat(MAX_KEY_LABEL_CHARS + 1))).is_err());
    }
}
