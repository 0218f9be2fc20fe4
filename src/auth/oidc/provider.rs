//! Talking to a provider: its discovery document and signing keys (kept in memory, fetched again when
//! an ID token names a key not seen yet), the exchange of an authorization code for tokens (with the
//! PKCE verifier and the client's secret), and the userinfo endpoint.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use jsonwebtoken::jwk::JwkSet;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::{Map, Value};
use tokio::sync::RwLock;

use crate::config::OidcProvider;

/// How long a provider may take to answer one request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// How long discovery and keys are kept before they are fetched again.
const METADATA_TTL: Duration = Duration::from_secs(3600);
/// Keys are fetched again for an unknown key id at most this often.
const KEYS_REFETCH_INTERVAL: Duration = Duration::from_secs(30);
/// The largest answer read from a provider.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// What the provider's `/.well-known/openid-configuration` says, as far as the portal uses it.
#[derive(Clone, Debug, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub authorization_endpoint: String,
    pub token_endpoint: String,
    pub jwks_uri: String,
    pub userinfo_endpoint: Option<String>,
    pub end_session_endpoint: Option<String>,
}

/// A provider's discovery and keys, as fetched at one time.
#[derive(Clone, Debug)]
pub struct Metadata {
    pub discovery: Discovery,
    pub keys: JwkSet,
    fetched_at: Instant,
}

/// Why talking to a provider failed.
#[derive(Debug, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider could not be reached: {0}")]
    Unreachable(String),
    #[error("the provider answered {status}: {body}")]
    Refused { status: u16, body: String },
    #[error("the provider's answer could not be read: {0}")]
    Unreadable(String),
    #[error("the provider's discovery names the issuer {found}, not {configured}")]
    IssuerMismatch { found: String, configured: String },
}

/// What the token endpoint answered.
#[derive(Debug, Deserialize)]
pub struct TokenResponse {
    pub id_token: Option<String>,
    pub access_token: Option<String>,
}

/// The providers' metadata, shared by every request of this instance.
pub struct Providers {
    http: reqwest::Client,
    cache: RwLock<HashMap<String, Arc<Metadata>>>,
}

impl Default for Providers {
    fn default() -> Self {
        Self::new()
    }
}

impl Providers {
    pub fn new() -> Self {
        Self {
            http: reqwest::Client::builder()
                .timeout(REQUEST_TIMEOUT)
                .redirect(reqwest::redirect::Policy::none())
                .user_agent(concat!("radportal/", env!("CARGO_PKG_VERSION")))
                .build()
                .expect("the HTTP client builds"),
            cache: RwLock::new(HashMap::new()),
        }
    }

    /// The provider's metadata, from memory while fresh.
    pub async fn metadata(&self, provider: &OidcProvider) -> Result<Arc<Metadata>, ProviderError> {
        if let Some(cached) = self.cache.read().await.get(&provider.id)
            && cached.fetched_at.elapsed() < METADATA_TTL
        {
            return Ok(cached.clone());
        }
        self.refresh(provider).await
    }

    /// The metadata again with fresh keys, when a token names a key id that the cached keys lack
    /// (the provider rotated its keys); at most every [`KEYS_REFETCH_INTERVAL`].
    pub async fn metadata_with_key(
        &self,
        provider: &OidcProvider,
        kid: Option<&str>,
    ) -> Result<Arc<Metadata>, ProviderError> {
        let metadata = self.metadata(provider).await?;
        let known = match kid {
            Some(kid) => metadata.keys.find(kid).is_some(),
            None => true,
        };
        if known || metadata.fetched_at.elapsed() < KEYS_REFETCH_INTERVAL {
            return Ok(metadata);
        }
        self.refresh(provider).await
    }

    async fn refresh(&self, provider: &OidcProvider) -> Result<Arc<Metadata>, ProviderError> {
        let url = format!(
            "{}/.well-known/openid-configuration",
            provider.issuer.trim_end_matches('/')
        );
        let discovery: Discovery = self.get_json(&url).await?;
        if discovery.issuer != provider.issuer {
            return Err(ProviderError::IssuerMismatch {
                found: discovery.issuer,
                configured: provider.issuer.clone(),
            });
        }
        let keys: JwkSet = self.get_json(&discovery.jwks_uri).await?;
        let metadata = Arc::new(Metadata {
            discovery,
            keys,
            fetched_at: Instant::now(),
        });
        self.cache
            .write()
            .await
            .insert(provider.id.clone(), metadata.clone());
        Ok(metadata)
    }

    async fn get_json<T: serde::de::DeserializeOwned>(
        &self,
        url: &str,
    ) -> Result<T, ProviderError> {
        let response = self
            .http
            .get(url)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|error| ProviderError::Unreachable(error.to_string()))?;
        read_json(response).await
    }

    /// Exchanges an authorization code for tokens, authenticating with the client's secret (HTTP
    /// Basic) and proving the sign-in's PKCE verifier.
    pub async fn exchange_code(
        &self,
        provider: &OidcProvider,
        metadata: &Metadata,
        code: &str,
        redirect_uri: &str,
        code_verifier: &str,
    ) -> Result<TokenResponse, ProviderError> {
        // RFC 6749 §2.3.1: the id and secret are form-encoded before they go into Basic.
        let encode = |text: &str| url::form_urlencoded::byte_serialize(text.as_bytes()).collect();
        let id: String = encode(&provider.client_id);
        let secret: String = encode(provider.client_secret.expose_secret());
        let response = self
            .http
            .post(&metadata.discovery.token_endpoint)
            .basic_auth(id, Some(secret))
            .header("accept", "application/json")
            .form(&[
                ("grant_type", "authorization_code"),
                ("code", code),
                ("redirect_uri", redirect_uri),
                ("code_verifier", code_verifier),
            ])
            .send()
            .await
            .map_err(|error| ProviderError::Unreachable(error.to_string()))?;
        read_json(response).await
    }

    /// The claims of the userinfo endpoint for an access token.
    pub async fn userinfo(
        &self,
        endpoint: &str,
        access_token: &str,
    ) -> Result<Map<String, Value>, ProviderError> {
        let response = self
            .http
            .get(endpoint)
            .bearer_auth(access_token)
            .header("accept", "application/json")
            .send()
            .await
            .map_err(|error| ProviderError::Unreachable(error.to_string()))?;
        read_json(response).await
    }
}

async fn read_json<T: serde::de::DeserializeOwned>(
    response: reqwest::Response,
) -> Result<T, ProviderError> {
    let status = response.status();
    let body = response
        .bytes()
        .await
        .map_err(|error| ProviderError::Unreachable(error.to_string()))?;
    if body.len() > MAX_RESPONSE_BYTES {
        return Err(ProviderError::Unreadable(
            "the answer is too large".to_owned(),
        ));
    }
    if !status.is_success() {
        return Err(ProviderError::Refused {
            status: status.as_u16(),
            body: String::from_utf8_lossy(&body).chars().take(300).collect(),
        });
    }
    serde_json::from_slice(&body).map_err(|error| ProviderError::Unreadable(error.to_string()))
}
