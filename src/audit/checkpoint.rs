//! Signed checkpoints of the audit trail: the heads of the event chain and of the audit log's chain
//! at one moment, signed with HMAC-SHA256 under a key that is not in the database
//! (`RADPORTAL_AUDIT_KEY`). Kept outside the database, a checkpoint makes trimming detectable that
//! the chains alone cannot show: deleting the newest entries and rewinding the head, deleting
//! everything, or rewriting and re-hashing the whole chain.

use std::fmt;

use hmac::{Hmac, Mac};
use secrecy::{ExposeSecret, SecretString};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

use super::chain::ChainEnd;

/// The environment variable holding the key.
pub const KEY_VARIABLE: &str = "RADPORTAL_AUDIT_KEY";

/// The `format` of checkpoints this version writes and reads.
pub const FORMAT: &str = "radportal-audit-checkpoint/1";

/// The shortest key accepted, in bytes.
pub const MIN_KEY_BYTES: usize = 32;

type HmacSha256 = Hmac<Sha256>;

/// The key checkpoints are signed with.
pub struct AuditKey(SecretString);

impl fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AuditKey({})", self.id())
    }
}

/// Why there is no usable key.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum KeyError {
    #[error(
        "{KEY_VARIABLE} is not set: checkpoints are signed with it (for example the output of `openssl rand -hex 32`)"
    )]
    Missing,
    #[error("{KEY_VARIABLE} is too short: use at least {MIN_KEY_BYTES} characters")]
    TooShort,
}

impl AuditKey {
    /// A key from its text; at least [`MIN_KEY_BYTES`] bytes.
    pub fn parse(raw: &str) -> Result<Self, KeyError> {
        if raw.trim().is_empty() {
            Err(KeyError::Missing)
        } else if raw.len() < MIN_KEY_BYTES {
            Err(KeyError::TooShort)
        } else {
            Ok(Self(SecretString::from(raw.to_owned())))
        }
    }

    /// The key in [`KEY_VARIABLE`].
    pub fn from_env() -> Result<Self, KeyError> {
        Self::parse(&std::env::var(KEY_VARIABLE).unwrap_or_default())
    }

    fn mac(&self) -> HmacSha256 {
        HmacSha256::new_from_slice(self.0.expose_secret().as_bytes())
            .expect("HMAC takes keys of any length")
    }

    /// A short name of the key, written into checkpoints, which tells keys apart without
    /// revealing them.
    pub fn id(&self) -> String {
        let mut mac = self.mac();
        mac.update(b"radportal audit key id");
        hex::encode(&mac.finalize().into_bytes()[..4])
    }

    fn sign(&self, message: &str) -> String {
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        hex::encode(mac.finalize().into_bytes())
    }

    fn verifies(&self, message: &str, signature: &[u8]) -> bool {
        let mut mac = self.mac();
        mac.update(message.as_bytes());
        mac.verify_slice(signature).is_ok()
    }
}

/// One chain's head as written in a checkpoint.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Head {
    pub count: u64,
    pub last_id: i64,
    /// Hex.
    pub last_hash: String,
}

impl From<&ChainEnd> for Head {
    fn from(end: &ChainEnd) -> Self {
        Self {
            count: end.count,
            last_id: end.last_id,
            last_hash: hex::encode(&end.last_hash),
        }
    }
}

/// A checkpoint file: a small JSON document.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Checkpoint {
    pub format: String,
    /// When it was taken (RFC 3339, UTC).
    pub taken_at: String,
    pub events: Head,
    pub audit_log: Head,
    /// [`AuditKey::id`] of the signing key.
    pub key_id: String,
    /// HMAC-SHA256 (hex) of [`Checkpoint::signed_text`].
    pub signature: String,
}

/// Why a checkpoint cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CheckpointError {
    #[error("the checkpoint is not a radportal audit checkpoint: {0}")]
    Unreadable(String),
    #[error(
        "the checkpoint was signed with another key (key id {checkpoint}; {KEY_VARIABLE} has key id {ours})"
    )]
    OtherKey { checkpoint: String, ours: String },
    #[error(
        "the checkpoint's signature does not match its content: the file was altered after it was signed"
    )]
    BadSignature,
}

