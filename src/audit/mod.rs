//! The audit log: one JSON line per decision, from any front door, to stdout or a file (`audit.path`), reopened
//! on SIGHUP so it can be rotated; one line per admin action, written before the action runs; and, after a
//! decision the candidate policy set (`shadow.policies`) would have made otherwise, a `shadow_disagreement` line.
//!
//! A line holds who asked, for what, and what was decided and why; a credential appears only as its SHA-256.
//! Never a token, never a secret: the event type it is built from holds none. Decision lines are written off the
//! request path in batches (`writer`); `close` (at shutdown) writes what is left.

mod claims;
mod writer;

pub use claims::ClaimsRecord;

use std::fs::{File, OpenOptions};
use std::path::PathBuf;
use std::time::Duration;

use serde::Serialize;

use crate::broker::{DecisionEvent, DecisionSink};
use writer::{Target, Writer};

/// How long a decision line may wait in memory before it is written, by default.
pub const DEFAULT_FLUSH_INTERVAL: Duration = Duration::from_millis(5);

/// Config `audit:`.
#[derive(Clone, Debug)]
pub struct AuditConfig {
    /// Append to this file; `None` writes to stdout.
    pub path: Option<PathBuf>,
    /// `flush_interval_ms`: decision lines are written in batches at least this often; zero writes each line
    /// before the answer leaves.
    pub flush_interval: Duration,
    /// `claims`: which claims a decision line records.
    pub claims: ClaimsRecord,
}

impl Default for AuditConfig {
    fn default() -> Self {
        Self { path: None, flush_interval: DEFAULT_FLUSH_INTERVAL, claims: ClaimsRecord::default() }
    }
}

/// The audit writer.
pub struct Audit {
    path: Option<PathBuf>,
    writer: Writer,
    claims: ClaimsRecord,
}

impl Audit {
    pub fn open(config: &AuditConfig) -> std::io::Result<Audit> {
        let target = match &config.path {
            None => Target::Stdout,
            Some(path) => Target::File(append(path)?),
        };
        let writer = Writer::start(target, config.flush_interval)?;
        Ok(Audit { path: config.path.clone(), writer, claims: config.claims })
    }

    /// Reopens the file (after a rotation moved it away); a no-op for stdout. Lines recorded before go to the
    /// old file.
    pub fn reopen(&self) -> std::io::Result<()> {
        let Some(path) = &self.path else { return Ok(()) };
        self.writer.replace_target(Target::File(append(path)?))
    }

    /// Writes every recorded line now (tests, before reading the file).
    pub fn flush(&self) -> std::io::Result<()> {
        self.writer.flush()
    }

    /// Writes what is left and stops the background writer (at shutdown); later lines are written at once.
    pub fn close(&self) {
        self.writer.close();
    }

    /// Writes an admin action's line (and every decision line before it); the caller refuses the action when
    /// this fails (the audit fails closed).
    pub fn admin(&self, event: &AdminEvent<'_>) -> std::io::Result<()> {
        let result = self.writer.write_now(admin_line(event).as_bytes());
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
    #[derive(Serialize)]
    struct Line<'a> {
        time: String,
        #[serde(rename = "type")]
        kind: &'static str,
        request_id: &'a str,
        actor: Option<&'a str>,
        provider: Option<&'a str>,
        subject: Option<&'a str>,
        session_id: Option<&'a str>,
        action: &'a str,
        target: &'a str,
        result: &'a str,
        client_addr: Option<&'a str>,
    }
    let line = Line {
        time: event.time.to_rfc3339(),
        kind: "admin",
        request_id: event.request_id,
        actor: event.actor,
        provider: event.provider,
        subject: event.subject,
        session_id: event.session_id,
        action: event.action,
        target: event.target,
        result: event.result,
        client_addr: event.client_addr,
    };
    let mut text = serde_json::to_string(&line).unwrap_or_default();
    text.push('\n');
    text
}

