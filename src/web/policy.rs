//! What every page is served with: the content policy (only our own scripts, styles and
//! connections; no page may frame ours), and the one kind of page that may be framed.

/// Marks a response that may be framed (by its own `frame-ancestors`), so the security
/// headers leave out `X-Frame-Options: DENY`.
#[derive(Debug, Clone, Copy)]
pub struct Framable;

/// The content policy of every page but for who may frame it: only our own scripts,
/// styles and connections (no inline script anywhere).
macro_rules! policy_without_framing {
    () => {
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'"
    };
}

/// The content policy of every response but the embed page: no page may frame ours.
pub const CONTENT_SECURITY_POLICY: &str = concat!(policy_without_framing!(), "; frame-ancestors 'none'");

/// The content policy of a page that `frame_ancestors` (a CSP source list) may frame.
pub(super) fn policy_with_frame_ancestors(frame_ancestors: &str) -> String {
    format!("{}; frame-ancestors {frame_ancestors}", policy_without_framing!())
}

