//! Signing in through an institution's OpenID Connect provider: the authorization code flow with
//! PKCE (S256), a single-use `state` bound to the browser and a `nonce` bound to the ID token. The
//! ID token is checked (`id_token`), the account found, linked or made (`accounts`), and a session
//! started, in one transaction; `provider` talks to the provider.

pub mod accounts;
pub mod id_token;
pub mod provider;

use base64::Engine;
use rand::RngCore;
use serde_json::{Map, Value};
use sha2::{Digest, Sha256};
use sqlx::PgPool;

use self::accounts::Resolved;
use self::id_token::TokenRefusal;
use self::provider::{ProviderError, Providers};
use super::model::Email;
use super::session::{self, token_hash};
use crate::config::OidcProvider;
use crate::error::AppError;

/// Minutes a sign-in may spend at the provider.
pub const FLOW_MINUTES: i32 = 10;
/// The cookie that binds a sign-in's `state` to the browser that started it.
pub const FLOW_COOKIE: &str = "radportal_oidc";

/// 32 random bytes, base64url: for `state`, `nonce` and the PKCE verifier.
fn random_token() -> String {
    let mut bytes = [0u8; 32];
    rand::rngs::OsRng.fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The PKCE challenge of `verifier` (RFC 7636, S256).
pub fn pkce_challenge(verifier: &str) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(Sha256::digest(verifier.as_bytes()))
}

/// Where the provider sends the browser back to.
pub fn redirect_uri(base_url: &url::Url, provider: &OidcProvider) -> String {
    crate::format::link(base_url, &format!("/sign-in/oidc/{}/callback", provider.id))
}

/// A sign-in sent to the provider: the address to send the browser to, and the `state` for the
/// browser's cookie.
pub struct Started {
    pub authorization_url: String,
    pub state: String,
}

/// Starts a sign-in: records its `state`, `nonce` and PKCE verifier, and builds the provider's
/// authorization address.
pub async fn start(
    db: &PgPool,
    providers: &Providers,
    provider: &OidcProvider,
    base_url: &url::Url,
    next: &str,
) -> Result<Started, SignInRefusal> {
    let metadata = providers.metadata(provider).await?;
    let (state, nonce, verifier) = (random_token(), random_token(), random_token());
    sqlx::query!(
        "insert into oidc_sign_ins (state_hash, provider, nonce, code_verifier, next_path, expires_at)
         values ($1, $2, $3, $4, $5, now() + make_interval(mins => $6))",
        token_hash(&state),
        provider.id,
        nonce,
        verifier,
        next,
        FLOW_MINUTES,
    )
    .execute(db)
    .await
    .map_err(AppError::from)?;
    let mut url = url::Url::parse(&metadata.discovery.authorization_endpoint)
        .map_err(|error| ProviderError::Unreadable(error.to_string()))?;
    url.query_pairs_mut()
        .append_pair("response_type", "code")
        .append_pair("client_id", &provider.client_id)
        .append_pair("redirect_uri", &redirect_uri(base_url, provider))
        .append_pair("scope", &provider.scopes)
        .append_pair("state", &state)
        .append_pair("nonce", &nonce)
        .append_pair("code_challenge", &pkce_challenge(&verifier))
        .append_pair("code_challenge_method", "S256");
    Ok(Started {
        authorization_url: url.into(),
        state,
    })
}

/// What the provider says about the person, from the ID token and the userinfo endpoint.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Person {
    pub subject: String,
    pub email: Option<Email>,
    pub email_verified: bool,
    pub name: Option<String>,
    pub institution: Option<String>,
    pub groups: Vec<String>,
}

impl Person {
    /// The person in `claims`, read with `provider`'s claim names.
    pub fn from_claims(provider: &OidcProvider, claims: &Map<String, Value>) -> Self {
        let text = |name: &str| {
            claims
                .get(name)
                .and_then(Value::as_str)
                .map(str::trim)
                .filter(|value| !value.is_empty())
                .map(str::to_owned)
        };
        let name = text("name").or_else(|| {
            let parts: Vec<String> = ["given_name", "family_name"]
                .iter()
                .filter_map(|part| text(part))
                .collect();
            (!parts.is_empty()).then(|| parts.join(" "))
        });
        // Some providers send `"true"` as a string.
        let email_verified = match claims.get("email_verified") {
            Some(Value::Bool(verified)) => *verified,
            Some(Value::String(verified)) => verified.eq_ignore_ascii_case("true"),
            _ => false,
        };
        Self {
            subject: text("sub").unwrap_or_default(),
            email: text("email").and_then(|email| Email::parse(&email).ok()),
            email_verified,
            name,
            institution: text(&provider.institution_claim),
            groups: provider
                .groups_claim
                .as_deref()
                .map(|claim| accounts::groups_of(claims.get(claim)))
                .unwrap_or_default(),
        }
    }
}

