//! Message search: what a user types into `messageSearch(query:)` parsed into a
//! [`SearchQuery`] (words, "exact phrases", `prefix*`), written out as a query each
//! full-text engine runs safely (SQLite FTS5 `MATCH`, PostgreSQL `to_tsquery`), and the
//! [`Snippet`] of a hit with the ranges a client highlights.
//!
//! Both engines and this module cut text into the same words and fold them the same way:
//! a word is a run of letters, digits and private-use characters (Unicode categories L*,
//! N*, Co: SQLite's `unicode61` tokenizer), folded to lower case with the Latin
//! diacritics that `unicode61 remove_diacritics 2` removes taken off ([`FOLD_FROM`] →
//! [`FOLD_TO`]; PostgreSQL's index expression in migrations/postgres 0011 does the same
//! by decomposing, and `tests/suite/parity.rs` checks each letter on both). Nothing the user types reaches an engine as syntax: every
//! word goes out quoted, made only of word characters, so operators (`AND`, `OR`, `NOT`,
//! `NEAR`, `-`, `(`, `)`, `:`, `^`) are plain words or separators.

use std::collections::HashMap;
use std::sync::OnceLock;
use thiserror::Error;
use unicode_properties::{GeneralCategory, GeneralCategoryGroup, UnicodeGeneralCategory};

/// Hits per page when the client gives no `first`.
pub const DEFAULT_SEARCH_PAGE: i64 = 20;
/// Most hits one page may ask for.
pub const MAX_SEARCH_PAGE: i64 = 100;
/// Longest query, in characters.
pub const MAX_QUERY_CHARS: usize = 500;
/// Most words one query may hold (over all its terms).
pub const MAX_QUERY_WORDS: usize = 32;
/// Longest snippet, in characters (Unicode scalar values), ellipses included.
pub const SNIPPET_CHARS: usize = 200;

/// Characters the search folds to a plain Latin letter (after lower-casing); the letter
/// at the same position of [`FOLD_TO`] replaces each. Taken from what SQLite's
/// `unicode61 remove_diacritics 2` does, so all three (SQLite, PostgreSQL, this module)
/// agree.
pub const FOLD_FROM: &str = "ÀÁÂÃÄÅÇÈÉÊËÌÍÎÏÑÒÓÔÕÖÙÚÛÜÝàáâãäåçèéêëìíîïñòóôõöùúûüýÿĀāĂăĄąĆćĈĉĊċČčĎďĒēĔĕĖėĘęĚěĜĝĞğĠġĢģĤĥĨĩĪīĬĭĮįĴĵĶķĹĺĻļĽľŃńŅņŇňŌōŎŏŐőŔŕŖŗŘřŚśŜŝŞşŠšŢţŤťŨũŪūŬŭŮůŰűŲųŴŵŶŷŸŹźŻżŽžſƠơƯưǍǎǏǐǑǒǓǔǕǖǗǘǙǚǛǜǞǟǦǧǨǩǪǫǬǭǰǴǵǸǹǺǻȀȁȂȃȄȅȆȇȈȉȊȋȌȍȎȏȐȑȒȓȔȕȖȗȘșȚțȞȟȦȧȨȩȪȫȬȭȮȯȰȱȲȳḀḁḂḃḄḅḆḇḈḉḊḋḌḍḎḏḐḑḒḓḔḕḖḗḘḙḚḛḜḝḞḟḠḡḢḣḤḥḦḧḨḩḪḫḬḭḮḯḰḱḲḳḴḵḶḷḸḹḺḻḼḽḾḿṀṁṂṃṄṅṆṇṈṉṊṋṌṍṎṏṐṑṒṓṔṕṖṗṘṙṚṛṜṝṞṟṠṡṢṣṤṥṦṧṨṩṪṫṬṭṮṯṰṱṲṳṴṵṶṷṸṹṺṻṼṽṾṿẀẁẂẃẄẅẆẇẈẉẊẋẌẍẎẏẐẑẒẓẔẕẖẗẘẙẛẠạẢảẤấẦầẨẩẪẫẬậẮắẰằẲẳẴẵẶặẸẹẺẻẼẽẾếỀềỂểỄễỆệỈỉỊịỌọỎỏỐốỒồỔổỖỗỘộỚớỜờỞởỠỡỢợỤụỦủỨứỪừỬửỮữỰựỲỳỴỵỶỷỸỹİ";
/// The plain letters of [`FOLD_FROM`], position by position.
pub const FOLD_TO: &str = "aaaaaaceeeeiiiinooooouuuuyaaaaaaceeeeiiiinooooouuuuyyaaaaaaccccccccddeeeeeeeeeegggggggghhiiiiiiiijjkkllllllnnnnnnoooooorrrrrrssssssssttttuuuuuuuuuuuuwwyyyzzzzzzsoouuaaiioouuuuuuuuuuaaggkkoooojggnnaaaaaaeeeeiiiioooorrrruuuusstthhaaeeooooooooyyaabbbbbbccddddddddddeeeeeeeeeeffgghhhhhhhhhhiiiikkkkkkllllllllmmmmmmnnnnnnnnoooooooopppprrrrrrrrssssssssssttttttttuuuuuuuuuuvvvvwwwwwwwwwwxxxxyyzzzzzzhtwysaaaaaaaaaaaaaaaaaaaaaaaaeeeeeeeeeeeeeeeeiiiioooooooooooooooooooooooouuuuuuuuuuuuuuyyyyyyyyi";

