//! The live revocations of one replica, indexed for the hot path: an exchange or an introspection asks the
//! [`RevocationView`], never the database. The view is replaced whole by the background refresh (LISTEN/NOTIFY
//! and a poll); it knows how old its last refresh is (on the monotonic clock: wall-clock jumps neither age nor
//! rejuvenate it), and past `max_staleness` it answers [`Revoked::Stale`], so a replica cut off from the store
//! fails closed instead of missing a revocation. An empty set costs one
//! atomic load and a length check.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use super::identity::IdentityIndex;
use super::{Revocation, Target};
use crate::clock::{Stopwatch, UnixTime};

/// Why a credential is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Revoked {
    /// A revocation hits it: its id and kind.
    Hit { id: String, kind: &'static str },
    /// The view was last refreshed too long ago to tell (seconds since).
    Stale { age_secs: i64 },
}

/// An inbound CI token about to be exchanged, as the revocation check sees it.
pub struct InboundQuery<'a> {
    /// The configured name of the issuer that vouched for it.
    pub issuer: &'a str,
    pub jti: Option<&'a str>,
    pub kid: Option<&'a str>,
    pub claims: &'a Map<String, Value>,
    pub role: &'a str,
}

/// A Tollgate token presented for introspection.
pub struct IssuedQuery<'a> {
    pub jti: &'a str,
    pub kid: Option<&'a str>,
    pub role: Option<&'a str>,
    pub issued_at: UnixTime,
}

/// The live revocations, indexed by what they hit.
#[derive(Default)]
pub struct RevocationSet {
    all: Vec<Revocation>,
    tollgate_jti: HashMap<String, usize>,
    /// Issuer name, then jti.
    inbound_jti: HashMap<String, HashMap<String, usize>>,
    identities: HashMap<String, IdentityIndex>,
    roles: HashMap<String, Vec<(UnixTime, usize)>>,
    kids: HashMap<String, Vec<(Option<String>, usize)>>,
}

impl RevocationSet {
    pub fn new(revocations: Vec<Revocation>) -> Self {
        let mut set = RevocationSet::default();
        for (index, revocation) in revocations.iter().enumerate() {
            match &revocation.target {
                Target::TollgateJti { jti } => keep_longest(&mut set.tollgate_jti, jti, index, &revocations),
                Target::InboundJti { issuer, jti } => {
                    keep_longest(set.inbound_jti.entry(issuer.clone()).or_default(), jti, index, &revocations);
                }
                Target::Identity { issuer, claim, matcher } => {
                    set.identities.entry(issuer.clone()).or_default().insert(claim, matcher, index);
                }
                Target::Role { role, before } => set.roles.entry(role.clone()).or_default().push((*before, index)),
                Target::Kid { kid, issuer } => set.kids.entry(kid.clone()).or_default().push((issuer.clone(), index)),
            }
        }
        set.all = revocations;
        set
    }

    pub fn len(&self) -> usize {
        self.all.len()
    }

    pub fn is_empty(&self) -> bool {
        self.all.is_empty()
    }

    pub fn revocations(&self) -> &[Revocation] {
        &self.all
    }

    /// The first unexpired revocation that forbids exchanging this inbound token.
    pub fn hit_inbound(&self, query: &InboundQuery<'_>, now: UnixTime) -> Option<&Revocation> {
        let jti = query.jti.and_then(|jti| self.inbound_jti.get(query.issuer)?.get(jti)).copied();
        let identities = self.identities.get(query.issuer);
        let identity = identities.and_then(|index| index.first_hit(query.claims, |i| self.live(i, now).is_some()));
        let role = self.role_hit(Some(query.role), |before| now < before).copied();
        let kid = self.kid_hit(query.kid, Some(query.issuer)).copied();
        [jti, identity, role, kid].into_iter().flatten().find_map(|index| self.live(index, now))
    }

    /// The first unexpired revocation that makes a Tollgate token inactive.
    pub fn hit_issued(&self, query: &IssuedQuery<'_>, now: UnixTime) -> Option<&Revocation> {
        let jti = self.tollgate_jti.get(query.jti);
        let role = self.role_hit(query.role, |before| query.issued_at < before);
        let kid = self.kid_hit(query.kid, None);
        [jti, role, kid].into_iter().flatten().filter_map(|index| self.live(*index, now)).next()
    }

