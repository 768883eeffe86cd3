//! The integration tests: one crate, so that the AWS SDK is linked once for all of them.
//! Each module was its own test crate before; a test's path is its old file's name, e.g.
//! `cargo test --features test-hooks --test it deploy::` runs what `tests/deploy.rs` held.
//!
//! tests/common holds what the modules share: the example tree, the emulator and its SDK
//! clients, the drydock command, background runs and the builder guest.

#[path = "../common/mod.rs"]
mod common;

mod bad_input;
mod bake;
mod canary;
mod cli;
mod cross_account;
mod deploy;
mod fuzz;
mod hostile;
mod lifecycle;
mod operator;
mod plan_matches;
mod routes;
mod scaling;
mod settings;
mod snapshots;
