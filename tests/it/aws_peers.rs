//! Real AWS peers: moto (a real STS implementation) as the upstream, and the real `aws` CLI and boto3's own
//! web-identity credential provider as clients of Tollgate. The credentials Tollgate returns must work: moto's
//! `get-caller-identity` names the assumed role. All from `make test`'s .venv; under CI=true they must exist.

use std::path::PathBuf;
use std::process::Stdio;

use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;

use crate::aws::{aws_policy, ci_claims};
use crate::support::*;

const ROLE_ARN: &str = "arn:aws:iam::123456789012:role/deploy-web";

/// The venv's bin folder, from TOLLGATE_TEST_PYTHON.
fn venv_bin() -> Option<PathBuf> {
    match std::env::var("TOLLGATE_TEST_PYTHON") {
        Ok(python) if !python.is_empty() => Some(PathBuf::from(python).parent()?.to_owned()),
        _ => {
            assert!(
                std::env::var("CI").as_deref() != Ok("true"),
                "CI=true but TOLLGATE_TEST_PYTHON is not set (run `make test`)"
            );
            eprintln!(
                "notice: TOLLGATE_TEST_PYTHON unset; skipping the moto / aws CLI / boto3 tests (run `make test`)"
            );
            None
        }
    }
}

/// A moto server on a free 127.0.0.1 port, killed when dropped.
struct Moto {
    url: String,
    _child: tokio::process::Child,
}

