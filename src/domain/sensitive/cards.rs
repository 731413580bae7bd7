//! Payment card numbers: digit runs, the windows examined in them, Luhn and issuer checks.

use super::{
    class_before, skip_gap, Class, SensitiveKind, SensitiveMatch, Unit, MAX_DIGITS_BEFORE_CARD,
    MAX_GLUED_DIGITS_AFTER_CARD, MIN_DIGITS_OF_GROUP_WITH_GLUE,
};

/// Fewest digits a card number may have.
pub(super) const MIN_CARD_DIGITS: usize = 13;
/// Most digits a card number may have.
pub(super) const MAX_CARD_DIGITS: usize = 19;
/// Most digits a run right after `+` may hold and still be a phone number (E.164).
const MAX_PHONE_DIGITS: usize = 15;
/// Most digits of a country calling code, which people write apart after the `+`.
const MAX_COUNTRY_CODE_DIGITS: usize = 3;
/// Digits of a run kept for examining windows: the most a window can reach.
const KEPT_DIGITS: usize = MAX_DIGITS_BEFORE_CARD + MAX_CARD_DIGITS + MAX_GLUED_DIGITS_AFTER_CARD;

/// Reads the digit run starting at unit `start` (a digit); returns the unit index after
/// it and a match covering the whole run if it holds a card number.
pub(super) fn scan_run(units: &[Unit], start: usize) -> (usize, Option<SensitiveMatch>) {
    let run = DigitRun::read(units, start);
    let holds_card = if class_before(units, start) == Some(Class::Plus) {
        let first_group = run.group_end(0);
        run.digit_count > MAX_PHONE_DIGITS && first_group > MAX_COUNTRY_CODE_DIGITS && run.is_card_as_a_whole()
    } else {
        run.holds_card()
    };
    let hit = holds_card.then(|| SensitiveMatch {
        kind: SensitiveKind::PaymentCard,
        range: units[start].start..units[run.last_unit].end,
    });
    (run.last_unit + 1, hit)
}

/// A maximal run of digits joined by gaps, with where its groups start.
struct DigitRun {
    /// Values of the first [`KEPT_DIGITS`] digits.
    digits: Vec<u8>,
    /// Offsets (into the digits) at which groups start, within the kept digits.
    group_starts: Vec<usize>,
    /// Digits in the whole run.
    digit_count: usize,
    /// Index of the run's last unit (a digit).
    last_unit: usize,
}

impl DigitRun {
    /// Reads the run starting at unit `start`, which must be a digit.
    fn read(units: &[Unit], start: usize) -> Self {
        let mut run = Self { digits: Vec::new(), group_starts: vec![0], digit_count: 0, last_unit: start };
        let mut index = start;
        loop {
            while let Some(Class::Digit(value)) = units.get(index).map(|unit| unit.class) {
                if run.digits.len() < KEPT_DIGITS {
                    run.digits.push(value);
                }
                run.digit_count += 1;
                run.last_unit = index;
                index += 1;
            }
            let next = skip_gap(units, index);
            let joined = next > index && matches!(units.get(next).map(|unit| unit.class), Some(Class::Digit(_)));
            if !joined {
                return run;
            }
            if run.digit_count <= KEPT_DIGITS {
                run.group_starts.push(run.digit_count);
            }
            index = next;
        }
    }

    /// End offset of the group starting at offset `group_start` (within the kept digits).
    fn group_end(&self, group_start: usize) -> usize {
        self.group_starts
            .iter()
            .copied()
            .find(|&start| start > group_start)
            .unwrap_or(self.digit_count)
    }

    /// Whether a window ending at offset `end` ends acceptably: at a group end, or inside
    /// a group of at least [`MIN_DIGITS_OF_GROUP_WITH_GLUE`] digits with at most
    /// [`MAX_GLUED_DIGITS_AFTER_CARD`] of them left.
    fn window_may_end_at(&self, end: usize) -> bool {
        let group_start = self.group_starts.iter().copied().filter(|&start| start < end).max().unwrap_or(0);
        let group_end = self.group_end(group_start);
        end == group_end
            || (group_end - group_start >= MIN_DIGITS_OF_GROUP_WITH_GLUE
                && group_end.saturating_sub(end) <= MAX_GLUED_DIGITS_AFTER_CARD)
    }

    /// Whether all the run's digits together are a plausible card number.
    fn is_card_as_a_whole(&self) -> bool {
        self.digit_count <= MAX_CARD_DIGITS && is_card_number(&self.digits[..self.digit_count])
    }

    /// Whether some examined window is a plausible card number.
    fn holds_card(&self) -> bool {
        let mut starts = self.group_starts.iter().copied().filter(|&start| start <= MAX_DIGITS_BEFORE_CARD);
        starts.any(|start| {
            (MIN_CARD_DIGITS..=MAX_CARD_DIGITS).any(|len| {
                let end = start + len;
                end <= self.digit_count
                    && self.window_may_end_at(end)
                    && self.digits.get(start..end).is_some_and(is_card_number)
            })
        })
    }
}

/// Whether `digits` (values 0–9) are a plausible card number of their length.
pub(super) fn is_card_number(digits: &[u8]) -> bool {
    !is_one_repeated_digit(digits) && luhn_valid(digits) && has_issuer_prefix(digits)
}

/// An issuer identification range: `low..=high` over the first
/// `prefix_digits` digits, with the card lengths the issuer uses.
struct IssuerRange {
    prefix_digits: usize,
    low: u32,
    high: u32,
    lengths: &'static [usize],
}

const fn issuer(prefix_digits: usize, low: u32, high: u32, lengths: &'static [usize]) -> IssuerRange {
    IssuerRange { prefix_digits, low, high, lengths }
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

/// Whether every digit is the same (e.g. `0000000000000000`).
pub(super) fn is_one_repeated_digit(digits: &[u8]) -> bool {
    digits.windows(2).all(|pair| pair[0] == pair[1])
}

/// Luhn (mod 10) check over digit values.
pub(super) fn luhn_valid(digits: &[u8]) -> bool {
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
