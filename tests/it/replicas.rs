//! Several real `tollgate serve` replicas on one real PostgreSQL 15 (a throw-away cluster, fsync on) behave as one
//! broker: a single-use token used on one replica is refused on another, even when fifty uses race across two; a
//! revocation made with the CLI reaches the other replica within a second (only LISTEN/NOTIFY can: the poll is
//! every 5 s); a PostgreSQL restart under load fails closed (503, never a 200 it cannot record), recovers by itself,
//! and forgets no use it acknowledged; and three replicas behind a real HAProxy lose at most the requests in flight
//! when one is SIGKILLed mid-burst, with no token that got a 200 accepted again. Skipped (with a notice) where
//! PostgreSQL 15 or HAProxy is not installed, except under `CI=true`.

use std::future::Future;
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate::clock::{Clock, SystemClock};
use tollgate::credentials::SigningAlg;

use crate::support::haproxy::Haproxy;
use crate::support::postgres::PgCluster;
use crate::support::replica::Replica;
use crate::support::*;

/// The identity the tests use and revoke, and another one of the same organisation.
const SUB: &str = "repo:acme/web:ref:refs/heads/main";
const OTHER_SUB: &str = "repo:acme/api:ref:refs/heads/main";
/// Every test finishes within this, or fails.
const TEST_LIMIT: Duration = Duration::from_secs(30);

/// PostgreSQL, a fake GitHub issuer, and the folder (signing key, policies) every replica shares.
struct Deployment {
    pg: Arc<PgCluster>,
    github: FakeIssuer,
    work: Workdir,
    /// The address clients reach the deployment by, the same for every replica (nothing needs to listen there).
    issuer_url: String,
}

/// An HTTP answer: status, JSON body (or the text as a string), whether it carried `Retry-After`.
struct Answer {
    status: u16,
    body: Value,
    retry_after: bool,
}

impl Deployment {
    /// `None` where PostgreSQL 15 is not installed (outside CI).
    async fn start() -> Option<Deployment> {
        let pg = tokio::task::spawn_blocking(PgCluster::start).await.unwrap()?;
        let github = FakeIssuer::start(SigningAlg::Rs256).await;
        let work = workdir(&[single_use_policy()]);
        Some(Deployment { pg: Arc::new(pg), github, work, issuer_url: format!("http://127.0.0.1:{}", free_port()) })
    }

    async fn replica(&self) -> Replica {
        let (dir, issuers) = (self.work.dir.path(), issuer_entry("github", &self.github, ""));
        let state = format!(
            "state:\n  backend: postgres\n  url: {}\n  pool_size: 8\n  connect_timeout_seconds: 2\n  statement_timeout_seconds: 2\nrevocations:\n  poll_seconds: 5\n  max_staleness_seconds: 60\n",
            self.pg.url()
        );
        Replica::start(dir, &self.work.key_file, &self.work.policies, &self.issuer_url, &issuers, &state).await
    }
}

