//! The guard's corpus: strings it must catch and strings it must let through, each
//! checked by a test below. Add a line here for every format report.

use super::{find_sensitive, redact, SensitiveKind};

/// Card numbers written the ways people (and evasive people) write them.
const MUST_CATCH_CARDS: &[&str] = &[
    // followed by CVV or expiry
    "4111 1111 1111 1111 123",
    "4111111111111111 12/27",
    "4111111111111111123",
    "41111111111111111227",
    "4111 1111 1111 1111 12/27 123",
    "5555555555554444 exp 12/27 cvv 123",
    "378282246310005 1234",
    "my card is 5555 5555 5555 4444, cvv 123",
    "qty 2 4111 1111 1111 1111",
    // Unicode spaces
    "4111\u{00A0}1111\u{00A0}1111\u{00A0}1111",
    "4111\u{202F}1111\u{202F}1111\u{202F}1111",
    "4111\u{2009}1111\u{2009}1111\u{2009}1111",
    "4111\u{2002}1111\u{2003}1111\u{205F}1111",
    "4111\u{3000}1111\u{3000}1111\u{3000}1111",
    "4111\t1111\t1111\t1111",
    // invisible characters
    "4111\u{200B}1111\u{200B}1111\u{200B}1111",
    "4\u{200D}1\u{200D}1\u{200D}1\u{200D}1111 1111 1111",
    "4111\u{2060}1111\u{2060}1111\u{2060}1111",
    "4111\u{00AD}1111\u{00AD}1111\u{00AD}1111",
    "\u{FEFF}4111111111111111\u{FEFF}",
    "\u{2066}4111 1111 1111 1111\u{2069}",
    "4\u{0301}111 1111 1111 1111",
    // punctuation and repeated separators
    "4111.1111.1111.1111",
    "4111/1111/1111/1111",
    "4111,1111,1111,1111",
    "4111_1111_1111_1111",
    "4111  1111  1111  1111",
    "4111 - 1111 - 1111 - 1111",
    "4111–1111—1111−1111",
    "4111 -1111- 1111 1111",
    // other digit forms
    "４１１１ １１１１ １１１１ １１１１",
    "４１１１１１１１１１１１１１１１",
    "٤١١١ ١١١١ ١١١١ ١١١١",
    "۴۱۱۱۱۱۱۱۱۱۱۱۱۱۱۱",
    "४१११ ११११ ११११ ११११",
    "4111 ١١١١ 1111 １１１１",
    "رقم البطاقة ٤١١١١١١١١١١١١١١١ شكرا",
    "𝟒𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏𝟏",
    // glued to signs and letters
    "+4111111111111111",
    "+4111 1111 1111 1111",
    "card4111111111111111",
    "cc:4111111111111111",
    "4111111111111111exp",
    "VISA4111-1111-1111-1111",
    // other issuers
    "6011 1111 1111 1117",
    "3782 822463 10005",
    "3530111333300000",
    "5019717010103742",
    "2223 0000 4841 0010",
];

/// IBANs written the ways people write them.
const MUST_CATCH_IBANS: &[&str] = &[
    "DE89-3704-0044-0532-0130-00",
    "DE89\u{00A0}3704\u{00A0}0044\u{00A0}0532\u{00A0}0130\u{00A0}00",
    "DE89\u{202F}3704\u{202F}0044\u{202F}0532\u{202F}0130\u{202F}00",
    "DE89.3704.0044.0532.0130.00",
    "DE89  3704  0044  0532  0130  00",
    "DE89\u{200B}3704\u{200B}0044\u{200B}0532\u{200B}0130\u{200B}00",
    "ＤＥ８９ ３７０４ ００４４ ０５３２ ０１３０ ００",
    "ＤＥ８９３７０４００４４０５３２０１３０００",
    "ibanDE89370400440532013000",
    "IBAN:DE89370400440532013000",
    "IBANDE89370400440532013000",
    "iban: de89 3704 0044 0532 0130 00",
    "my iban is GB82 WEST 1234 5698 7654 32.",
    "GB82-WEST-1234-5698-7654-32",
    "NL91 ABNA 0417 1643 00",
    "FR14 2004 1010 0505 0001 3M02 606",
    "accountCH9300762011623852957",
];

