//! One replica of a Tollgate deployment: the real `tollgate serve` binary on a free 127.0.0.1 port, sharing the
//! signing key file, the policies folder and the public `issuer_url` with its siblings (as replicas behind one
//! load balancer do), with its own admin port. Each writes `replica-<port>.yaml` and its log (stderr)
//! `replica-<port>.log` in the shared folder; audit lines (stdout) are dropped. Killed when dropped.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::free_port;

/// Deployments of replicas run one at a time: each starts a cluster and two or three servers, and their timing
/// bounds (a revocation within 1 s) measure Tollgate, not several deployments competing for two cores.
pub static ONE_DEPLOYMENT_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long a replica may take to answer `/readyz` with 200.
const READY_LIMIT: Duration = Duration::from_secs(15);

pub struct Replica {
    child: tokio::process::Child,
    pub url: String,
    /// Its admin listener.
    pub admin_url: String,
    pub port: u16,
    /// Its configuration file, for the CLI (`tollgate revoke … --config`).
    pub config: PathBuf,
    log: PathBuf,
}

impl Replica {
    /// Starts a replica and waits (bounded) until `/readyz` answers 200. `dir` holds the shared key and policies
    /// (one `support::workdir(...)` for all replicas); `issuer_url` is the address every replica calls itself;
    /// `issuers_yaml` the items under `trusted_issuers:`; `extra` more top-level YAML (e.g. the `state:` block).
    pub async fn start(
        dir: &Path,
        key_file: &Path,
        policies: &Path,
        issuer_url: &str,
        issuers_yaml: &str,
        extra: &str,
    ) -> Replica {
        let port = free_port();
        let config = dir.join(format!("replica-{port}.yaml"));
        // `extra` may bring its own `signing:` block (e.g. store-managed keys).
        let signing = if extra.contains("signing:") {
            String::new()
        } else {
            format!("signing:\n  key_file: {}\n", key_file.display())
        };
        let yaml = format!(
            "listen: 127.0.0.1:{port}\nissuer_url: {issuer_url}\n{signing}policies: {}\nwatch_policies: false\n{extra}trusted_issuers:\n{issuers_yaml}",
            policies.display(),
        );
        std::fs::write(&config, yaml).unwrap();
        let log = dir.join(format!("replica-{port}.log"));
        let admin_port = free_port();
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--config", config.to_str().unwrap()])
            // Its own admin port: the default (8471) would collide with the other replicas.
            .env("TOLLGATE_ADMIN_LISTEN", format!("127.0.0.1:{admin_port}"))
            // The state URL comes from the configuration file only, whatever the surrounding environment says.
            .env_remove("TOLLGATE_STATE_URL")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null()) // the audit lines
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let (url, admin_url) = (format!("http://127.0.0.1:{port}"), format!("http://127.0.0.1:{admin_port}"));
        let mut replica = Replica { child, url, admin_url, port, config, log };
        replica.wait_until_ready().await;
        replica
    }

    /// SIGKILL: no graceful shutdown, connections cut mid-request.
    pub fn kill(&mut self) {
        self.child.start_kill().unwrap();
    }

    pub fn pid(&self) -> u32 {
        self.child.id().unwrap()
    }

    /// What the replica wrote to stderr so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_until_ready(&mut self) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let started = Instant::now();
        loop {
            if let Ok(response) = client.get(format!("{}/readyz", self.url)).send().await
                && response.status() == 200
            {
                return;
            }
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!("replica {} exited ({status}) before it was ready:\n{}", self.port, self.log());
            }
            assert!(started.elapsed() < READY_LIMIT, "replica {} never became ready:\n{}", self.port, self.log());
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
