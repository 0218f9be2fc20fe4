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

/// The shortest password accepted.
pub const MIN_LENGTH: usize = 12;
/// The longest password accepted (hashing cost stays bounded).
pub const MAX_LENGTH: usize = 128;

/// Passwords long enough to pass the length rule that are still among the first ones guessed.
const COMMON: &[&str] = &[
    "123456789012",
    "1234567890123",
    "12345678901234",
    "password1234",
    "password12345",
    "passwordpassword",
    "qwertyuiopasdf",
    "qwertyuiop12",
    "qwerty123456",
    "iloveyou1234",
    "abcdefghijkl",
    "abcd1234abcd",
    "letmein12345",
    "welcome12345",
    "administrator",
    "changeme1234",
    "trustno1trustno1",
    "football1234",
    "baseball1234",
    "princess1234",
    "sunshine1234",
    "superman1234",
    "1q2w3e4r5t6y",
    "zaq12wsxcde3",
    "p@ssw0rd1234",
    "radportal123",
    "radportal1234",
    "correcthorsebatterystaple",
];

/// The strength rules for a new password: length, variety, not a common password and not built from
/// the account's own e-mail address or name. The message says what to change.
pub fn check_strength(password: &str, email: &str, name: &str) -> Result<(), String> {
    let length = password.chars().count();
    if length < MIN_LENGTH {
        return Err(format!(
            "Use at least {MIN_LENGTH} characters (a few unrelated words work well)."
        ));
    }
    if length > MAX_LENGTH {
        return Err(format!("Use at most {MAX_LENGTH} characters."));
    }
    let lower = password.to_lowercase();
    let distinct: std::collections::HashSet<char> = lower.chars().collect();
    if distinct.len() < 5 {
        return Err("Use more different characters; this password repeats too much.".to_owned());
    }
    if COMMON.contains(&lower.as_str()) {
        return Err("This password is too common; choose something less guessable.".to_owned());
    }
    let local = email.split('@').next().unwrap_or("").to_lowercase();
    let own_words = std::iter::once(local.as_str())
        .chain(name.split_whitespace())
        .map(str::to_lowercase)
        .filter(|word| word.chars().count() >= 4);
    for word in own_words {
        if lower.contains(&word) {
            return Err("Do not build the password from your name or e-mail address.".to_owned());
        }
    }
    Ok(())
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
    fn strength_rules_explain_what_is_wrong() {
        let ok = |p: &str| check_strength(p, "ada.lovelace@example.org", "Ada Lovelace");
        assert!(ok("violet tundra ferry 42").is_ok());
        assert!(ok("short").unwrap_err().contains("at least 12"));
        assert!(ok(&"x".repeat(129)).unwrap_err().contains("at most"));
        assert!(
            ok("aaaaaaaaaaaaaaaa")
                .unwrap_err()
                .contains("different characters")
        );
        assert!(ok("Password1234").unwrap_err().contains("too common"));
        assert!(
            ok("lovelace-is-my-hero")
                .unwrap_err()
                .contains("name or e-mail")
        );
        assert!(
            ok("ada.lovelace rocks!")
                .unwrap_err()
                .contains("name or e-mail")
        );
        assert!(check_strength(&generate(), "a@b.org", "A B").is_ok());
    }

    #[test]
    fn generated_passwords_differ() {
        assert_eq!(generate().len(), 20);
        assert_ne!(generate(), generate());
    }
}
