//! The policy module's errors, below every other part of it: [`PolicyError`] (a set did not load: path, line,
//! reason) and `CompileError` (one policy did not compile; the loader adds the file), with the helpers their
//! messages use. Nothing here depends on another part of `policy`.

use std::fmt;
use std::path::PathBuf;

/// Why a policy set did not load. Displayed as `path:line: reason` when the line is known, else `path: reason`.
#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    /// The directory or a file in it could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// A file is not valid YAML, does not have the policy's shape, or breaks a rule of the language.
    #[error("{}: {message}", SourceLine(.path, *.line))]
    InvalidPolicy { path: String, line: Option<u64>, message: String },
    /// A policy names an issuer that is not configured as trusted.
    #[error("{}: role {role} names issuer {issuer:?}, which is not a configured trusted issuer", SourceLine(.path, *.line))]
    UnknownIssuer { path: String, line: Option<u64>, role: String, issuer: String },
    /// An allow statement of a policy on a shared issuer does not pin the tenant.
    #[error(
        "{}: role {role}: allow statement {statement} does not pin the tenant of a shared issuer: {} with a \
         StringEquals on fixed values (or set allow_unpinned_tenant: true)",
        SourceLine(.path, *.line),
        pin_hint(.claims)
    )]
    UnpinnedTenant { path: String, line: Option<u64>, role: String, statement: usize, claims: Vec<String> },
    /// Two files define the same role.
    #[error("role {role} is defined twice: in {first} and in {second}")]
    DuplicateRole { role: String, first: String, second: String },
}

/// Why one policy did not compile; the loader adds the file name.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) enum CompileError {
    Invalid { line: Option<u64>, message: String },
    UnknownIssuer { line: Option<u64>, role: String, issuer: String },
    UnpinnedTenant { line: Option<u64>, role: String, statement: usize, claims: Vec<String> },
}

impl CompileError {
    pub(in crate::policy) fn at(line: Option<u64>, message: impl Into<String>) -> CompileError {
        CompileError::Invalid { line, message: message.into() }
    }
}

/// Formats `path:line` or just `path`.
struct SourceLine<'a>(&'a str, Option<u64>);

impl fmt::Display for SourceLine<'_> {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            Some(line) => write!(formatter, "{}:{line}", self.0),
            None => formatter.write_str(self.0),
        }
    }
}

/// `pin a`, `pin a or b`, `pin a, b or c`.
pub(super) fn pin_hint(claims: &[String]) -> String {
    match claims.split_last() {
        None => "pin a tenant claim".to_owned(),
        Some((last, [])) => format!("pin {last}"),
        Some((last, rest)) => format!("pin {} or {last}", rest.join(", ")),
    }
}

/// Escapes control characters so a parser message cannot break the line it is logged on.
pub(super) fn printable(message: &str) -> String {
    message
        .chars()
        .flat_map(|character| {
            let escaped: Vec<char> =
                if character.is_control() { character.escape_default().collect() } else { vec![character] };
            escaped
        })
        .collect()
}
