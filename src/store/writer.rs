//! The embedded store's one connection, owned by one thread that runs every call in arrival order, and commits
//! claims in groups: claims that queued while the previous commit was on its way to disk share the next
//! transaction, and so one fsync (group commit). Every caller is answered only after its transaction committed,
//! so an acknowledged claim is durable exactly as with one transaction each; under load the fsync, the
//! dominant cost of a claim, is paid once per group instead of once per exchange. Two claims of one key in one
//! group see each other (the second finds the first's row), so exactly one is the first use.
//!
//! At full load a group lingers: while the async runtime's workers were busy at least `SATURATED` of the last
//! `SAMPLE` (tokio's busy-duration metrics: the CPU, not the store, limits throughput), the thread waits for more
//! claims, up to `LINGER` after the last one and `WINDOW` after the group opened, so that one fsync serves many
//! exchanges and the CPU it saves goes to exchanges. Below full load a group commits as soon as the queue is
//! empty: latency first, nobody waits for a window.
//!
//! The thread ends when the store is dropped (its queue closes), after finishing what was queued.

use std::sync::mpsc;
use std::time::Duration;

use rusqlite::{Connection, TransactionBehavior, params};
use tokio::runtime::RuntimeMetrics;
use tokio::sync::oneshot;

use super::{Claim, ClaimJob, StoreError};
use crate::clock::Stopwatch;

/// The most claims one transaction commits.
const MAX_GROUP: usize = 256;

/// The share of the last `SAMPLE` the runtime's workers were busy from which groups linger.
const SATURATED: f64 = 0.9;

/// How often the runtime's load is sampled.
const SAMPLE: Duration = Duration::from_millis(20);

/// How long a lingering group waits for the next claim.
const LINGER: Duration = Duration::from_micros(500);

/// The longest a lingering group stays open.
const WINDOW: Duration = Duration::from_millis(2);

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
        let mut load = Load::new(tokio::runtime::Handle::try_current().ok().map(|handle| handle.metrics()));
        std::thread::Builder::new()
            .name("tollgate-sqlite".into())
            .spawn(move || run(connection, &queue, &mut load))
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

type Group = Vec<(ClaimJob, oneshot::Sender<Result<Claim, StoreError>>)>;

/// Takes jobs until the queue closes: consecutive claims go into one group, other work runs between groups.
fn run(mut connection: Connection, queue: &mpsc::Receiver<Job>, load: &mut Load) {
    let mut group = Group::new();
    while let Ok(first) = queue.recv() {
        let opened = Stopwatch::start();
        let lingers = load.saturated();
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
            next = match queue.try_recv() {
                Ok(job) => Some(job),
                Err(_) if lingers && !group.is_empty() => linger(queue, &opened),
                Err(_) => None,
            };
        }
        commit(&mut connection, &mut group);
    }
}

/// The next job, if one comes within `LINGER` and the group's `WINDOW`; `None` means commit now.
fn linger(queue: &mpsc::Receiver<Job>, opened: &Stopwatch) -> Option<Job> {
    let left = WINDOW.checked_sub(opened.elapsed())?;
    queue.recv_timeout(left.min(LINGER)).ok()
}

/// Whether the async runtime is saturated, sampled at most every `SAMPLE`.
struct Load {
    metrics: Option<RuntimeMetrics>,
    since: Stopwatch,
    busy: Duration,
    saturated: bool,
}

impl Load {
    fn new(metrics: Option<RuntimeMetrics>) -> Load {
        let busy = metrics.as_ref().map_or(Duration::ZERO, busy);
        Load { metrics, since: Stopwatch::start(), busy, saturated: false }
    }

    fn saturated(&mut self) -> bool {
        let Some(metrics) = &self.metrics else {
            return false;
        };
        let elapsed = self.since.elapsed();
        if elapsed >= SAMPLE {
            let now = busy(metrics);
            let capacity = elapsed.as_secs_f64() * metrics.num_workers() as f64;
            self.saturated = (now.saturating_sub(self.busy)).as_secs_f64() >= SATURATED * capacity;
            (self.since, self.busy) = (Stopwatch::start(), now);
        }
        self.saturated
    }
}

/// How long the runtime's workers have been busy in all.
fn busy(metrics: &RuntimeMetrics) -> Duration {
    (0..metrics.num_workers()).map(|worker| metrics.worker_total_busy_duration(worker)).sum()
}

/// Commits the group in one transaction and answers each claim; on any failure every claim of the group is
/// answered with the error (nothing of it was committed).
fn commit(connection: &mut Connection, group: &mut Group) {
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
