//! Sensitive-data guard: finds payment card numbers and IBANs in message text.
//!
//! # Payment cards
//! A candidate is a maximal run of ASCII digits in which digit groups may be
//! joined by a single `' '` or a single `'-'`. The run must be bounded on both
//! sides by a non-alphanumeric character (or the text edge) and must not be
//! directly preceded by `'+'` (phone numbers). The whole run must hold 13–19
//! digits (sub-windows of longer runs are never considered), pass the Luhn
//! check, not be one repeated digit, and start with a known issuer prefix whose
//! allowed lengths include the run's digit count.
//!
//! # IBANs
//! A candidate starts at a word boundary with a two-letter country code
//! (case-insensitive) from the ISO 13616 registry immediately followed by two
//! check digits. ASCII alphanumerics are then taken, skipping single spaces,
//! until exactly the country's IBAN length is reached; the next character must
//! not be alphanumeric. Check digits must be 02–98 and the ISO 7064 mod-97
//! remainder must be 1.
//!
//! Scanning is a single left-to-right pass (linear in the input length) and
//! works on any UTF-8 text; all ranges are byte ranges on char boundaries.

use std::ops::Range;

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
    let mut found = Vec::new();
    let mut pos = 0;
    while pos < text.len() {
        let (next, hit) = scan_at(text, pos);
        found.extend(hit);
        pos = next;
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
// Scanning
// ---------------------------------------------------------------------------

/// Examines the text at byte `pos` (always an ASCII byte or a byte inside a
/// multi-byte char); returns where scanning resumes and any match found there.
fn scan_at(text: &str, pos: usize) -> (usize, Option<SensitiveMatch>) {
    let bytes = text.as_bytes();
    let byte = bytes[pos];
    if byte.is_ascii_digit() {
        let end = digit_run_end(bytes, pos);
        let hit = is_card_run(text, pos..end).then_some(SensitiveMatch {
            kind: SensitiveKind::PaymentCard,
            range: pos..end,
        });
        (end, hit)
    } else if byte.is_ascii_alphabetic() && is_word_start(text, pos) {
        match iban_end(text, pos) {
            Some(end) => {
                let hit = SensitiveMatch {
                    kind: SensitiveKind::Iban,
                    range: pos..end,
                };
                (end, Some(hit))
            }
            None => (pos + 1, None),
        }
    } else {
        // Non-ASCII bytes never start a match; ASCII bytes are always char
        // boundaries, so stepping byte-wise is safe.
        (pos + 1, None)
    }
}

/// The char ending just before byte `pos`, if any.
fn char_before(text: &str, pos: usize) -> Option<char> {
    text.get(..pos)?.chars().next_back()
}

/// The char starting at byte `pos`, if any.
fn char_at(text: &str, pos: usize) -> Option<char> {
    text.get(pos..)?.chars().next()
}

/// Whether byte `pos` is not preceded by an alphanumeric char.
fn is_word_start(text: &str, pos: usize) -> bool {
    !char_before(text, pos).is_some_and(char::is_alphanumeric)
}

/// Whether byte `pos` is not followed by an alphanumeric char.
fn is_word_end(text: &str, pos: usize) -> bool {
    !char_at(text, pos).is_some_and(char::is_alphanumeric)
}

// ---------------------------------------------------------------------------
// Payment cards
// ---------------------------------------------------------------------------

/// Fewest digits a card number may have.
const MIN_CARD_DIGITS: usize = 13;
/// Most digits a card number may have.
const MAX_CARD_DIGITS: usize = 19;

/// An issuer identification range: `low..=high` over the first
/// `prefix_digits` digits, with the card lengths the issuer uses.
struct IssuerRange {
    prefix_digits: usize,
    low: u32,
    high: u32,
    lengths: &'static [usize],
}

const fn issuer(
    prefix_digits: usize,
    low: u32,
    high: u32,
    lengths: &'static [usize],
) -> IssuerRange {
    IssuerRange {
        prefix_digits,
        low,
        high,
        lengths,
    }
}

const LEN_16_TO_19: &[usize] = &[16, 17, 18, 19];
const LEN_14_TO_19: &[usize] = &[14, 15, 16, 17, 18, 19];
const LEN_12_TO_19: &[usize] = &[12, 13, 14, 15, 16, 17, 18, 19];

/// Plausible issuer prefixes and lengths.
const ISSUERS: &[IssuerRange] = &[
    issuer(1, 4, 4, &[13, 16, 19]),      // Visa
    issuer(2, 51, 55, &[16]),            // Mastercard
    issuer(4, 2221, 2720, &[16]),        // Mastercard 2-series
    issuer(2, 34, 34, &[15]),            // American Express
    issuer(2, 37, 37, &[15]),            // American Express
    issuer(4, 6011, 6011, LEN_16_TO_19), // Discover
    issuer(3, 644, 649, LEN_16_TO_19),   // Discover
    issuer(2, 65, 65, LEN_16_TO_19),     // Discover
    issuer(4, 3528, 3589, LEN_16_TO_19), // JCB
    issuer(3, 300, 305, LEN_14_TO_19),   // Diners Club
    issuer(2, 36, 36, LEN_14_TO_19),     // Diners Club
    issuer(2, 38, 39, LEN_14_TO_19),     // Diners Club
    issuer(2, 62, 62, LEN_16_TO_19),     // UnionPay
    issuer(2, 50, 50, LEN_12_TO_19),     // Maestro
    issuer(2, 56, 58, LEN_12_TO_19),     // Maestro
    issuer(1, 6, 6, LEN_12_TO_19),       // Maestro
];

/// End of the maximal run of digits starting at `start`, where digit groups
/// may be joined by one `' '` or `'-'`. The run always ends on a digit.
fn digit_run_end(bytes: &[u8], start: usize) -> usize {
    let mut pos = start;
    loop {
        while bytes.get(pos).is_some_and(u8::is_ascii_digit) {
            pos += 1;
        }
        let joined = matches!(bytes.get(pos), Some(b' ' | b'-'))
            && bytes.get(pos + 1).is_some_and(u8::is_ascii_digit);
        if !joined {
            return pos;
        }
        pos += 1;
    }
}

/// Whether the digit run at `run` is a plausible payment card number.
fn is_card_run(text: &str, run: Range<usize>) -> bool {
    let bounded = is_word_start(text, run.start)
        && char_before(text, run.start) != Some('+')
        && is_word_end(text, run.end);
    if !bounded {
        return false;
    }
    let Some(digits) = CardDigits::from_run(&text.as_bytes()[run]) else {
        return false;
    };
    let digits = digits.as_slice();
    !is_one_repeated_digit(digits) && luhn_valid(digits) && has_issuer_prefix(digits)
}

/// The digit values (0–9) of a run holding 13–19 digits.
struct CardDigits {
    values: [u8; MAX_CARD_DIGITS],
    len: usize,
}

impl CardDigits {
    /// Digit values of `run`, or `None` unless it holds 13–19 digits.
    fn from_run(run: &[u8]) -> Option<Self> {
        let mut digits = Self {
            values: [0; MAX_CARD_DIGITS],
            len: 0,
        };
        for byte in run.iter().filter(|b| b.is_ascii_digit()) {
            *digits.values.get_mut(digits.len)? = byte - b'0';
            digits.len += 1;
        }
        (digits.len >= MIN_CARD_DIGITS).then_some(digits)
    }

    fn as_slice(&self) -> &[u8] {
        &self.values[..self.len]
    }
}

/// Whether every digit is the same (e.g. `0000000000000000`).
fn is_one_repeated_digit(digits: &[u8]) -> bool {
    digits.windows(2).all(|pair| pair[0] == pair[1])
}

/// Luhn (mod 10) check over digit values.
fn luhn_valid(digits: &[u8]) -> bool {
    let sum: u32 = digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, &d)| {
            let d = u32::from(d);
            match (i % 2 == 1, d * 2) {
                (false, _) => d,
                (true, doubled) if doubled > 9 => doubled - 9,
                (true, doubled) => doubled,
            }
        })
        .sum();
    sum.is_multiple_of(10)
}

