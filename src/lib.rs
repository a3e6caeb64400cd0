//! workspace-gateway: a multi-tenant REST service that acts for agent mailboxes of
//! customer brokerages on Google Workspace through domain-wide delegation, to sync
//! contacts (People API), calendar events (Calendar API) and send mail (Gmail API).

#![forbid(unsafe_code)]

pub mod audit;
pub mod auth;
pub mod brokerages;
pub mod config;
pub mod contacts;
pub mod credentials;
pub mod demo;
pub mod error;
pub mod events;
pub mod google;
pub mod health;
pub mod messages;
pub mod openapi;
pub mod startup;
pub mod state;
pub mod storage;
pub mod telemetry;
pub mod users;
pub mod validate;
pub mod verification;

pub use config::Settings;
pub use startup::{launch, Application};
