//! Secrets at rest: sealed with AES-256-GCM under the operator's key, with a fresh random nonce each
//! time, and bound to what they belong to (the sealing's associated data), so a sealed value copied to
//! another account's row does not open there.

use rand::RngCore;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};

use crate::config::SecretKey;

/// Sealing or opening failed: the key is not the one that sealed, or the value was altered.
#[derive(Debug, thiserror::Error)]
#[error("a sealed secret could not be opened: the key differs or the value was altered")]
pub struct Unsealable;

fn cipher(key: &SecretKey) -> LessSafeKey {
    LessSafeKey::new(
        UnboundKey::new(&AES_256_GCM, key.bytes()).expect("a 256-bit key fits AES-256-GCM"),
    )
}

/// `secret` sealed for `context`: the nonce, then the ciphertext and its tag.
pub fn seal(key: &SecretKey, context: &str, secret: &[u8]) -> Vec<u8> {
    let mut nonce = [0u8; NONCE_LEN];
    rand::rngs::OsRng.fill_bytes(&mut nonce);
    let mut sealed = secret.to_vec();
    cipher(key)
        .seal_in_place_append_tag(
            Nonce::assume_unique_for_key(nonce),
            Aad::from(context.as_bytes()),
            &mut sealed,
        )
        .expect("a short secret seals");
    [nonce.as_slice(), &sealed].concat()
}

/// The secret in `sealed`, if it was sealed with `key` for `context`.
pub fn open(key: &SecretKey, context: &str, sealed: &[u8]) -> Result<Vec<u8>, Unsealable> {
    if sealed.len() < NONCE_LEN {
        return Err(Unsealable);
    }
    let (nonce, body) = sealed.split_at(NONCE_LEN);
    let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| Unsealable)?;
    let mut body = body.to_vec();
    let opened = cipher(key)
        .open_in_place(nonce, Aad::from(context.as_bytes()), &mut body)
        .map_err(|_| Unsealable)?;
    Ok(opened.to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(byte: u8) -> SecretKey {
        let mut bytes = [byte; 32];
        bytes[0] = 1;
        SecretKey::from(bytes)
    }

    #[test]
    fn opens_only_with_its_key_and_context() {
        let sealed = seal(&key(7), "totp:1", b"the secret");
        assert!(!sealed.windows(10).any(|w| w == b"the secret"));
        assert_eq!(open(&key(7), "totp:1", &sealed).unwrap(), b"the secret");
        assert!(open(&key(8), "totp:1", &sealed).is_err());
        assert!(open(&key(7), "totp:2", &sealed).is_err());
        let mut altered = sealed.clone();
        *altered.last_mut().unwrap() ^= 1;
        assert!(open(&key(7), "totp:1", &altered).is_err());
        assert!(open(&key(7), "totp:1", &sealed[..5]).is_err());
        assert_ne!(sealed, seal(&key(7), "totp:1", b"the secret"));
    }
}
