//! Accounts: registration, e-mail confirmation and password reset, signing in (with a password and
//! optionally a second factor, or through an institution's OpenID Connect provider), sessions,
//! throttling, roles, the researcher's profile and credentials, personal API tokens, what
//! administrators do to accounts, the first administrator of a fresh install, and the audit trail
//! administrators read.
//!
//! `db` holds the SQL, one statement per function; the operation modules (`account`, `admin`,
//! `credentials`, `registration`, `sign_in`, `tokens`, `two_factor`) each run one user action in one
//! transaction; `totp` and `sealing` are the pure parts of two-factor sign-in, and `oidc` signs people
//! in through their institution.

pub mod account;
pub mod admin;
pub mod audit_log;
pub mod bootstrap;
pub mod credentials;
pub mod db;
pub mod mails;
pub mod model;
pub mod oidc;
pub mod password;
pub mod registration;
pub mod sealing;
pub mod session;
pub mod sign_in;
pub mod throttle;
pub mod tokens;
pub mod totp;
pub mod two_factor;
