//! Pure domain rules: IDs, cursors, page requests, message bodies, the sensitive-data
//! guard, who may read what, embedded sign-ins, message search queries and snippets, and how
//! data is written out. Nothing here does I/O.

mod chars;
pub mod cursor;
pub mod html;
pub mod ids;
pub mod keys;
pub mod message;
pub mod notification;
pub mod paging;
pub mod provisioning;
pub mod search;
pub mod sensitive;
pub mod sign_in;
pub mod support;
pub mod time;
pub mod users;
pub mod wire;

use thiserror::Error;

/// Which side of a chat sent a message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Side {
    /// The operator side ("Admin" in Marketplacer's API).
    Admin,
    /// The seller side.
    Seller,
}

impl Side {
    /// The wire name: `"Admin"` or `"Seller"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Side::Admin => "Admin",
            Side::Seller => "Seller",
        }
    }

    /// Parses the wire name.
    pub fn parse(raw: &str) -> Option<Self> {
        match raw {
            "Admin" => Some(Side::Admin),
            "Seller" => Some(Side::Seller),
            _ => None,
        }
    }

    /// The other side of the conversation.
    pub fn other(self) -> Self {
        match self {
            Side::Admin => Side::Seller,
            Side::Seller => Side::Admin,
        }
    }
}

/// Who is calling: the operator, or one seller account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// Any operator credential; `label` names it on messages it sends.
    Operator {
        /// The key's label or the user's display name.
        label: Option<String>,
        /// A portal user's role; `None` for an API key (issued by an administrator).
        role: Option<users::OperatorRole>,
        /// For an API key: made with `key create --operator --admin`. Always false for a
        /// portal user, whose role decides instead.
        admin_key: bool,
        /// A portal user's row number (`assignedToMe`); `None` for an API key.
        user_id: Option<i64>,
    },
    /// A credential of one seller account.
    Seller {
        /// The seller's row number.
        seller_id: ids::SellerId,
    },
}

impl Principal {
    /// Whether this principal may send and mark messages read.
    pub fn may_chat(&self) -> bool {
        match self {
            Principal::Operator { role: Some(role), .. } => role.may_chat(),
            _ => true,
        }
    }

    /// Whether this principal may change operator settings.
    pub fn may_change_settings(&self) -> bool {
        match self {
            Principal::Operator { role, .. } => role.is_none_or(|r| r.may_change_settings()),
            Principal::Seller { .. } => false,
        }
    }

    /// Whether this principal may call the provisioning API (create and rename sellers,
    /// create, list and revoke their keys): admin operator keys and Full Admin users only.
    pub fn may_provision(&self) -> bool {
        match self {
            Principal::Operator { role: Some(role), .. } => role.may_provision(),
            Principal::Operator { role: None, admin_key, .. } => *admin_key,
            Principal::Seller { .. } => false,
        }
    }

    /// The side this principal writes as.
    pub fn side(&self) -> Side {
        match self {
            Principal::Operator { .. } => Side::Admin,
            Principal::Seller { .. } => Side::Seller,
        }
    }
}

/// A `sentBy` argument the caller may not use.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("must be \"{expected}\": you can only mark messages from the other side as read")]
pub struct ReadSideError {
    /// The only accepted value for this caller.
    pub expected: &'static str,
}

/// Which messages a `chatMessageRead(sentBy:)` from `reader` may mark: only the other side's.
pub fn side_to_mark_read(reader: Side, sent_by: &str) -> Result<Side, ReadSideError> {
    let other = reader.other();
    match Side::parse(sent_by) {
        Some(side) if side == other => Ok(side),
        _ => Err(ReadSideError { expected: other.as_str() }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_side_marks_only_the_other_sides_messages() {
        assert_eq!(side_to_mark_read(Side::Seller, "Admin"), Ok(Side::Admin));
        assert_eq!(side_to_mark_read(Side::Admin, "Seller"), Ok(Side::Seller));
        assert!(side_to_mark_read(Side::Seller, "Seller").is_err());
        assert!(side_to_mark_read(Side::Admin, "Admin").is_err());
        assert!(side_to_mark_read(Side::Seller, "admin").is_err());
    }

    #[test]
    fn only_admin_keys_and_full_admins_may_provision() {
        use users::OperatorRole;
        let key = |admin_key| Principal::Operator { label: None, role: None, admin_key, user_id: None };
        let user = |role| Principal::Operator { label: None, role: Some(role), admin_key: false, user_id: Some(1) };
        assert!(key(true).may_provision());
        assert!(!key(false).may_provision());
        assert!(user(OperatorRole::FullAdmin).may_provision());
        for role in [OperatorRole::CustomerSupport, OperatorRole::Marketing, OperatorRole::Finance, OperatorRole::Webmaster, OperatorRole::Viewer] {
            assert!(!user(role).may_provision(), "{role}");
            let confused = Principal::Operator { label: None, role: Some(role), admin_key: true, user_id: Some(1) };
            assert!(!confused.may_provision(), "a user's role decides, never the key flag: {role}");
        }
        assert!(!Principal::Seller { seller_id: ids::SellerId::from(1) }.may_provision());
    }
}
