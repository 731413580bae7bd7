//! Character classes the text rules need and the standard library lacks: Unicode decimal
//! digits of every script, direction controls, invisible characters and combining marks.
//!
//! The tables are small and hand-checked against the Unicode Character Database
//! (general categories `Nd`, `Cf`, `Mn`/`Me`); the tests below check them against what
//! `char` itself reports where it can.

/// The value 0–9 of a Unicode decimal digit (general category `Nd`) of any script:
/// ASCII, full-width, Arabic-Indic, Devanagari, Thai, mathematical digits and so on.
#[must_use]
pub fn decimal_digit_value(c: char) -> Option<u8> {
    let code = u32::from(c);
    if c.is_ascii_digit() {
        return Some((code - 0x30) as u8);
    }
    if code < 0x0660 {
        return None;
    }
    // The last block start at or below `code`; digits of a block are consecutive.
    let index = DIGIT_ZEROS.partition_point(|&zero| zero <= code).checked_sub(1)?;
    let offset = code - DIGIT_ZEROS[index];
    u8::try_from(offset).ok().filter(|&value| value < 10)
}

/// Code point of the digit zero of every `Nd` block (Unicode 14), sorted; each block is
/// ten consecutive code points with values 0–9.
const DIGIT_ZEROS: &[u32] = &[
    0x0030, 0x0660, 0x06F0, 0x07C0, 0x0966, 0x09E6, 0x0A66, 0x0AE6, 0x0B66, 0x0BE6, 0x0C66,
    0x0CE6, 0x0D66, 0x0DE6, 0x0E50, 0x0ED0, 0x0F20, 0x1040, 0x1090, 0x17E0, 0x1810, 0x1946,
    0x19D0, 0x1A80, 0x1A90, 0x1B50, 0x1BB0, 0x1C40, 0x1C50, 0xA620, 0xA8D0, 0xA900, 0xA9D0,
    0xA9F0, 0xAA50, 0xABF0, 0xFF10, 0x104A0, 0x10D30, 0x11066, 0x110F0, 0x11136, 0x111D0,
    0x112F0, 0x11450, 0x114D0, 0x11650, 0x116C0, 0x11730, 0x118E0, 0x11950, 0x11C50, 0x11D50,
    0x11DA0, 0x16A60, 0x16AC0, 0x16B50, 0x1D7CE, 0x1D7D8, 0x1D7E2, 0x1D7EC, 0x1D7F6, 0x1E140,
    0x1E2F0, 0x1E950, 0x1FBF0,
];

/// Whether `c` is a bidirectional control: embeddings and overrides (U+202A–U+202E),
/// isolates (U+2066–U+2069) and the direction marks U+200E, U+200F and U+061C. They can
/// make text display in a different order than it is stored ("Trojan Source").
#[must_use]
pub fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}')
}

/// Whether `c` draws nothing on its own: zero-width spaces and joiners, the word joiner and
/// invisible operators, the byte-order mark, soft hyphen, Hangul and Khmer fillers, the
/// blank Braille pattern, the Mongolian vowel separator, variation selectors and tag
/// characters, and the bidi controls. Whitespace is not included (see `char::is_whitespace`).
#[must_use]
pub fn is_invisible(c: char) -> bool {
    is_bidi_control(c)
        || matches!(
            c,
            '\u{00AD}'
                | '\u{034F}'
                | '\u{115F}'
                | '\u{1160}'
                | '\u{17B4}'
                | '\u{17B5}'
                | '\u{180B}'..='\u{180F}'
                | '\u{200B}'..='\u{200D}'
                | '\u{2060}'..='\u{2064}'
                | '\u{206A}'..='\u{206F}'
                | '\u{2800}'
                | '\u{3164}'
                | '\u{FE00}'..='\u{FE0F}'
                | '\u{FEFF}'
                | '\u{FFA0}'
                | '\u{1D173}'..='\u{1D17A}'
                | '\u{E0000}'..='\u{E007F}'
                | '\u{E0100}'..='\u{E01EF}'
        )
}

