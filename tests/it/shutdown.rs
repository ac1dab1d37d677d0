//! Issue 5, graceful shutdown of the real binary: SIGTERM during a burst of exchanges (every exchange slowed by
//! the STS stand-in, so some are surely in flight) fails none that Tollgate accepted, and the process exits 0
//! within the grace period; a request that outlives the grace period is cut off and the exit is still 0.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::json;
use tollgate::clock::{Clock, SystemClock};
use tollgate::credentials::SigningAlg;

use crate::aws::{aws_policy, ci_claims};
use crate::support::*;

/// The real `tollgate serve` on a free 127.0.0.1 port, with an AWS role calling the STS stand-in.
struct Binary {
    child: tokio::process::Child,
    url: String,
    _dir: tempfile::TempDir,
}

impl Binary {
    async fn start(github: &FakeIssuer, stub: &StsStub, extra: &str) -> Binary {
        let Workdir { dir, policies, key_file: key } = workdir(&[aws_policy("deploy-aws", "passthrough")]);
        let port = free_port();
        let url = format!("http://127.0.0.1:{port}");
        let config = dir.path().join("tollgate.yaml");
        let yaml = format!(
            "listen: 127.0.0.1:{port}\nissuer_url: {url}\nsigning:\n  key_file: {}\npolicies: {}\nwatch_policies: false\naws:\n  endpoint_url: {}\n  timeout_seconds: 60\n  max_attempts: 1\n{extra}trusted_issuers:\n{}",
            key.display(),
            policies.display(),
            stub.url,
            issuer_entry("github", github, "")
        );
        std::fs::write(&config, yaml).unwrap();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--config", config.to_str().unwrap()])
            // Its own admin port: the default (8471) would collide with other binaries under test.
            .env("TOLLGATE_ADMIN_LISTEN", format!("127.0.0.1:{}", free_port()))
            .env("RUST_LOG", "info")
            .stderr(std::process::Stdio::piped())
            .stdout(std::process::Stdio::null()) // the audit lines
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let binary = Binary { child, url, _dir: dir };
        let client = reqwest::Client::new();
        for _ in 0..500 {
            if let Ok(response) = client.get(format!("{}/readyz", binary.url)).send().await
                && response.status() == 200
            {
                return binary;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        panic!("the binary never became ready");
    }

    fn terminate(&self) {
        let pid = self.child.id().unwrap().to_string();
        assert!(std::process::Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    }

    /// Waits (at most `limit`) for the exit; returns whether it succeeded, how long it took, and the log.
    async fn wait(mut self, limit: Duration) -> (bool, Duration, String) {
        let started = Instant::now();
        let mut stderr = self.child.stderr.take().unwrap();
        let log = tokio::spawn(async move {
            let mut text = String::new();
            tokio::io::AsyncReadExt::read_to_string(&mut stderr, &mut text).await.unwrap();
            text
        });
        let status = tokio::time::timeout(limit, self.child.wait()).await.expect("the process exits in time").unwrap();
        (status.success(), started.elapsed(), log.await.unwrap())
    }
}

/// A request that got no 200: whether it started after SIGTERM was sent, and its status or error.
type Failure = (bool, Result<u16, reqwest::Error>);

/// An exchange for the AWS role, with a token valid now (the binary reads the real clock).
fn exchange_body(github: &FakeIssuer) -> serde_json::Value {
    json!({"token": github.token(SystemClock.now().as_secs(), ci_claims()), "role": "deploy-aws"})
}

#[tokio::test]
async fn sigterm_during_a_burst_fails_no_accepted_exchange_and_exits_0_within_the_grace_period() {
    const REQUESTS: usize = 200;
    const WORKERS: usize = 8;
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let stub = StsStub::start().await;
    stub.set(StubMode::SucceedAfter(Duration::from_millis(150)));
    // Decision lines are written in batches off the request path: at exit, none may be missing.
    let audit_dir = tempfile::tempdir().unwrap();
    let audit = audit_dir.path().join("audit.jsonl");
    let extra = format!("shutdown_grace_seconds: 10\naudit:\n  path: {}\n  flush_interval_ms: 1000\n", audit.display());
    let binary = Binary::start(&github, &stub, &extra).await;
    let body = exchange_body(&github);
    let next = Arc::new(AtomicUsize::new(0));
    let ok = Arc::new(AtomicUsize::new(0));
    let terminated = Arc::new(AtomicBool::new(false));
    let failures: Arc<Mutex<Vec<Failure>>> = Arc::default();
    let mut workers = tokio::task::JoinSet::new();
    for _ in 0..WORKERS {
        let (next, ok, terminated, failures) = (next.clone(), ok.clone(), terminated.clone(), failures.clone());
        let (url, body) = (binary.url.clone(), body.clone());
        workers.spawn(async move {
            let client = reqwest::Client::new(); // one connection per worker
            while next.fetch_add(1, Ordering::SeqCst) < REQUESTS {
                let after_sigterm = terminated.load(Ordering::SeqCst);
                match client.post(format!("{url}/exchange")).json(&body).send().await {
                    Ok(response) if response.status() == 200 => {
                        ok.fetch_add(1, Ordering::SeqCst);
                    }
                    Ok(response) => failures.lock().unwrap().push((after_sigterm, Ok(response.status().as_u16()))),
                    Err(error) => failures.lock().unwrap().push((after_sigterm, Err(error))),
                }
            }
        });
    }
    let seen = ok.clone();
    wait_for(move || seen.load(Ordering::SeqCst) >= 40, "a fifth of the burst").await;
    let in_flight = stub.requests().len() - ok.load(Ordering::SeqCst);
    terminated.store(true, Ordering::SeqCst);
    binary.terminate();
    let (success, took, log) = binary.wait(Duration::from_secs(15)).await;
    while workers.join_next().await.is_some() {}

    assert!(in_flight >= 1, "some exchanges were in flight when SIGTERM landed");
    assert!(success, "SIGTERM is a clean exit\n{log}");
    assert!(took < Duration::from_secs(10), "exited within the grace period: {took:?}");
    let accepted = stub.requests().len();
    assert_eq!(ok.load(Ordering::SeqCst), accepted, "every exchange that reached STS was answered 200");
    let failures = failures.lock().unwrap();
    for (_, failure) in failures.iter() {
        let error = failure.as_ref().expect_err("every answer was 200");
        assert!(error.is_connect() || error.is_request(), "only connection failures: {error:?}");
    }
    // A request that was being sent just as SIGTERM closed its idle keep-alive connection never reached Tollgate
    // (it is not among STS's requests above); that race costs each connection at most one request.
    let raced = failures.iter().filter(|(after_sigterm, _)| !after_sigterm).count();
    assert!(raced <= WORKERS, "{raced} requests failed before SIGTERM was sent");
    assert!(log.contains("Shutdown requested.") && log.contains("Every connection is closed."), "{log}");
    let text = std::fs::read_to_string(&audit).unwrap();
    let allowed = text.lines().filter(|line| line.contains(r#""decision":"allow""#)).count();
    assert_eq!(allowed, accepted, "one audit line per accepted exchange, even those answered just before exit");
}

#[tokio::test]
async fn a_request_outliving_the_grace_period_is_cut_off_and_the_exit_is_still_0() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let stub = StsStub::start().await;
    stub.set(StubMode::SucceedAfter(Duration::from_secs(30)));
    let binary = Binary::start(&github, &stub, "shutdown_grace_seconds: 1\n").await;
    let body = exchange_body(&github);
    let url = binary.url.clone();
    let slow =
        tokio::spawn(async move { reqwest::Client::new().post(format!("{url}/exchange")).json(&body).send().await });
    let stub_seen = stub.clone();
    wait_for(move || stub_seen.requests().len() == 1, "the slow exchange to reach STS").await;
    binary.terminate();
    let (success, took, log) = binary.wait(Duration::from_secs(10)).await;
    assert!(success, "still a clean exit\n{log}");
    assert!(
        took >= Duration::from_millis(900) && took < Duration::from_secs(5),
        "exited after the grace period: {took:?}"
    );
    assert!(log.contains("The grace period is over"), "{log}");
    assert!(slow.await.unwrap().is_err(), "the cut-off request gets no answer");
}
