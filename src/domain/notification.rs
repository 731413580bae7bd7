//! E-mail notifications' pure parts (SPEC §13): what an e-mail says (plain text and HTML,
//! every piece of message text escaped), and the signed one-click unsubscribe token.

use super::html::escape_html;
use hmac::{Hmac, Mac};
use sha2::Sha256;

/// Most messages one e-mail quotes.
pub const MAX_QUOTED_MESSAGES: usize = 5;

/// Longest quote of one message, in characters (the rest is in the portal).
const MAX_QUOTE_CHARS: usize = 1_000;

/// One quoted message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Quote {
    /// Who wrote it, as the reader knows them.
    pub from: String,
    /// When, in words (`2 Dec 2026, 09:12 UTC`).
    pub at: String,
    /// The text as stored.
    pub body: String,
}

/// Which e-mail to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmailKind {
    /// To a seller user: the marketplace's messages are unread.
    UnreadForSeller,
    /// To operator staff: a seller awaits a reply.
    AwaitingReply,
}

/// What one e-mail is about.
#[derive(Debug, Clone)]
pub struct EmailContent<'a> {
    /// Which e-mail.
    pub kind: EmailKind,
    /// The recipient's name.
    pub recipient_name: &'a str,
    /// The seller's business name (the chat).
    pub business_name: &'a str,
    /// The messages quoted, oldest first (at most [`MAX_QUOTED_MESSAGES`]).
    pub quotes: &'a [Quote],
    /// How many messages there are in all (more than quoted: "and N more").
    pub total: i64,
    /// The delay, in words ("10 minutes").
    pub delay: &'a str,
    /// Where to read and reply.
    pub link: &'a str,
    /// The one-click unsubscribe link.
    pub unsubscribe: &'a str,
}

/// A written e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderedEmail {
    /// The subject line.
    pub subject: String,
    /// The plain-text part.
    pub text: String,
    /// The HTML part.
    pub html: String,
}

/// Writes the e-mail: the same words in plain text and in HTML.
pub fn render(content: &EmailContent<'_>) -> RenderedEmail {
    let count = content.total.max(content.quotes.len() as i64);
    let plural = if count == 1 { "" } else { "s" };
    let (subject, lead, action) = match content.kind {
        EmailKind::UnreadForSeller => (
            format!("{count} unread message{plural} from the marketplace"),
            format!("You have {count} unread message{plural} from the marketplace team that arrived more than {} ago:", content.delay),
            "Read and reply",
        ),
        EmailKind::AwaitingReply => (
            format!("{} is waiting for a reply", one_line(content.business_name)),
            format!("{} has waited more than {} for a reply ({count} message{plural}):", one_line(content.business_name), content.delay),
            "Open the chat",
        ),
    };
    let more = count - content.quotes.len() as i64;
    let more_line = (more > 0).then(|| format!("… and {more} more."));

    let mut text = format!("Hello {},\n\n{lead}\n\n", one_line(content.recipient_name));
    for quote in content.quotes {
        text.push_str(&format!("{} · {}\n", one_line(&quote.from), quote.at));
        for line in shortened(&quote.body).lines() {
            text.push_str(&format!("> {line}\n"));
        }
        text.push('\n');
    }
    if let Some(line) = &more_line {
        text.push_str(&format!("{line}\n\n"));
    }
    text.push_str(&format!("{action}: {}\n\n-- \nStop these e-mails: {}\n", content.link, content.unsubscribe));

    let mut html = String::from(
        "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>",
    );
    html.push_str(&escape_html(&subject));
    html.push_str("</title></head>\n<body style=\"margin:0;padding:24px;background:#f4f5f7;font-family:-apple-system,Segoe UI,Helvetica,Arial,sans-serif;color:#1d2330\">\n");
    html.push_str("<div style=\"max-width:560px;margin:0 auto;background:#fff;border-radius:8px;padding:24px\">\n");
    html.push_str(&format!("<p>Hello {},</p>\n<p>{}</p>\n", escape_html(&one_line(content.recipient_name)), escape_html(&lead)));
    for quote in content.quotes {
        html.push_str("<div style=\"border-left:3px solid #3b6fd8;padding:4px 12px;margin:12px 0\">\n");
        html.push_str(&format!(
            "<div style=\"font-size:12px;color:#667\">{} &middot; {}</div>\n",
            escape_html(&one_line(&quote.from)),
            escape_html(&quote.at)
        ));
        html.push_str(&format!("<div style=\"white-space:pre-wrap\">{}</div>\n</div>\n", escape_html(&shortened(&quote.body)).replace('\n', "<br>")));
    }
    if let Some(line) = &more_line {
        html.push_str(&format!("<p style=\"color:#667\">{}</p>\n", escape_html(line)));
    }
    html.push_str(&format!(
        "<p><a href=\"{}\" style=\"display:inline-block;background:#3b6fd8;color:#fff;padding:10px 16px;border-radius:6px;text-decoration:none\">{action}</a></p>\n",
        escape_html(content.link)
    ));
    html.push_str(&format!(
        "<p style=\"font-size:12px;color:#667\">You get this e-mail because messages waited more than {}. <a href=\"{}\" style=\"color:#667\">Stop these e-mails</a>.</p>\n",
        escape_html(content.delay),
        escape_html(content.unsubscribe)
    ));
    html.push_str("</div>\n</body></html>\n");
    RenderedEmail { subject, text, html }
}

