//! The audit log: one JSON line per decision, from any front door, to stdout or a file (`audit.path`), reopened
//! on SIGHUP so it can be rotated.
//!
//! A line holds who asked, for what, and what was decided and why; a credential appears only as its SHA-256.
//! Never a token, never a secret: the event type it is built from holds none.

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;

use serde_json::json;

use crate::broker::{DecisionEvent, DecisionSink};

/// Config `audit:`.
#[derive(Clone, Debug, Default)]
pub struct AuditConfig {
    /// Append to this file; `None` writes to stdout.
    pub path: Option<PathBuf>,
}

enum Target {
    Stdout,
    File(File),
}

/// The audit writer.
pub struct Audit {
    path: Option<PathBuf>,
    target: Mutex<Target>,
}

impl Audit {
    pub fn open(config: &AuditConfig) -> std::io::Result<Audit> {
        let target = match &config.path {
            None => Target::Stdout,
            Some(path) => Target::File(append(path)?),
        };
        Ok(Audit { path: config.path.clone(), target: Mutex::new(target) })
    }

    /// Reopens the file (after a rotation moved it away); a no-op for stdout.
    pub fn reopen(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        let file = append(path)?;
        if let Ok(mut target) = self.target.lock() {
            *target = Target::File(file);
        }
        Ok(())
    }

    fn write_line(&self, line: &str) {
        let Ok(mut target) = self.target.lock() else { return };
        let written = match &mut *target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).and_then(|()| out.flush())
            }
            Target::File(file) => file.write_all(line.as_bytes()),
        };
        if let Err(error) = written {
            tracing::error!(error = %error, "Writing the audit log failed.");
        }
    }
}

fn append(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// The audit line of a decision.
pub fn line(event: &DecisionEvent<'_>) -> String {
    let record = json!({
        "time": event.time.to_rfc3339(),
        "request_id": event.context.request_id,
        "front_door": event.front_door.as_str(),
        "issuer": event.issuer,
        "sub": event.sub,
        "jti": event.inbound_jti,
        "role": event.role,
        "decision": event.outcome.as_str(),
        "reason": event.reason.as_str(),
        "detail": event.detail,
        "credential_sha256": event.credential_sha256,
        "expires_at": event.expires_at.map(|t| t.to_rfc3339()),
        "client_addr": event.context.client_addr,
        "user_agent": event.context.user_agent,
        "duration_ms": (event.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
    });
    let mut text = record.to_string();
    text.push('\n');
    text
}

impl DecisionSink for Audit {
    fn record(&self, event: &DecisionEvent<'_>) {
        self.write_line(&line(event));
    }
}
