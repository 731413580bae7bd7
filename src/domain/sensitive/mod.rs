//! Sensitive-data guard: finds payment card numbers and IBANs in message text.
//!
//! # Normalisation
//! The text is first read as a sequence of *units*, one per visible character, each
//! remembering its byte range:
//! - decimal digits of every script (ASCII, full-width, Arabic-Indic, Devanagari, …) become
//!   their value 0–9;
//! - Latin letters (ASCII or full-width) become upper-case ASCII letters;
//! - every kind of space except line breaks (NBSP, narrow NBSP, thin space, ideographic
//!   space, tab, …) is a *space*; hyphens, dashes and the minus sign are *dashes*; `.` `,`
//!   `/` `_` and the middle dot (and their full-width forms) are *punctuation*;
//! - invisible characters (zero-width space and joiners, word joiner, soft hyphen, BOM,
//!   bidi controls, variation selectors, …) and combining marks are dropped, so they neither
//!   join nor split anything.
//!
//! Between two characters of a number there may be a *gap*: up to
//! [`MAX_GAP_SPACES_AND_DASHES`] spaces and dashes in any mix (`"4111 - 1111"`,
//! `"4111  1111"`), or exactly one punctuation mark (`"4111.1111"`, `"12/27"`). A comma or
//! full stop followed by a space (a list, a sentence end) is not a gap.
//!
//! # Payment cards
//! A *digit run* is a maximal sequence of digits joined by gaps; each gap starts a new
//! *group*. Letters next to a run do not protect it (`card4111…` is found). A run directly
//! after `+` is a phone number, possibly followed by other numbers: only the whole run is
//! checked, and only if it holds more than 15 digits (the most a phone number has, E.164)
//! and its first group more than 3 (country codes have 1–3 and are written apart):
//! `+4111111111111111` is found, `+61 2 9876 5432 2026-12-01` is not.
//!
//! A *window* of 13–19 consecutive digits of the run is a card when it passes the Luhn
//! check, is not one repeated digit, and starts with a known issuer prefix whose lengths
//! include the window's length. Only these windows are examined, which keeps false
//! positives on long tracking numbers low and the work per run bounded:
//! - the window starts at the start of a group, with at most [`MAX_DIGITS_BEFORE_CARD`]
//!   digits of the run before it (`"2 4111 1111 1111 1111"`);
//! - the window ends at the end of a group (`"4111 1111 1111 1111 123"`,
//!   `"4111111111111111 12/27"`), or inside a group of at least
//!   [`MIN_DIGITS_OF_GROUP_WITH_GLUE`] digits, leaving at most
//!   [`MAX_GLUED_DIGITS_AFTER_CARD`] of them: a CVV or expiry typed without a space
//!   (`"4111111111111111123"`, `"41111111111111111227"`).
//!
//! When some window is a card, the match covers the whole run, so the CVV or expiry that
//! came with the number is redacted too.
//!
//! # IBANs
//! A candidate starts with a two-letter country code from the ISO 13616 registry
//! (case-insensitive) immediately followed by two check digits. It must start a word, or
//! be glued to a lower-case word while written in upper case (`ibanDE89…`), or follow the
//! letters `IBAN` in any case (`IBANDE89…`). Letters and digits are then taken, with gaps
//! allowed between them, until exactly the country's IBAN length is reached; the next
//! character must not be a letter or digit. Check digits must be 02–98 and the ISO 7064
//! mod-97 remainder must be 1.
//!
//! Scanning is linear in the input length: each unit is classified once, a digit run is
//! read once and examines a bounded number of windows, and an IBAN attempt reads at most
//! 34 characters and their gaps. All ranges are byte ranges on char boundaries.

mod cards;
#[cfg(test)]
mod corpus;
mod iban;
#[cfg(test)]
mod tests;

use super::chars::{decimal_digit_value, is_combining_mark, is_invisible};
use std::ops::Range;