/// A delay in words: "10 minutes", "1 minute", "30 seconds".
pub fn delay_in_words(seconds: u64) -> String {
    match seconds {
        s if s % 60 == 0 && s / 60 == 1 => "1 minute".to_owned(),
        s if s % 60 == 0 => format!("{} minutes", s / 60),
        1 => "1 second".to_owned(),
        s => format!("{s} seconds"),
    }
}


/// A name on one line (a header or a greeting never breaks).
fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A message body cut to [`MAX_QUOTE_CHARS`] characters.
fn shortened(body: &str) -> String {
    if body.chars().count() <= MAX_QUOTE_CHARS {
        return body.to_owned();
    }
    let mut cut: String = body.chars().take(MAX_QUOTE_CHARS).collect();
    cut.push('…');
    cut
}

/// The unsubscribe token of a user: hex HMAC-SHA256 with the server's signing key over
/// `unsubscribe:USER_ID`.
pub fn unsubscribe_token(key: &[u8], user_id: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("unsubscribe:{user_id}").as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// Whether `token` is the user's unsubscribe token (compared in constant time).
pub fn verify_unsubscribe_token(key: &[u8], user_id: i64, token: &str) -> bool {
    let Ok(raw) = hex::decode(token) else { return false };
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(format!("unsubscribe:{user_id}").as_bytes());
    mac.verify_slice(&raw).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn content<'a>(quotes: &'a [Quote], total: i64) -> EmailContent<'a> {
        EmailContent {
            kind: EmailKind::UnreadForSeller,
            recipient_name: "Ann <b>",
            business_name: "Acme",
            quotes,
            total,
            delay: "10 minutes",
            link: "https://chat.test/seller/?a=1&b=2",
            unsubscribe: "https://chat.test/unsubscribe?u=1&t=ab",
        }
    }

    #[test]
    fn message_text_is_escaped_in_the_html_part_and_kept_in_the_text_part() {
        let quotes = [Quote { from: "Marketplace".into(), at: "2026-01-01T00:00:00Z".into(), body: "<script>alert(1)</script> & \"x\"".into() }];
        let email = render(&content(&quotes, 1));
        assert!(!email.html.contains("<script>"), "{}", email.html);
        assert!(email.html.contains("&lt;script&gt;alert(1)&lt;/script&gt; &amp; &quot;x&quot;"));
        assert!(email.html.contains("Hello Ann &lt;b&gt;"));
        assert!(email.html.contains("href=\"https://chat.test/seller/?a=1&amp;b=2\""));
        assert!(email.text.contains("> <script>alert(1)</script> & \"x\""));
        assert_eq!(email.subject, "1 unread message from the marketplace");
    }

    #[test]
    fn more_messages_than_quoted_are_counted() {
        let quotes: Vec<Quote> = (0..5).map(|i| Quote { from: "M".into(), at: "t".into(), body: format!("m{i}") }).collect();
        let email = render(&content(&quotes, 7));
        assert!(email.text.contains("… and 2 more."));
        assert!(email.subject.starts_with("7 unread messages"));
    }

    #[test]
    fn unsubscribe_tokens_are_per_user_and_key() {
        let token = unsubscribe_token(b"key", 7);
        assert!(verify_unsubscribe_token(b"key", 7, &token));
        assert!(!verify_unsubscribe_token(b"key", 8, &token));
        assert!(!verify_unsubscribe_token(b"other", 7, &token));
        assert!(!verify_unsubscribe_token(b"key", 7, "zz"));
        assert_eq!(delay_in_words(600), "10 minutes");
        assert_eq!(delay_in_words(2), "2 seconds");
    }
}
