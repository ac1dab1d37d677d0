//! The embedded store's one connection, owned by one thread that runs every call in arrival order, and commits
//! claims in groups: claims that queued while the previous commit was on its way to disk share the next
//! transaction, and so one fsync (group commit). Every caller is answered only after its transaction committed,
//! so an acknowledged claim is durable exactly as with one transaction each; under load the fsync, the
//! dominant cost of a claim, is paid once per group instead of once per exchange. Two claims of one key in one
//! group see each other (the second finds the first's row), so exactly one is the first use.
//!
//! The thread ends when the store is dropped (its queue closes), after finishing what was queued.

use std::sync::mpsc;

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::sync::oneshot;

use super::{Claim, StoreError};

/// The most claims one transaction commits.
const MAX_GROUP: usize = 256;

/// A claim, owned, as it waits in the queue.
pub(super) struct ClaimJob {
    pub(super) issuer: String,
    pub(super) jti: String,
    pub(super) scope: String,
    pub(super) until: i64,
    pub(super) now: i64,
}

type Work = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    Claim(ClaimJob, oneshot::Sender<Result<Claim, StoreError>>),
    Work(Work),
}

/// The queue into the connection's thread.
pub(super) struct Writer {
    jobs: mpsc::Sender<Job>,
}

impl Writer {
    /// Starts the thread that owns `connection`.
    pub(super) fn start(connection: Connection) -> Result<Writer, StoreError> {
        let (jobs, queue) = mpsc::channel();
        std::thread::Builder::new()
            .name("tollgate-sqlite".into())
            .spawn(move || run(connection, &queue))
            .map_err(|e| StoreError::Unavailable(format!("starting the store's thread: {e}")))?;
        Ok(Writer { jobs })
    }

    /// Claims a key, in the next group commit.
    pub(super) async fn claim(&self, job: ClaimJob) -> Result<Claim, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.jobs.send(Job::Claim(job, reply)).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }

    /// Runs `work` on the connection, alone (not grouped); any SQLite error means the store is unavailable.
    pub(super) async fn call<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, StoreError> {
        let (reply, answer) = oneshot::channel();
        let job = Job::Work(Box::new(move |connection| {
            let _ = reply.send(work(connection).map_err(|e| StoreError::Unavailable(e.to_string())));
        }));
        self.jobs.send(job).map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

fn gone() -> StoreError {
    StoreError::Unavailable("the store's thread is gone".into())
}

/// Takes jobs until the queue closes: consecutive claims go into one group, other work runs between groups.
fn run(mut connection: Connection, queue: &mpsc::Receiver<Job>) {
    let mut group = Vec::new();
    while let Ok(first) = queue.recv() {
        let mut next = Some(first);
        while let Some(job) = next.take() {
            match job {
                Job::Claim(claim, reply) => {
                    group.push((claim, reply));
                    if group.len() >= MAX_GROUP {
                        commit(&mut connection, &mut group);
                    }
                }
                Job::Work(work) => {
                    commit(&mut connection, &mut group);
                    work(&mut connection);
                }
            }
            next = queue.try_recv().ok();
        }
        commit(&mut connection, &mut group);
    }
}

/// Commits the group in one transaction and answers each claim; on any failure every claim of the group is
/// answered with the error (nothing of it was committed).
fn commit(connection: &mut Connection, group: &mut Vec<(ClaimJob, oneshot::Sender<Result<Claim, StoreError>>)>) {
    if group.is_empty() {
        return;
    }
    let jobs = std::mem::take(group);
    match claim_all(connection, jobs.iter().map(|(job, _)| job)) {
        Ok(claims) => {
            for ((_, reply), claim) in jobs.into_iter().zip(claims) {
                let _ = reply.send(Ok(claim));
            }
        }
        Err(error) => {
            for (_, reply) in jobs {
                let _ = reply.send(Err(StoreError::Unavailable(error.to_string())));
            }
        }
    }
}

fn claim_all<'a>(
    connection: &mut Connection,
    jobs: impl Iterator<Item = &'a ClaimJob>,
) -> rusqlite::Result<Vec<Claim>> {
    let transaction = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut claims = Vec::new();
    {
        // A record that expired (and was not purged yet) is taken over; an unexpired one wins.
        let mut statement = transaction.prepare_cached(
            "INSERT INTO used_jti_v1 (issuer, jti, scope, expires_at) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT (issuer, jti, scope) DO UPDATE SET expires_at = excluded.expires_at
             WHERE used_jti_v1.expires_at <= ?5",
        )?;
        for job in jobs {
            let changed = statement.execute(params![job.issuer, job.jti, job.scope, job.until, job.now])?;
            claims.push(if changed == 1 { Claim::First } else { Claim::AlreadyUsed });
        }
    }
    transaction.commit()?;
    Ok(claims)
}
