//! The shared backend's claims, committed in groups. Claims queue for one task; it sends them as one statement
//! (`INSERT … SELECT FROM unnest(…) ON CONFLICT … RETURNING`), one transaction and so one WAL flush for the
//! whole group, with at most `IN_FLIGHT` groups at once: while those run, new claims queue and form the next
//! group. Below load a group is a single claim sent at once; under load the per-statement and per-commit costs
//! (on Tollgate and on the server) are shared by the claims of a group.
//!
//! Exactly-once holds as for single statements: PostgreSQL's unique index decides between replicas, and the
//! rows a statement inserted or took over (an expired record) are exactly those it returns. Within a group a
//! key is sent once (a repeat is the same token twice: it can only be `AlreadyUsed`), and keys go in sorted
//! order, so two replicas' groups lock shared keys in the same order and cannot deadlock.

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
            let answers: Vec<Result<Claim, StoreError>> =
                match tokio::time::timeout(deadline, claim_group(&pool, &jobs)).await {
                    Ok(Ok(claims)) => claims.into_iter().map(Ok).collect(),
                    Ok(Err(error)) => vec![Err(error); jobs.len()],
                    Err(_) => {
                        let late = StoreError::Unavailable(format!("no answer within {} ms", deadline.as_millis()));
                        vec![Err(late); jobs.len()]
                    }
                };
            for (reply, answer) in replies.into_iter().zip(answers) {
                let _ = reply.send(answer);
            }
            drop(permit);
        });
    }
}

/// Claims every job of a group in one statement; the answers in the jobs' order.
async fn claim_group(pool: &Pool, jobs: &[ClaimJob]) -> Result<Vec<Claim>, StoreError> {
    let mut keys: Vec<(&str, &str, &str, i64)> =
        jobs.iter().map(|j| (&*j.issuer, &*j.jti, &*j.scope, j.until)).collect();
    keys.sort_unstable();
    keys.dedup_by(|later, earlier| (later.0, later.1, later.2) == (earlier.0, earlier.1, earlier.2));
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
