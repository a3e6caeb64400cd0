//! End-to-end tests: the gateway over HTTP against the Workspace emulator, on
//! SQLite and on PostgreSQL. Set `TEST_LOG=1` to see the logs.

mod helpers;

mod access;
mod contacts;
mod events;
mod input_errors;
mod messages;
mod onboarding;
mod openapi;
mod secrets;
mod verification;
