//! The operator plane as an operator meets it: `AdminServer` runs the real `tollgate serve` with an `operators:`
//! block on free 127.0.0.1 ports (public and admin listener, SQLite state and audit file in its own folder;
//! killed when dropped), and `run`/`cli` drive the real `tollgate admin …` CLI with its session cache in a
//! folder of the test's (`TOLLGATE_CONFIG_DIR`). Every wait is bounded.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use serde_json::Value;
use tollgate::credentials::SigningAlg;

use super::{FakeIssuer, Workdir, free_port, issuer_entry, policy, workdir};

/// How long a Tollgate may take to answer `/readyz` and its admin `/healthz`.
const READY_LIMIT: Duration = Duration::from_secs(20);

/// How long one CLI command may run.
const CLI_LIMIT: Duration = Duration::from_secs(30);

pub struct AdminServer {
    child: tokio::process::Child,
    /// The admin listener, `http://127.0.0.1:PORT`.
    pub admin_url: String,
    log: PathBuf,
    _ci: FakeIssuer,
    _work: Workdir,
}

impl AdminServer {
    /// Starts Tollgate with `operators_yaml` (the whole `operators:` block) after writing `files` (name,
    /// contents) beside its config, where the block's relative paths find them. One trusted CI issuer (`ci`)
    /// and one role (`deploy`) make the rest of the config valid.
    pub async fn start(operators_yaml: &str, files: &[(&str, &str)]) -> AdminServer {
        let ci = FakeIssuer::start(SigningAlg::Es256).await;
        let work = workdir(&[policy("deploy", "ci", "repo:acme/*")]);
        let dir = work.dir.path();
        for (name, contents) in files {
            std::fs::write(dir.join(name), contents).unwrap();
        }
        let (port, admin_port) = (free_port(), free_port());
        let yaml = format!(
            "listen: 127.0.0.1:{port}\nissuer_url: http://127.0.0.1:{port}\nsigning:\n  key_file: {key}\n\
             policies: {policies}\nwatch_policies: false\naudit:\n  path: {audit}\nadmin:\n  listen: 127.0.0.1:{admin_port}\n\
             {operators_yaml}trusted_issuers:\n{ci_entry}",
            key = work.key_file.display(),
            policies = work.policies.display(),
            audit = dir.join("audit.jsonl").display(),
            ci_entry = issuer_entry("ci", &ci, ""),
        );
        let config = dir.join("tollgate.yaml");
        std::fs::write(&config, &yaml).unwrap();
        let log = dir.join("tollgate.log");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"))
            .args(["serve", "--config", config.to_str().unwrap()])
            .env_remove("TOLLGATE_ADMIN_LISTEN")
            .env_remove("TOLLGATE_STATE_URL")
            .env_remove("TOLLGATE_BOOTSTRAP_SECRET")
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(&log).unwrap())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let admin_url = format!("http://127.0.0.1:{admin_port}");
        let mut server = AdminServer { child, admin_url, log, _ci: ci, _work: work };
        server.wait_until_ready(&format!("http://127.0.0.1:{port}/readyz")).await;
        server
    }

    /// What the server logged so far, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    async fn wait_until_ready(&mut self, readyz: &str) {
        let client = reqwest::Client::builder().timeout(Duration::from_secs(5)).build().unwrap();
        let healthz = format!("{}/healthz", self.admin_url);
        let ready = async {
            loop {
                let public = client.get(readyz).send().await.is_ok_and(|r| r.status() == 200);
                if public && client.get(&healthz).send().await.is_ok_and(|r| r.status() == 200) {
                    return;
                }
                if let Some(status) = self.child.try_wait().unwrap() {
                    panic!("tollgate exited ({status}) before it was ready:\n{}", self.log());
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        };
        if tokio::time::timeout(READY_LIMIT, ready).await.is_err() {
            panic!("tollgate was not ready within {READY_LIMIT:?}:\n{}", self.log());
        }
    }
}

/// What one CLI run printed.
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// The CLI with its session cache in `config_dir`, output piped.
pub fn cli(config_dir: &Path, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_tollgate"));
    command
        .args(args)
        .env("TOLLGATE_CONFIG_DIR", config_dir)
        .env_remove("XDG_CONFIG_HOME")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    command
}

/// Runs a CLI command to its end (bounded).
pub async fn run(config_dir: &Path, args: &[&str]) -> Run {
    let output = tokio::time::timeout(CLI_LIMIT, cli(config_dir, args).output())
        .await
        .unwrap_or_else(|_| panic!("tollgate {args:?} did not finish within {CLI_LIMIT:?}"))
        .unwrap();
    Run {
        code: output.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&output.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&output.stderr).into_owned(),
    }
}

/// The cached session file: its mode and its token.
pub fn cached_session(config_dir: &Path) -> (u32, String) {
    use std::os::unix::fs::PermissionsExt as _;
    let path = config_dir.join("session.json");
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    let session: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
    (mode, session["session_token"].as_str().unwrap().to_owned())
}

/// `tollgate admin whoami --output json`, as JSON.
pub async fn whoami(config_dir: &Path) -> Value {
    let run = run(config_dir, &["admin", "whoami", "--output", "json"]).await;
    assert_eq!(run.code, 0, "whoami: {}", run.stderr);
    serde_json::from_str(&run.stdout).unwrap()
}