/// Most spaces and dashes (in any mix) a gap between two characters of a number may hold.
pub const MAX_GAP_SPACES_AND_DASHES: usize = 3;
/// Most digits of a run that may come before a card number in it.
pub const MAX_DIGITS_BEFORE_CARD: usize = 3;
/// Most digits of the card's last group that may follow it (a glued CVV or expiry).
pub const MAX_GLUED_DIGITS_AFTER_CARD: usize = 7;
/// Fewest digits a group must hold to be searched for a card with digits glued after it.
/// Shorter groups are checked whole: a 16-digit order number is not read as a 13-digit
/// card with a glued CVV, while a 16-digit card with a glued 3-digit CVV still is.
pub const MIN_DIGITS_OF_GROUP_WITH_GLUE: usize = 19;

/// What kind of sensitive data a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensitiveKind {
    /// A payment card number (PAN).
    PaymentCard,
    /// An International Bank Account Number.
    Iban,
}

impl SensitiveKind {
    /// Human words for error messages, e.g. "a payment card number", "an IBAN".
    #[must_use]
    pub fn describe(self) -> &'static str {
        match self {
            Self::PaymentCard => "a payment card number",
            Self::Iban => "an IBAN",
        }
    }
}

/// One occurrence: its kind and its byte range in the scanned text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveMatch {
    /// What was found.
    pub kind: SensitiveKind,
    /// Byte range of the match (including any inner separators).
    pub range: Range<usize>,
}

/// All sensitive numbers in `text`, in order of appearance, non-overlapping.
#[must_use]
pub fn find_sensitive(text: &str) -> Vec<SensitiveMatch> {
    let units = normalise(text);
    let mut found = Vec::new();
    let mut index = 0;
    while index < units.len() {
        let (next, hit) = match units[index].class {
            Class::Digit(_) => cards::scan_run(&units, index),
            Class::Letter { .. } => iban::scan_at(&units, index),
            _ => (index + 1, None),
        };
        found.extend(hit);
        // Every scanner consumes at least the unit it started on.
        index = next.max(index + 1);
    }
    found
}

/// `text` with every alphanumeric character inside each match replaced by '*',
/// except the last 4 alphanumerics of each match (separators kept as they are).
///
/// Ranges that are out of bounds or not on char boundaries are ignored; if
/// matches overlap, the union of their masked parts is masked.
#[must_use]
pub fn redact(text: &str, matches: &[SensitiveMatch]) -> String {
    let mut spans: Vec<Range<usize>> = matches
        .iter()
        .filter_map(|m| masked_span(text, &m.range))
        .collect();
    spans.sort_by_key(|span| span.start);
    let mut spans = spans.into_iter().peekable();
    text.char_indices()
        .map(|(i, c)| {
            while spans.next_if(|span| span.end <= i).is_some() {}
            let in_span = spans.peek().is_some_and(|span| span.start <= i);
            if in_span && c.is_alphanumeric() {
                '*'
            } else {
                c
            }
        })
        .collect()
}

// ---------------------------------------------------------------------------
// Normalisation
// ---------------------------------------------------------------------------

/// How a visible character takes part in a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// A decimal digit of any script, with its value.
    Digit(u8),
    /// A Latin letter (ASCII or full-width) as upper-case ASCII; `lower` if written so.
    Letter { upper: u8, lower: bool },
    /// Any other letter or number (other scripts, superscripts, fractions, …).
    OtherAlphanumeric,
    /// A space of any width other than a line break.
    Space,
    /// A hyphen, dash or minus sign.
    Dash,
    /// `.` `,` `/` `_` or the middle dot, or a full-width form of one.
    Punctuation,
    /// `+` or its full-width form.
    Plus,
    /// Anything else, line breaks included: never part of a number.
    Other,
}

impl Class {
    /// Whether this is a letter or a number of any script.
    fn is_alphanumeric(self) -> bool {
        matches!(self, Self::Digit(_) | Self::Letter { .. } | Self::OtherAlphanumeric)
    }

    /// Whether this may stand in a gap with others of its kind.
    fn is_space_or_dash(self) -> bool {
        matches!(self, Self::Space | Self::Dash)
    }
}

