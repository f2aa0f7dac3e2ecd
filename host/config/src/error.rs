//! Configuration errors with file, line/column and key-path context.

use std::fmt;
use std::path::PathBuf;

/// One problem found in a configuration: where it is and what is wrong.
///
/// Displayed as `file:line:column: key.path: message; did you mean `x`?`, leaving out the
/// parts that are unknown.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// File the problem was found in, when the configuration came from a file.
    pub file: Option<PathBuf>,
    /// 1-based line of the offending key or value, when known.
    pub line: Option<usize>,
    /// 1-based column of the offending key or value, when known.
    pub column: Option<usize>,
    /// Traefik key path of the offending entry, e.g. `http.routers.api.rule`; empty for
    /// problems that concern a whole document.
    pub key_path: String,
    /// What is wrong.
    pub message: String,
    /// A replacement the user probably meant (a key or name), shown as "did you mean".
    pub suggestion: Option<String>,
}

impl ConfigError {
    /// An error with a key path and message, without location.
    pub fn new(key_path: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigError {
            file: None,
            line: None,
            column: None,
            key_path: key_path.into(),
            message: message.into(),
            suggestion: None,
        }
    }

    /// True when the message reports a Traefik feature wasmgate does not implement.
    pub fn is_unsupported(&self) -> bool {
        self.message
            .starts_with(crate::features::UNSUPPORTED_PREFIX)
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => {
                write!(f, "{}:{line}", file.display())?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
                f.write_str(": ")?;
            }
            (Some(file), None) => write!(f, "{}: ", file.display())?,
            (None, Some(line)) => {
                write!(f, "line {line}")?;
                if let Some(column) = self.column {
                    write!(f, ":{column}")?;
                }
                f.write_str(": ")?;
            }
            (None, None) => {}
        }
        if !self.key_path.is_empty() {
            write!(f, "{}: ", self.key_path)?;
        }
        f.write_str(&self.message)?;
        if let Some(suggestion) = &self.suggestion {
            write!(f, "; did you mean `{suggestion}`?")?;
        }
        Ok(())
    }
}

impl std::error::Error for ConfigError {}

/// Every problem found while loading or validating configuration, one per line when displayed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{}", display_all(.0))]
pub struct ConfigErrors(pub Vec<ConfigError>);

fn display_all(errors: &[ConfigError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n")
}

impl ConfigErrors {
    /// Number of errors.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no error (never the case for a returned `Err`).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The errors, in file and line order.
    pub fn iter(&self) -> std::slice::Iter<'_, ConfigError> {
        self.0.iter()
    }

    /// Wraps `errors`, sorted by file, line and column; `Ok(())` when there are none.
    pub fn from_vec(mut errors: Vec<ConfigError>) -> Result<(), ConfigErrors> {
        if errors.is_empty() {
            return Ok(());
        }
        sort_errors(&mut errors);
        Err(ConfigErrors(errors))
    }
}

/// Sorts errors by file, then position, keeping the discovery order otherwise, and drops
/// exact duplicates.
pub(crate) fn sort_errors(errors: &mut Vec<ConfigError>) {
    errors.sort_by(|a, b| {
        (&a.file, a.line.unwrap_or(usize::MAX), a.column.unwrap_or(0)).cmp(&(
            &b.file,
            b.line.unwrap_or(usize::MAX),
            b.column.unwrap_or(0),
        ))
    });
    let mut seen = Vec::<ConfigError>::new();
    errors.retain(|e| {
        if seen.contains(e) {
            false
        } else {
            seen.push(e.clone());
            true
        }
    });
}

impl From<ConfigError> for ConfigErrors {
    fn from(error: ConfigError) -> Self {
        ConfigErrors(vec![error])
    }
}

impl IntoIterator for ConfigErrors {
    type Item = ConfigError;
    type IntoIter = std::vec::IntoIter<ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl<'a> IntoIterator for &'a ConfigErrors {
    type Item = &'a ConfigError;
    type IntoIter = std::slice::Iter<'a, ConfigError>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// A problem at a key path, before it is located in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Issue {
    pub(crate) path: crate::locate::KeyPath,
    pub(crate) message: String,
    pub(crate) suggestion: Option<String>,
}

impl Issue {
    pub(crate) fn new(path: crate::locate::KeyPath, message: impl Into<String>) -> Self {
        Issue {
            path,
            message: message.into(),
            suggestion: None,
        }
    }

    pub(crate) fn suggest(mut self, suggestion: Option<&str>) -> Self {
        self.suggestion = suggestion.map(str::to_string);
        self
    }

    /// The error without location.
    pub(crate) fn unlocated(self) -> ConfigError {
        ConfigError {
            file: None,
            line: None,
            column: None,
            key_path: self.path.to_string(),
            message: self.message,
            suggestion: self.suggestion,
        }
    }
}
