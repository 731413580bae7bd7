//! IBANs: where one may start, how its characters are collected, the mod-97 check.

use super::{class_before, skip_gap, Class, SensitiveKind, SensitiveMatch, Unit};

/// Tries an IBAN starting at unit `start` (a letter); returns where scanning resumes and
/// the match, if any.
pub(super) fn scan_at(units: &[Unit], start: usize) -> (usize, Option<SensitiveMatch>) {
    match iban_end(units, start) {
        Some(last) => {
            let hit = SensitiveMatch { kind: SensitiveKind::Iban, range: units[start].start..units[last].end };
            (last + 1, Some(hit))
        }
        None => (start + 1, None),
    }
}

/// Index of the last unit of a valid IBAN starting at unit `start`.
fn iban_end(units: &[Unit], start: usize) -> Option<usize> {
    let letter = |index: usize| match units.get(index)?.class {
        Class::Letter { upper, lower } => Some((upper, lower)),
        _ => None,
    };
    let digit = |index: usize| match units.get(index)?.class {
        Class::Digit(value) => Some(value),
        _ => None,
    };
    let (first, first_lower) = letter(start)?;
    let (second, _) = letter(start + 1)?;
    let check = [digit(start + 2)?, digit(start + 3)?];
    if !may_start_here(units, start, first_lower) {
        return None;
    }
    let len = iban_length([first, second])?;
    let mut iban = [0u8; MAX_IBAN_LEN];
    iban[..4].copy_from_slice(&[first, second, b'0' + check[0], b'0' + check[1]]);
    let mut last = start + 3;
    for slot in &mut iban[4..len] {
        let next = skip_gap(units, last + 1);
        *slot = match units.get(next)?.class {
            Class::Digit(value) => b'0' + value,
            Class::Letter { upper, .. } => upper,
            _ => return None,
        };
        last = next;
    }
    let ends_word = !units.get(last + 1).is_some_and(|unit| unit.class.is_alphanumeric());
    (ends_word && iban_checksum_ok(&iban[..len])).then_some(last)
}

/// Whether an IBAN may start at unit `start`, whose letter is lower-case if `lower`: at a
/// word start, glued in upper case to a lower-case word (`ibanDE89…`), or right after the
/// letters `IBAN` in any case.
fn may_start_here(units: &[Unit], start: usize, lower: bool) -> bool {
    match class_before(units, start) {
        None => true,
        Some(Class::Letter { lower: before_lower, .. }) => {
            (before_lower && !lower) || follows_the_word_iban(units, start)
        }
        Some(class) => !class.is_alphanumeric(),
    }
}

/// Whether the four units before `start` spell `IBAN` (any case).
fn follows_the_word_iban(units: &[Unit], start: usize) -> bool {
    let Some(from) = start.checked_sub(4) else { return false };
    units[from..start]
        .iter()
        .zip(b"IBAN")
        .all(|(unit, &expected)| matches!(unit.class, Class::Letter { upper, .. } if upper == expected))
}

/// Longest IBAN any country uses.
pub(super) const MAX_IBAN_LEN: usize = 34;

/// ISO 13616 countries and their IBAN lengths, sorted by country code.
pub(super) const IBAN_LENGTHS: &[(&str, usize)] = &[
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

/// ISO 7064 mod-97-10 validation of a compact IBAN (upper-case ASCII alphanumerics).
fn iban_checksum_ok(iban: &[u8]) -> bool {
    let (head, bban) = iban.split_at(4);
    let check_digits = u32::from(head[2] - b'0') * 10 + u32::from(head[3] - b'0');
    (2..=98).contains(&check_digits) && mod97(bban.iter().chain(head)) == 1
}

/// Remainder mod 97 of the number formed by expanding letters to 10–35.
pub(super) fn mod97<'a>(chars: impl Iterator<Item = &'a u8>) -> u32 {
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
