//! Time-based one-time passwords as authenticator apps compute them (RFC 6238: HMAC-SHA-1, six digits,
//! 30-second steps): new secrets, the `otpauth://` address an app scans, and the check of a code within
//! one step of clock skew, which answers the step the code belongs to so that a step is taken only once.

use rand::RngCore;
use subtle::ConstantTimeEq;
use totp_rs::{Algorithm, TOTP};

/// Digits of a code.
pub const DIGITS: usize = 6;
/// Seconds of one time step.
pub const STEP_SECONDS: u64 = 30;
/// Steps before and after the current one whose codes are accepted, for clocks that drift.
pub const SKEW_STEPS: i64 = 1;
/// Bytes of a new secret (160 bits, as RFC 4226 recommends).
pub const SECRET_BYTES: usize = 20;

/// A new random secret.
pub fn new_secret() -> Vec<u8> {
    let mut secret = vec![0u8; SECRET_BYTES];
    rand::rngs::OsRng.fill_bytes(&mut secret);
    secret
}

/// The time step `unix_seconds` falls in.
pub fn step_at(unix_seconds: i64) -> i64 {
    unix_seconds.div_euclid(STEP_SECONDS as i64)
}

/// Whether `input` has the shape of a code (six digits, spaces allowed between them).
pub fn looks_like_code(input: &str) -> bool {
    let digits: Vec<char> = input.chars().filter(|c| !c.is_whitespace()).collect();
    digits.len() == DIGITS && digits.iter().all(char::is_ascii_digit)
}

/// One account's authenticator.
pub struct Authenticator(TOTP);

impl Authenticator {
    /// The authenticator for `secret`, labelled for apps with the portal (`issuer`) and the account.
    pub fn new(secret: Vec<u8>, issuer: &str, account: &str) -> Self {
        // The otpauth label separates issuer and account with a colon: neither may contain one.
        let clean = |text: &str| text.replace(':', " ");
        Self(TOTP::new_unchecked(
            Algorithm::SHA1,
            DIGITS,
            0,
            STEP_SECONDS,
            secret,
            Some(clean(issuer)),
            clean(account),
        ))
    }

    /// The secret in base32, for typing into an app.
    pub fn secret_base32(&self) -> String {
        self.0.get_secret_base32()
    }

    /// The `otpauth://totp/...` address that apps read from the QR code.
    pub fn uri(&self) -> String {
        self.0.get_url()
    }

    /// The code of `step`.
    fn code_of(&self, step: i64) -> String {
        let seconds = u64::try_from(step).unwrap_or(0) * STEP_SECONDS;
        self.0.generate(seconds)
    }

    /// The step within [`SKEW_STEPS`] of `now_unix` whose code is `input`, if any. Every step of the
    /// window is compared, in constant time, so the answer takes as long whichever step matches.
    pub fn matching_step(&self, input: &str, now_unix: i64) -> Option<i64> {
        if !looks_like_code(input) {
            return None;
        }
        let code: String = input.chars().filter(|c| !c.is_whitespace()).collect();
        let current = step_at(now_unix);
        let mut found = None;
        for step in current - SKEW_STEPS..=current + SKEW_STEPS {
            if bool::from(self.code_of(step).as_bytes().ct_eq(code.as_bytes())) {
                found = Some(step);
            }
        }
        found
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238, appendix B: the SHA-1 secret is the ASCII of "12345678901234567890"; its eight-digit
    /// codes end in the six digits checked here.
    #[test]
    fn codes_match_the_rfc_6238_test_vectors() {
        let authenticator = Authenticator::new(b"12345678901234567890".to_vec(), "radportal", "a");
        for (time, code) in [
            (59, "287082"),
            (1_111_111_109, "081804"),
            (1_111_111_111, "050471"),
            (1_234_567_890, "005924"),
            (2_000_000_000, "279037"),
        ] {
            assert_eq!(authenticator.code_of(step_at(time)), code, "at {time}");
            assert_eq!(authenticator.matching_step(code, time), Some(step_at(time)));
        }
    }

    #[test]
    fn one_step_of_skew_either_way_and_no_more() {
        let authenticator = Authenticator::new(new_secret(), "radportal", "ada@example.org");
        let now = 1_700_000_015;
        let step = step_at(now);
        for offset in -1..=1 {
            let code = authenticator.code_of(step + offset);
            assert_eq!(authenticator.matching_step(&code, now), Some(step + offset));
        }
        for offset in [-2, 2] {
            let code = authenticator.code_of(step + offset);
            // A code of a step two away could only match by coincidence with one inside the window.
            if (-1..=1).all(|near| authenticator.code_of(step + near) != code) {
                assert_eq!(authenticator.matching_step(&code, now), None);
            }
        }
        assert_eq!(authenticator.matching_step("12345", now), None);
        assert_eq!(authenticator.matching_step("abcdef", now), None);
    }

    #[test]
    fn the_uri_carries_issuer_account_and_secret() {
        let authenticator =
            Authenticator::new(new_secret(), "radportal: example", "ada@example.org");
        let uri = authenticator.uri();
        assert!(uri.starts_with("otpauth://totp/radportal%20%20example:ada%40example.org?"));
        assert!(uri.contains(&format!("secret={}", authenticator.secret_base32())));
        assert!(looks_like_code("123 456") && !looks_like_code("1234567"));
    }
}
