//! The shared backend's claims, committed in groups. Claims queue for one task; it sends them as one statement
//! (`INSERT … SELECT FROM unnest(…) ON CONFLICT … RETURNING`), one transaction and so one WAL flush for the
//! whole group, with at most `IN_FLIGHT` groups at once: while those run, new claims queue and form the next
//! group. Below load a group is a single claim sent at once; under load the per-statement and per-commit costs
//! (on Tollgate and on the server) are shared by the claims of a group.
//!
//! Exactly-once holds as for single statements: PostgreSQL's unique index decides between replicas, and the
//! rows a statement inserted or took over (an expired record) are exactly those it returns. Within a group a
//! key is sent once (a repeat is the same token twice: it can only be `AlreadyUsed`), and keys go in sorted
//! order, so two replicas' groups lock shared keys in the same order (the purge skips locked rows). Should a
//! group's statement fail anyway (one unacceptable row, a deadlock victim), its claims are retried one by one.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use deadpool_postgres::Pool;
use tokio::sync::{Semaphore, mpsc, oneshot};

use super::{Claim, ClaimJob, StoreError};

/// The most claims one statement carries.
const MAX_GROUP: usize = 256;

/// How many groups may be on their way to the server at once.
const IN_FLIGHT: usize = 2;

/// How many claims may wait for a group (the HTTP listeners' concurrency bounds them long before).
const QUEUE: usize = 4096;

/// A record that expired (and was not purged yet) is taken over; an unexpired one wins. `now` is the earliest
/// of the group's, so a takeover is never decided on a later clock than its claim's own.
const CLAIM_GROUP: &str = "INSERT INTO used_jti_v1 (issuer, jti, scope, expires_at)
     SELECT issuer, jti, scope, expires_at
     FROM unnest($1::text[], $2::text[], $3::text[], $4::bigint[]) WITH ORDINALITY
          AS claim(issuer, jti, scope, expires_at, position)
     ORDER BY position
     ON CONFLICT (issuer, jti, scope) DO UPDATE SET expires_at = EXCLUDED.expires_at
     WHERE used_jti_v1.expires_at <= $5
     RETURNING issuer, jti, scope";

type Reply = oneshot::Sender<Result<Claim, StoreError>>;

/// The queue into the grouping task.
pub(super) struct PgClaims {
    jobs: mpsc::Sender<(ClaimJob, Reply)>,
}

impl PgClaims {
    /// Starts the grouping task on `pool`; every group is bounded by `deadline`. The task ends when this is
    /// dropped.
    pub(super) fn start(pool: Pool, deadline: Duration) -> PgClaims {
        let (jobs, queue) = mpsc::channel(QUEUE);
        tokio::spawn(run(queue, pool, deadline));
        PgClaims { jobs }
    }

    pub(super) async fn claim(&self, job: ClaimJob) -> Result<Claim, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send((job, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the claim queue is gone".into())
}

async fn run(mut queue: mpsc::Receiver<(ClaimJob, Reply)>, pool: Pool, deadline: Duration) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        // Waiting for a free slot is when the next group gathers.
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let mut group = vec![first];
        while group.len() < MAX_GROUP {
            match queue.try_recv() {
                Ok(job) => group.push(job),
                Err(_) => break,
            }
        }
        let pool = pool.clone();
        tokio::spawn(async move {
            let (jobs, replies): (Vec<_>, Vec<_>) = group.into_iter().unzip();
            let late = || StoreError::Unavailable(format!("no answer within {} ms", deadline.as_millis()));
            let answers: Vec<Result<Claim, StoreError>> =
                match tokio::time::timeout(deadline, claim_group(&pool, &jobs)).await {
                    Ok(Ok(claims)) => claims.into_iter().map(Ok).collect(),
                    // One bad row (or a deadlock victim) must not fail its neighbours: each alone, once more.
                    Ok(Err(_)) if jobs.len() > 1 => {
                        match tokio::time::timeout(deadline, one_by_one(&pool, &jobs)).await {
                            Ok(answers) => answers,
                            Err(_) => (0..jobs.len()).map(|_| Err(late())).collect(),
                        }
                    }
                    Ok(Err(error)) => vec![Err(error); jobs.len()],
                    Err(_) => vec![Err(late()); jobs.len()],
                };
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
            drop(permit);
        });
    }
}

