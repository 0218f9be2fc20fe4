//! Checking an ID token (OpenID Connect Core §3.1.3.7): signed (never `alg: none`) by a key of the
//! provider's published set, issued by the provider, meant for this portal (`aud`, and `azp` when
//! given), not expired, and carrying the `nonce` of the sign-in that asked for it.

use base64::Engine;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, errors::ErrorKind};
use serde_json::{Map, Value};

/// Why an ID token was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenRefusal {
    #[error("the ID token is not signed")]
    Unsigned,
    #[error("the ID token is not a well-formed signed JWT: {0}")]
    Malformed(String),
    #[error("the ID token is signed with {0}, which the portal does not accept")]
    UnacceptedAlgorithm(String),
    #[error("the ID token names a key the provider does not publish")]
    UnknownKey,
    #[error("the ID token's signature does not verify with the provider's key")]
    BadSignature,
    #[error("the ID token was issued by another issuer")]
    WrongIssuer,
    #[error("the ID token is meant for another client")]
    WrongAudience,
    #[error("the ID token has expired")]
    Expired,
    #[error("the ID token is not valid yet")]
    NotYetValid,
    #[error("the ID token's nonce is not the one this sign-in sent")]
    NonceMismatch,
}

/// Algorithms accepted: the RSA and elliptic-curve signatures providers use.
const ACCEPTED: [Algorithm; 8] = [
    Algorithm::RS256,
    Algorithm::RS384,
    Algorithm::RS512,
    Algorithm::PS256,
    Algorithm::PS384,
    Algorithm::PS512,
    Algorithm::ES256,
    Algorithm::ES384,
];

/// Seconds of clock difference allowed around `exp` and `nbf`.
pub const LEEWAY_SECONDS: u64 = 60;

