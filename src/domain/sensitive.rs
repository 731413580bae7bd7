//! Sensitive-data guard (placeholder until the detector lands in this file).

/// What kind of sensitive data a match is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SensitiveKind { PaymentCard, Iban }
/// One occurrence.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SensitiveMatch { pub kind: SensitiveKind, pub range: std::ops::Range<usize> }
/// All sensitive numbers in `text`.
pub fn find_sensitive(_text: &str) -> Vec<SensitiveMatch> { Vec::new() }
/// Masks matches.
pub fn redact(text: &str, _matches: &[SensitiveMatch]) -> String { text.to_owned() }
impl SensitiveKind {
    /// Human words.
    pub fn describe(self) -> &'static str { match self { SensitiveKind::PaymentCard => "a payment card number", SensitiveKind::Iban => "an IBAN" } }
}
