use super::*;
use proptest::prelude::*;

fn term(words: &[&str], prefix: bool) -> Term {
    Term { words: words.iter().map(|w| (*w).to_owned()).collect(), prefix }
}

fn parsed(raw: &str) -> Vec<Term> {
    SearchQuery::parse(raw).unwrap().terms().to_vec()
}

#[test]
fn words_phrases_and_prefixes() {
    assert_eq!(parsed("remittance  paid"), vec![term(&["remittance"], false), term(&["paid"], false)]);
    assert_eq!(parsed("\"when will my\" remit*"), vec![term(&["when", "will", "my"], false), term(&["remit"], true)]);
    assert_eq!(parsed("Remittance CAFÉ"), vec![term(&["remittance"], false), term(&["cafe"], false)]);
}

#[test]
fn operators_and_punctuation_are_plain_text() {
    assert_eq!(parsed("NEAR AND OR NOT"), vec![term(&["near"], false), term(&["and"], false), term(&["or"], false), term(&["not"], false)]);
    assert_eq!(parsed("-paid (late) col:umn ^x"), vec![term(&["paid"], false), term(&["late"], false), term(&["col", "umn"], false), term(&["x"], false)]);
    assert_eq!(parsed("e-mail 3.14"), vec![term(&["e", "mail"], false), term(&["3", "14"], false)]);
    assert_eq!(parsed("foo * *bar"), vec![term(&["foo"], false), term(&["bar"], false)]);
    assert_eq!(parsed("re*mit"), vec![term(&["re", "mit"], false)], "a star inside a word separates");
}

#[test]
fn an_unbalanced_quote_is_dropped() {
    assert_eq!(parsed("\"paid late"), vec![term(&["paid"], false), term(&["late"], false)]);
    assert_eq!(parsed("\"a b\" \"c d"), vec![term(&["a", "b"], false), term(&["c"], false), term(&["d"], false)]);
    assert_eq!(parsed("\"remit*\""), vec![term(&["remit"], false)], "no prefix inside a phrase");
}

#[test]
fn empty_and_oversized_queries_are_refused() {
    for raw in ["", "   ", "\"", "*", "- ( ) : ^ \"\"", "🙂 🎉"] {
        assert_eq!(SearchQuery::parse(raw), Err(QueryError::Empty), "{raw:?}");
    }
    assert_eq!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS + 1)), Err(QueryError::TooLong));
    assert!(SearchQuery::parse(&"a".repeat(MAX_QUERY_CHARS)).is_ok());
    let words = vec!["w"; MAX_QUERY_WORDS + 1].join(" ");
    assert_eq!(SearchQuery::parse(&words), Err(QueryError::TooManyWords));
}

#[test]
fn engine_queries_quote_every_word() {
    let query = SearchQuery::parse("\"exact phrase\" remit* café OR").unwrap();
    assert_eq!(query.fts5(), "\"exact phrase\" AND \"remit\"* AND \"cafe\" AND \"or\"");
    assert_eq!(query.tsquery(), "('exact' <-> 'phrase') & ('remit':*) & ('cafe') & ('or')");
    let joined = SearchQuery::parse("e-mail*").unwrap();
    assert_eq!(joined.fts5(), "\"e mail\"*");
    assert_eq!(joined.tsquery(), "('e' <-> 'mail':*)");
}

#[test]
fn folding_matches_the_tables_and_lower_cases_everything_else() {
    assert_eq!(FOLD_FROM.chars().count(), FOLD_TO.chars().count());
    assert_eq!(fold("Ça Déjà Vu ŞİŁ"), "ca deja vu sił");
    assert_eq!(fold("ПРИВЕТ"), "привет");
    assert_eq!(fold("Straße"), "straße", "no ligature is expanded, as in SQLite");
}

