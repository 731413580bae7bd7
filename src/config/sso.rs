//! The single sign-on flags (`--oidc-*`, `--password-login`) and the settings they make.

use super::embedding::PublicUrl;
use crate::service::sso::SsoSettings;
use clap::Args;
use std::net::IpAddr;
use url::Url;

/// Where the identity provider sends people back, under the public URL.
pub const CALLBACK_PATH: &str = "/operator/sso/callback";

/// Operator single sign-on with OpenID Connect (SPEC §11).
#[derive(Clone, Args)]
pub struct SsoFlags {
    /// Issuer URL of the OpenID Connect provider operator staff sign in with (turns on
    /// "Sign in with …" on /operator/); HTTPS, or HTTP on a loopback address.
    #[arg(long = "oidc-issuer", env = "MARKETCHAT_OIDC_ISSUER")]
    pub issuer: Option<String>,
    /// The client ID marketchat is registered with at the provider.
    #[arg(long = "oidc-client-id", env = "MARKETCHAT_OIDC_CLIENT_ID")]
    pub client_id: Option<String>,
    /// The client secret marketchat is registered with at the provider.
    #[arg(long = "oidc-client-secret", env = "MARKETCHAT_OIDC_CLIENT_SECRET", hide_env_values = true)]
    pub client_secret: Option<String>,
    /// The ID token claim naming the user's role (a §8 role name such as `full-admin`, or
    /// a list of them; a dotted path reaches nested claims); missing or unknown: viewer.
    #[arg(long = "oidc-role-claim", env = "MARKETCHAT_OIDC_ROLE_CLAIM", default_value = "marketchat_role")]
    pub role_claim: String,
    /// Scopes asked for besides `openid`, comma-separated.
    #[arg(long = "oidc-scopes", env = "MARKETCHAT_OIDC_SCOPES", default_value = "email,profile", value_delimiter = ',')]
    pub scopes: Vec<String>,
    /// The provider's name on the button ("Sign in with NAME"); default: the issuer's host.
    #[arg(long = "oidc-name", env = "MARKETCHAT_OIDC_NAME")]
    pub name: Option<String>,
    /// Whether operator users may log in with e-mail and password (seller users always
    /// may); `false` needs single sign-on.
    #[arg(long = "password-login", env = "MARKETCHAT_PASSWORD_LOGIN", default_value_t = true, action = clap::ArgAction::Set)]
    pub password_login: bool,
}

impl Default for SsoFlags {
    fn default() -> Self {
        Self {
            issuer: None,
            client_id: None,
            client_secret: None,
            role_claim: "marketchat_role".to_owned(),
            scopes: vec!["email".to_owned(), "profile".to_owned()],
            name: None,
            password_login: true,
        }
    }
}

impl std::fmt::Debug for SsoFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoFlags")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &self.client_secret.as_ref().map(|_| "***"))
            .field("role_claim", &self.role_claim)
            .field("scopes", &self.scopes)
            .field("name", &self.name)
            .field("password_login", &self.password_login)
            .finish()
    }
}

