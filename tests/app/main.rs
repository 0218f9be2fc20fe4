//! Integration tests: a real server on a free port over a fresh PostgreSQL database per test.

mod catalog_pages;
mod cli;
mod health;
mod helpers;
mod import;
mod relevance;
mod search;
