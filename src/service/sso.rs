//! Operator single sign-on with OpenID Connect (SPEC §11): the authorization code flow
//! with PKCE (S256), a nonce and a state, against the marketplace's identity provider.
//!
//! - [`SsoService::start`] discovers the provider (cached; a provider that is down does
//!   not stop the server, it makes sign-in say so), stores the state's hash, the nonce and
//!   the PKCE verifier in the database with an expiry, and returns the provider's URL and a
//!   token for a cookie that binds the sign-in to this browser.
//! - [`SsoService::finish`] takes that row (`DELETE … RETURNING`: single use, on any
//!   node), exchanges the code with the verifier, and accepts the ID token only when its
//!   signature (an asymmetric algorithm, a key of the provider's JWKS), issuer, audience,
//!   nonce and expiry all hold. The person then signs in through
//!   [`Accounts::sign_in_with_identity`], which owns the user rules.

use super::accounts::{AccountError, Accounts, VerifiedIdentity};
use super::clock::Clock;
use super::webhooks::tls;
use crate::domain::keys::{generate_secret, hash_key};
use crate::domain::users::OperatorRole;
use crate::store::{IdpIdentity, PendingSignIn, Store, StoreError, UserRecord};
use openidconnect::core::{CoreAuthenticationFlow, CoreClient, CoreIdToken, CoreIdTokenClaims, CoreJwsSigningAlgorithm, CoreProviderMetadata};
use openidconnect::{
    AccessTokenHash, AuthorizationCode, ClaimsVerificationError, ClientId, ClientSecret, CsrfToken, IssuerUrl, Nonce, OAuth2TokenResponse,
    PkceCodeChallenge, PkceCodeVerifier, RedirectUrl, RequestTokenError, Scope, SignatureVerificationError, TokenResponse,
};
use serde_json::Value;
use std::sync::Arc;
use std::time::{Duration, Instant};
use thiserror::Error;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;
use tracing::instrument;

/// How long a sign-in may take at the provider before its callback is refused.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(10 * 60);
/// How long discovered provider metadata (endpoints and signing keys) is used before it
/// is fetched again.
const METADATA_TTL: Duration = Duration::from_secs(15 * 60);
/// After a failed discovery, how long sign-ins are told "unavailable" before trying again.
const RETRY_AFTER_FAILURE: Duration = Duration::from_secs(5);
/// Longest any request to the provider may take.
const PROVIDER_TIMEOUT: Duration = Duration::from_secs(10);
/// ID token signature algorithms accepted: asymmetric ones only (never `none`, never an
/// HMAC keyed with the client secret).
const ALLOWED_ALGORITHMS: [CoreJwsSigningAlgorithm; 9] = [
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha384,
    CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha512,
    CoreJwsSigningAlgorithm::RsaSsaPssSha256,
    CoreJwsSigningAlgorithm::RsaSsaPssSha384,
    CoreJwsSigningAlgorithm::RsaSsaPssSha512,
    CoreJwsSigningAlgorithm::EcdsaP256Sha256,
    CoreJwsSigningAlgorithm::EcdsaP384Sha384,
    CoreJwsSigningAlgorithm::EdDsa,
];

/// The identity provider and this server's registration there.
#[derive(Clone)]
pub struct SsoSettings {
    /// The issuer URL (`--oidc-issuer`), exactly as the provider's `iss`.
    pub issuer: String,
    /// The client ID (`--oidc-client-id`).
    pub client_id: String,
    /// The client secret (`--oidc-client-secret`).
    pub client_secret: String,
    /// Where the provider sends the browser back: `<public URL>/operator/sso/callback`.
    pub redirect_url: String,
    /// The ID token claim naming the role (`--oidc-role-claim`; dots step into objects).
    pub role_claim: String,
    /// Scopes asked for besides `openid`.
    pub scopes: Vec<String>,
    /// What the sign-in button calls the provider ("Sign in with …").
    pub display_name: String,
}

