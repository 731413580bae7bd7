-- Full-text search over message bodies (`messageSearch`, SPEC §12).
--
-- A stored generated column `messages.search_vector` (the words of `body`) with a GIN
-- index, so the write path (the insert statement of src/store/postgres/writes.rs)
-- changes nothing: PostgreSQL computes the column and keeps the index in step with every
-- INSERT and DELETE (retention) in the same transaction. The column is stored rather
-- than an index on the expression so that checking a row (the newest-first window of
-- a search, the recheck of a phrase) reads the words instead of computing them again.
-- Adding it rewrites `messages` once (about 25 s per million messages on 2 cores).
--
-- `marketchat_search_vector` makes the same words as SQLite's FTS5 index
-- (migrations/sqlite 0014, tokenizer `unicode61 remove_diacritics 2`) and as
-- src/domain/search.rs (which folds queries and highlights):
--   1. lower case, then the diacritics of Latin letters removed: decomposed (NFD), the
--      combining marks U+0300–U+036F that follow a letter a–z dropped, composed again
--      (NFC), and the two letters SQLite also folds without a decomposition (ſ, ẛ → s).
--      Other scripts keep their marks (й stays й), as in SQLite; `tests/suite/parity.rs`
--      checks every letter of the fold table on both back ends;
--   2. every run of characters that are not letters or digits replaced by one space, so
--      the text search parser sees plain words only (it would otherwise also index
--      `e-mail` as one hyphenated word, `3.14` as a number, `a@b.com` as an e-mail);
--   3. `to_tsvector` with the 'simple' configuration: no stemming and no stop words, so
--      a phrase and a prefix match the same words as on SQLite.
-- No extension is needed (`unaccent` would also expand ligatures such as ß → ss and fold
-- ø, ł, ё …, which SQLite does not). It needs a UTF8 database (`normalize`), as the
-- rest of marketchat does.
--
-- Reads: `messageSearch` runs `search_vector @@ to_tsquery('simple', …)` with the query
-- written by src/domain/search.rs (quoted lexemes only), newest first by id: first over
-- the newest few thousand messages (`messages_pkey`), and when those hold too few hits,
-- over the older ones through a Bitmap Index Scan on `messages_search` (see
-- src/store/search.rs).
CREATE FUNCTION marketchat_search_vector(body TEXT) RETURNS tsvector
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
AS $$
    SELECT to_tsvector('simple'::regconfig, regexp_replace(
        translate(
            normalize(regexp_replace(normalize(lower(body), NFD), '([a-z])[\u0300-\u036f]+', '\1', 'g'), NFC),
            'ſẛ', 'ss'),
        '[^[:alnum:]]+', ' ', 'g'))
$$;

ALTER TABLE messages ADD COLUMN search_vector tsvector GENERATED ALWAYS AS (marketchat_search_vector(body)) STORED;

CREATE INDEX messages_search ON messages USING GIN (search_vector);