/// Whether some issuer range matches the prefix and the length of `digits`.
fn has_issuer_prefix(digits: &[u8]) -> bool {
    ISSUERS.iter().any(|issuer| {
        let prefix = digits
            .iter()
            .take(issuer.prefix_digits)
            .fold(0u32, |acc, &d| acc * 10 + u32::from(d));
        (issuer.low..=issuer.high).contains(&prefix) && issuer.lengths.contains(&digits.len())
    })
}

// ---------------------------------------------------------------------------
// IBANs
// ---------------------------------------------------------------------------

/// Longest IBAN any country uses.
const MAX_IBAN_LEN: usize = 34;

/// ISO 13616 countries and their IBAN lengths, sorted by country code.
const IBAN_LENGTHS: &[(&str, usize)] = &[
    ("AD", 24),
    ("AE", 23),
    ("AL", 28),
    ("AT", 20),
    ("AZ", 28),
    ("BA", 20),
    ("BE", 16),
    ("BG", 22),
    ("BH", 22),
    ("BI", 27),
    ("BR", 29),
    ("BY", 28),
    ("CH", 21),
    ("CR", 22),
    ("CY", 28),
    ("CZ", 24),
    ("DE", 22),
    ("DJ", 27),
    ("DK", 18),
    ("DO", 28),
    ("EE", 20),
    ("EG", 29),
    ("ES", 24),
    ("FI", 18),
    ("FK", 18),
    ("FO", 18),
    ("FR", 27),
    ("GB", 22),
    ("GE", 22),
    ("GI", 23),
    ("GL", 18),
    ("GR", 27),
    ("GT", 28),
    ("HR", 21),
    ("HU", 28),
    ("IE", 22),
    ("IL", 23),
    ("IQ", 23),
    ("IS", 26),
    ("IT", 27),
    ("JO", 30),
    ("KW", 30),
    ("KZ", 20),
    ("LB", 28),
    ("LC", 32),
    ("LI", 21),
    ("LT", 20),
    ("LU", 20),
    ("LV", 21),
    ("LY", 25),
    ("MC", 27),
    ("MD", 24),
    ("ME", 22),
    ("MK", 19),
    ("MN", 20),
    ("MR", 27),
    ("MT", 31),
    ("MU", 30),
    ("NI", 28),
    ("NL", 18),
    ("NO", 15),
    ("OM", 23),
    ("PK", 24),
    ("PL", 28),
    ("PS", 29),
    ("PT", 25),
    ("QA", 29),
    ("RO", 24),
    ("RS", 22),
    ("RU", 33),
    ("SA", 24),
    ("SC", 31),
    ("SD", 18),
    ("SE", 24),
    ("SI", 19),
    ("SK", 24),
    ("SM", 27),
    ("SO", 23),
    ("ST", 25),
    ("SV", 28),
    ("TL", 23),
    ("TN", 24),
    ("TR", 26),
    ("UA", 29),
    ("VA", 22),
    ("VG", 24),
    ("XK", 20),
    ("YE", 30),
];