impl Moto {
    async fn start(bin: &std::path::Path) -> Moto {
        let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
        let child = tokio::process::Command::new(bin.join("moto_server"))
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("moto_server from the venv");
        let url = format!("http://127.0.0.1:{port}");
        let client = reqwest::Client::new();
        for _ in 0..300 {
            if client.get(format!("{url}/moto-api/")).send().await.is_ok_and(|r| r.status() == 200) {
                return Moto { url, _child: child };
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("moto did not start");
    }
}

/// Runs a venv tool with a clean AWS environment plus `env`; returns (exit code, stdout, stderr).
async fn run(program: PathBuf, args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut command = tokio::process::Command::new(program);
    command
        .args(args)
        .env_clear()
        .env("PATH", std::env::var("PATH").unwrap_or_default())
        .env("HOME", std::env::temp_dir())
        .env("AWS_CONFIG_FILE", "/dev/null")
        .env("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
        .env("AWS_DEFAULT_REGION", "us-east-1")
        .env("AWS_EC2_METADATA_DISABLED", "true");
    for (name, value) in env {
        command.env(name, value);
    }
    let output = command.output().await.unwrap();
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (output.status.code().unwrap_or(-1), text(&output.stdout), text(&output.stderr))
}

/// `aws sts assume-role-with-web-identity` against `endpoint`.
fn assume_args(endpoint: &str, role_arn: &str, token: &str) -> Vec<String> {
    let args = ["sts", "assume-role-with-web-identity", "--endpoint-url", endpoint, "--role-arn", role_arn];
    let rest = ["--role-session-name", "cli", "--web-identity-token", token];
    args.iter().chain(rest.iter()).map(|a| (*a).to_owned()).collect()
}

async fn caller_identity(bin: &std::path::Path, moto: &Moto, credentials: &Value) -> String {
    let key = |name: &str| credentials[name].as_str().unwrap().to_owned();
    let (id, secret, session) = (key("AccessKeyId"), key("SecretAccessKey"), key("SessionToken"));
    let env = [
        ("AWS_ACCESS_KEY_ID", id.as_str()),
        ("AWS_SECRET_ACCESS_KEY", secret.as_str()),
        ("AWS_SESSION_TOKEN", session.as_str()),
    ];
    let (code, stdout, stderr) =
        run(bin.join("aws"), &["sts", "get-caller-identity", "--endpoint-url", &moto.url, "--output", "json"], &env)
            .await;
    assert_eq!(code, 0, "{stderr}");
    serde_json::from_str::<Value>(&stdout).unwrap()["Arn"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn moto_aws_cli_and_boto3_get_working_credentials_through_tollgate() {
    let Some(bin) = venv_bin() else { return };
    let moto = Moto::start(&bin).await;
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![aws_policy("deploy-aws", "tollgate_token"), policy("plain", "github", "repo:acme/*")],
        // moto loads its STS backend on the first call, which can take seconds on a busy machine.
        extra: format!("aws:\n  endpoint_url: {}\n  timeout_seconds: 30\n", moto.url),
    })
    .await;
    let token = github.token(NOW, ci_claims());
    let assumed = "arn:aws:sts::123456789012:assumed-role/deploy-web/gh-acme-web";

    // Front door 1: POST /exchange answers the AWS CLI's JSON, and the credentials work on moto.
    let (status, body) = app.post_json("/exchange", &json!({"token": token, "role": "deploy-aws"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["AssumedRoleUser"]["Arn"], assumed);
    assert_eq!(body["Audience"], "sts.amazonaws.com");
    assert_eq!(body["Provider"], app.url.as_str(), "Tollgate is the issuer AWS trusts in tollgate_token mode");
    assert_eq!(caller_identity(&bin, &moto, &body["Credentials"]).await, assumed);

    // The shell line: eval the env format in real bash, then the real aws CLI uses the exported variables.
    let script = format!(
        "set -euo pipefail\neval \"$(curl -sf -X POST '{}/exchange?format=env' -H \"Authorization: Bearer $CI_TOKEN\" -d '{{\"role\": \"deploy-aws\"}}')\"\naws sts get-caller-identity --endpoint-url {} --output json | jq -r .Arn",
        app.url, moto.url
    );
    let path = format!("{}:{}", bin.display(), std::env::var("PATH").unwrap_or_default());
    let (code, stdout, stderr) =
        run("bash".into(), &["-c", &script], &[("CI_TOKEN", token.as_str()), ("PATH", path.as_str())]).await;
    assert_eq!((code, stdout.trim()), (0, assumed), "{stderr}");

    // Front door 2: the aws CLI against Tollgate's STS endpoint.
    let args = assume_args(&app.url, ROLE_ARN, &token);
    let args: Vec<&str> = args.iter().map(String::as_str).chain(["--output", "json"]).collect();
    let (code, stdout, stderr) = run(bin.join("aws"), &args, &[]).await;
    assert_eq!(code, 0, "{stderr}");
    let answer: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(answer["SubjectFromWebIdentityToken"], "repo:acme/web:ref:refs/heads/main");
    assert_eq!(
        caller_identity(&bin, &moto, &answer["Credentials"]).await,
        assumed,
        "the policy's session name is used"
    );
    // The CLI parses our error answers into AWS's codes.
    let expired = github.token(NOW - 3600, ci_claims());
    for (role_arn, web_token, code_name) in [
        (ROLE_ARN, expired.as_str(), "ExpiredTokenException"),
        ("arn:aws:iam::123456789012:role/unknown", token.as_str(), "AccessDenied"),
        (ROLE_ARN, "abcd.efgh.ijkl", "InvalidIdentityToken"),
    ] {
        let args = assume_args(&app.url, role_arn, web_token);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (code, _, stderr) = run(bin.join("aws"), &args, &[]).await;
        assert!(code != 0 && stderr.contains(&format!("({code_name})")), "{code_name}: {stderr}");
    }

    // boto3's own web-identity provider, pointed at Tollgate with AWS_ENDPOINT_URL_STS.
    let dir = tempfile::tempdir().unwrap();
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, format!("{token}\n")).unwrap(); // SDKs send the file as it is, newline included
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/peers/boto3_web_identity.py");
    let boto = |role_arn: &'static str| {
        let (bin, token_file, app_url, moto_url) = (bin.clone(), token_file.clone(), app.url.clone(), moto.url.clone());
        async move {
            let env = [
                ("AWS_WEB_IDENTITY_TOKEN_FILE", token_file.to_str().unwrap()),
                ("AWS_ROLE_ARN", role_arn),
                ("AWS_ROLE_SESSION_NAME", "boto"),
                ("AWS_ENDPOINT_URL_STS", app_url.as_str()),
                ("STS_CHECK_ENDPOINT", moto_url.as_str()),
            ];
            run(bin.join("python"), &[script], &env).await
        }
    };
    let (code, stdout, stderr) = boto(ROLE_ARN).await;
    assert_eq!(code, 0, "{stdout}{stderr}");
    assert_eq!(serde_json::from_str::<Value>(&stdout).unwrap()["arn"], assumed);
    let (code, stdout, _) = boto("arn:aws:iam::123456789012:role/unknown").await;
    assert_eq!(
        (code, serde_json::from_str::<Value>(&stdout).unwrap()["error_code"].as_str()),
        (1, Some("AccessDenied")),
        "{stdout}"
    );
}
