//! The one place that maps failures to the exit codes of SPEC.md.

use crate::config::ConfigErrors;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input or configuration; nothing was touched. Exit 2.
    #[error("{0}")]
    Config(#[from] ConfigErrors),
    /// A bad flag value or a request that does not fit the config. Exit 2.
    #[error("{0}")]
    Usage(String),
    /// The operation failed and the live service is as it was. Exit 1.
    #[error("{0}")]
    Failed(String),
    /// The cluster is busy with another operation. Exit 3.
    #[error("{0}")]
    Busy(String),
    /// Failed, and the state needs attention: the message says exactly what. Exit 4.
    #[error("{0}")]
    NeedsAttention(String),
    /// Interrupted by a signal; cleanup done. Exit 130.
    #[error("{0}")]
    Interrupted(String),
    /// A multi-service command whose results (failures included) are already on stdout:
    /// only the exit code (the worst one) and a summary for stderr remain.
    #[error("{summary}")]
    Reported { code: i32, summary: String },
}

impl Error {
    pub fn exit_code(&self) -> i32 {
        match self {
            Error::Config(_) | Error::Usage(_) => 2,
            Error::Failed(_) => 1,
            Error::Busy(_) => 3,
            Error::NeedsAttention(_) => 4,
            Error::Interrupted(_) => 130,
            Error::Reported { code, .. } => *code,
        }
    }
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_follow_the_spec() {
        assert_eq!(Error::Usage("x".into()).exit_code(), 2);
        assert_eq!(Error::Config(ConfigErrors(vec![])).exit_code(), 2);
        assert_eq!(Error::Failed("x".into()).exit_code(), 1);
        assert_eq!(Error::Busy("x".into()).exit_code(), 3);
        assert_eq!(Error::NeedsAttention("x".into()).exit_code(), 4);
        assert_eq!(Error::Interrupted("x".into()).exit_code(), 130);
    }
}