/// IBAN length for an upper-case two-letter country code.
fn iban_length(country: [u8; 2]) -> Option<usize> {
    IBAN_LENGTHS
        .binary_search_by(|(code, _)| code.as_bytes().cmp(&country[..]))
        .ok()
        .map(|index| IBAN_LENGTHS[index].1)
}

/// End of a valid IBAN starting at `start` (which is at a word start).
fn iban_end(text: &str, start: usize) -> Option<usize> {
    let bytes = text.as_bytes();
    let head = bytes.get(start..start + 4)?;
    let is_head =
        head[..2].iter().all(u8::is_ascii_alphabetic) && head[2..].iter().all(u8::is_ascii_digit);
    if !is_head {
        return None;
    }
    let len = iban_length([head[0].to_ascii_uppercase(), head[1].to_ascii_uppercase()])?;
    let mut iban = [0u8; MAX_IBAN_LEN];
    iban[..4].copy_from_slice(head);
    let mut pos = start + 4;
    for slot in &mut iban[4..len] {
        if bytes.get(pos) == Some(&b' ') {
            pos += 1;
        }
        let byte = *bytes.get(pos).filter(|b| b.is_ascii_alphanumeric())?;
        *slot = byte;
        pos += 1;
    }
    (is_word_end(text, pos) && iban_checksum_ok(&iban[..len])).then_some(pos)
}

