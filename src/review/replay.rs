//! Re-deciding recorded decisions under a candidate policy set.
//!
//! A decision line qualifies when it reached a policy (it has `policy`: `allow` or `deny`, the live set's
//! verdict), came through an exchange front door (not `explain`), and recorded its claims by value. Its role
//! (resolved again from `role_arn` in the candidate when the STS door recorded one), issuer (the configured
//! name) and claims then go through the candidate's `PolicySet::evaluate_case`, the broker's own path. A line is *undetermined* when the candidate's policy for its role reads a claim the
//! token had but the log left out (`omitted_claims`): the answer would be a guess. Everything else is counted
//! as skipped, with the reason.

use std::collections::BTreeMap;
use std::io::{BufRead, Read};
use std::path::Path;

use serde_json::{Map, Value};

use crate::clock::UnixTime;
use crate::policy::PolicySet;

/// Longest audit line read; a longer one is counted as unreadable.
pub(super) const MAX_LINE_BYTES: usize = 1024 * 1024;

/// How to replay.
#[derive(Clone, Debug)]
pub struct ReplayOptions {
    /// Only decisions at or after this instant.
    pub since: Option<UnixTime>,
    /// Examples kept per role and direction.
    pub examples: usize,
}

/// Which way a decision flipped.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Flip {
    /// Allowed today, denied by the candidate: access taken away.
    AllowToDeny,
    /// Denied today, allowed by the candidate: new access.
    DenyToAllow,
}

/// One flipped decision, for the report.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Example {
    pub time: String,
    pub request_id: String,
    pub issuer: String,
    pub sub: String,
    /// Why the live set decided as it did (the line's `detail`).
    pub live: String,
    /// Why the candidate decides otherwise: its matched statement, or its failing condition or reason.
    pub candidate: String,
}

/// One role's counts.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RoleTally {
    pub decisions: u64,
    pub unchanged: u64,
    pub allow_to_deny: u64,
    pub deny_to_allow: u64,
    pub undetermined: u64,
    pub examples: BTreeMap<Flip, Vec<Example>>,
}

/// Lines not replayed, by reason.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Skipped {
    /// Not JSON, too long, or not a decision's shape.
    pub unreadable: u64,
    /// Admin and shadow lines, explain decisions, and decisions refused before any policy (invalid tokens,
    /// rate limits).
    pub not_policy_decisions: u64,
    /// Before `since`.
    pub too_old: u64,
    /// Recorded with `audit.claims: none`, or by a Tollgate that did not record claims.
    pub without_claims: u64,
    /// Recorded with `audit.claims: hashed`.
    pub hashed_claims: u64,
}

/// What a replay found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Replayed {
    pub roles: BTreeMap<String, RoleTally>,
    pub skipped: Skipped,
    pub files: Vec<String>,
}

impl Replayed {
    /// Decisions denied today that the candidate would allow.
    pub fn new_access(&self) -> u64 {
        self.roles.values().map(|tally| tally.deny_to_allow).sum()
    }

    /// Decisions the candidate could not re-decide (it reads a claim the log did not record).
    pub fn undetermined(&self) -> u64 {
        self.roles.values().map(|tally| tally.undetermined).sum()
    }

    /// Decisions re-decided (flipped or not, undetermined included).
    pub fn decisions(&self) -> u64 {
        self.roles.values().map(|tally| tally.decisions).sum()
    }
}

/// Replays every decision line of `files` under `candidate`.
pub fn replay(files: &[&Path], candidate: &PolicySet, options: &ReplayOptions) -> std::io::Result<Replayed> {
    let mut replayed = Replayed::default();
    for path in files {
        replayed.files.push(path.display().to_string());
        let mut reader = std::io::BufReader::new(std::fs::File::open(path)?);
        let mut line = Vec::new();
        loop {
            line.clear();
            let read = (&mut reader).take(MAX_LINE_BYTES as u64 + 1).read_until(b'\n', &mut line)?;
            if read == 0 {
                break;
            }
            if line.len() > MAX_LINE_BYTES {
                replayed.skipped.unreadable += 1;
                skip_rest_of_line(&mut reader)?;
                continue;
            }
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            replay_line(&line, candidate, options, &mut replayed);
        }
    }
    Ok(replayed)
}

