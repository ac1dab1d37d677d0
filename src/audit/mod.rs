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
        if let Err(error) = self.try_write_line(line) {
            tracing::error!(error = %error, "Writing the audit log failed.");
        }
    }

    fn try_write_line(&self, line: &str) -> std::io::Result<()> {
        let mut target = self.target.lock().map_err(|_| std::io::Error::other("the audit log's lock is poisoned"))?;
        match &mut *target {
            Target::Stdout => {
                let mut out = std::io::stdout().lock();
                out.write_all(line.as_bytes()).and_then(|()| out.flush())
            }
            Target::File(file) => file.write_all(line.as_bytes()).and_then(|()| file.flush()),
        }
    }

    /// Writes an admin action's line; the caller refuses the action when this fails (the audit fails closed).
    pub fn admin(&self, event: &AdminEvent<'_>) -> std::io::Result<()> {
        let result = self.try_write_line(&admin_line(event));
        if let Err(error) = &result {
            tracing::error!(error = %error, action = event.action, "Writing an admin action's audit line failed; the action is refused.");
        }
        result
    }
}

fn append(path: &PathBuf) -> std::io::Result<File> {
    OpenOptions::new().create(true).append(true).open(path)
}

/// One call of the admin API, as its audit line holds it (never a secret: sessions and credentials appear
/// only as ids).
#[derive(Debug)]
pub struct AdminEvent<'a> {
    pub time: crate::clock::UnixTime,
    pub request_id: &'a str,
    /// `None` before anyone signed in (a refused sign-in).
    pub actor: Option<&'a str>,
    pub provider: Option<&'a str>,
    pub subject: Option<&'a str>,
    pub session_id: Option<&'a str>,
    /// The route's action name, e.g. `runners.create`.
    pub action: &'a str,
    pub target: &'a str,
    /// `allowed` (written before acting), `denied`, or `failed: CODE` (after an allowed action failed).
    pub result: &'a str,
    pub client_addr: Option<&'a str>,
}

/// The audit line of an admin action.
pub fn admin_line(event: &AdminEvent<'_>) -> String {
    let record = json!({
        "time": event.time.to_rfc3339(),
        "type": "admin",
        "request_id": event.request_id,
        "actor": event.actor,
        "provider": event.provider,
        "subject": event.subject,
        "session_id": event.session_id,
        "action": event.action,
        "target": event.target,
        "result": event.result,
        "client_addr": event.client_addr,
    });
    let mut text = record.to_string();
    text.push('\n');
    text
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
