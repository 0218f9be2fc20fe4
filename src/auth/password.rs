//! Password hashing with argon2id, off the async worker threads.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::rngs::OsRng;

/// argon2id with OWASP's recommended minimum: 19 MiB of memory, 2 iterations, 1 lane.
fn hasher() -> Argon2<'static> {
    let params = Params::new(19 * 1024, 2, 1, None).expect("constant argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// A valid hash of a random password, checked when an address has no account so that the answer takes
/// as long as for one that has.
pub const UNKNOWN_USER_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$cmFkcG9ydGFsLXVua25vd24$J5mNrJsb3yXxVwGjdn2cJVuqKoVtAzKC0kZnKqZ7nWQ";

/// Hashes a password into a PHC string (algorithm, parameters and salt included).
pub async fn hash(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        hasher()
            .hash_password(password.as_bytes(), &salt)
            .map(|hash| hash.to_string())
            .map_err(|error| anyhow::anyhow!("cannot hash password: {error}"))
    })
    .await?
}

/// Whether `password` matches a stored PHC hash.
pub async fn verify(password: String, stored: String) -> anyhow::Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&stored)
            .map_err(|error| anyhow::anyhow!("stored hash is malformed: {error}"))?;
        Ok(hasher()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok())
    })
    .await?
}

/// A random password for generated accounts: 20 characters from an unambiguous alphabet.
pub fn generate() -> String {
    use rand::Rng;
    const ALPHABET: &[u8] = b"abcdefghjkmnpqrstuvwxyzABCDEFGHJKMNPQRSTUVWXYZ23456789";
    let mut rng = OsRng;
    (0..20)
        .map(|_| ALPHABET[rng.gen_range(0..ALPHABET.len())] as char)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn hash_verifies_only_the_same_password() {
        let stored = hash("correct horse battery".to_owned()).await.unwrap();
        assert!(stored.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"));
        assert!(
            verify("correct horse battery".to_owned(), stored.clone())
                .await
                .unwrap()
        );
        assert!(!verify("wrong".to_owned(), stored).await.unwrap());
    }

    #[tokio::test]
    async fn the_stand_in_hash_is_checked_like_a_real_one() {
        assert!(
            !verify("anything".to_owned(), UNKNOWN_USER_HASH.to_owned())
                .await
                .unwrap()
        );
    }

    #[test]
    fn generated_passwords_differ() {
        assert_eq!(generate().len(), 20);
        assert_ne!(generate(), generate());
    }
}
