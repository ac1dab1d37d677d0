//! A real HAProxy (Debian's package, installed by `make test`) in front of Tollgate replicas, as an operator would
//! run one: HTTP mode on 127.0.0.1 and a free port, round robin, a replica taken out as soon as one `/readyz`
//! check fails (every 200 ms) and back after two pass, and requests retried on another replica (up to 3 times)
//! when the connection fails, the answer is empty or it times out. It runs in the foreground (`-db`), its log goes
//! to `haproxy.log` in its temporary folder, and it is killed when dropped. Without HAProxy, `start` returns
//! `None` with a notice, except under `CI=true`, where it panics.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::free_port;

/// How long HAProxy may take to accept connections on its frontend.
const START_LIMIT: Duration = Duration::from_secs(10);

pub struct Haproxy {
    child: tokio::process::Child,
    url: String,
    dir: tempfile::TempDir,
}

impl Haproxy {
    /// HAProxy in front of `backends` (`127.0.0.1:PORT` each), once its frontend accepts connections.
    pub async fn start(backends: &[String]) -> Option<Haproxy> {
        let binary = binary()?;
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let config = dir.path().join("haproxy.cfg");
        std::fs::write(&config, config_text(port, backends)).unwrap();
        let log = std::fs::File::create(dir.path().join("haproxy.log")).unwrap();
        let child = tokio::process::Command::new(binary)
            .arg("-f")
            .arg(config)
            .arg("-db")
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut haproxy = Haproxy { child, url: format!("http://127.0.0.1:{port}"), dir };
        let started = Instant::now();
        while tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_err() {
            if let Some(status) = haproxy.child.try_wait().unwrap() {
                panic!("haproxy exited ({status}) before accepting connections:\n{}", haproxy.log());
            }
            assert!(started.elapsed() < START_LIMIT, "haproxy never accepted connections:\n{}", haproxy.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Some(haproxy)
    }

    /// `http://127.0.0.1:<frontend port>`
    pub fn url(&self) -> &str {
        &self.url
    }

    /// HAProxy's log (server state changes, one line per request), for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("haproxy.log")).unwrap_or_default()
    }
}

/// The configuration: one frontend, one backend holding every replica.
fn config_text(port: u16, backends: &[String]) -> String {
    let servers: String = backends
        .iter()
        .enumerate()
        .map(|(index, address)| format!("    server replica{index} {address} check inter 200ms fall 1 rise 2\n"))
        .collect();
    // State changes reach stderr twice (-db prints them, and the log target is stderr): harmless.
    format!(
        "global
    maxconn 4096
    log stderr format raw local0 info

defaults
    mode http
    log global
    option httplog
    timeout connect 1s
    timeout client 10s
    timeout server 10s
    retries 3
    option redispatch 1
    # A request whose replica died before answering is resent to another, so every client gets an HTTP
    # answer; one whose single-use claim had committed then gets a 401 token already used (no second
    # credential is ever issued). With conn-failure alone, those clients see their connection cut instead.
    retry-on conn-failure empty-response response-timeout

frontend tollgate
    bind 127.0.0.1:{port}
    default_backend replicas

backend replicas
    balance roundrobin
    option httpchk GET /readyz
    http-check expect status 200
{servers}"
    )
}

/// `haproxy` from PATH or Debian's /usr/sbin (not on a non-root user's PATH), or `None` with a notice outside CI.
fn binary() -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut candidates: Vec<PathBuf> = std::env::split_paths(&path).collect();
    candidates.push(PathBuf::from("/usr/sbin"));
    candidates.push(PathBuf::from("/usr/local/sbin"));
    let found = candidates.into_iter().map(|dir| dir.join("haproxy")).find(|candidate| candidate.is_file());
    if found.is_none() {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "CI=true but `haproxy` is not installed (run `make test`)"
        );
        eprintln!("notice: `haproxy` is not installed; skipping (run `make test`, which installs Debian's haproxy)");
    }
    found
}