/// One visible character: its class and its byte range in the text.
#[derive(Debug, Clone, Copy)]
struct Unit {
    class: Class,
    start: usize,
    end: usize,
}

/// The visible characters of `text`, classified. Invisible characters are left out, and so
/// are combining marks on a character (`4\u{301}111` reads as `4111`); a mark after
/// whitespace or at the start shows by itself and counts as an `Other` character.
fn normalise(text: &str) -> Vec<Unit> {
    let mut units = Vec::with_capacity(text.len());
    let mut previous: Option<char> = None;
    for (start, c) in text.char_indices() {
        if is_invisible(c) {
            continue;
        }
        let mark_on_something = is_combining_mark(c) && previous.is_some_and(|p| !p.is_whitespace());
        let class = if is_combining_mark(c) { Class::Other } else { classify(c) };
        previous = Some(c);
        if !mark_on_something {
            units.push(Unit { class, start, end: start + c.len_utf8() });
        }
    }
    units
}

/// The class of one visible character.
fn classify(c: char) -> Class {
    if let Some(value) = decimal_digit_value(c) {
        return Class::Digit(value);
    }
    if let Some(letter) = latin_letter(c) {
        return Class::Letter { upper: letter.to_ascii_uppercase(), lower: letter.is_ascii_lowercase() };
    }
    match c {
        '\n' | '\r' | '\u{0B}' | '\u{0C}' | '\u{85}' | '\u{2028}' | '\u{2029}' => Class::Other,
        '-' | '\u{2010}'..='\u{2015}' | '\u{2212}' | '\u{FE58}' | '\u{FE63}' | '\u{FF0D}' => Class::Dash,
        '.' | ',' | '/' | '_' | '\u{00B7}' | '\u{FF0C}' | '\u{FF0E}' | '\u{FF0F}' | '\u{FF3F}' => {
            Class::Punctuation
        }
        '+' | '\u{FF0B}' => Class::Plus,
        c if c.is_whitespace() => Class::Space,
        c if c.is_alphanumeric() => Class::OtherAlphanumeric,
        _ => Class::Other,
    }
}

/// The ASCII form of an ASCII or full-width Latin letter.
fn latin_letter(c: char) -> Option<u8> {
    let ascii = match c {
        'a'..='z' | 'A'..='Z' => u32::from(c),
        '\u{FF21}'..='\u{FF3A}' | '\u{FF41}'..='\u{FF5A}' => u32::from(c) - 0xFF21 + u32::from(b'A'),
        _ => return None,
    };
    u8::try_from(ascii).ok()
}

/// Index of the first unit after the gap that starts at `from` (`from` itself when there
/// is no gap): up to [`MAX_GAP_SPACES_AND_DASHES`] spaces and dashes, or one punctuation
/// mark. The caller checks what follows.
fn skip_gap(units: &[Unit], from: usize) -> usize {
    let class_at = |index: usize| units.get(index).map(|unit| unit.class);
    if class_at(from) == Some(Class::Punctuation) {
        return from + 1;
    }
    let mut index = from;
    while index < from + MAX_GAP_SPACES_AND_DASHES && class_at(index).is_some_and(Class::is_space_or_dash) {
        index += 1;
    }
    index
}

/// The class of the unit before `index`, if any.
fn class_before(units: &[Unit], index: usize) -> Option<Class> {
    index.checked_sub(1).and_then(|before| units.get(before)).map(|unit| unit.class)
}

// ---------------------------------------------------------------------------
// Redaction
// ---------------------------------------------------------------------------

/// The part of `range` to mask: from its start up to (not including) its
/// fourth-last alphanumeric char. `None` if nothing is to be masked or the
/// range is not a valid slice of `text`.
fn masked_span(text: &str, range: &Range<usize>) -> Option<Range<usize>> {
    let slice = text.get(range.clone())?;
    let (keep_from, _) = slice
        .char_indices()
        .rev()
        .filter(|(_, c)| c.is_alphanumeric())
        .nth(3)?;
    Some(range.start..range.start + keep_from)
}
