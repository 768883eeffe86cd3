//! raw → model: every value through its grammar, every error located (file, line, key).
//! One file per file kind: `recipe.rs` (`amis/<service>.toml`), `environment.rs`
//! (`environments/<env>.toml`, and the checks across environments), `service.rs` (one
//! service's block of an environment); `Check`, here, collects the errors of one file.

mod environment;
mod recipe;
mod service;

pub use environment::{cross_checks, environment, HostPorts};
pub use recipe::recipe;

use super::source::Source;
use super::ConfigError;
use crate::domain::Duration;

/// Collects the errors of one file.
pub struct Check<'a> {
    pub src: &'a Source,
    pub errors: Vec<ConfigError>,
}

impl<'a> Check<'a> {
    pub fn new(src: &'a Source) -> Self {
        Self { src, errors: Vec::new() }
    }
    pub fn err(&mut self, path: &[&str], msg: impl Into<String>) {
        let e = self.src.error(path, msg);
        self.errors.push(e);
    }
    pub fn required<T>(&mut self, path: &[&str], v: Option<T>) -> Option<T> {
        if v.is_none() {
            self.err(path, "is required");
        }
        v
    }
    pub fn ok<T>(&mut self, path: &[&str], r: Result<T, String>) -> Option<T> {
        r.map_err(|m| self.err(path, m)).ok()
    }
    /// A duration within `bounds` (see `domain::duration::bounds`), or `default`.
    pub(super) fn duration(
        &mut self,
        path: &[&str],
        v: Option<String>,
        default: u64,
        (min, max): (Duration, Duration),
    ) -> Option<Duration> {
        match v {
            None => Some(Duration::from_secs(default)),
            Some(s) => self.ok(path, Duration::parse_within(&s, min, max)),
        }
    }
    pub(super) fn count(&mut self, path: &[&str], v: Option<i64>, range: (i64, i64)) -> Option<u32> {
        let n = v?;
        if n < range.0 || n > range.1 {
            self.err(path, format!("{n} is out of range: a whole number from {} to {} is allowed", range.0, range.1));
            return None;
        }
        u32::try_from(n).ok()
    }
}