/// Role `deploy`: GitHub tokens of `repo:acme/*`, each usable once for it.
fn single_use_policy() -> (String, String) {
    let text = "role: deploy\nissuer: github\naudience: tollgate\nsingle_use: per_role\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"repo:acme/*\"\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n";
    ("deploy.yaml".into(), text.into())
}

/// A fresh token (its own jti) for `sub`, valid now: the binaries read the real clock.
fn token(github: &FakeIssuer, sub: &str) -> String {
    github.token(SystemClock.now().as_secs(), json!({"sub": sub}))
}

fn client() -> reqwest::Client {
    reqwest::Client::builder().timeout(Duration::from_secs(10)).build().unwrap()
}

/// POST /exchange for role `deploy` at `url`; an error when no whole HTTP answer came back.
async fn exchange(client: &reqwest::Client, url: &str, token: &str) -> Result<Answer, reqwest::Error> {
    let response =
        client.post(format!("{url}/exchange")).json(&json!({"token": token, "role": "deploy"})).send().await?;
    let (status, retry_after) = (response.status().as_u16(), response.headers().contains_key("retry-after"));
    let text = response.text().await?;
    Ok(Answer { status, body: serde_json::from_str(&text).unwrap_or(Value::String(text)), retry_after })
}

fn is_replay(answer: &Answer) -> bool {
    answer.status == 401
        && answer.body["error"] == "invalid_token"
        && answer.body["error_description"].as_str().is_some_and(|text| text.contains("already used"))
}

/// Runs a test body within `TEST_LIMIT`.
async fn bounded(test: impl Future<Output = ()>) {
    let _turn = crate::support::replica::ONE_DEPLOYMENT_AT_A_TIME.lock().await;
    tokio::time::timeout(TEST_LIMIT, test).await.expect("the test finishes within 30 s");
}

/// Polls `condition` every 10 ms until it holds; fails after `limit`.
async fn eventually(limit: Duration, what: &str, condition: impl Fn() -> bool) {
    let started = Instant::now();
    while !condition() {
        assert!(started.elapsed() < limit, "timed out after {limit:?} waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// `tollgate <args>` (bounded); its stdout, after asserting it succeeded.
async fn cli(args: &[&str]) -> String {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command.args(args).env_remove("TOLLGATE_STATE_URL").stdin(std::process::Stdio::null()).kill_on_drop(true);
    let output =
        tokio::time::timeout(Duration::from_secs(20), command.output()).await.expect("the CLI returns").unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "tollgate {args:?} failed: {}\n{stderr}", output.status);
    String::from_utf8(output.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_token_used_on_one_replica_is_refused_on_the_other() {
    bounded(async {
        let Some(deployment) = Deployment::start().await else { return };
        let (a, b) = (deployment.replica().await, deployment.replica().await);
        let client = client();
        let once = token(&deployment.github, SUB);
        let first = exchange(&client, &a.url, &once).await.unwrap();
        assert_eq!(first.status, 200, "{}\n{}", first.body, a.log());
        let again = exchange(&client, &b.url, &once).await.unwrap();
        assert!(is_replay(&again), "{} {}\n{}", again.status, again.body, b.log());
        // The uses live in PostgreSQL, in tables the `tollgate` role created, not in a file beside the replicas.
        let tables = deployment.pg.psql("SELECT count(*) FROM pg_tables WHERE tableowner = 'tollgate'");
        assert!(tables.trim().parse::<u32>().unwrap() >= 1, "no table owned by tollgate: {tables:?}");
        assert!(!deployment.work.dir.path().join("tollgate-state.db").exists(), "no SQLite state beside the configs");
        for replica in [&a, &b] {
            assert!(!replica.log().contains(deployment.pg.password()), "the state URL's password is never logged");
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_concurrent_uses_of_one_token_across_two_replicas_give_exactly_one_200() {
    bounded(async {
        let Some(deployment) = Deployment::start().await else { return };
        let (a, b) = (deployment.replica().await, deployment.replica().await);
        let (client, raced) = (client(), token(&deployment.github, SUB));
        // All fifty are sent at once, half to each replica.
        let start = Arc::new(tokio::sync::Barrier::new(50));
        let mut tasks = tokio::task::JoinSet::new();
        for index in 0..50 {
            let url = if index % 2 == 0 { a.url.clone() } else { b.url.clone() };
            let (client, raced, start) = (client.clone(), raced.clone(), Arc::clone(&start));
            tasks.spawn(async move {
                start.wait().await;
                exchange(&client, &url, &raced).await.unwrap()
            });
        }
        let mut answers = Vec::new();
        while let Some(answer) = tasks.join_next().await {
            answers.push(answer.unwrap());
        }
        let statuses: Vec<u16> = answers.iter().map(|answer| answer.status).collect();
        assert_eq!(statuses.iter().filter(|status| **status == 200).count(), 1, "{statuses:?}\n{}", a.log());
        let replays = answers.iter().filter(|answer| is_replay(answer)).count();
        assert_eq!(replays, 49, "every other use is refused as already used: {statuses:?}");
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_revocation_made_with_the_cli_is_enforced_on_the_other_replica_within_a_second() {
    bounded(async {
        let Some(deployment) = Deployment::start().await else { return };
        let (a, b) = (deployment.replica().await, deployment.replica().await);
        let client = client();
        let before = exchange(&client, &b.url, &token(&deployment.github, SUB)).await.unwrap();
        assert_eq!(before.status, 200, "allowed before the revocation: {}", before.body);
        let config = a.config.to_str().unwrap();
        let revoke =
            ["revoke", "identity", "--config", config, "--issuer", "github", "--claim", "sub", "--equals", SUB];
        let reason: &[&str] = &["--reason", "test"];
        let printed = cli(&[revoke.as_slice(), reason].concat()).await;
        let revoked_at = Instant::now();
        let revocation: Value = serde_json::from_str(&printed).unwrap_or_else(|e| panic!("{e}: {printed}"));
        let id = revocation["id"].clone();
        assert!(id.is_string() || id.is_number(), "the revocation's id: {revocation}");
        // Fresh tokens of the revoked identity on B, every 50 ms, until B refuses one (or 3 s pass).
        let mut ticker = tokio::time::interval(Duration::from_millis(50));
        let (refused_after, refusal) = loop {
            ticker.tick().await;
            let answer = exchange(&client, &b.url, &token(&deployment.github, SUB)).await.unwrap();
            match answer.status {
                403 => break (revoked_at.elapsed(), answer),
                200 => assert!(revoked_at.elapsed() < Duration::from_secs(3), "B ignores it\n{}", b.log()),
                other => panic!("B answered {other}: {}\n{}", answer.body, b.log()),
            }
        };
        assert!(refused_after <= Duration::from_secs(1), "B refused only after {refused_after:?}\n{}", b.log());
        assert_eq!(refusal.body["error"], "access_denied", "{}", refusal.body);
        let on_a = exchange(&client, &a.url, &token(&deployment.github, SUB)).await.unwrap();
        assert_eq!(on_a.status, 403, "A, where it was made, refuses too: {}", on_a.body);
        let other = exchange(&client, &b.url, &token(&deployment.github, OTHER_SUB)).await.unwrap();
        assert_eq!(other.status, 200, "another identity is untouched: {}", other.body);
        // Listed from the other replica's configuration: one JSON object per line.
        let listed = cli(&["revocations", "list", "--config", b.config.to_str().unwrap()]).await;
        let ids: Vec<Value> = listed
            .lines()
            .map(|line| serde_json::from_str::<Value>(line).unwrap_or_else(|e| panic!("{e}: {line}")))
            .map(|entry| entry["id"].clone())
            .collect();
        assert!(ids.contains(&id), "{id} is listed: {listed}");
    })
    .await;
}

/// Where the PostgreSQL restart test is when an exchange is sent or answered.
const UP: u8 = 0;
const STOPPING: u8 = 1;
const DOWN: u8 = 2;
const STARTING: u8 = 3;
const BACK: u8 = 4;
const DONE: u8 = 5;

/// One exchange of the restart test: its token, the phases it was sent and answered in, and the answer.
struct Use {
    token: String,
    sent: u8,
    answered: u8,
    answer: Result<Answer, String>,
}

impl Use {
    fn status(&self) -> Option<u16> {
        self.answer.as_ref().ok().map(|answer| answer.status)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_restart_under_load_fails_closed_then_recovers_and_forgets_no_acknowledged_use() {
    bounded(async {
        let Some(deployment) = Deployment::start().await else { return };
        let a = deployment.replica().await;
        let client = client();
        let phase = Arc::new(AtomicU8::new(UP));
        let uses: Arc<Mutex<Vec<Use>>> = Arc::default();
        let mut workers = tokio::task::JoinSet::new();
        for _ in 0..4 {
            let (phase, uses, client, url) = (Arc::clone(&phase), Arc::clone(&uses), client.clone(), a.url.clone());
            let github = deployment.github.clone();
            workers.spawn(async move {
                while phase.load(Ordering::SeqCst) != DONE {
                    let token = token(&github, SUB);
                    let sent = phase.load(Ordering::SeqCst);
                    let answer = exchange(&client, &url, &token).await.map_err(|error| error.to_string());
                    let answered = phase.load(Ordering::SeqCst);
                    uses.lock().unwrap().push(Use { token, sent, answered, answer });
                    tokio::time::sleep(Duration::from_millis(5)).await; // paces the load, nothing waits on it
                }
            });
        }
        let count = |matches: fn(&Use) -> bool| {
            let uses = Arc::clone(&uses);
            move || uses.lock().unwrap().iter().filter(|one| matches(one)).count()
        };
        let acknowledged = count(|one| one.answered == UP && one.status() == Some(200));
        eventually(Duration::from_secs(10), "20 acknowledged uses", || acknowledged() >= 20).await;
        phase.store(STOPPING, Ordering::SeqCst);
        let pg = Arc::clone(&deployment.pg);
        tokio::task::spawn_blocking(move || pg.stop()).await.unwrap();
        phase.store(DOWN, Ordering::SeqCst);
        let down = count(|one| one.sent == DOWN && one.answered == DOWN);
        eventually(Duration::from_secs(10), "5 answers while PostgreSQL is down", || down() >= 5).await;
        let ready = client.get(format!("{}/readyz", a.url)).send().await.unwrap();
        let (status, body) = (ready.status().as_u16(), ready.text().await.unwrap_or_default());
        assert_ne!(status, 200, "not ready while the store is down: {body}");
        phase.store(STARTING, Ordering::SeqCst);
        let pg = Arc::clone(&deployment.pg);
        tokio::task::spawn_blocking(move || pg.start_again()).await.unwrap();
        phase.store(BACK, Ordering::SeqCst);
        let recovered = count(|one| one.sent == BACK && one.status() == Some(200));
        eventually(Duration::from_secs(15), "a 200 after PostgreSQL is back", || recovered() >= 1).await;
        phase.store(DONE, Ordering::SeqCst);
        while workers.join_next().await.is_some() {}
        let ready = client.get(format!("{}/readyz", a.url)).send().await.unwrap();
        let (status, body) = (ready.status().as_u16(), ready.text().await.unwrap_or_default());
        assert_eq!(status, 200, "ready again: {body}");

        let uses = std::mem::take(&mut *uses.lock().unwrap());
        let unanswered: Vec<&String> = uses.iter().filter_map(|one| one.answer.as_ref().err()).collect();
        assert!(unanswered.is_empty(), "every exchange got an HTTP answer: {unanswered:?}\n{}", a.log());
        let while_down: Vec<&Answer> = uses
            .iter()
            .filter(|one| one.sent == DOWN && one.answered == DOWN)
            .filter_map(|one| one.answer.as_ref().ok())
            .collect();
        let statuses: Vec<u16> = while_down.iter().map(|answer| answer.status).collect();
        assert!(!statuses.contains(&200), "no use is acknowledged that the store cannot record: {statuses:?}");
        for answer in &while_down {
            let unavailable = answer.status == 503 && answer.body["error"] == "temporarily_unavailable";
            assert!(unavailable && answer.retry_after, "503 with Retry-After: {} {}", answer.status, answer.body);
        }
        // Every use acknowledged (before, during or after the restart) is remembered.
        let acknowledged: Vec<&Use> = uses.iter().filter(|one| one.status() == Some(200)).collect();
        let before_restart = acknowledged.iter().filter(|one| one.answered < STARTING).count();
        assert!(before_restart >= 20, "{before_restart} uses acknowledged before the restart");
        for one in acknowledged {
            let replay = exchange(&client, &a.url, &one.token).await.unwrap();
            assert!(is_replay(&replay), "forgotten (phase {}): {} {}", one.answered, replay.status, replay.body);
        }
        eprintln!("restart: {} exchanges, {} while down, {before_restart} acked before", uses.len(), statuses.len());
    })
    .await;
}

/// The outcome of one exchange through HAProxy: its token, and its status or connection error.
type Outcome = (String, Result<u16, String>);

/// Exchanges every token through `url` with `workers` concurrent clients; one outcome per token.
async fn through(url: &str, tokens: Vec<String>, workers: usize, done: Arc<AtomicUsize>) -> Vec<Outcome> {
    let queue = Arc::new(Mutex::new(tokens));
    let outcomes: Arc<Mutex<Vec<Outcome>>> = Arc::default();
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..workers {
        let (queue, outcomes, done, url, client) =
            (queue.clone(), outcomes.clone(), done.clone(), url.to_owned(), client());
        tasks.spawn(async move {
            loop {
                // let-else: the queue's lock is released before the exchange is awaited.
                let Some(token) = queue.lock().unwrap().pop() else { break };
                let result =
                    exchange(&client, &url, &token).await.map(|answer| answer.status).map_err(|e| e.to_string());
                outcomes.lock().unwrap().push((token, result));
                done.fetch_add(1, Ordering::SeqCst);
            }
        });
    }
    while tasks.join_next().await.is_some() {}
    std::mem::take(&mut *outcomes.lock().unwrap())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn three_replicas_behind_haproxy_survive_a_sigkill_without_replays() {
    const BURST: usize = 600;
    const WORKERS: usize = 16;
    bounded(async {
        let Some(deployment) = Deployment::start().await else { return };
        let mut replicas = Vec::new();
        for _ in 0..3 {
            replicas.push(deployment.replica().await);
        }
        let backends: Vec<String> = replicas.iter().map(|replica| format!("127.0.0.1:{}", replica.port)).collect();
        let Some(proxy) = Haproxy::start(&backends).await else { return };
        let client = client();
        let (started, readyz) = (Instant::now(), format!("{}/readyz", proxy.url()));
        while !client.get(readyz.as_str()).send().await.is_ok_and(|response| response.status() == 200) {
            assert!(started.elapsed() < Duration::from_secs(10), "HAProxy never routed /readyz:\n{}", proxy.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let tokens: Vec<String> = (0..BURST).map(|_| token(&deployment.github, SUB)).collect();
        let done = Arc::new(AtomicUsize::new(0));
        let burst = tokio::spawn({
            let (url, done) = (proxy.url().to_owned(), Arc::clone(&done));
            async move { through(&url, tokens, WORKERS, done).await }
        });
        let seen = Arc::clone(&done);
        eventually(Duration::from_secs(15), "a third of the burst", || seen.load(Ordering::SeqCst) >= BURST / 3).await;
        let (victim, pid) = (replicas[1].port, replicas[1].pid());
        replicas[1].kill();
        let done_at_kill = done.load(Ordering::SeqCst);
        let outcomes = burst.await.unwrap();

        assert_eq!(outcomes.len(), BURST, "one outcome per request");
        let (mut ok, mut other_statuses, mut errors) = (Vec::new(), Vec::new(), Vec::new());
        for (token, result) in outcomes {
            match result {
                Ok(200) => ok.push(token),
                Ok(status) => other_statuses.push(status),
                Err(error) => errors.push(error),
            }
        }
        other_statuses.sort_unstable();
        eprintln!("burst through HAProxy: {} × 200, other answers {other_statuses:?}, errors {errors:?}", ok.len());
        eprintln!("replica {victim} (pid {pid}) was SIGKILLed after {done_at_kill} of {BURST} answers");
        assert!(done_at_kill < BURST, "the kill landed mid-burst");
        let failures = other_statuses.len() + errors.len();
        let tail: String = proxy.log().lines().rev().take(40).collect::<Vec<_>>().join("\n");
        assert!(failures <= WORKERS, "{failures} failures: at most the {WORKERS} requests in flight may fail\n{tail}");
        // No token that got a 200 is accepted again, whichever replica HAProxy picks.
        let replays = through(proxy.url(), ok, WORKERS, Arc::default()).await;
        let accepted_again: Vec<&Outcome> = replays.iter().filter(|(_, result)| result != &Ok(401)).collect();
        assert!(accepted_again.is_empty(), "every replay is refused with 401: {accepted_again:?}");
    })
    .await;
}