/// Each job in a group of its own (after the group's statement failed).
async fn one_by_one(pool: &Pool, jobs: &[ClaimJob]) -> Vec<Result<Claim, StoreError>> {
    let mut answers = Vec::with_capacity(jobs.len());
    for job in jobs {
        let answer = claim_group(pool, std::slice::from_ref(job)).await;
        answers.push(
            answer.and_then(|claims| claims.into_iter().next().ok_or_else(|| StoreError::Corrupt("no answer".into()))),
        );
    }
    answers
}

type Key<'a> = (&'a str, &'a str, &'a str, i64);

/// Each key once, as its first job in arrival order asked it (its `until` is the one stored, as a second claim of
/// a key in SQLite's group changes nothing), then sorted for the lock order.
fn unique_keys(jobs: &[ClaimJob]) -> Vec<Key<'_>> {
    let mut seen = HashSet::with_capacity(jobs.len());
    let mut keys: Vec<Key<'_>> = jobs
        .iter()
        .filter(|j| seen.insert((&*j.issuer, &*j.jti, &*j.scope)))
        .map(|j| (&*j.issuer, &*j.jti, &*j.scope, j.until))
        .collect();
    keys.sort_unstable_by(|a, b| (a.0, a.1, a.2).cmp(&(b.0, b.1, b.2)));
    keys
}

/// Claims every job of a group in one statement; the answers in the jobs' order.
async fn claim_group(pool: &Pool, jobs: &[ClaimJob]) -> Result<Vec<Claim>, StoreError> {
    let keys = unique_keys(jobs);
    let now = jobs.iter().map(|job| job.now).min().unwrap_or_default();
    let issuers: Vec<&str> = keys.iter().map(|key| key.0).collect();
    let jtis: Vec<&str> = keys.iter().map(|key| key.1).collect();
    let scopes: Vec<&str> = keys.iter().map(|key| key.2).collect();
    let untils: Vec<i64> = keys.iter().map(|key| key.3).collect();
    let client = pool.get().await.map_err(super::postgres::unavailable)?;
    let statement = client.prepare_cached(CLAIM_GROUP).await.map_err(super::postgres::unavailable)?;
    let rows = client
        .query(&statement, &[&issuers, &jtis, &scopes, &untils, &now])
        .await
        .map_err(super::postgres::unavailable)?;
    let mut first = HashSet::with_capacity(rows.len());
    for row in &rows {
        let get = |index| row.try_get::<_, String>(index).map_err(super::postgres::unavailable);
        first.insert((get(0)?, get(1)?, get(2)?));
    }
    // A key's first job in arrival order gets `First` if the statement inserted it; any repeat never does.
    Ok(jobs
        .iter()
        .map(|job| {
            let key = (job.issuer.clone(), job.jti.clone(), job.scope.clone());
            if first.remove(&key) { Claim::First } else { Claim::AlreadyUsed }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job(jti: &str, scope: &str, until: i64) -> ClaimJob {
        ClaimJob { issuer: "https://ci".into(), jti: jti.into(), scope: scope.into(), until, now: 0 }
    }

    #[test]
    fn a_key_twice_in_a_group_keeps_its_first_arrivals_term_and_keys_are_sorted() {
        // A full-term use first, then a pending (short) claim of the same key: the full term must be stored,
        // else the record would lapse early and the token could be exchanged again.
        let jobs = [job("b", "any", 960), job("a", "any", 500), job("b", "any", 180)];
        assert_eq!(unique_keys(&jobs), [("https://ci", "a", "any", 500), ("https://ci", "b", "any", 960)]);
        let jobs = [job("b", "any", 180), job("b", "any", 960)];
        assert_eq!(unique_keys(&jobs), [("https://ci", "b", "any", 180)], "the first arrival decides, as in SQLite");
    }
}
