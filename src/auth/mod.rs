//! Accounts: registration, e-mail confirmation and password reset, sessions, throttling, roles, the
//! researcher's profile and credentials, personal API tokens, and who is asking.

pub mod account;
pub mod bootstrap;
pub mod db;
pub mod mails;
pub mod model;
pub mod password;
pub mod session;
pub mod throttle;
