//! A throw-away PostgreSQL 15 cluster for tests, from Debian's `postgresql-15` (installed by `make test`):
//! `initdb` into a temporary folder, a server on 127.0.0.1 and a free port (its unix socket in that folder, fsync
//! and synchronous commit on), a role `tollgate` with a random password that may connect only over TCP with
//! scram-sha-256, and a database `tollgate` it owns. The superuser `postgres` connects only over the unix socket
//! (trust) to set things up and to let tests inspect tables (`psql`). initdb refuses to run as root, so as root the
//! server runs as `nobody`, which owns the folder. Every external command is bounded (`timeout 60`; pg_ctl waits at
//! most 30 s). Dropping the cluster stops the server (`-m immediate`) and removes the folder. Without PostgreSQL
//! 15, `start` returns `None` with a notice, except under `CI=true`, where it panics.

use std::io::Read;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};

use super::free_port;

/// Where Debian's `postgresql-15` puts the server tools.
const BIN: &str = "/usr/lib/postgresql/15/bin";
/// The database superuser, reachable only over the unix socket.
const SUPERUSER: &str = "postgres";
/// The role (and database) Tollgate uses, reachable only over TCP with its password.
const USER: &str = "tollgate";
/// The outer bound of every external command, in seconds (`timeout`); pg_ctl's own waits are 30 s.
const COMMAND_LIMIT: &str = "60";
/// Ports tried when the free one is taken between finding it and the server binding it.
const PORT_ATTEMPTS: usize = 3;

pub struct PgCluster {
    /// The data directory is `data/` inside; the unix socket and `postgres.log` are at the top.
    dir: tempfile::TempDir,
    port: u16,
    user: String,
    password: String,
    bin: PathBuf,
    /// `(uid, gid)` the server runs as when the tests run as root; `None`: as the current user.
    run_as: Option<(u32, u32)>,
}