    fn role_hit(&self, role: Option<&str>, hits: impl Fn(UnixTime) -> bool) -> Option<&usize> {
        let rules = self.roles.get(role?)?;
        rules.iter().find(|(before, _)| hits(*before)).map(|(_, index)| index)
    }

    /// A kid revocation naming no issuer hits every token signed with that kid; one naming an issuer only its.
    fn kid_hit(&self, kid: Option<&str>, issuer: Option<&str>) -> Option<&usize> {
        let rules = self.kids.get(kid?)?;
        rules.iter().find(|(only, _)| only.is_none() || only.as_deref() == issuer).map(|(_, index)| index)
    }

    fn live(&self, index: usize, now: UnixTime) -> Option<&Revocation> {
        self.all.get(index).filter(|revocation| now < revocation.expires_at)
    }
}

/// One replica's live set and how fresh it is.
pub struct RevocationView {
    set: ArcSwap<RevocationSet>,
    /// Started with the view; refresh times are read on it (monotonic).
    started: Stopwatch,
    /// When the set was last loaded from the store, in milliseconds since `started`.
    refreshed_ms: AtomicU64,
    max_staleness: Duration,
}

impl RevocationView {
    /// An empty view, fresh now (the caller loads it before serving).
    pub fn new(max_staleness: Duration) -> Self {
        Self {
            set: ArcSwap::from_pointee(RevocationSet::default()),
            started: Stopwatch::start(),
            refreshed_ms: AtomicU64::new(0),
            max_staleness,
        }
    }

    /// Replaces the set with what the store holds now.
    pub fn replace(&self, revocations: Vec<Revocation>) {
        self.set.store(std::sync::Arc::new(RevocationSet::new(revocations)));
        self.refreshed_ms.store(millis(self.started.elapsed()), Ordering::Release);
    }

    /// Time since the last successful refresh.
    pub fn age(&self) -> Duration {
        let since = self.started.elapsed();
        since.saturating_sub(Duration::from_millis(self.refreshed_ms.load(Ordering::Acquire)))
    }

    /// Whether decisions can be made (the last refresh is within the bound).
    pub fn is_fresh(&self) -> bool {
        self.fresh().is_ok()
    }

    pub fn len(&self) -> usize {
        self.set.load().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether this inbound token may be exchanged.
    pub fn check_inbound(&self, query: &InboundQuery<'_>, now: UnixTime) -> Result<(), Revoked> {
        self.fresh()?;
        let set = self.set.load();
        if set.is_empty() {
            return Ok(());
        }
        set.hit_inbound(query, now).map_or(Ok(()), |hit| Err(hit_of(hit)))
    }

    /// Whether this Tollgate token is still active as far as revocations go.
    pub fn check_issued(&self, query: &IssuedQuery<'_>, now: UnixTime) -> Result<(), Revoked> {
        self.fresh()?;
        let set = self.set.load();
        if set.is_empty() {
            return Ok(());
        }
        set.hit_issued(query, now).map_or(Ok(()), |hit| Err(hit_of(hit)))
    }

    fn fresh(&self) -> Result<(), Revoked> {
        let age = self.age();
        if age > self.max_staleness {
            return Err(Revoked::Stale { age_secs: i64::try_from(age.as_secs()).unwrap_or(i64::MAX) });
        }
        Ok(())
    }
}

/// Indexes `key` to the revocation that lasts longest, should several name it.
fn keep_longest(map: &mut HashMap<String, usize>, key: &str, index: usize, all: &[Revocation]) {
    let expiry = |i: usize| all.get(i).map(|r| r.expires_at);
    match map.get_mut(key) {
        Some(kept) if expiry(*kept) >= expiry(index) => {}
        Some(kept) => *kept = index,
        None => {
            map.insert(key.to_owned(), index);
        }
    }
}

fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

fn hit_of(revocation: &Revocation) -> Revoked {
    Revoked::Hit { id: revocation.id.clone(), kind: revocation.target.kind() }
}