/// Why a search query was refused (a `query` argument error).
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum QueryError {
    /// Nothing to search for: blank, or only punctuation and operators.
    #[error("must contain at least one word (letters or digits)")]
    Empty,
    /// Over [`MAX_QUERY_CHARS`].
    #[error("must be at most {MAX_QUERY_CHARS} characters")]
    TooLong,
    /// Over [`MAX_QUERY_WORDS`].
    #[error("must contain at most {MAX_QUERY_WORDS} words")]
    TooManyWords,
}

/// One thing a hit must contain: consecutive folded words (one word, or an "exact
/// phrase"), the last of which may be a prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Term {
    /// The folded words, in order; never empty, each made of word characters only.
    pub words: Vec<String>,
    /// Whether the last word matches any word it begins (`remit*`).
    pub prefix: bool,
}

/// A parsed search: every term must occur (AND, in any order).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchQuery {
    terms: Vec<Term>,
}

/// A word of a text: where it is (in characters) and its folded form.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Word {
    start: usize,
    len: usize,
    folded: String,
}

/// A range of characters (Unicode scalar values) within a snippet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRange {
    /// Offset of the first character.
    pub start: usize,
    /// How many characters.
    pub length: usize,
}

/// Plain text of at most [`SNIPPET_CHARS`] characters around a hit's first match, and
/// where every match within it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Snippet {
    /// The text: the message body, or a window of it with "…" where it was cut.
    pub text: String,
    /// Each term occurrence inside `text`, in order.
    pub matches: Vec<TextRange>,
}

/// Whether `c` belongs to a word (letters, digits, private use: `unicode61`'s default).
pub fn is_word_char(c: char) -> bool {
    matches!(c.general_category_group(), GeneralCategoryGroup::Letter | GeneralCategoryGroup::Number)
        || c.general_category() == GeneralCategory::PrivateUse
}

/// The fold table as a map.
fn fold_table() -> &'static HashMap<char, char> {
    static TABLE: OnceLock<HashMap<char, char>> = OnceLock::new();
    TABLE.get_or_init(|| FOLD_FROM.chars().zip(FOLD_TO.chars()).collect())
}

/// Appends the folded form of one word character to `out`.
fn fold_into(c: char, out: &mut String) {
    if let Some(&plain) = fold_table().get(&c) {
        out.push(plain);
        return;
    }
    for lower in c.to_lowercase() {
        out.push(fold_table().get(&lower).copied().unwrap_or(lower));
    }
}

