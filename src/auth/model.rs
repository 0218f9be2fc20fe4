//! Account types: checked e-mail addresses and ORCID iDs, the user record and its role, credentials and
//! API token scopes.

use std::fmt;

use time::OffsetDateTime;

/// An e-mail address that passed the portal's checks. Build it with [`Email::parse`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    /// The longest address accepted, in bytes (the limit of SMTP paths).
    pub const MAX_LEN: usize = 254;

    /// Trims and checks an address: one `@`, a dotted domain, no spaces, at most 254 characters.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let email = raw.trim();
        let valid = email.len() <= Self::MAX_LEN
            && !email.chars().any(|c| c.is_whitespace() || c.is_control())
            && match email.split_once('@') {
                Some((local, domain)) => {
                    !local.is_empty()
                        && !domain.contains('@')
                        && domain.contains('.')
                        && !domain.starts_with('.')
                        && !domain.ends_with('.')
                }
                None => false,
            };
        if valid {
            Ok(Self(email.to_owned()))
        } else {
            Err(format!("'{email}' is not a valid e-mail address"))
        }
    }

    /// The address or iD as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// An ORCID iD in its canonical form `0000-0002-1825-0097`, with a valid ISO 7064 11,2 check digit.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Orcid(String);

impl Orcid {
    /// Accepts the bare iD or its `https://orcid.org/` form; checks the digits and the checksum.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let trimmed = raw.trim();
        let bare = trimmed
            .strip_prefix("https://orcid.org/")
            .or_else(|| trimmed.strip_prefix("http://orcid.org/"))
            .or_else(|| trimmed.strip_prefix("orcid.org/"))
            .unwrap_or(trimmed);
        let chars: Vec<char> = bare.chars().filter(|c| *c != '-').collect();
        let shaped = bare.len() == 19
            && bare.char_indices().all(|(i, c)| {
                if [4, 9, 14].contains(&i) {
                    c == '-'
                } else {
                    c.is_ascii_digit() || (i == 18 && c == 'X')
                }
            });
        if !shaped || chars.len() != 16 {
            return Err("An ORCID iD looks like 0000-0002-1825-0097.".to_owned());
        }
        let total = chars[..15]
            .iter()
            .fold(0u32, |total, c| (total + c.to_digit(10).unwrap_or(0)) * 2);
        let check = (12 - total % 11) % 11;
        let expected = if check == 10 {
            'X'
        } else {
            char::from_digit(check, 10).unwrap_or('0')
        };
        if chars[15] != expected {
            return Err(
                "That ORCID iD has a wrong check digit; please copy it again from orcid.org."
                    .to_owned(),
            );
        }
        Ok(Self(bare.to_owned()))
    }

    /// The address or iD as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// What an account may do, from its data: the admin flag, or membership of a Data Access Committee.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    Researcher,
    Reviewer,
    Admin,
}

impl Role {
    /// The role's name as pages show it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Researcher => "Researcher",
            Self::Reviewer => "Reviewer (Data Access Committee member)",
            Self::Admin => "Administrator",
        }
    }
}

/// The longest name a profile may have, in characters.
pub const MAX_NAME_CHARS: usize = 200;
/// The longest institution a profile may have, in characters.
pub const MAX_INSTITUTION_CHARS: usize = 200;

/// An account.
#[derive(Clone, Debug)]
pub struct User {
    pub id: i64,
    pub email: String,
    pub name: String,
    pub institution: String,
    pub orcid: Option<String>,
    pub is_admin: bool,
    pub is_reviewer: bool,
    pub email_verified_at: Option<OffsetDateTime>,
    pub disabled_at: Option<OffsetDateTime>,
    pub closed_at: Option<OffsetDateTime>,
    pub created_at: OffsetDateTime,
    /// In-app notifications not read yet.
    pub unread_notifications: i64,
    /// Datasets in the cart, waiting for a request.
    pub cart_items: i64,
}

impl User {
    /// The highest role the account holds.
    pub fn role(&self) -> Role {
        if self.is_admin {
            Role::Admin
        } else if self.is_reviewer {
            Role::Reviewer
        } else {
            Role::Researcher
        }
    }