/// What a checkpoint with a good signature says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Verified {
    pub taken_at: String,
    pub events: ChainEnd,
    pub audit_log: ChainEnd,
}

impl Checkpoint {
    /// Signs the two heads as of `taken_at`.
    pub fn sign(key: &AuditKey, taken_at: String, events: &ChainEnd, audit_log: &ChainEnd) -> Self {
        let mut checkpoint = Self {
            format: FORMAT.to_owned(),
            taken_at,
            events: events.into(),
            audit_log: audit_log.into(),
            key_id: key.id(),
            signature: String::new(),
        };
        checkpoint.signature = key.sign(&checkpoint.signed_text());
        checkpoint
    }

    /// What the signature covers: every field but the key id and the signature, one per line.
    pub fn signed_text(&self) -> String {
        let head = |name: &str, head: &Head| {
            format!(
                "{name} {} {} {}\n",
                head.count, head.last_id, head.last_hash
            )
        };
        format!(
            "{}\ntaken_at {}\n{}{}",
            self.format,
            self.taken_at,
            head("events", &self.events),
            head("audit_log", &self.audit_log)
        )
    }

    /// The checkpoint as pretty-printed JSON.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a checkpoint serialises")
    }

    /// Reads a checkpoint file and checks its signature with `key`.
    pub fn open(text: &str, key: &AuditKey) -> Result<Verified, CheckpointError> {
        let checkpoint: Self = serde_json::from_str(text)
            .map_err(|error| CheckpointError::Unreadable(error.to_string()))?;
        if checkpoint.format != FORMAT {
            return Err(CheckpointError::Unreadable(format!(
                "its format is {:?}, not {FORMAT:?}",
                checkpoint.format
            )));
        }
        let ours = key.id();
        if checkpoint.key_id != ours {
            return Err(CheckpointError::OtherKey {
                checkpoint: checkpoint.key_id,
                ours,
            });
        }
        let signature =
            hex::decode(&checkpoint.signature).map_err(|_| CheckpointError::BadSignature)?;
        if !key.verifies(&checkpoint.signed_text(), &signature) {
            return Err(CheckpointError::BadSignature);
        }
        let end = |head: &Head| {
            hex::decode(&head.last_hash)
                .map(|last_hash| ChainEnd {
                    count: head.count,
                    last_id: head.last_id,
                    last_hash,
                })
                .map_err(|_| CheckpointError::Unreadable("a hash is not hex".to_owned()))
        };
        Ok(Verified {
            events: end(&checkpoint.events)?,
            audit_log: end(&checkpoint.audit_log)?,
            taken_at: checkpoint.taken_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(text: &str) -> AuditKey {
        AuditKey::parse(&text.repeat(32)).unwrap()
    }

    fn signed() -> Checkpoint {
        let events = ChainEnd {
            count: 3,
            last_id: 3,
            last_hash: vec![7; 32],
        };
        Checkpoint::sign(
            &key("a"),
            "2026-05-01T10:00:00Z".to_owned(),
            &events,
            &ChainEnd::genesis(),
        )
    }

    #[test]
    fn a_signed_checkpoint_opens_with_its_key() {
        let opened = Checkpoint::open(&signed().to_json(), &key("a")).unwrap();
        assert_eq!(opened.events.count, 3);
        assert_eq!(opened.events.last_hash, vec![7; 32]);
        assert_eq!(opened.audit_log, ChainEnd::genesis());
    }

    #[test]
    fn an_altered_checkpoint_or_another_key_is_refused() {
        let mut altered = signed();
        altered.events.count = 2;
        assert_eq!(
            Checkpoint::open(&altered.to_json(), &key("a")),
            Err(CheckpointError::BadSignature)
        );
        assert!(matches!(
            Checkpoint::open(&signed().to_json(), &key("b")),
            Err(CheckpointError::OtherKey { .. })
        ));
        assert!(matches!(
            Checkpoint::open("{}", &key("a")),
            Err(CheckpointError::Unreadable(_))
        ));
    }

    #[test]
    fn short_or_missing_keys_are_refused() {
        assert_eq!(AuditKey::parse("").unwrap_err(), KeyError::Missing);
        assert_eq!(AuditKey::parse("short").unwrap_err(), KeyError::TooShort);
        assert!(!format!("{:?}", key("s")).contains("sss"));
    }
}