/// Folds a word as the engines do: lower case, Latin diacritics removed.
pub fn fold(word: &str) -> String {
    let mut out = String::with_capacity(word.len());
    word.chars().for_each(|c| fold_into(c, &mut out));
    out
}

/// The words of `chars`, with their positions.
fn words_of(chars: &[char]) -> Vec<Word> {
    let mut words = Vec::new();
    let mut start = None;
    for (i, &c) in chars.iter().chain(std::iter::once(&' ')).enumerate() {
        match (start, is_word_char(c) && i < chars.len()) {
            (None, true) => start = Some(i),
            (Some(s), false) => {
                let mut folded = String::new();
                chars[s..i].iter().for_each(|&c| fold_into(c, &mut folded));
                words.push(Word { start: s, len: i - s, folded });
                start = None;
            }
            _ => {}
        }
    }
    words
}

impl SearchQuery {
    /// Parses what a user typed: words (all must occur, in any order), `"exact phrase"`,
    /// `prefix*`. Anything else is plain text: an unbalanced `"` is dropped, a lone `*`,
    /// `-`, `(`, `)`, `:` or `^` separates words, `AND`/`OR`/`NOT`/`NEAR` are words, and a
    /// word joined by punctuation (`e-mail`, `3.14`) is a phrase of its parts.
    pub fn parse(raw: &str) -> Result<Self, QueryError> {
        if raw.chars().count() > MAX_QUERY_CHARS {
            return Err(QueryError::TooLong);
        }
        let quotes = raw.matches('"').count();
        // With an odd number of quotes the last one opens nothing: it is dropped.
        let last_quote = if quotes % 2 == 1 { raw.rfind('"') } else { None };
        let mut terms = Vec::new();
        let mut in_phrase = false;
        let mut chunk = String::new();
        for (at, c) in raw.char_indices() {
            if c == '"' {
                if Some(at) != last_quote {
                    push_chunk(&mut terms, &chunk, in_phrase);
                    chunk.clear();
                    in_phrase = !in_phrase;
                }
            } else if c.is_whitespace() && !in_phrase {
                push_chunk(&mut terms, &chunk, false);
                chunk.clear();
            } else {
                chunk.push(c);
            }
        }
        push_chunk(&mut terms, &chunk, in_phrase);
        if terms.is_empty() {
            return Err(QueryError::Empty);
        }
        if terms.iter().map(|t: &Term| t.words.len()).sum::<usize>() > MAX_QUERY_WORDS {
            return Err(QueryError::TooManyWords);
        }
        Ok(Self { terms })
    }

    /// The terms, in the order typed.
    pub fn terms(&self) -> &[Term] {
        &self.terms
    }