impl std::fmt::Debug for SsoSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SsoSettings")
            .field("issuer", &self.issuer)
            .field("client_id", &self.client_id)
            .field("client_secret", &"***")
            .field("redirect_url", &self.redirect_url)
            .field("role_claim", &self.role_claim)
            .field("scopes", &self.scopes)
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// What went wrong with a sign-in, as a person is told (see [`SignInProblem::message`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SignInProblem {
    /// The provider could not be reached or answered nonsense.
    Unavailable,
    /// The person cancelled, or the provider refused them (`access_denied`).
    Denied,
    /// The provider reported another error.
    ProviderError,
    /// The sign-in is unknown, was used already, or took too long.
    Expired,
    /// The sign-in was started in another browser.
    OtherBrowser,
    /// The provider's answer failed validation.
    Invalid,
    /// The e-mail address belongs to a user who cannot be linked automatically.
    AccountExists,
    /// The user is disabled.
    Disabled,
    /// Something failed on our side.
    Internal,
}

impl SignInProblem {
    const ALL: [SignInProblem; 9] = [
        SignInProblem::Unavailable,
        SignInProblem::Denied,
        SignInProblem::ProviderError,
        SignInProblem::Expired,
        SignInProblem::OtherBrowser,
        SignInProblem::Invalid,
        SignInProblem::AccountExists,
        SignInProblem::Disabled,
        SignInProblem::Internal,
    ];

    /// The short code carried in the portal's URL (`/operator/?sso_error=CODE`).
    pub fn code(self) -> &'static str {
        match self {
            SignInProblem::Unavailable => "unavailable",
            SignInProblem::Denied => "denied",
            SignInProblem::ProviderError => "provider_error",
            SignInProblem::Expired => "expired",
            SignInProblem::OtherBrowser => "other_browser",
            SignInProblem::Invalid => "invalid",
            SignInProblem::AccountExists => "account_exists",
            SignInProblem::Disabled => "disabled",
            SignInProblem::Internal => "internal",
        }
    }

    /// The problem a code names; none for anything else (nothing from the URL is shown).
    pub fn from_code(code: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|problem| problem.code() == code)
    }

    /// What the sign-in page says, naming the provider as the button does.
    pub fn message(self, provider: &str) -> String {
        match self {
            SignInProblem::Unavailable => format!("Sign-in with {provider} is unavailable right now: it could not be reached. Try again shortly."),
            SignInProblem::Denied => format!("Sign-in was cancelled or refused at {provider}."),
            SignInProblem::ProviderError => format!("{provider} could not sign you in. Try again, or ask your administrator."),
            SignInProblem::Expired => "That sign-in has expired or was used already. Start again.".to_owned(),
            SignInProblem::OtherBrowser => "That sign-in was started in another browser. Start again here.".to_owned(),
            SignInProblem::Invalid => format!("The answer from {provider} could not be verified, so you were not signed in."),
            SignInProblem::AccountExists => {
                "A user with your e-mail address exists already and cannot be linked to this sign-in automatically. Ask an administrator.".to_owned()
            }
            SignInProblem::Disabled => "Your operator account is disabled. Ask an administrator.".to_owned(),
            SignInProblem::Internal => "Sign-in failed on our side. Try again shortly.".to_owned(),
        }
    }
}