impl PgCluster {
    /// None (with a printed notice) when PostgreSQL 15 is not installed and CI is unset; panics under CI=true.
    pub fn start() -> Option<PgCluster> {
        let bin = PathBuf::from(BIN);
        let missing: Vec<&str> =
            ["initdb", "pg_ctl", "postgres", "psql"].into_iter().filter(|tool| !bin.join(tool).is_file()).collect();
        if !missing.is_empty() {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but PostgreSQL 15 is not installed ({missing:?} missing in {BIN}; run `make test`)"
            );
            eprintln!("notice: PostgreSQL 15 is not installed ({BIN}); skipping (run `make test`, which installs it)");
            return None;
        }
        let run_as = if id(&["-u"]) == 0 { Some((id(&["-u", "nobody"]), id(&["-g", "nobody"]))) } else { None };
        // As root the folder must be reachable by `nobody`: /tmp is world-traversable, while TMPDIR may not be.
        let parent = if run_as.is_some() { PathBuf::from("/tmp") } else { std::env::temp_dir() };
        let dir = tempfile::Builder::new().prefix("tollgate-pg-").tempdir_in(parent).unwrap();
        if let Some((uid, gid)) = run_as {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid)).unwrap();
        }
        let mut cluster = PgCluster { dir, port: 0, user: USER.into(), password: random_password(), bin, run_as };
        cluster.initdb();
        cluster.start_on_a_free_port();
        // Two commands: psql runs one `-c` as one transaction, and CREATE DATABASE refuses to run inside one.
        cluster.psql_in("postgres", &format!("CREATE ROLE {USER} LOGIN PASSWORD '{}'", cluster.password));
        cluster.psql_in("postgres", &format!("CREATE DATABASE {USER} OWNER {USER}"));
        Some(cluster)
    }

    /// `postgres://tollgate:<password>@127.0.0.1:<port>/tollgate`
    pub fn url(&self) -> String {
        format!("postgres://{}:{}@127.0.0.1:{}/{USER}", self.user, self.password, self.port)
    }

    pub fn password(&self) -> &str {
        &self.password
    }

    /// Stops the server the way an operator's restart does (`-m fast`: connections are cut, then a checkpoint);
    /// returns once it is down.
    pub fn stop(&self) {
        let output = self.pg_ctl(&["-m", "fast", "stop"]);
        assert!(output.status.success(), "pg_ctl stop failed: {}\n{}", describe(&output), self.log());
    }

    /// Starts the server again on the same data folder and port; returns once it accepts connections.
    pub fn start_again(&self) {
        let output = self.pg_ctl_start();
        assert!(output.status.success(), "pg_ctl start failed: {}\n{}", describe(&output), self.log());
    }

    /// Runs `sql` in the `tollgate` database as the superuser (`psql -At`, stops at the first error); returns stdout.
    pub fn psql(&self, sql: &str) -> String {
        self.psql_in(USER, sql)
    }

    /// Turns TLS on with this certificate and key (PEM) and from then on accepts `tollgate` only over TLS
    /// (`hostssl`); reloads the running server.
    pub fn require_tls(&self, cert_pem: &str, key_pem: &str) {
        use std::os::unix::fs::PermissionsExt as _;
        let data = self.data();
        for (file, text) in [("server.crt", cert_pem), ("server.key", key_pem)] {
            let path = data.join(file);
            std::fs::write(&path, text).unwrap();
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
            if let Some((uid, gid)) = self.run_as {
                std::os::unix::fs::chown(&path, Some(uid), Some(gid)).unwrap();
            }
        }
        let conf = data.join("postgresql.conf");
        let mut text = std::fs::read_to_string(&conf).unwrap();
        text.push_str(
            "
ssl = on
ssl_cert_file = 'server.crt'
ssl_key_file = 'server.key'
",
        );
        std::fs::write(conf, text).unwrap();
        let hba = format!(
            "local all {SUPERUSER} trust
hostssl {USER} {USER} 127.0.0.1/32 scram-sha-256
"
        );
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
        assert_eq!(self.psql_in("postgres", "SELECT pg_reload_conf()").trim(), "t");
        // The reload is asynchronous: each psql is a new session, which sees the new settings once loaded.
        let on = (0..200).any(|_| self.psql_in("postgres", "SHOW ssl").trim() == "on");
        assert!(on, "TLS did not come on: {}", self.log());
    }

    /// The server's log, for failure messages.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("postgres.log")).unwrap_or_default()
    }

    fn data(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn initdb(&self) {
        let data = self.data();
        // --no-sync only skips flushing initdb's own files before the server first starts; the server itself
        // runs with fsync and synchronous commit on.
        let data_arg = data.to_str().unwrap();
        let auth = ["-U", SUPERUSER, "--auth-local=trust", "--auth-host=reject"];
        let mut args = vec!["-D", data_arg, "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions"];
        args.extend(auth);
        let output = self.server_tool("initdb", &args).output().unwrap();
        assert!(output.status.success(), "initdb failed: {}", describe(&output));
        let hba = format!("local all {SUPERUSER} trust\nhost {USER} {USER} 127.0.0.1/32 scram-sha-256\n");
        std::fs::write(data.join("pg_hba.conf"), hba).unwrap();
    }

    /// Appends the settings with a fresh free port and starts; a later `port` line overrides an earlier one.
    fn start_on_a_free_port(&mut self) {
        for attempt in 1..=PORT_ATTEMPTS {
            self.port = free_port();
            let settings = format!(
                "\n# tollgate tests\nport = {}\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = '{}'\nfsync = on\nsynchronous_commit = on\nfull_page_writes = on\npassword_encryption = 'scram-sha-256'\nmax_connections = 100\nshared_buffers = 32MB\n",
                self.port,
                self.dir.path().display()
            );
            let conf = self.data().join("postgresql.conf");
            let mut text = std::fs::read_to_string(&conf).unwrap();
            text.push_str(&settings);
            std::fs::write(conf, text).unwrap();
            let output = self.pg_ctl_start();
            if output.status.success() {
                return;
            }
            let log = self.log();
            assert!(
                log.contains("could not bind") && attempt < PORT_ATTEMPTS,
                "pg_ctl start failed: {}\n{log}",
                describe(&output)
            );
        }
    }

    fn pg_ctl_start(&self) -> Output {
        let log = self.dir.path().join("postgres.log");
        // -l matters beyond logging: without it the server would inherit (and hold open) our output pipes.
        self.pg_ctl(&["-l", log.to_str().unwrap(), "start"])
    }

    fn pg_ctl(&self, args: &[&str]) -> Output {
        self.pg_ctl_command(args).output().unwrap()
    }

    fn pg_ctl_command(&self, args: &[&str]) -> Command {
        let data = self.data();
        let mut all = vec!["-D", data.to_str().unwrap(), "-w", "-t", "30"];
        all.extend_from_slice(args);
        self.server_tool("pg_ctl", &all)
    }

    /// A server tool run as the server's account, bounded by `timeout`.
    fn server_tool(&self, tool: &str, args: &[&str]) -> Command {
        let mut command = bounded();
        if let Some((uid, gid)) = self.run_as {
            command.arg("setpriv").arg(format!("--reuid={uid}")).arg(format!("--regid={gid}"));
            command.args(["--clear-groups", "--"]);
        }
        command.arg(self.bin.join(tool)).args(args);
        command
    }

    fn psql_in(&self, database: &str, sql: &str) -> String {
        let port = self.port.to_string();
        let output = bounded()
            .arg(self.bin.join("psql"))
            .args(["-X", "-At", "-v", "ON_ERROR_STOP=1", "-h"])
            .arg(self.dir.path())
            .args(["-p", port.as_str(), "-U", SUPERUSER, "-d", database, "-c", sql])
            .env("PGCONNECT_TIMEOUT", "5")
            .output()
            .unwrap();
        assert!(output.status.success(), "psql failed on {sql:?}: {}", describe(&output));
        String::from_utf8(output.stdout).unwrap()
    }
}

impl Drop for PgCluster {
    /// Stops the server at once (no checkpoint: the folder is removed next); errors are ignored, as the server
    /// may already be down.
    fn drop(&mut self) {
        let _ = self.pg_ctl_command(&["-m", "immediate", "stop"]).output();
    }
}

/// `timeout 60 …`, with stdin closed.
fn bounded() -> Command {
    let mut command = Command::new("timeout");
    command.args(["--kill-after=5", COMMAND_LIMIT]).stdin(Stdio::null());
    command
}

/// `id <args>` as a number (the current uid, or a user's uid or gid).
fn id(args: &[&str]) -> u32 {
    let output = Command::new("id").args(args).output().unwrap();
    assert!(output.status.success(), "id {args:?}: {}", describe(&output));
    String::from_utf8(output.stdout).unwrap().trim().parse().unwrap()
}

/// 32 hex digits from the kernel's random source (URL-safe, SQL-literal-safe).
fn random_password() -> String {
    let mut bytes = [0u8; 16];
    std::fs::File::open("/dev/urandom").unwrap().read_exact(&mut bytes).unwrap();
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

fn describe(output: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
