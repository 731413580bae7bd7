//! E-mail notifications (SPEC §13): nobody misses a reply because they were not looking.
//!
//! Like webhooks, they come from the durable event feed. A worker ([`worker`]) keeps one
//! cursor into the feed (moved by compare-and-set, so of several nodes one applies each
//! batch) and turns events into *unread stretches*: an Admin message opens the seller
//! side's stretch of that chat (unless one is open) and the seller reading ends it; a
//! Seller message opens the operator side's and an Admin reply ends it. A stretch still
//! open at its due time (`--notify-after-mins` after its first message) becomes one
//! e-mail per recipient, written then (up to five of the messages, plain text and HTML)
//! with a stable `Message-ID`; the sender claims due e-mails one node at a time, retries
//! with back-off while the SMTP server is down or refuses for now, and records every
//! attempt. An e-mail sent but not recorded (a crash in between) is sent again with the
//! same `Message-ID`, which mail systems take as the same e-mail.
//!
//! Each user can switch e-mails off ([`NotificationService::set_email_enabled`]) in the
//! portals or with the signed one-click link every e-mail carries (RFC 8058).
//!
//! - `preferences`: opting out (portal setting, signed one-click links) and the listing.
//! - `smtp`: the SMTP transport and how an e-mail is put on the wire.
//! - `worker`: deriving stretches, writing e-mails and sending them.

mod preferences;
mod smtp;
mod worker;

pub use preferences::NotificationService;
pub use smtp::{SmtpSecurity, SmtpTarget};
pub use worker::{place_cursor, spawn_worker, NotificationSettings};
