//! The error type commands return to the top, and the exit code each maps to.

/// A failed command: what to tell the user and the process exit code.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct CliError {
    pub message: String,
    pub code: i32,
    /// The error underneath, kept for its kind and its chain (`source()`).
    #[source]
    pub source: Option<Box<dyn std::error::Error + Send + Sync>>,
}

impl CliError {
    /// A failed write or read (exit 1), keeping the I/O error: a closed stdout (`| head`)
    /// is told apart by its kind, not by its message.
    pub fn io(e: std::io::Error) -> Self {
        CliError {
            message: e.to_string(),
            code: 1,
            source: Some(Box::new(e)),
        }
    }

    /// A failure (exit `code`) told by an error, which stays its source.
    pub fn caused_by(e: impl std::error::Error + Send + Sync + 'static, code: i32) -> Self {
        CliError {
            message: e.to_string(),
            code,
            source: Some(Box::new(e)),
        }
    }

    /// Whether the command stopped because its output's reader went away.
    pub fn is_broken_pipe(&self) -> bool {
        self.source
            .as_deref()
            .and_then(|s| s.downcast_ref::<std::io::Error>())
            .is_some_and(|e| e.kind() == std::io::ErrorKind::BrokenPipe)
    }

    /// The same error with another exit code.
    pub fn with_code(self, code: i32) -> Self {
        CliError { code, ..self }
    }

    /// A failure of the work itself (exit 1).
    pub fn failed(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 1,
            source: None,
        }
    }

    /// Bad input on the command line (exit 2).
    pub fn usage(message: impl Into<String>) -> Self {
        CliError {
            message: message.into(),
            code: 2,
            source: None,
        }
    }
}

impl From<std::io::Error> for CliError {
    fn from(e: std::io::Error) -> Self {
        CliError::io(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_closed_pipe_is_told_by_its_kind_and_the_chain_is_kept() {
        let e = CliError::io(std::io::Error::from(std::io::ErrorKind::BrokenPipe));
        assert!(e.is_broken_pipe());
        assert!(std::error::Error::source(&e).is_some());
        // A message that merely says so is not a closed pipe.
        assert!(!CliError::failed("Broken pipe (os error 32)").is_broken_pipe());
        let other = CliError::io(std::io::Error::other("disk full"));
        assert!(!other.is_broken_pipe());
        assert_eq!(other.with_code(3).code, 3);
    }
}