/// Whether `c` is a combining mark that stacks on the character before it, from the main
/// combining blocks: diacritics for Latin, Greek and Cyrillic, Hebrew points, Arabic and
/// Syriac marks, the extended and supplementary diacritics, marks for symbols, half marks.
/// Scripts whose vowel signs are marks (Thai, Devanagari, …) are deliberately not listed:
/// they never stack deeply, and the zalgo rule only needs the stacking blocks.
#[must_use]
pub fn is_combining_mark(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{0483}'..='\u{0489}'
            | '\u{0591}'..='\u{05BD}'
            | '\u{0610}'..='\u{061A}'
            | '\u{064B}'..='\u{065F}'
            | '\u{0730}'..='\u{074A}'
            | '\u{08CA}'..='\u{08E1}'
            | '\u{08E3}'..='\u{08FF}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{2DE0}'..='\u{2DFF}'
            | '\u{A66F}'..='\u{A672}'
            | '\u{A674}'..='\u{A67D}'
            | '\u{A8E0}'..='\u{A8F1}'
            | '\u{FE20}'..='\u{FE2F}'
            | '\u{1D165}'..='\u{1D169}'
            | '\u{1D16D}'..='\u{1D172}'
            | '\u{1D17B}'..='\u{1D182}'
            | '\u{1D185}'..='\u{1D18B}'
            | '\u{1D1AA}'..='\u{1D1AD}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digit_table_is_sorted_and_every_block_is_ten_numeric_chars() {
        assert!(DIGIT_ZEROS.windows(2).all(|pair| pair[0] + 10 <= pair[1]));
        for &zero in DIGIT_ZEROS {
            for value in 0..10u8 {
                let c = char::from_u32(zero + u32::from(value)).expect("valid char");
                assert!(c.is_numeric(), "{c:?}");
                assert_eq!(decimal_digit_value(c), Some(value), "{c:?}");
            }
        }
    }

    #[test]
    fn digits_of_common_scripts_have_their_values() {
        for (text, expected) in [
            ("0123456789", "0123456789"),
            ("０１２３４５６７８９", "0123456789"),
            ("٠١٢٣٤٥٦٧٨٩", "0123456789"),
            ("۰۱۲۳۴۵۶۷۸۹", "0123456789"),
            ("०१२३४५६७८९", "0123456789"),
            ("๐๑๒๓๔๕๖๗๘๙", "0123456789"),
            ("𝟎𝟏𝟐𝟑𝟒𝟓𝟔𝟕𝟖𝟗", "0123456789"),
        ] {
            let values: String =
                text.chars().filter_map(decimal_digit_value).map(|d| char::from(b'0' + d)).collect();
            assert_eq!(values, expected, "{text}");
        }
    }

    #[test]
    fn non_digits_have_no_value() {
        for c in ['a', '/', ':', '²', '½', '①', 'Ⅻ', '十', '\u{065F}', '\u{066A}', '\u{FF1A}', '\u{FF0F}'] {
            assert_eq!(decimal_digit_value(c), None, "{c:?}");
        }
    }

    #[test]
    fn invisible_chars_and_marks_are_neither_whitespace_nor_controls_nor_digits() {
        for code in 0..=0x10FFFFu32 {
            let Some(c) = char::from_u32(code) else { continue };
            if is_invisible(c) || is_combining_mark(c) {
                assert!(!c.is_whitespace() && !c.is_control() && !c.is_numeric(), "{c:?}");
                assert_eq!(decimal_digit_value(c), None, "{c:?}");
            }
        }
    }

    #[test]
    fn bidi_controls_are_the_listed_ones() {
        let listed: Vec<char> = ('\u{0}'..='\u{FFFF}').filter(|&c| is_bidi_control(c)).collect();
        assert_eq!(listed.len(), 12);
        assert!(['\u{202E}', '\u{2067}', '\u{200F}', '\u{061C}'].iter().all(|&c| is_bidi_control(c)));
        assert!(!is_bidi_control('\u{200D}'));
    }
}