    /// Whether the account may sign in at all.
    pub fn is_active(&self) -> bool {
        self.disabled_at.is_none() && self.closed_at.is_none()
    }
}

/// What a personal API token allows.
#[derive(Clone, Copy, Debug, PartialEq, Eq, sqlx::Type, serde::Serialize, serde::Deserialize)]
#[sqlx(type_name = "api_token_scope", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum TokenScope {
    /// Reading through `/api/v1`.
    Read,
    /// Reading and changing through `/api/v1`.
    ReadWrite,
    /// A data host reading the entitlements API (administrators create these).
    DataHost,
}

impl TokenScope {
    /// Every scope.
    pub const ALL: [Self; 3] = [Self::Read, Self::ReadWrite, Self::DataHost];

    /// The scope's name in the database and in forms.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "read",
            Self::ReadWrite => "read_write",
            Self::DataHost => "data_host",
        }
    }

    /// The scope as forms and lists show it.
    pub fn label(self) -> &'static str {
        match self {
            Self::Read => "Read only",
            Self::ReadWrite => "Read and write",
            Self::DataHost => "Data host (entitlements)",
        }
    }

    /// The scopes `user` may create tokens with.
    pub fn available_to(user: &User) -> Vec<Self> {
        Self::ALL
            .into_iter()
            .filter(|scope| *scope != Self::DataHost || user.is_admin)
            .collect()
    }

    /// The scope named `raw`, if any.
    pub fn parse(raw: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|scope| scope.as_str() == raw)
    }

    /// Whether a token with this scope may make changes.
    pub fn can_write(self) -> bool {
        self == Self::ReadWrite
    }
}

/// An upstream credential a researcher holds (e.g. "PhysioNet credentialed"), shown to reviewers.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Credential {
    pub id: i64,
    pub user_id: i64,
    pub kind: String,
    pub issuer: String,
    pub identifier: String,
    pub issued_on: Option<time::Date>,
    pub expires_on: Option<time::Date>,
    pub evidence_name: Option<String>,
    pub evidence_type: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    pub created_at: OffsetDateTime,
}

impl Credential {
    /// Whether the credential has expired on `today`.
    pub fn is_expired(&self, today: &time::Date) -> bool {
        self.expires_on.is_some_and(|expires| expires < *today)
    }
}

/// Credentials researchers commonly record; any other name may be typed.
pub const CREDENTIAL_KINDS: &[&str] = &[
    "PhysioNet credentialed user",
    "CITI Data or Specimens Only Research",
    "CITI Human Subjects Research",
    "TCIA restricted collection access",
    "NIH dbGaP authorized access",
    "UK Biobank approved researcher",
    "Institutional data-protection training",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_addresses() {
        assert_eq!(
            Email::parse("  ada@example.org ").unwrap().as_str(),
            "ada@example.org"
        );
        assert!(Email::parse("first.last+tag@sub.example.ac.uk").is_ok());
    }

    #[test]
    fn orcid_checksums() {
        assert_eq!(
            Orcid::parse("0000-0002-1825-0097").unwrap().as_str(),
            "0000-0002-1825-0097"
        );
        assert_eq!(
            Orcid::parse(" https://orcid.org/0000-0001-5109-3700 ")
                .unwrap()
                .as_str(),
            "0000-0001-5109-3700"
        );
        assert!(Orcid::parse("0000-0002-1694-233X").is_ok());
        assert!(
            Orcid::parse("0000-0002-1825-0098")
                .unwrap_err()
                .contains("check digit")
        );
        for bad in [
            "",
            "0000-0002-1825-009",
            "0000000218250097",
            "0000-0002-1825-00X7",
            "abcd-0002-1825-0097",
        ] {
            assert!(Orcid::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn rejects_malformed_addresses() {
        for raw in [
            "",
            "ada",
            "ada@",
            "@example.org",
            "ada@example",
            "a da@example.org",
            "a@b@c.org",
            "ada@.org",
        ] {
            assert!(Email::parse(raw).is_err(), "{raw}");
        }
    }
}
