//! The recent decisions, for operators (`GET /admin/v1/decisions`): a bounded in-memory ring of the last
//! `CAPACITY` decision events of this replica, newest first, filterable by role and outcome. What it keeps is what
//! the audit line holds (never a token); it is lost on restart (the audit log is the record).

use std::collections::VecDeque;
use std::sync::Mutex;

use crate::broker::{DecisionEvent, DecisionSink};

/// How many decisions the ring holds.
pub const CAPACITY: usize = 1000;

/// One decision, owned.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RecentDecision {
    pub time: crate::clock::UnixTime,
    pub request_id: String,
    pub front_door: &'static str,
    pub issuer: Option<String>,
    pub sub: Option<String>,
    pub role: String,
    pub outcome: &'static str,
    pub reason: &'static str,
    pub detail: String,
}

/// The ring.
#[derive(Default)]
pub struct RecentDecisions {
    ring: Mutex<VecDeque<RecentDecision>>,
}

impl RecentDecisions {
    /// The newest decisions first, at most `limit`, of `role` and `outcome` when given.
    pub fn list(&self, role: Option<&str>, outcome: Option<&str>, limit: usize) -> Vec<RecentDecision> {
        let Ok(ring) = self.ring.lock() else { return Vec::new() };
        ring.iter()
            .rev()
            .filter(|d| role.is_none_or(|role| d.role == role) && outcome.is_none_or(|outcome| d.outcome == outcome))
            .take(limit)
            .cloned()
            .collect()
    }
}

impl DecisionSink for RecentDecisions {
    fn record(&self, event: &DecisionEvent<'_>) {
        let decision = RecentDecision {
            time: event.time,
            request_id: event.context.request_id.clone(),
            front_door: event.front_door.as_str(),
            issuer: event.issuer.map(str::to_owned),
            sub: event.sub.map(crate::text::shorten),
            role: crate::text::shorten(event.role),
            outcome: event.outcome.as_str(),
            reason: event.reason.as_str(),
            detail: crate::text::shorten(&event.detail),
        };
        if let Ok(mut ring) = self.ring.lock() {
            if ring.len() == CAPACITY {
                ring.pop_front();
            }
            ring.push_back(decision);
        }
    }
}
