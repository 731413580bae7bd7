//! Relay-style page arguments turned into one validated page request.

use super::cursor::CursorError;
use thiserror::Error;

/// Page size when the client gives none.
pub const DEFAULT_PAGE_SIZE: i64 = 50;
/// Largest page a client may ask for.
pub const MAX_PAGE_SIZE: i64 = 500;

/// Which way a page runs through a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// `first`/`after`: from the start of the list onwards.
    Forward,
    /// `last`/`before`: the items just before a position.
    Backward,
}

/// A validated page request over a list whose positions are `C`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PageRequest<C> {
    /// Which way to read.
    pub direction: Direction,
    /// How many items at most.
    pub limit: i64,
    /// Exclusive position to start from; `None` means the list's edge.
    pub cursor: Option<C>,
}

/// Why page arguments were refused.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum PageError {
    /// `first` or `last` outside 0..=500.
    #[error("`{argument}` must be between 0 and {MAX_PAGE_SIZE}")]
    SizeOutOfRange {
        /// `first` or `last`.
        argument: &'static str,
    },
    /// Mixed directions, such as `first` with `last`.
    #[error("use `first` with `after`, or `last` with `before`, not both directions at once")]
    MixedDirections,
    /// An undecodable cursor, or one from another list.
    #[error("`{argument}` is not a valid cursor")]
    BadCursor {
        /// `after` or `before`.
        argument: &'static str,
    },
}

/// The four Relay arguments as the client sent them.
#[derive(Debug, Clone, Default)]
pub struct PageArgs<'a> {
    /// Items from the start.
    pub first: Option<i32>,
    /// Start after this cursor.
    pub after: Option<&'a str>,
    /// Items from the end.
    pub last: Option<i32>,
    /// End before this cursor.
    pub before: Option<&'a str>,
}

impl<'a> PageArgs<'a> {
    /// Validates the arguments and decodes the cursor with `decode`.
    pub fn parse<C>(&self, decode: impl Fn(&str) -> Result<C, CursorError>) -> Result<PageRequest<C>, PageError> {
        let backward = self.last.is_some() || (self.before.is_some() && self.first.is_none());
        let (direction, size, size_name, cursor, cursor_name) = if backward {
            if self.first.is_some() || self.after.is_some() {
                return Err(PageError::MixedDirections);
            }
            (Direction::Backward, self.last, "last", self.before, "before")
        } else {
            if self.before.is_some() {
                return Err(PageError::MixedDirections);
            }
            (Direction::Forward, self.first, "first", self.after, "after")
        };
        let limit = match size {
            None => DEFAULT_PAGE_SIZE,
            Some(n) if (0..=MAX_PAGE_SIZE).contains(&i64::from(n)) => i64::from(n),
            Some(_) => return Err(PageError::SizeOutOfRange { argument: size_name }),
        };
        let cursor = cursor
            .map(|raw| decode(raw).map_err(|_| PageError::BadCursor { argument: cursor_name }))
            .transpose()?;
        Ok(PageRequest { direction, limit, cursor })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn number(raw: &str) -> Result<i64, CursorError> {
        raw.parse().map_err(|_| CursorError)
    }

    #[test]
    fn defaults_to_fifty_forward() {
        let page = PageArgs::default().parse(number).unwrap();
        assert_eq!(page, PageRequest { direction: Direction::Forward, limit: 50, cursor: None });
    }

    #[test]
    fn last_and_before_page_backward() {
        let page = PageArgs { last: Some(3), before: Some("9"), ..Default::default() }.parse(number).unwrap();
        assert_eq!(page, PageRequest { direction: Direction::Backward, limit: 3, cursor: Some(9) });
    }

    #[test]
    fn sizes_outside_the_range_are_refused() {
        for (first, last) in [(Some(501), None), (Some(-1), None), (None, Some(501)), (None, Some(-5))] {
            let result = PageArgs { first, last, ..Default::default() }.parse(number);
            assert!(matches!(result, Err(PageError::SizeOutOfRange { .. })), "{first:?} {last:?}");
        }
        assert_eq!(PageArgs { first: Some(500), ..Default::default() }.parse(number).unwrap().limit, 500);
        assert_eq!(PageArgs { first: Some(0), ..Default::default() }.parse(number).unwrap().limit, 0);
    }

    #[test]
    fn mixed_directions_are_refused() {
        let mixed = [
            PageArgs { first: Some(1), last: Some(1), ..Default::default() },
            PageArgs { first: Some(1), before: Some("1"), ..Default::default() },
            PageArgs { last: Some(1), after: Some("1"), ..Default::default() },
        ];
        for args in mixed {
            assert_eq!(args.parse(number), Err(PageError::MixedDirections));
        }
    }

    #[test]
    fn bad_cursors_name_their_argument() {
        let result = PageArgs { after: Some("x"), ..Default::default() }.parse(number);
        assert_eq!(result, Err(PageError::BadCursor { argument: "after" }));
    }
}
