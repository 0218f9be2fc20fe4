//! Access to controlled datasets: committees, agreements, projects, requests and their review, grants,
//! the hash-chained event log, notifications, and the time-driven work on grants.

pub mod attachments;
pub mod db;
pub mod events;
pub mod example;
pub mod fit;
pub mod governance;
pub mod lifecycle;
pub mod model;
pub mod projects;
pub mod state;
pub mod timeline;
pub mod workflow;
