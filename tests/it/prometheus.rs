//! A real Prometheus (Debian's package, installed by `make test`) on 127.0.0.1 with a free port and a temporary
//! storage folder scrapes Tollgate's admin listener every second, with the shipped alert rules loaded; the
//! exchanges performed are then counted through Prometheus' HTTP query API. Prometheus is killed when the test
//! ends (kill_on_drop), however it ends.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use serde_json::{Value, json};
use tollgate::clock::Clock as _;
use tollgate::credentials::SigningAlg;

use crate::metrics::tool;
use crate::support::*;

/// How long Prometheus may take to start, scrape and answer with the expected value.
const DEADLINE: Duration = Duration::from_secs(30);

struct Prometheus {
    url: String,
    child: tokio::process::Child,
    dir: tempfile::TempDir,
}

impl Prometheus {
    async fn start(binary: &Path, target: &str) -> Prometheus {
        let dir = tempfile::tempdir().unwrap();
        let alerts = Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/prometheus/alerts.yml");
        let config = format!(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files:\n  - {}\nscrape_configs:\n  - job_name: tollgate\n    static_configs:\n      - targets: ['{target}']\n",
            alerts.display()
        );
        std::fs::write(dir.path().join("prometheus.yml"), config).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let log = std::fs::File::create(dir.path().join("prometheus.log")).unwrap();
        let child = tokio::process::Command::new(binary)
            .arg(format!("--config.file={}", dir.path().join("prometheus.yml").display()))
            .arg(format!("--storage.tsdb.path={}", dir.path().join("data").display()))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        Prometheus { url: format!("http://127.0.0.1:{port}"), child, dir }
    }

    /// The single value of an instant query, if Prometheus answers one.
    async fn query(&self, client: &reqwest::Client, promql: &str) -> Option<f64> {
        let url = url::Url::parse_with_params(&format!("{}/api/v1/query", self.url), [("query", promql)]).ok()?;
        let response = client.get(url).send().await.ok()?;
        let body: Value = response.json().await.ok()?;
        body["data"]["result"][0]["value"][1].as_str()?.parse().ok()
    }

    /// Polls `promql` until it equals `expected`, for at most `DEADLINE`.
    async fn wait_for_value(&self, client: &reqwest::Client, promql: &str, expected: f64) {
        let start = Instant::now();
        let mut last = None;
        while start.elapsed() < DEADLINE {
            last = self.query(client, promql).await;
            if last == Some(expected) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        let log = std::fs::read_to_string(self.dir.path().join("prometheus.log")).unwrap_or_default();
        panic!("{promql} is {last:?}, not {expected}, after {DEADLINE:?}; Prometheus log:\n{log}");
    }
}

#[tokio::test]
async fn a_real_prometheus_scrapes_the_admin_listener_and_counts_every_exchange() {
    let Some(binary) = tool("prometheus") else { return };
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    // Served as `tollgate serve` serves it: App::serve runs the admin listener next to the public one.
    let app = spawn_served_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![policy("deploy", "github", "repo:acme/*")],
        extra: String::new(),
    })
    .await;
    let mut prometheus = Prometheus::start(&binary, app.admin_url.trim_start_matches("http://")).await;
    let client = reqwest::Client::new();
    prometheus.wait_for_value(&client, r#"up{job="tollgate"}"#, 1.0).await;

    let (allowed, denied) = (5, 3);
    wait_for(|| app.issuers.health(app.clock.now()).iter().all(|h| h.status.keys > 0), "the prefetch").await;
    for n in 0..allowed {
        let token = github.token(NOW, json!({"sub": format!("repo:acme/web-{n}"), "repository": "acme/web"}));
        assert_eq!(app.exchange(&token, "deploy").await.0, 200);
    }
    for n in 0..denied {
        let token = github.token(NOW, json!({"sub": format!("repo:evil/web-{n}")}));
        assert_eq!(app.exchange(&token, "deploy").await.0, 403);
    }

    let query = |outcome: &str| format!(r#"sum(tollgate_exchanges_total{{outcome="{outcome}"}})"#);
    prometheus.wait_for_value(&client, &query("allow"), f64::from(allowed)).await;
    prometheus.wait_for_value(&client, &query("deny"), f64::from(denied)).await;
    assert_eq!(prometheus.query(&client, r#"sum(tollgate_exchanges_total{outcome="error"})"#).await, None);
    assert_eq!(prometheus.query(&client, r#"tollgate_jwks_keys{issuer="github"}"#).await, Some(1.0));
    assert_eq!(prometheus.query(&client, r#"tollgate_jwks_stale{issuer="github"}"#).await, Some(0.0));
    let route = r#"sum(tollgate_http_requests_total{route="/exchange",method="POST"})"#;
    assert_eq!(prometheus.query(&client, route).await, Some(f64::from(allowed + denied)));

    // The shipped alert rules load into the real Prometheus.
    let rules: Value =
        client.get(format!("{}/api/v1/rules", prometheus.url)).send().await.unwrap().json().await.unwrap();
    let mut names: Vec<&str> = rules["data"]["groups"][0]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|rule| rule["name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["TollgateDenySpike", "TollgateJwksStale", "TollgateUpstreamStsErrors"], "{rules}");
    prometheus.child.kill().await.unwrap();
}
