//! Any text through the message rules and the sensitive-data detector: never a panic;
//! accepted text stays within the limit, and redaction keeps everything but the digits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use marketchat::domain::message::{MessageBody, MessageRules, SensitivePolicy};
use marketchat::domain::sensitive::{find_sensitive, redact};

fuzz_target!(|text: &str| {
    let matches = find_sensitive(text);
    for pair in matches.windows(2) {
        assert!(pair[0].range.end <= pair[1].range.start, "matches are ordered and disjoint");
    }
    let redacted = redact(text, &matches);
    assert_eq!(redacted.chars().count(), text.chars().count(), "redaction masks, never drops or adds");
    for policy in [SensitivePolicy::Reject, SensitivePolicy::Redact, SensitivePolicy::Off] {
        let rules = MessageRules { sensitive: policy, ..MessageRules::default() };
        if let Ok(body) = MessageBody::parse(text, &rules) {
            let stored = body.as_str();
            assert!(!stored.trim().is_empty(), "blank text is refused");
            assert!(stored.chars().count() <= rules.max_chars, "accepted text fits the limit");
            if policy != SensitivePolicy::Off {
                assert!(find_sensitive(stored).is_empty(), "{policy:?} lets no card or IBAN through: {stored:?}");
            }
        }
    }
});