fn skip_rest_of_line(reader: &mut impl BufRead) -> std::io::Result<()> {
    let mut rest = Vec::new();
    while !rest.ends_with(b"\n") {
        rest.clear();
        if (&mut *reader).take(MAX_LINE_BYTES as u64).read_until(b'\n', &mut rest)? == 0 {
            break;
        }
    }
    Ok(())
}

/// The fields of a decision line that replay reads.
struct Recorded<'a> {
    time: &'a str,
    request_id: &'a str,
    role: &'a str,
    /// The STS door's `RoleArn`: the candidate resolves it itself.
    role_arn: Option<&'a str>,
    issuer: &'a str,
    sub: &'a str,
    live_allowed: bool,
    detail: &'a str,
    claims: &'a Map<String, Value>,
    omitted: Vec<&'a str>,
}

fn replay_line(line: &[u8], candidate: &PolicySet, options: &ReplayOptions, replayed: &mut Replayed) {
    let Ok(Value::Object(object)) = serde_json::from_slice::<Value>(line) else {
        replayed.skipped.unreadable += 1;
        return;
    };
    let text = |name: &str| object.get(name).and_then(Value::as_str);
    let live_allowed = match text("policy") {
        Some("allow") => true,
        Some("deny") => false,
        _ => {
            replayed.skipped.not_policy_decisions += 1;
            return;
        }
    };
    if object.contains_key("type") || text("front_door") == Some("explain") {
        replayed.skipped.not_policy_decisions += 1;
        return;
    }
    let (Some(time), Some(role), Some(issuer)) = (text("time"), text("role"), text("issuer")) else {
        replayed.skipped.unreadable += 1;
        return;
    };
    if let Some(since) = options.since {
        match UnixTime::parse_rfc3339(time) {
            Ok(at) if at >= since => {}
            Ok(_) => {
                replayed.skipped.too_old += 1;
                return;
            }
            Err(_) => {
                replayed.skipped.unreadable += 1;
                return;
            }
        }
    }
    let Some(Value::Object(claims)) = object.get("claims") else {
        replayed.skipped.without_claims += 1;
        return;
    };
    if claims.get("iss").and_then(Value::as_str).is_some_and(|iss| iss.starts_with("sha256:")) {
        replayed.skipped.hashed_claims += 1;
        return;
    }
    let omitted = match object.get("omitted_claims") {
        Some(Value::Array(names)) => names.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let recorded = Recorded {
        time,
        request_id: text("request_id").unwrap_or_default(),
        role,
        role_arn: text("role_arn"),
        issuer,
        sub: text("sub").unwrap_or_default(),
        live_allowed,
        detail: text("detail").unwrap_or_default(),
        claims,
        omitted,
    };
    decide(&recorded, candidate, options, replayed);
}

fn decide(recorded: &Recorded<'_>, candidate: &PolicySet, options: &ReplayOptions, replayed: &mut Replayed) {
    let tally = replayed.roles.entry(recorded.role.to_owned()).or_default();
    tally.decisions += 1;
    // The STS door names its role by ARN: under the candidate, the ARN resolves there, or to no role at all.
    let resolved = recorded
        .role_arn
        .map(|arn| candidate.role_for_arn(arn).map_or_else(|| crate::text::shorten(arn), |(role, _)| role));
    let role = resolved.as_deref().unwrap_or(recorded.role);
    if let Some(policy) = candidate.get(role) {
        let reads = policy.claim_names();
        let unrecorded = |name: &&str| reads.iter().any(|read| read.eq_ignore_ascii_case(name));
        if recorded.omitted.iter().any(unrecorded) {
            tally.undetermined += 1;
            return;
        }
    }
    let outcome = candidate.evaluate_case(role, recorded.issuer, recorded.claims);
    let flip = match (recorded.live_allowed, outcome.is_allow()) {
        (true, false) => Flip::AllowToDeny,
        (false, true) => Flip::DenyToAllow,
        _ => {
            tally.unchanged += 1;
            return;
        }
    };
    match flip {
        Flip::AllowToDeny => tally.allow_to_deny += 1,
        Flip::DenyToAllow => tally.deny_to_allow += 1,
    }
    let examples = tally.examples.entry(flip).or_default();
    if examples.len() < options.examples {
        examples.push(Example {
            time: recorded.time.to_owned(),
            request_id: recorded.request_id.to_owned(),
            issuer: recorded.issuer.to_owned(),
            sub: recorded.sub.to_owned(),
            live: recorded.detail.to_owned(),
            candidate: outcome.to_string(),
        });
    }
}
