//! The catalog: organizations and datasets, their curation and history, search and its anonymous
//! log, and importing the exchange format.

pub mod analysis;
pub mod batch;
pub mod curation;
pub mod db;
pub mod duo;
pub mod import;
pub mod index;
pub mod links;
pub mod metadata;
pub mod model;
pub mod organizations;
pub mod provenance;
pub mod query;
pub mod related;
pub mod search;
pub mod search_log;
pub mod textindex;
pub mod validate;
pub mod vocabulary;
pub mod watch;