/// Why a sign-in did not happen.
#[derive(Debug, Error)]
pub enum SsoError {
    /// The provider could not be reached, or its discovery document or token endpoint
    /// answered with something unusable.
    #[error("the identity provider is unavailable: {0}")]
    Unavailable(String),
    /// The callback names a state never issued, used already or expired.
    #[error("unknown, used or expired sign-in state")]
    UnknownState,
    /// The callback came to a browser without the sign-in's cookie.
    #[error("the sign-in was started in another browser")]
    OtherBrowser,
    /// The provider sent an error instead of a code (e.g. `access_denied`).
    #[error("the identity provider refused the sign-in: {error}")]
    Refused {
        /// The OAuth error code.
        error: String,
    },
    /// The provider's answer failed validation (ID token, issuer, code exchange).
    #[error("the identity provider's answer is not valid: {0}")]
    Invalid(String),
    /// The user rules refused the person.
    #[error(transparent)]
    Account(#[from] AccountError),
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl SsoError {
    /// What the person is told.
    pub fn problem(&self) -> SignInProblem {
        match self {
            SsoError::Unavailable(_) => SignInProblem::Unavailable,
            SsoError::UnknownState => SignInProblem::Expired,
            SsoError::OtherBrowser => SignInProblem::OtherBrowser,
            SsoError::Refused { error } if error == "access_denied" => SignInProblem::Denied,
            SsoError::Refused { .. } => SignInProblem::ProviderError,
            SsoError::Invalid(_) => SignInProblem::Invalid,
            SsoError::Account(AccountError::AccountExists) => SignInProblem::AccountExists,
            SsoError::Account(AccountError::Disabled) => SignInProblem::Disabled,
            SsoError::Account(_) | SsoError::Store(_) => SignInProblem::Internal,
        }
    }
}

/// A sign-in on its way to the provider.
#[derive(Debug)]
pub struct StartedSignIn {
    /// The provider's authorization URL to send the browser to.
    pub redirect_to: String,
    /// The secret for the cookie that binds the sign-in to this browser.
    pub browser_token: String,
}

/// What the provider sent back to the callback (its query parameters).
#[derive(Debug, Default, Clone, serde::Deserialize)]
pub struct CallbackParams {
    /// The authorization code.
    pub code: Option<String>,
    /// The state we sent.
    pub state: Option<String>,
    /// An OAuth error code instead of a code.
    pub error: Option<String>,
    /// The provider's explanation of the error (logged, never shown).
    pub error_description: Option<String>,
    /// The issuer (RFC 9207), when the provider sends it.
    pub iss: Option<String>,
}

/// Provider metadata as discovered, and when.
struct Discovery {
    /// The last metadata fetched, and when.
    metadata: Option<(CoreProviderMetadata, Instant)>,
    /// The last failure, and when (sign-ins meanwhile are told at once).
    failure: Option<(String, Instant)>,
}

/// Single sign-on for operator staff.
pub struct SsoService {
    settings: SsoSettings,
    accounts: Arc<Accounts>,
    store: Arc<dyn Store>,
    clock: Clock,
    /// Requests to the provider: no redirects (the crate's advice against SSRF), no proxy,
    /// and the webhooks' trust roots (system store and `SSL_CERT_FILE`).
    http: reqwest::Client,
    discovery: Mutex<Discovery>,
}

impl SsoService {
    /// Single sign-on with `settings`, users kept by `accounts`.
    pub fn new(settings: SsoSettings, accounts: Arc<Accounts>, store: Arc<dyn Store>, clock: Clock) -> Result<Self, String> {
        IssuerUrl::new(settings.issuer.clone()).map_err(|error| format!("--oidc-issuer: {error}"))?;
        RedirectUrl::new(settings.redirect_url.clone()).map_err(|error| format!("--public-url: {error}"))?;
        let mut builder = reqwest::Client::builder().tls_built_in_root_certs(false);
        for root in tls::trusted_roots(None)? {
            match reqwest::Certificate::from_der(&root) {
                Ok(certificate) => builder = builder.add_root_certificate(certificate),
                Err(error) => tracing::debug!(%error, "skipping an unusable root certificate"),
            }
        }
        let http = builder
            .timeout(PROVIDER_TIMEOUT)
            .redirect(reqwest::redirect::Policy::none())
            .no_proxy()
            .build()
            .map_err(|error| error.to_string())?;
        let discovery = Mutex::new(Discovery { metadata: None, failure: None });
        Ok(Self { settings, accounts, store, clock, http, discovery })
    }

    /// The provider's name on the sign-in button.
    pub fn display_name(&self) -> &str {
        &self.settings.display_name
    }

    /// Discovers the provider now and then again until it answers once (so its problems
    /// show in the log at start-up), until `stop`. The server serves meanwhile.
    pub fn spawn_discovery(self: Arc<Self>, stop: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut wait = Duration::from_secs(1);
            loop {
                match self.metadata(false).await {
                    Ok(_) => return tracing::info!(issuer = %self.settings.issuer, "discovered the OpenID Connect provider"),
                    Err(error) => tracing::warn!(%error, "OpenID Connect discovery failed; sign-in says so until it succeeds"),
                }
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(wait) => {}
                }
                wait = (wait * 2).min(Duration::from_secs(60));
            }
        })
    }

    /// Starts a sign-in: the provider's URL to send the browser to (state, nonce and a
    /// PKCE S256 challenge in it) and the browser-binding cookie's secret.
    #[instrument(skip_all)]
    pub async fn start(&self) -> Result<StartedSignIn, SsoError> {
        let client = self.client(self.metadata(false).await?);
        let (challenge, verifier) = PkceCodeChallenge::new_random_sha256();
        let mut request = client
            .authorize_url(CoreAuthenticationFlow::AuthorizationCode, CsrfToken::new_random, Nonce::new_random)
            .set_pkce_challenge(challenge);
        for scope in &self.settings.scopes {
            request = request.add_scope(Scope::new(scope.clone()));
        }
        let (url, state, nonce) = request.url();
        let browser = generate_secret(&mut rand::thread_rng(), "mcb_");
        let now = self.clock.now();
        let pending = PendingSignIn {
            state_hash: hash_key(state.secret()),
            browser_hash: browser.hash,
            nonce: nonce.secret().clone(),
            pkce_verifier: verifier.secret().clone(),
            expires_at: now.plus(SIGN_IN_TTL),
        };
        self.store.save_pending_sign_in(&pending, now).await?;
        Ok(StartedSignIn { redirect_to: url.to_string(), browser_token: browser.secret })
    }

    /// Finishes a sign-in from the provider's callback, presented with the browser's
    /// binding cookie: a new session token and the user.
    #[instrument(skip_all)]
    pub async fn finish(&self, params: &CallbackParams, browser_token: Option<&str>) -> Result<(String, UserRecord), SsoError> {
        // The state is taken first, whatever else the callback says: it never works twice.
        let pending = match params.state.as_deref() {
            Some(state) => self.store.take_pending_sign_in(&hash_key(state)).await?,
            None => None,
        };
        if let Some(error) = &params.error {
            tracing::info!(error, description = params.error_description.as_deref().unwrap_or(""), "the identity provider refused a sign-in");
            return Err(SsoError::Refused { error: error.chars().take(64).collect() });
        }
        let pending = pending.filter(|pending| pending.expires_at > self.clock.now()).ok_or(SsoError::UnknownState)?;
        if browser_token.map(hash_key) != Some(pending.browser_hash.clone()) {
            return Err(SsoError::OtherBrowser);
        }
        let metadata = self.metadata(false).await?;
        if let Some(iss) = &params.iss {
            if iss != metadata.issuer().as_str() {
                return Err(SsoError::Invalid(format!("the callback's iss {iss:?} is not the issuer")));
            }
        }
        let code = params.code.clone().ok_or_else(|| SsoError::Invalid("the callback carries no code".to_owned()))?;
        let client = self.client(metadata);
        let exchange = client.exchange_code(AuthorizationCode::new(code)).map_err(|error| SsoError::Unavailable(error.to_string()))?;
        let tokens = exchange
            .set_pkce_verifier(PkceCodeVerifier::new(pending.pkce_verifier))
            .request_async(&self.http)
            .await
            .map_err(|error| match error {
                // Not reached, or no answer: the provider is unavailable, not wrong.
                RequestTokenError::Request(error) => SsoError::Unavailable(format!("the token endpoint: {}", describe(&error))),
                error => SsoError::Invalid(format!("the code exchange failed: {}", describe(&error))),
            })?;
        let id_token = tokens.id_token().ok_or_else(|| SsoError::Invalid("the token response carries no ID token".to_owned()))?;
        let nonce = Nonce::new(pending.nonce);
        let (claims, client) = match self.verify(&client, id_token, &nonce) {
            // The provider may have rotated its keys since we fetched them: fetch once more.
            Err(ClaimsVerificationError::SignatureVerification(SignatureVerificationError::NoMatchingKey)) => {
                let client = self.client(self.metadata(true).await?);
                (self.verify(&client, id_token, &nonce).map_err(|error| SsoError::Invalid(error.to_string()))?, client)
            }
            verified => (verified.map_err(|error| SsoError::Invalid(error.to_string()))?, client),
        };
        self.check_access_token_hash(&client, id_token, &claims, tokens.access_token())?;
        let verified = VerifiedIdentity {
            identity: IdpIdentity { issuer: claims.issuer().to_string(), subject: claims.subject().to_string() },
            email: claims.email().map(|email| email.to_string()),
            email_verified: claims.email_verified().unwrap_or(false),
            name: claims.name().and_then(|name| name.get(None)).map(|name| name.to_string()),
            role: role_from_claims(&payload(id_token)?, &self.settings.role_claim),
        };
        Ok(self.accounts.sign_in_with_identity(&verified).await?)
    }

    /// The ID token's claims when its signature, issuer, audience, nonce and expiry hold
    /// (at the service clock's now).
    fn verify(&self, client: &OidcClient, id_token: &CoreIdToken, nonce: &Nonce) -> Result<CoreIdTokenClaims, ClaimsVerificationError> {
        let clock = self.clock.clone();
        let verifier = client
            .id_token_verifier()
            .set_allowed_algs(ALLOWED_ALGORITHMS)
            .set_time_fn(move || chrono::DateTime::from_timestamp_millis(clock.now().get()).unwrap_or_default());
        id_token.claims(&verifier, nonce).cloned()
    }

    /// Checks `at_hash` when the ID token has one (the access token was not swapped).
    fn check_access_token_hash(
        &self,
        client: &OidcClient,
        id_token: &CoreIdToken,
        claims: &CoreIdTokenClaims,
        access_token: &openidconnect::AccessToken,
    ) -> Result<(), SsoError> {
        let Some(expected) = claims.access_token_hash() else { return Ok(()) };
        let verifier = client.id_token_verifier().set_allowed_algs(ALLOWED_ALGORITHMS);
        let invalid = |error: String| SsoError::Invalid(format!("at_hash: {error}"));
        let algorithm = id_token.signing_alg().map_err(|error| invalid(error.to_string()))?;
        let key = id_token.signing_key(&verifier).map_err(|error| invalid(error.to_string()))?;
        let actual = AccessTokenHash::from_token(access_token, algorithm, key).map_err(|error| invalid(error.to_string()))?;
        if actual != *expected {
            return Err(invalid("the access token does not match the ID token".to_owned()));
        }
        Ok(())
    }

    /// The client for this provider's `metadata`.
    fn client(&self, metadata: CoreProviderMetadata) -> OidcClient {
        let secret = ClientSecret::new(self.settings.client_secret.clone());
        let redirect = RedirectUrl::new(self.settings.redirect_url.clone()).expect("checked in SsoService::new");
        CoreClient::from_provider_metadata(metadata, ClientId::new(self.settings.client_id.clone()), Some(secret)).set_redirect_uri(redirect)
    }

    /// The provider's metadata (endpoints, signing keys): cached for a while; `refresh`
    /// fetches it again. Discovery checks that the document names our issuer exactly.
    async fn metadata(&self, refresh: bool) -> Result<CoreProviderMetadata, SsoError> {
        let mut discovery = self.discovery.lock().await;
        if let Some((metadata, fetched)) = &discovery.metadata {
            if !refresh && fetched.elapsed() < METADATA_TTL {
                return Ok(metadata.clone());
            }
        }
        if let Some((error, failed)) = &discovery.failure {
            if failed.elapsed() < RETRY_AFTER_FAILURE {
                return Err(SsoError::Unavailable(error.clone()));
            }
        }
        let issuer = IssuerUrl::new(self.settings.issuer.clone()).map_err(|error| SsoError::Unavailable(error.to_string()))?;
        match CoreProviderMetadata::discover_async(issuer, &self.http).await {
            Ok(metadata) => {
                discovery.metadata = Some((metadata.clone(), Instant::now()));
                discovery.failure = None;
                Ok(metadata)
            }
            Err(error) => {
                let error = describe(&error);
                tracing::warn!(%error, issuer = %self.settings.issuer, "OpenID Connect discovery failed");
                discovery.failure = Some((error.clone(), Instant::now()));
                // Keys that were good a moment ago still verify tokens signed with them.
                match &discovery.metadata {
                    Some((metadata, _)) if !refresh => Ok(metadata.clone()),
                    _ => Err(SsoError::Unavailable(error)),
                }
            }
        }
    }
}

