//! Integration tests: a real server on a free port over a fresh PostgreSQL database per test.

mod access;
mod account_data;
mod accounts;
mod api;
mod audit;
mod auth;
mod authorization;
mod browser;
mod cache_control;
mod catalog_pages;
mod ckan;
mod cli;
mod curation;
mod database_outage;
mod edge;
mod governance;
mod health;
mod helpers;
mod hostile;
mod import;
mod layers;
mod metadata;
mod races;
mod relevance;
mod schemathesis;
mod search;
