//! [`Secret`]: a configured value that must never reach a log (a master key, a database URL
//! with its password). Here because the master keys' configuration ([`crate::master_keys`])
//! holds them; the server's configuration wraps its `database_url` in it too.

use serde::{Deserialize, Serialize};
use std::fmt;

/// A value that must never reach a log: `Debug` prints `[redacted]`.
#[derive(Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("[redacted]")
    }
}