/// One decision line, as written: serialized straight from the event, no intermediate map.
#[derive(Serialize)]
struct DecisionLine<'a> {
    time: String,
    request_id: &'a str,
    front_door: &'static str,
    issuer: Option<&'a str>,
    sub: Option<&'a str>,
    jti: Option<&'a str>,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    role_arn: Option<&'a str>,
    decision: &'static str,
    reason: &'static str,
    detail: &'a str,
    credential_sha256: Option<&'a str>,
    expires_at: Option<String>,
    client_addr: Option<&'a str>,
    user_agent: Option<&'a str>,
    duration_ms: f64,
    /// The role's policy verdict, when the decision reached the policy.
    #[serde(skip_serializing_if = "Option::is_none")]
    policy: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    claims: Option<claims::Recorded<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    omitted_claims: Option<claims::Omitted<'a>>,
}

/// Appends the audit line of a decision (JSON and a newline) to `out`, recording its claims per `claims`.
pub fn write_line(event: &DecisionEvent<'_>, claims: ClaimsRecord, out: &mut Vec<u8>) {
    let (claims, omitted_claims) = claims::Recorded::of(event.claims, claims);
    let line = DecisionLine {
        time: event.time.to_rfc3339(),
        request_id: &event.context.request_id,
        front_door: event.front_door.as_str(),
        issuer: event.issuer,
        sub: event.sub,
        jti: event.inbound_jti,
        role: event.role,
        role_arn: event.role_arn,
        decision: event.outcome.as_str(),
        reason: event.reason.as_str(),
        detail: &event.detail,
        credential_sha256: event.credential_sha256.as_deref(),
        expires_at: event.expires_at.map(|t| t.to_rfc3339()),
        client_addr: event.context.client_addr.as_deref(),
        user_agent: event.context.user_agent.as_deref(),
        duration_ms: (event.duration.as_secs_f64() * 1000.0 * 1000.0).round() / 1000.0,
        policy: event.policy.map(crate::broker::Outcome::as_str),
        claims,
        omitted_claims,
    };
    push_json(out, &line);
    if let Some(shadow) = event.shadow.filter(|shadow| shadow.disagrees()) {
        let line = ShadowLine {
            time: line.time,
            kind: "shadow_disagreement",
            request_id: &event.context.request_id,
            front_door: event.front_door.as_str(),
            issuer: event.issuer,
            sub: event.sub,
            jti: event.inbound_jti,
            role: event.role,
            candidate_role: shadow.candidate_role.as_deref(),
            live: shadow.live.as_str(),
            candidate: shadow.candidate.as_str(),
            candidate_detail: &shadow.candidate_detail,
        };
        push_json(out, &line);
    }
}

/// Appends `line` as JSON and a newline, or nothing if it cannot be serialized.
fn push_json(out: &mut Vec<u8>, line: &impl Serialize) {
    let start = out.len();
    if serde_json::to_writer(&mut *out, line).is_ok() {
        out.push(b'\n');
    } else {
        out.truncate(start);
    }
}

/// The line written after a decision's own when the candidate policy set (`shadow.policies`) would have
/// decided otherwise: both verdicts, and why the candidate decided as it did.
#[derive(Serialize)]
struct ShadowLine<'a> {
    time: String,
    #[serde(rename = "type")]
    kind: &'static str,
    request_id: &'a str,
    front_door: &'static str,
    issuer: Option<&'a str>,
    sub: Option<&'a str>,
    jti: Option<&'a str>,
    role: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    candidate_role: Option<&'a str>,
    live: &'static str,
    candidate: &'static str,
    candidate_detail: &'a str,
}

/// The audit line of a decision (claims as by default).
pub fn line(event: &DecisionEvent<'_>) -> String {
    let mut out = Vec::new();
    write_line(event, ClaimsRecord::default(), &mut out);
    String::from_utf8(out).unwrap_or_default()
}

impl DecisionSink for Audit {
    fn record(&self, event: &DecisionEvent<'_>) {
        let claims = self.claims;
        self.writer.record(|out| write_line(event, claims, out));
    }
}
