//! Grammars for the small values that end up in shell scripts, init files, nginx files or
//! AWS calls. Each checker returns the value on success and, on failure, one sentence that
//! names the value and states the rule, so that config and flag errors read the same way.
//!
//! The grammars are deliberately narrower than what the target syntax could quote: a value
//! that never needs quoting can never be mis-quoted.
//!
//! One file per family of values, by where they end up: `shell.rs` (shell scripts and
//! init files), `nginx.rs`, `aws.rs` (AWS calls only), `urls.rs` (URLs and the credentials
//! in them). Callers name them all as `grammar::…`.

mod aws;
mod nginx;
mod shell;
mod urls;

pub use aws::*;
pub use nginx::*;
pub use shell::*;
pub use urls::*;