/// The token's header fields the check needs, read before anything is trusted.
fn header_fields(token: &str) -> Result<(String, Option<String>), TokenRefusal> {
    let mut parts = token.split('.');
    let (Some(header), Some(_), signature, None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(TokenRefusal::Malformed("not three parts".to_owned()));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .map_err(|_| TokenRefusal::Malformed("the header is not base64url".to_owned()))?;
    let header: Value = serde_json::from_slice(&bytes)
        .map_err(|_| TokenRefusal::Malformed("the header is not JSON".to_owned()))?;
    let alg = header["alg"].as_str().unwrap_or("").to_owned();
    if alg.eq_ignore_ascii_case("none") || signature.is_none_or(str::is_empty) {
        return Err(TokenRefusal::Unsigned);
    }
    Ok((alg, header["kid"].as_str().map(str::to_owned)))
}

/// The key id the token names, if it is a signed token at all (to look for fresh keys).
pub fn key_id(token: &str) -> Result<Option<String>, TokenRefusal> {
    Ok(header_fields(token)?.1)
}

/// Checks `token` against the provider's `keys`, `issuer`, this portal's `client_id` and the sign-in's
/// `nonce`; returns its claims.
pub fn verify(
    token: &str,
    keys: &JwkSet,
    issuer: &str,
    client_id: &str,
    nonce: &str,
) -> Result<Map<String, Value>, TokenRefusal> {
    let (alg, kid) = header_fields(token)?;
    let algorithm = ACCEPTED
        .into_iter()
        .find(|candidate| format!("{candidate:?}") == alg)
        .ok_or_else(|| TokenRefusal::UnacceptedAlgorithm(alg.clone()))?;
    let jwk = match &kid {
        Some(kid) => keys.find(kid),
        // Without a key id, only a provider with a single key is unambiguous.
        None if keys.keys.len() == 1 => keys.keys.first(),
        None => None,
    }
    .ok_or(TokenRefusal::UnknownKey)?;
    let key = DecodingKey::from_jwk(jwk).map_err(|_| TokenRefusal::UnknownKey)?;
    let mut validation = Validation::new(algorithm);
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[client_id]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    validation.leeway = LEEWAY_SECONDS;
    validation.validate_nbf = true;
    let claims = jsonwebtoken::decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature | ErrorKind::InvalidAlgorithm => TokenRefusal::BadSignature,
            ErrorKind::ExpiredSignature => TokenRefusal::Expired,
            ErrorKind::ImmatureSignature => TokenRefusal::NotYetValid,
            ErrorKind::InvalidIssuer => TokenRefusal::WrongIssuer,
            ErrorKind::InvalidAudience => TokenRefusal::WrongAudience,
            ErrorKind::InvalidEcdsaKey | ErrorKind::InvalidRsaKey(_) => TokenRefusal::UnknownKey,
            other => TokenRefusal::Malformed(format!("{other:?}")),
        })?
        .claims;
    // With several audiences, the token must say it was issued to this client (§3.1.3.7, 4–5).
    let audiences = match &claims["aud"] {
        Value::Array(list) => list.len(),
        _ => 1,
    };
    match claims.get("azp").and_then(Value::as_str) {
        Some(azp) if azp != client_id => return Err(TokenRefusal::WrongAudience),
        None if audiences > 1 => return Err(TokenRefusal::WrongAudience),
        _ => {}
    }
    if claims.get("nonce").and_then(Value::as_str) != Some(nonce) {
        return Err(TokenRefusal::NonceMismatch);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};
    use ring::rand::SystemRandom;
    use ring::signature::{ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, KeyPair};
    use serde_json::json;

    /// A new P-256 key: its signing key and its public JWK with `kid`.
    fn key(kid: &str) -> (EncodingKey, Value) {
        let rng = SystemRandom::new();
        let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
            .unwrap();
        let point = pair.public_key().as_ref();
        let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid, "alg": "ES256", "use": "sig",
                         "x": b64(&point[1..33]), "y": b64(&point[33..65])});
        (EncodingKey::from_ec_der(pkcs8.as_ref()), jwk)
    }

    fn sign(key: &EncodingKey, kid: &str, claims: &Value) -> String {
        let mut header = Header::new(Algorithm::ES256);
        header.kid = Some(kid.to_owned());
        jsonwebtoken::encode(&header, claims, key).unwrap()
    }

    fn claims(changes: Value) -> Value {
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        let mut claims = json!({"iss": "https://id.example", "aud": "portal", "sub": "s-1",
                                "exp": now + 300, "iat": now, "nonce": "n-1"});
        for (name, value) in changes.as_object().unwrap() {
            claims[name] = value.clone();
        }
        claims
    }

    #[test]
    fn accepts_a_good_token_and_names_each_refusal() {
        let (signing, jwk) = key("k1");
        let (other, _) = key("k1");
        let keys: JwkSet = serde_json::from_value(json!({"keys": [jwk]})).unwrap();
        let check = |token: &str| verify(token, &keys, "https://id.example", "portal", "n-1");
        let good = sign(&signing, "k1", &claims(json!({})));
        assert_eq!(check(&good).unwrap()["sub"], "s-1");
        let now = time::OffsetDateTime::now_utc().unix_timestamp();
        for (changes, refusal) in [
            (json!({"aud": "another"}), TokenRefusal::WrongAudience),
            (
                json!({"aud": ["portal", "another"]}),
                TokenRefusal::WrongAudience,
            ),
            (json!({"azp": "another"}), TokenRefusal::WrongAudience),
            (
                json!({"iss": "https://evil.example"}),
                TokenRefusal::WrongIssuer,
            ),
            (json!({"exp": now - 120}), TokenRefusal::Expired),
            (json!({"nbf": now + 600}), TokenRefusal::NotYetValid),
            (json!({"nonce": "n-2"}), TokenRefusal::NonceMismatch),
        ] {
            let token = sign(&signing, "k1", &claims(changes.clone()));
            assert_eq!(check(&token), Err(refusal), "{changes}");
        }
        assert_eq!(
            check(&sign(&other, "k1", &claims(json!({})))),
            Err(TokenRefusal::BadSignature)
        );
        assert_eq!(
            check(&sign(&signing, "k2", &claims(json!({})))),
            Err(TokenRefusal::UnknownKey)
        );
        let b64 = |text: &str| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text);
        let payload = b64(&claims(json!({})).to_string());
        let unsigned = format!("{}.{payload}.", b64(r#"{"alg":"none"}"#));
        assert_eq!(check(&unsigned), Err(TokenRefusal::Unsigned));
        let hmac = format!("{}.{payload}.c2ln", b64(r#"{"alg":"HS256","kid":"k1"}"#));
        assert_eq!(
            check(&hmac),
            Err(TokenRefusal::UnacceptedAlgorithm("HS256".to_owned()))
        );
        assert!(matches!(check("a.b"), Err(TokenRefusal::Malformed(_))));
    }
}