/// The client type discovery gives: the token and userinfo endpoints may be missing.
type OidcClient = CoreClient<
    openidconnect::EndpointSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointNotSet,
    openidconnect::EndpointMaybeSet,
    openidconnect::EndpointMaybeSet,
>;

/// An error with its sources, on one line.
fn describe(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(inner) = source {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        source = inner.source();
    }
    text
}

/// The payload of an ID token whose signature was verified, as JSON (for the claims the
/// crate's types do not name, such as the role claim).
fn payload(id_token: &CoreIdToken) -> Result<Value, SsoError> {
    use base64::Engine as _;
    let compact = id_token.to_string();
    let part = compact.split('.').nth(1).ok_or_else(|| SsoError::Invalid("the ID token is not a JWS".to_owned()))?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part.trim_end_matches('='))
        .map_err(|error| SsoError::Invalid(error.to_string()))?;
    serde_json::from_slice(&bytes).map_err(|error| SsoError::Invalid(error.to_string()))
}

/// The role a verified ID token's `claim` names: the claim is found by name, or by a
/// dotted path into nested objects (`realm_access.roles`). A string is one role name; an
/// array of strings gives the role with the most rights among the known names in it.
/// Missing, unknown or anything else → viewer.
pub fn role_from_claims(claims: &Value, claim: &str) -> OperatorRole {
    let found = claims.get(claim).or_else(|| claim.split('.').try_fold(claims, |value, step| value.get(step)));
    let named: Vec<OperatorRole> = match found {
        Some(Value::String(name)) => name.parse().ok().into_iter().collect(),
        Some(Value::Array(items)) => items.iter().filter_map(Value::as_str).filter_map(|name| name.parse().ok()).collect(),
        _ => Vec::new(),
    };
    OperatorRole::MOST_RIGHTS_FIRST.into_iter().find(|role| named.contains(role)).unwrap_or(OperatorRole::Viewer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_role_claim_names_a_role_and_anything_else_is_viewer() {
        let claim = "marketchat_role";
        assert_eq!(role_from_claims(&json!({ "marketchat_role": "full-admin" }), claim), OperatorRole::FullAdmin);
        assert_eq!(role_from_claims(&json!({ "marketchat_role": "customer-support" }), claim), OperatorRole::CustomerSupport);
        assert_eq!(role_from_claims(&json!({}), claim), OperatorRole::Viewer, "missing");
        assert_eq!(role_from_claims(&json!({ "marketchat_role": "root" }), claim), OperatorRole::Viewer, "unknown");
        assert_eq!(role_from_claims(&json!({ "marketchat_role": "Full-Admin" }), claim), OperatorRole::Viewer, "names are exact");
        assert_eq!(role_from_claims(&json!({ "marketchat_role": 7 }), claim), OperatorRole::Viewer, "not a string");
        assert_eq!(role_from_claims(&json!({ "marketchat_role": null }), claim), OperatorRole::Viewer);
    }

    #[test]
    fn a_role_list_gives_its_role_with_the_most_rights_and_paths_reach_nested_claims() {
        let claims = json!({ "realm_access": { "roles": ["offline_access", "marketing", "full-admin"] }, "roles": ["finance"] });
        assert_eq!(role_from_claims(&claims, "realm_access.roles"), OperatorRole::FullAdmin);
        assert_eq!(role_from_claims(&claims, "roles"), OperatorRole::Finance);
        assert_eq!(role_from_claims(&json!({ "roles": ["uma_authorization"] }), "roles"), OperatorRole::Viewer);
        assert_eq!(role_from_claims(&json!({ "a.b": "webmaster" }), "a.b"), OperatorRole::Webmaster, "a claim named with a dot");
    }

    #[test]
    fn every_problem_code_reads_back_and_nothing_else_does() {
        for problem in SignInProblem::ALL {
            assert_eq!(SignInProblem::from_code(problem.code()), Some(problem));
            assert!(!problem.message("Okta").is_empty());
        }
        assert_eq!(SignInProblem::from_code("<script>"), None);
        assert_eq!(SignInProblem::from_code(""), None);
        assert!(SignInProblem::Denied.message("Okta").contains("Okta"));
    }

    #[test]
    fn provider_errors_map_to_what_the_person_is_told() {
        assert_eq!(SsoError::Refused { error: "access_denied".into() }.problem(), SignInProblem::Denied);
        assert_eq!(SsoError::Refused { error: "server_error".into() }.problem(), SignInProblem::ProviderError);
        assert_eq!(SsoError::UnknownState.problem(), SignInProblem::Expired);
        assert_eq!(SsoError::Account(AccountError::Disabled).problem(), SignInProblem::Disabled);
    }
}