impl SsoFlags {
    /// The sign-on settings, `None` when single sign-on is off; an error says which flag
    /// is missing or wrong. `public_url` is where people reach this server.
    pub fn settings(&self, public_url: Option<&PublicUrl>) -> Result<Option<SsoSettings>, String> {
        let Some(issuer) = self.issuer.as_deref().map(str::trim).filter(|issuer| !issuer.is_empty()) else {
            if self.client_id.is_some() || self.client_secret.is_some() {
                return Err("--oidc-client-id and --oidc-client-secret need --oidc-issuer".to_owned());
            }
            if !self.password_login {
                return Err("--password-login false needs single sign-on (--oidc-issuer, --oidc-client-id, --oidc-client-secret): nobody could sign in to /operator/".to_owned());
            }
            return Ok(None);
        };
        let parsed = Url::parse(issuer).map_err(|error| format!("--oidc-issuer {issuer:?}: {error}"))?;
        let host = parsed.host_str().unwrap_or_default().to_owned();
        let loopback = host == "localhost" || host.trim_matches(['[', ']']).parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if parsed.scheme() != "https" && !(parsed.scheme() == "http" && loopback) {
            return Err(format!("--oidc-issuer {issuer:?} must be an https:// URL (http:// only on a loopback address, for tests)"));
        }
        let client_id = self.client_id.clone().filter(|id| !id.is_empty()).ok_or("--oidc-issuer needs --oidc-client-id")?;
        let client_secret = self.client_secret.clone().filter(|secret| !secret.is_empty()).ok_or("--oidc-issuer needs --oidc-client-secret")?;
        let public_url = public_url.ok_or_else(|| {
            format!("--oidc-issuer needs --public-url (the address people reach marketchat at): the provider sends them back to <public url>{CALLBACK_PATH}")
        })?;
        if self.role_claim.trim().is_empty() {
            return Err("--oidc-role-claim must name a claim".to_owned());
        }
        let scopes = self.scopes.iter().map(|scope| scope.trim().to_owned()).filter(|scope| !scope.is_empty() && scope != "openid").collect();
        let display_name = self.name.clone().map(|name| name.trim().to_owned()).filter(|name| !name.is_empty()).unwrap_or(host);
        Ok(Some(SsoSettings {
            issuer: issuer.to_owned(),
            client_id,
            client_secret,
            redirect_url: format!("{}{CALLBACK_PATH}", public_url.as_str()),
            role_claim: self.role_claim.trim().to_owned(),
            scopes,
            display_name,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flags(issuer: &str) -> SsoFlags {
        SsoFlags {
            issuer: Some(issuer.to_owned()),
            client_id: Some("marketchat".to_owned()),
            client_secret: Some("secret".to_owned()),
            ..SsoFlags::default()
        }
    }

    #[test]
    fn sign_on_is_off_without_an_issuer_and_password_login_cannot_be_off_then() {
        assert!(SsoFlags::default().settings(None).unwrap().is_none());
        let off = SsoFlags { password_login: false, ..SsoFlags::default() };
        assert!(off.settings(None).unwrap_err().contains("--password-login false needs single sign-on"));
        let stray = SsoFlags { client_id: Some("x".to_owned()), ..SsoFlags::default() };
        assert!(stray.settings(None).unwrap_err().contains("need --oidc-issuer"));
    }

    #[test]
    fn the_redirect_uri_is_under_the_public_url_and_the_button_names_the_host() {
        let public: PublicUrl = "https://chat.example.com/".parse().unwrap();
        let settings = flags("https://login.example.com/realms/staff").settings(Some(&public)).unwrap().unwrap();
        assert_eq!(settings.redirect_url, "https://chat.example.com/operator/sso/callback");
        assert_eq!(settings.display_name, "login.example.com");
        assert_eq!(settings.scopes, ["email", "profile"]);
        assert!(!format!("{settings:?}").contains("secret\""), "the secret stays out of logs: {settings:?}");
        let named = SsoFlags { name: Some("Okta".to_owned()), ..flags("https://x.okta.com") };
        assert_eq!(named.settings(Some(&public)).unwrap().unwrap().display_name, "Okta");
    }

    #[test]
    fn an_issuer_must_be_https_unless_on_loopback_and_needs_its_client_and_public_url() {
        let public: PublicUrl = "http://127.0.0.1:8080".parse().unwrap();
        assert!(flags("http://idp.example.com").settings(Some(&public)).unwrap_err().contains("https://"));
        assert!(flags("http://localhost:9000").settings(Some(&public)).unwrap().is_some());
        assert!(flags("http://127.0.0.1:9000").settings(Some(&public)).unwrap().is_some());
        assert!(flags("http://[::1]:9000").settings(Some(&public)).unwrap().is_some());
        assert!(flags("not a url").settings(Some(&public)).is_err());
        assert!(flags("https://idp.example.com").settings(None).unwrap_err().contains("--public-url"));
        let no_secret = SsoFlags { client_secret: None, ..flags("https://idp.example.com") };
        assert!(no_secret.settings(Some(&public)).unwrap_err().contains("--oidc-client-secret"));
    }
}
