//! Who may call what: the principal a request carries, checked by each resolver before
//! it reads or writes anything.

use super::error::{ApiError, Result};
use crate::domain::ids::SellerId;
use crate::domain::Principal;
use async_graphql::Context;

/// The calling seller's row number (the HTTP layer only admits seller principals on the
/// Seller API).
pub fn calling_seller(ctx: &Context<'_>) -> Result<SellerId> {
    match ctx.data_opt::<Principal>() {
        Some(Principal::Seller { seller_id }) => Ok(*seller_id),
        _ => Err(ApiError::unauthenticated()),
    }
}

/// Refuses anything but an operator credential.
pub fn ensure_operator(ctx: &Context<'_>) -> Result<()> {
    match ctx.data_opt::<Principal>() {
        Some(Principal::Operator { .. }) => Ok(()),
        _ => Err(ApiError::unauthenticated()),
    }
}

/// Refuses anything but an operator credential that may change settings (Full Admins and
/// operator API keys).
pub fn ensure_settings_permission(ctx: &Context<'_>) -> Result<()> {
    ensure_operator(ctx)?;
    if ctx.data_unchecked::<Principal>().may_change_settings() {
        Ok(())
    } else {
        Err(ApiError::forbidden("only a Full Admin may change settings"))
    }
}

/// Refuses anything but an admin credential: an operator API key made with
/// `key create --operator --admin`, or a Full Admin user (`Principal::may_provision`).
/// Other operator credentials get `FORBIDDEN`; a seller credential never reaches the
/// Operator API (and is refused as unauthenticated if it did).
pub fn ensure_admin(ctx: &Context<'_>) -> Result<()> {
    ensure_operator(ctx)?;
    if ctx.data_unchecked::<Principal>().may_provision() {
        Ok(())
    } else {
        Err(ApiError::forbidden("only an admin API key (key create --operator --admin) or a Full Admin may provision sellers and keys"))
    }
}

/// Refuses a principal whose role may not send or mark read; `action` says which.
pub fn ensure_may_chat<'a>(ctx: &Context<'a>, action: &str) -> Result<&'a Principal> {
    let principal = ctx.data_unchecked::<Principal>();
    if !principal.may_chat() {
        return Err(ApiError::forbidden(&format!("your role may not {action}")));
    }
    Ok(principal)
}