/// Numbers that are not card numbers or IBANs and must stay allowed.
const MUST_ALLOW: &[&str] = &[
    // phone numbers
    "+61 2 9876 5432",
    "+1-555-123-4567",
    "+44 20 7946 0958",
    "+61412345678",
    "+6141234567890",
    "+61 2 9876 5432 2026-12-01",
    "+61 456 535 323 \u{301} 2002-00-00 00:00",
    "0412 345 678",
    "(02) 9876 5432",
    "1300 655 506",
    "call 0412 345 678 or (02) 9876 5432",
    // dates and times
    "2026-12-01",
    "01/12/2026",
    "01.12.2026",
    "expires 12/27",
    "2026-12-01 10:30",
    "2026-12-01T10:30:00.000Z",
    "from 2026-12-01 to 2026-12-31",
    "01/12/2026 - 31/12/2026",
    "10:30, 10:30:59, 10.30am",
    // prices and quantities
    "$1,234.56",
    "€ 12,50",
    "AUD 1,299.00",
    "$12.50, $13.99 and $14.00",
    "12 x $19.95 = $239.40",
    "qty 3, size 12, 4 boxes of 1111 items",
    // order and invoice numbers
    "Order #123456789012",
    "order 1234567812345670",
    "ORD-2026-000123",
    "PO1234567890",
    "INV-2026-000123",
    "INV2026000123",
    "orders 1234, 5678, 9012, 3456",
    "order 12345678\norder 23456789\norder 34567890",
    "reference 2026120100012345678",
    // business numbers
    "ABN 51 824 753 556",
    "ABN 51824753556",
    "ACN 123 456 789",
    // tracking numbers and barcodes
    "UPS 1Z999AA10123456784",
    "USPS 9400 1000 0000 0000 0000 00",
    "USPS 9400 1118 9922 3100 1234 56",
    "USPS 92055901755477000271990251",
    "USPS 9400111899223100123456",
    "DHL JD014600006281234567",
    "DHL JJD0001234567891234",
    "AusPost RR123456789AU",
    "StarTrack 33ABC1234567",
    "FedEx 123456789012",
    "EAN 9310072000121",
    "ISBN 978-0-306-40615-7",
    // other numbers
    "192.168.0.1",
    "v1.2.3.4",
    "postcode 2000, unit 12/34",
    "IBAN please, not the BSB",
    "DE is 89 km away",
];

#[test]
fn every_must_catch_card_is_found_as_a_card() {
    for text in MUST_CATCH_CARDS {
        let found = find_sensitive(text);
        assert!(
            found.iter().any(|m| m.kind == SensitiveKind::PaymentCard),
            "missed card in {text:?}: {found:?}"
        );
    }
}

#[test]
fn every_must_catch_iban_is_found_as_an_iban() {
    for text in MUST_CATCH_IBANS {
        let found = find_sensitive(text);
        assert!(found.iter().any(|m| m.kind == SensitiveKind::Iban), "missed IBAN in {text:?}: {found:?}");
    }
}

#[test]
fn every_must_allow_string_is_left_alone() {
    for text in MUST_ALLOW {
        assert_eq!(find_sensitive(text), vec![], "false positive in {text:?}");
    }
}

#[test]
fn redaction_of_every_catch_leaves_at_most_four_digits_of_the_match() {
    for text in MUST_CATCH_CARDS.iter().chain(MUST_CATCH_IBANS) {
        let found = find_sensitive(text);
        let redacted = redact(text, &found);
        for m in &found {
            let visible = text
                .char_indices()
                .zip(redacted.chars())
                .filter(|&((i, original), new)| m.range.contains(&i) && original.is_alphanumeric() && original == new)
                .count();
            assert_eq!(visible, 4, "{text:?} -> {redacted:?}");
        }
    }
}
