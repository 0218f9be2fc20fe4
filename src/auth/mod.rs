//! Accounts: e-mail addresses, password hashing and the administrator accounts made from the command line.

pub mod db;
pub mod model;
pub mod password;
