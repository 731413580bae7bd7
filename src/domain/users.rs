//! Portal users: operator roles and what each may do.

use std::fmt;
use std::str::FromStr;

/// An operator portal user's role.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OperatorRole {
    /// Answers sellers.
    CustomerSupport,
    /// Marketing staff.
    Marketing,
    /// Finance staff.
    Finance,
    /// Runs the site.
    Webmaster,
    /// Everything, including settings.
    FullAdmin,
    /// Reads, never writes.
    Viewer,
}

impl OperatorRole {
    const ALL: [OperatorRole; 6] = [
        OperatorRole::CustomerSupport,
        OperatorRole::Marketing,
        OperatorRole::Finance,
        OperatorRole::Webmaster,
        OperatorRole::FullAdmin,
        OperatorRole::Viewer,
    ];

    /// Every role, the one with the most rights first: Full Admin, then the roles that may
    /// chat (in §8's order), then Viewer. Picks one role out of several (an identity
    /// provider's role list).
    pub const MOST_RIGHTS_FIRST: [OperatorRole; 6] = [
        OperatorRole::FullAdmin,
        OperatorRole::CustomerSupport,
        OperatorRole::Marketing,
        OperatorRole::Finance,
        OperatorRole::Webmaster,
        OperatorRole::Viewer,
    ];

    /// The CLI and storage name, e.g. `customer-support`.
    pub fn as_str(self) -> &'static str {
        match self {
            OperatorRole::CustomerSupport => "customer-support",
            OperatorRole::Marketing => "marketing",
            OperatorRole::Finance => "finance",
            OperatorRole::Webmaster => "webmaster",
            OperatorRole::FullAdmin => "full-admin",
            OperatorRole::Viewer => "viewer",
        }
    }

    /// Whether this role may send messages and mark them read.
    pub fn may_chat(self) -> bool {
        self != OperatorRole::Viewer
    }

    /// Whether this role may change settings (Full Admin only).
    pub fn may_change_settings(self) -> bool {
        self == OperatorRole::FullAdmin
    }

    /// Whether this role may provision sellers and their keys (Full Admin only).
    pub fn may_provision(self) -> bool {
        self == OperatorRole::FullAdmin
    }
}

impl FromStr for OperatorRole {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.as_str() == raw.trim())
            .ok_or_else(|| format!("unknown role {raw:?} (one of: {})", Self::ALL.map(OperatorRole::as_str).join(", ")))
    }
}

impl fmt::Display for OperatorRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_full_admins_change_settings_and_viewers_never_chat() {
        for role in OperatorRole::ALL {
            assert_eq!(role.as_str().parse::<OperatorRole>(), Ok(role));
            assert_eq!(role.may_chat(), role != OperatorRole::Viewer);
            assert_eq!(role.may_change_settings(), role == OperatorRole::FullAdmin);
            assert_eq!(role.may_provision(), role == OperatorRole::FullAdmin);
        }
        assert!("admin".parse::<OperatorRole>().is_err());
    }
}