/// Why a sign-in through a provider did not sign anyone in.
#[derive(Debug, thiserror::Error)]
pub enum SignInRefusal {
    /// The `state` is unknown, used already, expired, or not this browser's.
    #[error("the sign-in is unknown, expired, already used, or was started in another browser")]
    UnknownState,
    /// The provider sent the person back with an error (`access_denied`, ...).
    #[error("the provider answered with an error: {0}")]
    ProviderSaidNo(String),
    #[error(transparent)]
    Provider(#[from] ProviderError),
    #[error(transparent)]
    Token(#[from] TokenRefusal),
    #[error("the userinfo endpoint describes another subject than the ID token")]
    UserinfoMismatch,
    #[error("the provider does not assert the e-mail address verified, and an account has it")]
    UnverifiedEmail,
    #[error("the provider gave no usable e-mail address")]
    NoEmail,
    #[error("the account is disabled")]
    Disabled,
    #[error(transparent)]
    Internal(#[from] AppError),
}

impl From<sqlx::Error> for SignInRefusal {
    fn from(error: sqlx::Error) -> Self {
        Self::Internal(AppError::from(error))
    }
}

/// What the provider sent the browser back with.
pub struct Callback<'a> {
    pub state: &'a str,
    pub code: &'a str,
    /// The `state` of the browser's cookie.
    pub browser_state: Option<&'a str>,
    /// The session token the browser already had, if any; it stops working.
    pub old_session: Option<&'a str>,
}

/// A completed sign-in: the new session and where to go.
pub struct SignedIn {
    pub session: String,
    pub next: String,
    pub user_id: i64,
}

/// Completes a sign-in: takes its `state` (once), exchanges the code, checks the ID token, and signs
/// the person in to their account.
#[tracing::instrument(skip_all, fields(provider = %provider.id))]
pub async fn finish(
    db: &PgPool,
    providers: &Providers,
    provider: &OidcProvider,
    base_url: &url::Url,
    callback: Callback<'_>,
) -> Result<SignedIn, SignInRefusal> {
    // Taken at once, before anything else: a replayed callback finds nothing.
    let pending = sqlx::query!(
        "delete from oidc_sign_ins
         where state_hash = $1 and provider = $2 and expires_at > now()
         returning nonce, code_verifier, next_path",
        token_hash(callback.state),
        provider.id,
    )
    .fetch_optional(db)
    .await?
    .ok_or(SignInRefusal::UnknownState)?;
    if callback.browser_state != Some(callback.state) {
        return Err(SignInRefusal::UnknownState);
    }
    let metadata = providers.metadata(provider).await?;
    let tokens = providers
        .exchange_code(
            provider,
            &metadata,
            callback.code,
            &redirect_uri(base_url, provider),
            &pending.code_verifier,
        )
        .await?;
    let id_token = tokens
        .id_token
        .ok_or_else(|| TokenRefusal::Malformed("the token endpoint sent no ID token".to_owned()))?;
    let kid = id_token::key_id(&id_token)?;
    let metadata = providers
        .metadata_with_key(provider, kid.as_deref())
        .await?;
    let mut claims = id_token::verify(
        &id_token,
        &metadata.keys,
        &provider.issuer,
        &provider.client_id,
        &pending.nonce,
    )?;
    // Conforming providers keep e-mail, profile and group claims for the userinfo endpoint.
    if let (Some(endpoint), Some(access_token)) = (
        metadata.discovery.userinfo_endpoint.as_deref(),
        tokens.access_token.as_deref(),
    ) {
        let userinfo = providers.userinfo(endpoint, access_token).await?;
        if userinfo.get("sub") != claims.get("sub") {
            return Err(SignInRefusal::UserinfoMismatch);
        }
        for (name, value) in userinfo {
            claims.entry(name).or_insert(value);
        }
    }
    let person = Person::from_claims(provider, &claims);
    let mut tx = db.begin().await?;
    let user_id = match accounts::resolve(&mut tx, provider, &person).await? {
        Resolved::Account(user_id) => user_id,
        Resolved::UnverifiedEmail => return Err(SignInRefusal::UnverifiedEmail),
        Resolved::NoEmail => return Err(SignInRefusal::NoEmail),
        Resolved::Disabled => return Err(SignInRefusal::Disabled),
    };
    if let Some(old) = callback.old_session {
        session::delete(&mut *tx, old).await?;
    }
    let token = session::create_through(&mut *tx, user_id, &provider.id).await?;
    tx.commit().await?;
    tracing::info!(user_id, "signed in through a provider");
    Ok(SignedIn {
        session: token,
        next: pending.next_path,
        user_id,
    })
}

/// Where to send the browser after the portal's session ended, to end the provider's session too
/// (RP-initiated logout); `None` when the provider offers no such endpoint.
pub async fn sign_out_url(
    providers: &Providers,
    provider: &OidcProvider,
    base_url: &url::Url,
) -> Option<String> {
    let metadata = providers.metadata(provider).await.ok()?;
    let mut url = url::Url::parse(metadata.discovery.end_session_endpoint.as_deref()?).ok()?;
    url.query_pairs_mut()
        .append_pair("client_id", &provider.client_id)
        .append_pair(
            "post_logout_redirect_uri",
            &crate::format::link(base_url, "/"),
        );
    Some(url.into())
}

/// The `Set-Cookie` value binding a sign-in's `state` to this browser (sent back by the provider's
/// top-level redirect, which `SameSite=Lax` allows).
pub fn flow_cookie(state: &str, secure: bool) -> String {
    format!(
        "{FLOW_COOKIE}={state}; Path=/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age={}{}",
        FLOW_MINUTES * 60,
        if secure { "; Secure" } else { "" }
    )
}

/// The `Set-Cookie` value that removes the sign-in's cookie.
pub fn clearing_flow_cookie(secure: bool) -> String {
    format!(
        "{FLOW_COOKIE}=; Path=/sign-in/oidc; HttpOnly; SameSite=Lax; Max-Age=0{}",
        if secure { "; Secure" } else { "" }
    )
}

/// The `state` in a `Cookie` header.
pub fn flow_from_cookies(header: &str) -> Option<&str> {
    header
        .split(';')
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == FLOW_COOKIE)
        .map(|(_, value)| value)
        .filter(|value| {
            !value.is_empty()
                && value.len() <= 64
                && value
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_pkce_challenge_is_the_unpadded_base64url_sha256_of_the_verifier() {
        // Computed apart, with Python's hashlib and base64.
        assert_eq!(
            pkce_challenge("dBjftJeZ4CVP-mB92K9uhvhhaNNxVYeYaUyrSkJPFZI"),
            "a0_HEP5RQ1jFphMA_hnJB-TcbMN7FE7W7U6T1T3J7_E"
        );
        assert_eq!(random_token().len(), 43);
        assert_ne!(random_token(), random_token());
    }

    #[test]
    fn the_person_is_read_from_common_claim_shapes() {
        let provider = crate::config::parse_oidc_providers("uni", |name| {
            let value = match name.strip_prefix("RADPORTAL_OIDC_UNI_")? {
                "ISSUER" => "https://id.example",
                "GROUPS_CLAIM" => "groups",
                "INSTITUTION_CLAIM" => "x",
                "CLIENT_ID" | "CLIENT_SECRET" => "portal",
                _ => return None,
            };
            Some(value.to_owned())
        })
        .unwrap()
        .0
        .remove(0);
        let claims = json!({"sub": "s", "email": " Ada@Uni.example ", "email_verified": "true",
                            "given_name": "Ada", "family_name": "Lovelace", "x": "Radiology",
                            "groups": "a,b c"});
        let person = Person::from_claims(&provider, claims.as_object().unwrap());
        assert_eq!(person.email.unwrap().as_str(), "Ada@Uni.example");
        assert!(person.email_verified);
        assert_eq!(person.name.as_deref(), Some("Ada Lovelace"));
        assert_eq!(person.institution.as_deref(), Some("Radiology"));
        assert_eq!(person.groups, ["a", "b", "c"]);
        let bare = Person::from_claims(&provider, json!({"sub": "s"}).as_object().unwrap());
        assert!(!bare.email_verified && bare.email.is_none() && bare.groups.is_empty());
    }
}