/// ISO 7064 mod-97-10 validation of a compact IBAN (ASCII alphanumerics).
fn iban_checksum_ok(iban: &[u8]) -> bool {
    let (head, bban) = iban.split_at(4);
    let check_digits = u32::from(head[2] - b'0') * 10 + u32::from(head[3] - b'0');
    (2..=98).contains(&check_digits) && mod97(bban.iter().chain(head)) == 1
}

/// Remainder mod 97 of the number formed by expanding letters to 10–35.
fn mod97<'a>(chars: impl Iterator<Item = &'a u8>) -> u32 {
    chars.fold(0, |acc, &byte| {
        let value = alphanumeric_value(byte);
        let shift = if value >= 10 { 100 } else { 10 };
        (acc * shift + value) % 97
    })
}

/// `0`–`9` → 0–9, `A`/`a`–`Z`/`z` → 10–35.
fn alphanumeric_value(byte: u8) -> u32 {
    if byte.is_ascii_digit() {
        u32::from(byte - b'0')
    } else {
        u32::from(byte.to_ascii_uppercase() - b'A') + 10
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn kinds_and_texts(text: &str) -> Vec<(SensitiveKind, &str)> {
        find_sensitive(text)
            .into_iter()
            .map(|m| (m.kind, &text[m.range]))
            .collect()
    }

    fn assert_found(text: &str, kind: SensitiveKind, needle: &str) {
        assert_eq!(kinds_and_texts(text), vec![(kind, needle)], "in {text:?}");
    }

    // ----- unit tests: cards -----

    #[test]
    fn finds_well_known_test_cards_in_sentences() {
        for card in [
            "4111 1111 1111 1111",
            "4111-1111-1111-1111",
            "4111111111111111",
            "5555555555554444",
            "378282246310005",
            "3782 822463 10005",
            "6011111111111117",
            "4012888888881881",
            "3530111333300000",
        ] {
            assert_found(
                &format!("my card is {card}, thanks"),
                SensitiveKind::PaymentCard,
                card,
            );
            assert_found(&format!("({card})"), SensitiveKind::PaymentCard, card);
            assert_found(card, SensitiveKind::PaymentCard, card);
        }
    }

    #[test]
    fn card_range_is_exact_bytes() {
        let text = "💳 pay: 4111 1111 1111 1111!";
        let found = find_sensitive(text);
        let start = text.find('4').unwrap_or_default();
        assert_eq!(
            found,
            vec![SensitiveMatch {
                kind: SensitiveKind::PaymentCard,
                range: start..start + 19
            }]
        );
    }

    #[test]
    fn rejects_card_lookalikes() {
        for text in [
            "4111 1111 1111 1112", // Luhn fails
            "0000000000000000",    // repeated digit
            "0000 0000 0000 0000",
            "1234567812345670",  // Luhn-valid, no issuer prefix
            "x4111111111111111", // glued to a word
            "4111111111111111x",
            "+4111111111111111",    // phone-like
            "41111111111111111111", // 20 digits (sub-windows not searched)
            "4111  1111 1111 1111", // double space splits the run
            "4111--1111-1111-1111",
            "4111111111111111٤", // glued to a non-ASCII digit
        ] {
            assert!(
                find_sensitive(text).is_empty(),
                "false positive in {text:?}"
            );
        }
    }

    #[test]
    fn rejects_wrong_length_for_issuer() {
        // Luhn-valid numbers whose issuer does not use that length:
        // Visa with 15 digits (Visa uses 13/16/19), Amex with 16 (Amex uses 15),
        // Mastercard with 15 (Mastercard uses 16).
        for (prefix, len) in [("4", 15), ("37", 16), ("51", 15)] {
            let mut digits: Vec<u8> = prefix.bytes().map(|b| b - b'0').collect();
            digits.resize(len - 1, 1);
            digits.push(luhn_check_digit(&digits));
            let text: String = digits.iter().map(|d| char::from(b'0' + d)).collect();
            assert!(luhn_valid(&digits), "{text}");
            assert!(
                find_sensitive(&text).is_empty(),
                "false positive in {text:?}"
            );
        }
    }

    #[test]
    fn no_false_positives_on_common_numbers() {
        for text in [
            "Order #123456789012 shipped",
            "order 12345678",
            "ORD-2026-000123",
            "call +61 412 345 678 or +1-555-010-9999",
            "(02) 9876 5432 / 0412 345 678",
            "+6141234567890",
            "on 2026-11-25 at 2026-11-25T09:15:02.123Z or 25/11/2026 or 2026-11-25 09:15",
            "UPS 1Z999AA10123456784",
            "USPS 9400 1000 0000 0000 0000 00",
            "USPS 94001000000000000000",
            "JD014600006281234567",
            "FedEx 123456789012",
            "AusPost RR123456789AU",
        ] {
            assert!(
                find_sensitive(text).is_empty(),
                "false positive in {text:?}"
            );
        }
    }

    // ----- unit tests: IBANs -----

    #[test]
    fn finds_known_valid_ibans() {
        for iban in [
            "DE89 3704 0044 0532 0130 00",
            "DE89370400440532013000",
            "GB82WEST12345698765432",
            "GB82 WEST 1234 5698 7654 32",
            "FR14 2004 1010 0505 0001 3M02 606",
            "NL91ABNA0417164300",
            "nl91abna0417164300",
            "de89 3704 0044 0532 0130 00",
            "BE68539007547034",
            "CH9300762011623852957",
            "NO9386011117947",
        ] {
            assert_found(&format!("IBAN: {iban}. Cheers"), SensitiveKind::Iban, iban);
            assert_found(iban, SensitiveKind::Iban, iban);
        }
    }

    #[test]
    fn rejects_invalid_ibans() {
        for text in [
            "DE88 3704 0044 0532 0130 00", // wrong checksum
            "GB82WEST12345698765433",
            "DE89 3704 0044 0532 0130 001", // too long
            "DE89 3704 0044 0532 0130 0",   // too short
            "DE89  3704 0044 0532 0130 00", // double space
            "XX89370400440532013000",       // unknown country
            "aDE89370400440532013000",      // not at a word start
            "DE 89 3704 0044 0532 0130 00", // check digits detached
        ] {
            assert!(
                find_sensitive(text).is_empty(),
                "false positive in {text:?}"
            );
        }
    }

    #[test]
    fn iban_table_is_sorted_and_bounded() {
        assert!(IBAN_LENGTHS.windows(2).all(|pair| pair[0].0 < pair[1].0));
        assert!(
            IBAN_LENGTHS
                .iter()
                .all(|&(_, len)| (15..=MAX_IBAN_LEN).contains(&len))
        );
    }

    #[test]
    fn finds_mixed_matches_in_order() {
        let text = "card 5555555555554444 and iban GB82WEST12345698765432 and 4111-1111-1111-1111";
        assert_eq!(
            kinds_and_texts(text),
            vec![
                (SensitiveKind::PaymentCard, "5555555555554444"),
                (SensitiveKind::Iban, "GB82WEST12345698765432"),
                (SensitiveKind::PaymentCard, "4111-1111-1111-1111"),
            ]
        );
    }

    // ----- unit tests: redaction and misc -----

    #[test]
    fn redact_keeps_last_four() {
        let text = "4111 1111 1111 1111";
        assert_eq!(redact(text, &find_sensitive(text)), "**** **** **** 1111");
        let text = "iban DE89 3704 0044 0532 0130 00 ok";
        assert_eq!(
            redact(text, &find_sensitive(text)),
            "iban **** **** **** **** **30 00 ok"
        );
    }

    #[test]
    fn redact_ignores_invalid_ranges() {
        let text = "é4111";
        let bogus = [
            SensitiveMatch {
                kind: SensitiveKind::PaymentCard,
                range: 1..3,
            },
            SensitiveMatch {
                kind: SensitiveKind::PaymentCard,
                range: 2..99,
            },
        ];
        assert_eq!(redact(text, &bogus), text);
    }

    #[test]
    fn describe_words() {
        assert_eq!(
            SensitiveKind::PaymentCard.describe(),
            "a payment card number"
        );
        assert_eq!(SensitiveKind::Iban.describe(), "an IBAN");
    }

    #[test]
    fn long_inputs_are_handled() {
        let digits = "1 ".repeat(200_000);
        assert!(find_sensitive(&digits).is_empty());
        let words = "DE89 ".repeat(100_000);
        assert!(find_sensitive(&words).is_empty());
    }

    // ----- property tests -----

    /// (low, high, lengths) of issuer prefixes used to generate test cards.
    const TEST_ISSUERS: &[(u32, u32, &[usize])] = &[
        (4, 4, &[13, 16, 19]),
        (51, 55, &[16]),
        (2221, 2720, &[16]),
        (34, 34, &[15]),
        (37, 37, &[15]),
        (6011, 6011, &[16, 17, 18, 19]),
        (644, 649, &[16, 17, 18, 19]),
        (65, 65, &[16, 17, 18, 19]),
        (3528, 3589, &[16, 17, 18, 19]),
        (300, 305, &[14, 15, 16, 17, 18, 19]),
        (36, 36, &[14, 15, 16, 17, 18, 19]),
        (38, 39, &[14, 15, 16, 17, 18, 19]),
        (62, 62, &[16, 17, 18, 19]),
        (50, 50, &[13, 14, 15, 16, 17, 18, 19]),
        (56, 58, &[13, 14, 15, 16, 17, 18, 19]),
        (6, 6, &[13, 14, 15, 16, 17, 18, 19]),
    ];

    /// Luhn check digit completing `payload`.
    fn luhn_check_digit(payload: &[u8]) -> u8 {
        (0..10)
            .find(|&d| luhn_valid(&[payload, &[d]].concat()))
            .unwrap_or(0)
    }

    /// A Luhn-valid card number (as digit chars) with a valid prefix and length.
    fn card_number() -> impl Strategy<Value = String> {
        (0..TEST_ISSUERS.len())
            .prop_flat_map(|i| {
                let (low, high, lengths) = TEST_ISSUERS[i];
                (
                    low..=high,
                    prop::sample::select(lengths),
                    prop::collection::vec(0u8..10, 19),
                )
            })
            .prop_map(|(prefix, len, filler)| {
                let mut digits: Vec<u8> = prefix.to_string().bytes().map(|b| b - b'0').collect();
                digits.extend_from_slice(&filler[..len - 1 - digits.len()]);
                digits.push(luhn_check_digit(&digits));
                digits
                    .iter()
                    .map(|d| char::from(b'0' + d))
                    .collect::<String>()
            })
            .prop_filter("repeated digit", |s| !is_one_repeated_digit(s.as_bytes()))
    }

    /// Inserts separators: none, groups of 4 with ' ' or '-', or random gaps.
    fn grouped(digits: String) -> impl Strategy<Value = String> {
        let gaps = prop::collection::vec(prop::sample::select(vec!["", "", "", " ", "-"]), 19);
        (0..4usize, gaps).prop_map(move |(style, gaps)| {
            let mut out = String::new();
            for (i, c) in digits.chars().enumerate() {
                if i > 0 {
                    out.push_str(match style {
                        1 if i % 4 == 0 => " ",
                        2 if i % 4 == 0 => "-",
                        3 => gaps[i],
                        _ => "",
                    });
                }
                out.push(c);
            }
            out
        })
    }

    /// Words with no digits, including non-ASCII letters, emoji, RTL and marks.
    fn word() -> impl Strategy<Value = String> {
        "[a-zA-Zéü漢字🙂שלום\u{301}]{1,8}[,.!?:]?"
    }

    /// `(before, after)` context so that `before + item + after` keeps `item`
    /// bounded by non-alphanumerics.
    fn context() -> impl Strategy<Value = (String, String)> {
        let left = prop::sample::select(vec!["", ":", "(", "\"", "\n", "#"]);
        let right = prop::sample::select(vec!["", ".", ")", ",", "!", "\n", "🙂"]);
        let words = || prop::collection::vec(word(), 0..4);
        (words(), left, right, words()).prop_map(|(pre, l, r, post)| {
            let before: String = pre.iter().flat_map(|w| [w.as_str(), " "]).collect();
            let after: String = post.iter().flat_map(|w| [" ", w.as_str()]).collect();
            (before + l, r.to_owned() + &after)
        })
    }

    /// A valid IBAN (random BBAN) for a random registry country.
    fn iban() -> impl Strategy<Value = String> {
        (0..IBAN_LENGTHS.len())
            .prop_flat_map(|i| {
                let (country, len) = IBAN_LENGTHS[i];
                (
                    Just(country),
                    prop::collection::vec(
                        prop::sample::select(b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ".to_vec()),
                        len - 4,
                    ),
                )
            })
            .prop_map(|(country, bban)| {
                let probe: Vec<u8> = bban
                    .iter()
                    .chain(country.as_bytes())
                    .chain(b"00")
                    .copied()
                    .collect();
                let check = 98 - mod97(probe.iter());
                let bban = String::from_utf8(bban).unwrap_or_default();
                format!("{country}{check:02}{bban}")
            })
    }

    /// Formats an IBAN: compact or in groups of 4, optionally lower-case.
    fn formatted_iban() -> impl Strategy<Value = String> {
        (iban(), any::<bool>(), any::<bool>()).prop_map(|(iban, spaced, lower)| {
            let iban = if lower { iban.to_lowercase() } else { iban };
            if !spaced {
                return iban;
            }
            let chars: Vec<char> = iban.chars().collect();
            chars
                .chunks(4)
                .map(|c| c.iter().collect::<String>())
                .collect::<Vec<_>>()
                .join(" ")
        })
    }

    fn order_number() -> impl Strategy<Value = String> {
        prop_oneof![
            "#[0-9]{4,12}",
            "order [0-9]{4,12}",
            "Order #[0-9]{4,12}",
            "ORD-20[0-9]{2}-[0-9]{6}",
            "PO[0-9]{6,10}",
        ]
    }

    fn phone_number() -> impl Strategy<Value = String> {
        prop_oneof![
            "\\+61 4[0-9]{2} [0-9]{3} [0-9]{3}",
            "\\+1-[2-9][0-9]{2}-[0-9]{3}-[0-9]{4}",
            "\\(0[2-8]\\) [0-9]{4} [0-9]{4}",
            "04[0-9]{2} [0-9]{3} [0-9]{3}",
            "\\+[1-9][0-9]{7,14}",
            "\\+44 20 [0-9]{4} [0-9]{4}",
        ]
    }

    fn date_or_time() -> impl Strategy<Value = String> {
        prop_oneof![
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]",
            "[0-3][0-9]/[01][0-9]/20[0-9]{2}",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9]T[0-2][0-9]:[0-5][0-9]:[0-5][0-9]\\.[0-9]{3}Z",
            "20[0-9]{2}-[01][0-9]-[0-3][0-9] [0-2][0-9]:[0-5][0-9]",
        ]
    }

    fn tracking_code() -> impl Strategy<Value = String> {
        let usps = (prop::collection::vec(0u8..10, 20..=22), any::<bool>()).prop_map(
            |(digits, spaced)| {
                let digits: Vec<char> = digits.iter().map(|d| char::from(b'0' + d)).collect();
                let sep = if spaced { " " } else { "" };
                digits
                    .chunks(4)
                    .map(|c| c.iter().collect::<String>())
                    .collect::<Vec<_>>()
                    .join(sep)
            },
        );
        prop_oneof![
            "1Z[0-9A-Z]{16}".boxed(),
            usps.boxed(),
            "JD[0-9]{18}".boxed(),
            "[0-9]{12}".boxed(),
            "[0-9]{4} [0-9]{4} [0-9]{4}".boxed(),
            "[A-Z]{2}[0-9]{9}AU".boxed(),
            "33[A-Z]{3}[0-9]{7,9}".boxed(),
        ]
    }

    /// Any of the non-sensitive number formats.
    fn harmless_item() -> impl Strategy<Value = String> {
        prop_oneof![
            order_number(),
            phone_number(),
            date_or_time(),
            tracking_code()
        ]
    }

    /// Checks the structural invariants of `find_sensitive`'s output.
    fn assert_well_formed(text: &str, found: &[SensitiveMatch]) -> Result<(), TestCaseError> {
        let mut previous_end = 0;
        for m in found {
            prop_assert!(m.range.start >= previous_end, "overlap/order: {found:?}");
            prop_assert!(m.range.start < m.range.end && m.range.end <= text.len());
            prop_assert!(
                text.is_char_boundary(m.range.start) && text.is_char_boundary(m.range.end)
            );
            previous_end = m.range.end;
        }
        Ok(())
    }

    /// Checks that `redact` only masks alphanumerics inside matches, keeping the
    /// last four of each, and leaves everything else untouched.
    fn assert_redaction(text: &str, found: &[SensitiveMatch]) -> Result<(), TestCaseError> {
        let redacted = redact(text, found);
        prop_assert_eq!(redacted.chars().count(), text.chars().count());
        for ((i, original), new) in text.char_indices().zip(redacted.chars()) {
            match found.iter().find(|m| m.range.contains(&i)) {
                None => prop_assert_eq!(original, new),
                Some(m) => {
                    let later_alnum = text[i..m.range.end]
                        .chars()
                        .filter(|c| c.is_alphanumeric())
                        .count();
                    let expected = if original.is_alphanumeric() && later_alnum > 4 {
                        '*'
                    } else {
                        original
                    };
                    prop_assert_eq!(new, expected);
                }
            }
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn prop_finds_generated_cards(card in card_number().prop_flat_map(grouped), (before, after) in context()) {
            let text = format!("{before}{card}{after}");
            let start = before.len();
            prop_assert_eq!(
                find_sensitive(&text),
                vec![SensitiveMatch { kind: SensitiveKind::PaymentCard, range: start..start + card.len() }]
            );
        }

        #[test]
        fn prop_finds_generated_ibans(iban in formatted_iban(), (before, after) in context()) {
            let text = format!("{before}{iban}{after}");
            let start = before.len();
            prop_assert_eq!(
                find_sensitive(&text),
                vec![SensitiveMatch { kind: SensitiveKind::Iban, range: start..start + iban.len() }]
            );
        }

        #[test]
        fn prop_no_false_positives(items in prop::collection::vec((harmless_item(), word()), 1..6), lead in word()) {
            let text: String = items.iter().fold(format!("{lead} "), |acc, (item, w)| format!("{acc}{item} {w} "));
            prop_assert_eq!(find_sensitive(&text), vec![], "text: {:?}", text);
        }

        #[test]
        fn prop_never_panics_on_any_string(text in any::<String>()) {
            let found = find_sensitive(&text);
            assert_well_formed(&text, &found)?;
            assert_redaction(&text, &found)?;
        }

        #[test]
        fn prop_never_panics_on_numberish_strings(text in "[0-9 \\-+a-zA-Z#/:.é🙂\u{301}\u{5d0}٤]{0,80}") {
            let found = find_sensitive(&text);
            assert_well_formed(&text, &found)?;
            assert_redaction(&text, &found)?;
        }

        #[test]
        fn prop_redaction_of_embedded_matches(
            card in card_number().prop_flat_map(grouped),
            iban in formatted_iban(),
            (before, after) in context(),
        ) {
            let text = format!("{before}{card} and {iban}{after}");
            let found = find_sensitive(&text);
            prop_assert_eq!(found.len(), 2);
            assert_well_formed(&text, &found)?;
            assert_redaction(&text, &found)?;
        }

        #[test]
        fn prop_redact_never_panics_on_arbitrary_ranges(
            text in any::<String>(),
            ranges in prop::collection::vec((0usize..64, 0usize..64), 0..4),
        ) {
            let matches: Vec<SensitiveMatch> = ranges
                .into_iter()
                .map(|(a, b)| SensitiveMatch { kind: SensitiveKind::Iban, range: a..b })
                .collect();
            prop_assert_eq!(redact(&text, &matches).chars().count(), text.chars().count());
        }
    }
}