#[test]
fn a_short_body_is_its_own_snippet_with_every_match() {
    let query = SearchQuery::parse("cafe remit*").unwrap();
    let snippet = query.snippet("Café? Remittance for the CAFÉ");
    assert_eq!(snippet.text, "Café? Remittance for the CAFÉ");
    assert_eq!(snippet.matches, vec![TextRange { start: 0, length: 4 }, TextRange { start: 6, length: 10 }, TextRange { start: 25, length: 4 }]);
}

#[test]
fn ranges_count_characters_not_bytes() {
    let query = SearchQuery::parse("paid").unwrap();
    let snippet = query.snippet("🙂🎉 é paid");
    assert_eq!(snippet.matches, vec![TextRange { start: 5, length: 4 }]);
    let chars: Vec<char> = snippet.text.chars().collect();
    assert_eq!(chars[5..9].iter().collect::<String>(), "paid");
}

#[test]
fn a_phrase_is_one_range_over_its_words() {
    let query = SearchQuery::parse("\"will be paid\"").unwrap();
    let snippet = query.snippet("It will  be paid. Will be, paid!");
    assert_eq!(snippet.matches, vec![TextRange { start: 3, length: 13 }, TextRange { start: 18, length: 13 }]);
    assert!(query.snippet("paid will be").matches.is_empty());
}

/// The characters of `text` a range covers.
fn covered(text: &str, range: TextRange) -> String {
    text.chars().skip(range.start).take(range.length).collect()
}

#[test]
fn a_long_body_is_cut_around_the_first_match() {
    let body = format!("{} remittance {}", "lorem ipsum ".repeat(40), "dolor sit ".repeat(40));
    let snippet = SearchQuery::parse("remittance").unwrap().snippet(&body);
    assert!(snippet.text.chars().count() <= SNIPPET_CHARS);
    assert!(snippet.text.starts_with('…') && snippet.text.ends_with('…'));
    assert_eq!(snippet.matches.len(), 1);
    assert_eq!(covered(&snippet.text, snippet.matches[0]), "remittance");
    assert!(snippet.matches[0].start >= 40, "context before the match: {}", snippet.text);
}

#[test]
fn matches_at_the_start_and_the_end() {
    let body = format!("Remittance {} remittance", "x ".repeat(150));
    let query = SearchQuery::parse("remittance").unwrap();
    let start = query.snippet(&body);
    assert!(!start.text.starts_with('…') && start.text.ends_with('…'));
    assert_eq!(start.matches, vec![TextRange { start: 0, length: 10 }]);
    let end_only = SearchQuery::parse("remittance").unwrap().snippet(&format!("{} remittance", "x ".repeat(150)));
    assert!(end_only.text.starts_with('…') && !end_only.text.ends_with('…'));
    assert_eq!(end_only.text.chars().count(), SNIPPET_CHARS);
    let last = *end_only.matches.last().unwrap();
    assert_eq!(covered(&end_only.text, last), "remittance");
    assert_eq!(last.start + last.length, SNIPPET_CHARS);
}

#[test]
fn hundred_character_words_and_emoji() {
    let long = "é".repeat(100);
    let body = format!("🙂 {long} 🎉 {long} tail {}", "z ".repeat(100));
    let snippet = SearchQuery::parse(&"e".repeat(100)).unwrap().snippet(&body);
    assert!(snippet.text.chars().count() <= SNIPPET_CHARS);
    assert_eq!(snippet.matches.len(), 2, "{snippet:?}");
    assert_eq!(covered(&snippet.text, snippet.matches[0]), long);
    // The second occurrence is cut at the window's edge.
    let second = snippet.matches[1];
    assert!(second.length <= 100 && second.start + second.length <= snippet.text.chars().count());
    // A single match longer than the window still gives a valid snippet.
    let huge = "a".repeat(300);
    let cut = SearchQuery::parse("a*").unwrap().snippet(&huge);
    assert_eq!(cut.text.chars().count(), SNIPPET_CHARS);
    assert_eq!(cut.matches, vec![TextRange { start: 0, length: SNIPPET_CHARS - 1 }]);
}

