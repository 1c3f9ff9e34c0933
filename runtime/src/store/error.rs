//! The one error of every store (users, settings, functions, invocations, events; sled or
//! PostgreSQL): what was not
//! found names its own subject, so no message speaks of a user where a function was meant.

use std::fmt;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{0} not found")]
    NotFound(Subject),
    /// The message says what already exists.
    #[error("{0}")]
    Conflict(String),
    #[error("{0}")]
    Invalid(String),
    #[error("store failure: {0}")]
    Storage(#[from] sled::Error),
    /// PostgreSQL answered with an error that is not the caller's.
    #[error("database failure: {0}")]
    Database(String),
    /// The shared database cannot be reached (or is shutting down): try again later.
    #[error("{0}")]
    Unavailable(String),
    #[error("the store holds a record it cannot read: {0}")]
    Corrupt(#[from] serde_json::Error),
}

/// What was looked for and not found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Subject {
    User(u64),
    UserNamed(String),
    Secret { user: u64, name: String },
    Function(u64),
    Version { function: u64, number: u64 },
}

impl fmt::Display for Subject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Subject::User(id) => write!(f, "user {id}"),
            Subject::UserNamed(name) => write!(f, "user named {name:?}"),
            Subject::Secret { user, name } => write!(f, "secret {name:?} of user {user}"),
            Subject::Function(id) => write!(f, "function {id}"),
            Subject::Version { function, number } => {
                write!(f, "version {number} of function {function}")
            }
        }
    }
}
