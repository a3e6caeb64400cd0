//! HTTP tests of the Workspace emulator, each against its own `Emulator::start()` instance.

mod helpers;

mod calendar;
mod control;
mod gmail;
mod google_crates;
mod oauth;
mod people;