#[test]
fn a_body_without_a_visible_match_gives_its_beginning() {
    let snippet = SearchQuery::parse("absent").unwrap().snippet(&"word ".repeat(100));
    assert_eq!(snippet.text.chars().count(), SNIPPET_CHARS);
    assert!(snippet.matches.is_empty());
}

/// Characters users type into search boxes, operators and exotic Unicode included.
fn hostile_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec!['"', '*', '-', '(', ')', ':', '^', '\'', '\\', '&', '|', '!', '<', '>', ' ', '\t', '\n', '\0', '+', '{', '}', '.']),
        prop::char::range('a', 'z'),
        prop::char::range('À', 'ʯ'),
        any::<char>(),
    ]
}

/// Whether an engine's query text only holds quoted word-character strings and the
/// operators this module writes (so the engine cannot read user text as syntax).
fn only_quoted_words(text: &str, quote: char, allowed_outside: &[&str]) -> bool {
    let mut rest = text;
    while let Some(open) = rest.find(quote) {
        let outside = &rest[..open];
        let mut leftover = outside.to_owned();
        for op in allowed_outside {
            leftover = leftover.replace(op, "");
        }
        if !leftover.trim().is_empty() {
            return false;
        }
        let after = &rest[open + quote.len_utf8()..];
        let Some(close) = after.find(quote) else { return false };
        let inside = &after[..close];
        if inside.is_empty() || !inside.chars().all(|c| is_word_char(c) || c == ' ') {
            return false;
        }
        rest = &after[close + quote.len_utf8()..];
    }
    let mut leftover = rest.to_owned();
    for op in allowed_outside {
        leftover = leftover.replace(op, "");
    }
    leftover.trim().is_empty()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn any_input_parses_or_is_refused_and_engine_text_stays_quoted(raw in prop::collection::vec(hostile_char(), 0..60).prop_map(|c| c.into_iter().collect::<String>())) {
        match SearchQuery::parse(&raw) {
            Err(QueryError::Empty) => prop_assert!(!raw.chars().any(is_word_char)),
            Err(_) => {}
            Ok(query) => {
                prop_assert!(!query.terms().is_empty());
                for term in query.terms() {
                    prop_assert!(!term.words.is_empty());
                    for word in &term.words {
                        prop_assert!(!word.is_empty() && word.chars().all(is_word_char), "{word:?}");
                    }
                }
                prop_assert!(only_quoted_words(&query.fts5(), '"', &["AND", "*"]), "{}", query.fts5());
                let ts = query.tsquery().replace("':*", "'");
                prop_assert!(only_quoted_words(&ts, '\'', &["&", "<->", "(", ")"]), "{}", query.tsquery());
                let snippet = query.snippet(&raw);
                let length = snippet.text.chars().count();
                prop_assert!(length <= SNIPPET_CHARS.max(raw.chars().count()));
                for range in snippet.matches {
                    prop_assert!(range.length > 0 && range.start + range.length <= length);
                }
            }
        }
    }

    #[test]
    fn snippets_stay_within_the_limit_and_ranges_within_the_snippet(
        body in prop::collection::vec(prop_oneof![Just("remittance ".to_owned()), Just("Rémit".to_owned()), "[a-zé🙂 ]{0,30}"], 0..40).prop_map(|p| p.concat()),
    ) {
        let query = SearchQuery::parse("remit*").unwrap();
        let snippet = query.snippet(&body);
        let chars = snippet.text.chars().count();
        prop_assert!(chars <= SNIPPET_CHARS);
        for range in &snippet.matches {
            prop_assert!(range.length > 0 && range.start + range.length <= chars);
            let text = covered(&snippet.text, *range);
            prop_assert!(text.chars().all(is_word_char), "{:?} in {:?}", range, snippet.text);
            if !snippet.text.starts_with('…') && !snippet.text.ends_with('…') {
                prop_assert!(fold(&text).starts_with("remit"), "{:?} in {:?}", range, snippet.text);
            }
        }
        if body.chars().count() <= SNIPPET_CHARS {
            prop_assert_eq!(snippet.text, body);
        }
    }
}