    /// The query as an FTS5 `MATCH` expression: each term a quoted phrase (`*` after a
    /// prefix), joined by `AND`. Quoted strings hold word characters and spaces only.
    pub fn fts5(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|term| format!("\"{}\"{}", term.words.join(" "), if term.prefix { "*" } else { "" }))
            .collect();
        terms.join(" AND ")
    }

    /// The query as PostgreSQL `to_tsquery('simple', …)` text: each word a quoted lexeme,
    /// a phrase's words joined by `<->`, a prefix marked `:*`, terms joined by `&`.
    /// Lexemes hold word characters only.
    pub fn tsquery(&self) -> String {
        let terms: Vec<String> = self
            .terms
            .iter()
            .map(|term| {
                let last = term.words.len() - 1;
                let words: Vec<String> = term
                    .words
                    .iter()
                    .enumerate()
                    .map(|(i, w)| format!("'{w}'{}", if term.prefix && i == last { ":*" } else { "" }))
                    .collect();
                format!("({})", words.join(" <-> "))
            })
            .collect();
        terms.join(" & ")
    }

    /// Where the terms occur in `chars`, as character ranges, in order of position.
    fn occurrences(&self, words: &[Word]) -> Vec<TextRange> {
        let mut found = Vec::new();
        for term in &self.terms {
            let n = term.words.len();
            for at in 0..words.len().saturating_sub(n - 1) {
                let window = &words[at..at + n];
                let matches = window.iter().zip(&term.words).enumerate().all(|(i, (word, wanted))| {
                    if term.prefix && i == n - 1 {
                        word.folded.starts_with(wanted.as_str())
                    } else {
                        word.folded == *wanted
                    }
                });
                if matches {
                    let (first, last) = (&window[0], &window[n - 1]);
                    found.push(TextRange { start: first.start, length: last.start + last.len - first.start });
                }
            }
        }
        found.sort_by_key(|r| (r.start, std::cmp::Reverse(r.length)));
        found.dedup();
        found
    }

    /// The snippet of `body` for a hit: the whole body when it fits in
    /// [`SNIPPET_CHARS`], else a window starting shortly before the first match (with
    /// "…" where the body was cut), and every match inside it (cut at the window's
    /// edge). A body in which no term is found (the engine and this module disagree on
    /// some exotic character) gives its beginning and no matches.
    pub fn snippet(&self, body: &str) -> Snippet {
        let chars: Vec<char> = body.chars().collect();
        let occurrences = self.occurrences(&words_of(&chars));
        if chars.len() <= SNIPPET_CHARS {
            return Snippet { text: body.to_owned(), matches: occurrences };
        }
        let first = occurrences.first().map_or(0, |r| r.start);
        let mut start = first - context_before(&chars, first);
        // Room for the text: the window minus the ellipses where the body is cut.
        let mut end = start + SNIPPET_CHARS - usize::from(start > 0) - 1;
        if end >= chars.len() {
            // The window reaches the end (so it was cut at the start): use all the room
            // before the end instead, which starts no later than before.
            start = chars.len() - (SNIPPET_CHARS - 1);
            end = chars.len();
        }
        let (open, close) = (start > 0, end < chars.len());
        let mut text = String::new();
        if open {
            text.push('…');
        }
        text.extend(&chars[start..end]);
        if close {
            text.push('…');
        }
        let shift = usize::from(open);
        let matches = occurrences
            .into_iter()
            .filter(|r| r.start < end && r.start + r.length > start)
            .map(|r| {
                let from = r.start.max(start);
                let to = (r.start + r.length).min(end);
                TextRange { start: from - start + shift, length: to - from }
            })
            .collect();
        Snippet { text, matches }
    }
}

/// How many characters to show before a match at `at`: up to about 60, started at a
/// word's beginning when one is near.
fn context_before(chars: &[char], at: usize) -> usize {
    const BEFORE: usize = 60;
    if at <= BEFORE {
        return at;
    }
    let from = at - BEFORE;
    // Move the start forward to just after a space, if one is within the first 20.
    let space = chars[from..from + 20].iter().position(|c| c.is_whitespace());
    BEFORE - space.map_or(0, |p| p + 1)
}

/// Adds the terms of one chunk of the query: a phrase's words as one term; outside
/// quotes, a whitespace-separated chunk's words as one term (a phrase when punctuation
/// joins several), a prefix when it ends in `*` right after a word character.
fn push_chunk(terms: &mut Vec<Term>, chunk: &str, phrase: bool) {
    let chars: Vec<char> = chunk.chars().collect();
    let words: Vec<String> = words_of(&chars).into_iter().map(|w| w.folded).filter(|w| !w.is_empty()).collect();
    if words.is_empty() {
        return;
    }
    let prefix = !phrase && chars.len() >= 2 && chars[chars.len() - 1] == '*' && is_word_char(chars[chars.len() - 2]);
    terms.push(Term { words, prefix });
}

#[cfg(test)]
mod tests;
