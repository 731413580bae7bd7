use super::cards::{is_one_repeated_digit, luhn_valid};
use super::iban::{mod97, IBAN_LENGTHS, MAX_IBAN_LEN};
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
        "1234567812345670",       // Luhn-valid, no issuer prefix
        "+378282246310005",       // after '+' and at most 15 digits: a phone number
        "4111 1111, 1111 1111",   // comma and space: a list, not one number
        "4111. 1111 1111 1111",   // sentence end
        "4111    1111 1111 1111", // four spaces split the run
        "4111\n1111 1111 1111",   // line break splits the run
        "1234 4111 1111 1111 1111", // four digits before the card (tracking-number style)
        "411111111111111112345678", // eight digits glued after it: more than a CVV or expiry
        "4111111111111111٤",        // 17 digits in one group are checked whole only
    ] {
        assert!(find_sensitive(text).is_empty(), "false positive in {text:?}");
    }
}

#[test]
fn finds_cards_whose_run_goes_on() {
    for (text, expected) in [
        ("4111 1111 1111 1111 123", "4111 1111 1111 1111 123"),
        ("4111111111111111 12/27", "4111111111111111 12/27"),
        ("4111111111111111123", "4111111111111111123"),
        ("41111111111111111227", "41111111111111111227"),
        ("12 4111 1111 1111 1111 ok", "12 4111 1111 1111 1111"),
        ("x4111111111111111y", "4111111111111111"),
        ("4111111111111111 ٤٤٤", "4111111111111111 ٤٤٤"),
        ("4111  1111 1111 1111", "4111  1111 1111 1111"),
        ("4111--1111-1111-1111", "4111--1111-1111-1111"),
    ] {
        assert_found(text, SensitiveKind::PaymentCard, expected);
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
        "XX89370400440532013000",       // unknown country
        "ADE89370400440532013000",      // glued to an upper-case word
        "9DE89370400440532013000",      // glued to a digit
        "DE 89 3704 0044 0532 0130 00", // check digits detached
        "DE89 3704, 0044 0532 0130 00", // list, not one number
    ] {
        assert!(find_sensitive(text).is_empty(), "false positive in {text:?}");
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

/// Tracking codes of the common carriers. USPS codes (20–22 digits, often written in
/// groups of 4) start with 92–95 and DHL eCommerce codes with `JD0`/`JJD0`, as real ones do:
/// a random 20-digit string starting with an issuer digit is not a tracking code, and the
/// guard does look at the start of long runs for a card followed by its CVV or expiry.
fn tracking_code() -> impl Strategy<Value = String> {
    let usps = (9_2u8..=9_5, prop::collection::vec(0u8..10, 18..=20), any::<bool>()).prop_map(
        |(prefix, digits, spaced)| {
            let digits: Vec<char> = prefix
                .to_string()
                .chars()
                .chain(digits.iter().map(|d| char::from(b'0' + d)))
                .collect();
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
        "J?JD0[0-9]{17}".boxed(),
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
    fn prop_redacted_text_has_nothing_left_to_find(
        card in card_number().prop_flat_map(grouped),
        before in "[0-9٤ \\-+./a-zD\u{200B}\u{A0}]{0,12}",
        after in "[0-9４ \\-+./a-zE\u{200B}\u{A0}]{0,12}",
    ) {
        let text = format!("{before}{card}{after}");
        let redacted = redact(&text, &find_sensitive(&text));
        prop_assert_eq!(find_sensitive(&redacted), vec![], "{:?} -> {:?}", text, redacted);
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

#[test]
fn a_hostile_five_thousand_char_message_is_scanned_quickly() {
    // Measured in a debug build: 0.5–7 ms each. The bound only catches quadratic blow-ups.
    for text in [
        "1 ".repeat(2_500),
        "4".repeat(5_000),
        "4\u{200B}".repeat(2_500),
        "4 - ".repeat(1_250),
        "aB".repeat(2_500),
        "IBANDE89".repeat(625),
        "DE89 ".repeat(1_000),
        "4111 1111 1111 1111 ".repeat(250),
        "４".repeat(5_000),
        "\u{200B}".repeat(4_999) + "4",
    ] {
        let started = std::time::Instant::now();
        let found = find_sensitive(&text);
        let _ = redact(&text, &found);
        let elapsed = started.elapsed();
        assert!(elapsed < std::time::Duration::from_millis(250), "{elapsed:?} for {:?}…", &text[..8]);
    }
}
