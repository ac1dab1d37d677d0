//! AWS grants against an STS stand-in: what Tollgate sends STS in each mode, the output formats (with real
//! bash evaluating `?format=env`), and the mapping of AWS's failures. The real STS implementation (moto) and
//! the real AWS clients are exercised in `aws_peers`.

use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};
use tollgate::credentials::SigningAlg;

use crate::support::*;

pub fn aws_policy(role: &str, mode: &str) -> (String, String) {
    let text = format!(
        "role: {role}\nissuer: github\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringLike:\n        sub: \"repo:acme/web:*\"\ngrant:\n  type: aws\n  role_arn: arn:aws:iam::123456789012:role/deploy-web\n  duration: 1h\n  mode: {mode}\n  session_name: \"gh-${{repository}}\"\n{}",
        if mode == "tollgate_token" {
            "  session_tags:\n    repository: \"${repository}\"\n    environment: \"${environment}\"\n  transitive_tag_keys: [repository]\n"
        } else {
            ""
        }
    );
    (format!("{role}.yaml"), text)
}

pub fn ci_claims() -> Value {
    json!({"sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web"})
}

async fn app_with_stub(extra: &str) -> (FakeIssuer, StsStub, TestApp) {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let stub = StsStub::start().await;
    let config = format!("aws:\n  endpoint_url: {}\n  timeout_seconds: 1\n  max_attempts: 2\n{extra}", stub.url);
    let app = spawn_app(Setup {
        issuers: issuer_entry("github", &github, ""),
        policies: vec![
            aws_policy("deploy-aws", "tollgate_token"),
            aws_policy("deploy-pass", "passthrough"),
            policy("plain", "github", "repo:acme/*"),
        ],
        extra: config,
    })
    .await;
    (github, stub, app)
}

fn payload(jwt: &str) -> Value {
    let part = jwt.split('.').nth(1).unwrap();
    serde_json::from_slice(&base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(part).unwrap()).unwrap()
}

#[tokio::test]
async fn tollgate_token_mode_sends_sts_a_token_minted_by_tollgate_with_session_tags() {
    let (github, stub, app) = app_with_stub("").await;
    let (status, body) =
        app.post_json("/exchange", &json!({"token": github.token(NOW, ci_claims()), "role": "deploy-aws"})).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Credentials"]["AccessKeyId"], "ASIASTUBKEY");
    assert_eq!(body["Credentials"]["SecretAccessKey"], "stub-secret");
    assert_eq!(body["Credentials"]["SessionToken"], "stub-session-token");
    assert_eq!(body["Credentials"]["Expiration"], "2026-01-01T01:00:00Z");
    assert_eq!(body["AssumedRoleUser"]["Arn"], "arn:aws:sts::123456789012:assumed-role/deploy-web/gh-acme-web");
    assert_eq!((body["Audience"].as_str(), body["Provider"].as_str()), (Some("sts.amazonaws.com"), Some("stub")));
    let sent = &stub.requests()[0];
    assert_eq!(sent["Action"], "AssumeRoleWithWebIdentity");
    assert_eq!(sent["RoleArn"], "arn:aws:iam::123456789012:role/deploy-web");
    assert_eq!(sent["RoleSessionName"], "gh-acme-web", "sanitised from the template");
    assert_eq!(sent["DurationSeconds"], "3600");
    // The web identity token is Tollgate's own, verifiable against its JWKS, with the tags AWS reads.
    let minted = crate::exchange::verify_minted(&app, &sent["WebIdentityToken"], "sts.amazonaws.com").await;
    assert_eq!(minted["sub"], "repo:acme/web:ref:refs/heads/main");
    assert_eq!(
        minted["https://aws.amazon.com/tags"],
        json!({"principal_tags": {"repository": ["acme/web"]}, "transitive_tag_keys": ["repository"]}),
        "a tag whose claim is missing (environment) is left out"
    );
    assert!((minted["exp"].as_i64().unwrap() - NOW) <= 300, "short-lived: only for the STS call");
}

#[tokio::test]
async fn passthrough_mode_forwards_the_ci_token_and_duration_can_be_lowered() {
    let (github, stub, app) = app_with_stub("").await;
    let token = github.token(NOW, ci_claims());
    let body = json!({"token": token, "role": "deploy-pass", "ttl_seconds": 1200});
    let (status, answer) = app.post_json("/exchange", &body).await;
    assert_eq!(status, 200, "{answer}");
    let sent = &stub.requests()[0];
    assert_eq!(sent["WebIdentityToken"], token, "the CI token itself");
    assert_eq!(sent["DurationSeconds"], "1200");
    let (_, _) = app.post_json("/exchange", &json!({"token": token, "role": "deploy-pass", "ttl_seconds": 60})).await;
    assert_eq!(stub.requests()[1]["DurationSeconds"], "900", "AWS's minimum");
}

#[tokio::test]
async fn env_and_credential_process_formats_survive_hostile_bytes_in_real_bash() {
    let (github, stub, app) = app_with_stub("").await;
    let hostile = "a'b\"c$(touch /tmp/tollgate-pwned)`d`\\e\nf";
    stub.set(StubMode::Succeed { secret: hostile.into() });
    let token = github.token(NOW, ci_claims());
    let response = app
        .client
        .post(format!("{}/exchange?format=env", app.url))
        .bearer_auth(&token)
        .json(&json!({"role": "deploy-aws"}))
        .send()
        .await
        .unwrap();
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/x-shellscript"));
    let exports = response.text().await.unwrap();
    let script = format!(
        "{exports}\nprintf '%s' \"$AWS_SECRET_ACCESS_KEY\" > secret.out\necho \"$AWS_ACCESS_KEY_ID|$AWS_SESSION_TOKEN|$AWS_CREDENTIAL_EXPIRATION\""
    );
    let dir = tempfile::tempdir().unwrap();
    let output = std::process::Command::new("bash").arg("-c").arg(&script).current_dir(dir.path()).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8_lossy(&output.stdout).trim(), "ASIASTUBKEY|stub-session-token|2026-01-01T01:00:00Z");
    assert_eq!(std::fs::read_to_string(dir.path().join("secret.out")).unwrap(), hostile, "exact bytes back");
    assert!(!std::path::Path::new("/tmp/tollgate-pwned").exists(), "nothing was executed");
    // A refusal in env format is harmless shell too, even when it echoes an attacker's claim.
    let evil = github.token(NOW, json!({"iss": "$(touch /tmp/tollgate-pwned)`touch /tmp/tollgate-pwned`", "sub": "x"}));
    let refusal = app
        .client
        .post(format!("{}/exchange?format=env&role=deploy-aws", app.url))
        .bearer_auth(&evil)
        .send()
        .await
        .unwrap();
    assert_eq!(refusal.status(), 401);
    let refusal = refusal.text().await.unwrap();
    let output = std::process::Command::new("bash")
        .arg("-c")
        .arg("eval \"$1\"")
        .arg("bash")
        .arg(&refusal)
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!output.status.success(), "a refusal fails the eval");
    assert!(String::from_utf8_lossy(&output.stderr).contains("tollgate: invalid_token"), "{refusal}");
    assert!(!std::path::Path::new("/tmp/tollgate-pwned").exists(), "nothing was executed");
    // Accept: text/x-shellscript is the same as ?format=env.
    let accept = app
        .client
        .post(format!("{}/exchange?role=deploy-aws", app.url))
        .bearer_auth(&token)
        .header("accept", "text/x-shellscript")
        .send()
        .await
        .unwrap();
    assert!(accept.text().await.unwrap().starts_with("export AWS_ACCESS_KEY_ID='ASIASTUBKEY'"));
    let (status, process) = read(
        app.client
            .post(format!("{}/exchange?format=credential_process", app.url))
            .bearer_auth(&token)
            .json(&json!({"role": "deploy-aws"}))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!((process["Version"].as_i64(), process["AccessKeyId"].as_str()), (Some(1), Some("ASIASTUBKEY")));
    assert_eq!(process["SecretAccessKey"], hostile);
    // Token grants: TOLLGATE_TOKEN export; credential_process is refused.
    let tokens = app
        .client
        .post(format!("{}/exchange?format=env&role=plain", app.url))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(tokens.starts_with("export TOLLGATE_TOKEN='eyJ"), "{tokens}");
    let (status, refused) = read(
        app.client
            .post(format!("{}/exchange?format=credential_process&role=plain", app.url))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!((status, refused["error"].as_str()), (400, Some("invalid_request")));
}

#[tokio::test]
async fn upstream_failures_map_to_stable_errors_and_never_hang() {
    let (github, stub, app) = app_with_stub("").await;
    let token = github.token(NOW, ci_claims());
    let cases: Vec<(StubMode, u16, &str, usize)> = vec![
        (
            StubMode::Fail {
                status: 403,
                code: "AccessDenied",
                message: "Not authorized to perform sts:AssumeRoleWithWebIdentity",
            },
            403,
            "access_denied",
            1,
        ),
        (StubMode::Fail { status: 400, code: "Throttling", message: "Rate exceeded" }, 429, "throttled", 2),
        (StubMode::Fail { status: 500, code: "InternalFailure", message: "boom" }, 502, "upstream_unavailable", 2),
        (
            StubMode::Fail { status: 400, code: "ExpiredTokenException", message: "Token expired" },
            401,
            "invalid_token",
            1,
        ),
        (StubMode::Hang(Duration::from_secs(5)), 502, "upstream_unavailable", 2),
        (StubMode::Garbage, 502, "upstream_unavailable", 1),
    ];
    for (mode, status, code, attempts) in cases {
        stub.set(mode.clone());
        stub.clear();
        let started = Instant::now();
        let (got, body) = app.post_json("/exchange", &json!({"token": token, "role": "deploy-aws"})).await;
        assert_eq!((got, body["error"].as_str()), (status, Some(code)), "{mode:?}: {body}");
        assert!(started.elapsed() < Duration::from_secs(4), "{mode:?} took {:?}", started.elapsed());
        if matches!(mode, StubMode::Hang(_)) {
            assert!(stub.requests().len() <= attempts, "{mode:?}: {} attempts", stub.requests().len());
        } else {
            assert_eq!(stub.requests().len(), attempts, "{mode:?}: retried exactly as bounded (max_attempts 2)");
        }
        if code == "access_denied" {
            assert!(
                body["error_description"].as_str().unwrap().contains("Not authorized"),
                "AWS's message is passed on"
            );
        }
    }
}

#[tokio::test]
async fn the_sts_endpoint_speaks_the_query_protocol() {
    let (github, stub, app) = app_with_stub("").await;
    let token = github.token(NOW, ci_claims());
    let post = |form: Vec<(&str, String)>| {
        let request = app.client.post(format!("{}/", app.url)).form(&form);
        async move {
            let response = request.send().await.unwrap();
            let (status, id) = (response.status().as_u16(), response.headers().get("x-amzn-RequestId").is_some());
            (status, id, response.text().await.unwrap())
        }
    };
    let base = |role_arn: &str, token: &str| {
        vec![
            ("Action", "AssumeRoleWithWebIdentity".to_owned()),
            ("Version", "2011-06-15".to_owned()),
            ("RoleArn", role_arn.to_owned()),
            ("RoleSessionName", "s1".to_owned()),
            ("WebIdentityToken", token.to_owned()),
        ]
    };
    let (status, has_id, xml) = post(base("arn:aws:iam::123456789012:role/deploy-web", &token)).await;
    assert_eq!((status, has_id), (200, true), "{xml}");
    for element in [
        "<AssumeRoleWithWebIdentityResult>",
        "<SubjectFromWebIdentityToken>",
        "<AccessKeyId>ASIASTUBKEY</AccessKeyId>",
        "<AssumedRoleId>",
        "<Provider>",
        "<RequestId>",
    ] {
        assert!(xml.contains(element), "{element} in {xml}");
    }
    // A token grant answers Tollgate-native credentials: the session token is a Tollgate JWT.
    let (status, _, xml) = post(base("arn:aws:iam::999999999999:role/plain", &token)).await;
    assert_eq!(status, 200, "{xml}");
    let session = xml.split("<SessionToken>").nth(1).unwrap().split('<').next().unwrap();
    assert_eq!(payload(session)["role"], "plain");
    assert!(xml.contains("arn:aws:sts::999999999999:assumed-role/plain/s1"), "{xml}");
    // Errors by AWS code.
    let code = |xml: &str| xml.split("<Code>").nth(1).and_then(|c| c.split('<').next()).unwrap_or_default().to_owned();
    let mut other_action = base("arn:aws:iam::123456789012:role/deploy-web", &token);
    other_action[0].1 = "AssumeRole".into();
    let mut bad_session = base("arn:aws:iam::123456789012:role/deploy-web", &token);
    bad_session[3].1 = "bad session!".into();
    let mut long_duration = base("arn:aws:iam::123456789012:role/deploy-web", &token);
    long_duration.push(("DurationSeconds", "50000".into()));
    let expired = github.token(NOW - 3600, ci_claims());
    let mut tampered = token.clone();
    tampered.replace_range(tampered.len() - 4.., "AAAA");
    let denied = github.token(NOW, json!({"sub": "repo:evil/web:ref:refs/heads/main", "repository": "evil/web"}));
    let with = |mut form: Vec<(&'static str, String)>, name: &'static str, value: &str| {
        form.push((name, value.to_owned()));
        form
    };
    type Form<'a> = Vec<(&'a str, String)>;
    let cases: Vec<(Form, u16, &str)> = vec![
        (other_action, 400, "InvalidAction"),
        (bad_session, 400, "ValidationError"),
        (long_duration, 400, "ValidationError"),
        (base("arn:aws:iam::123456789012:role/unknown", &token), 403, "AccessDenied"),
        (base("arn:aws:iam::123456789012:role/deploy-web", &expired), 400, "ExpiredTokenException"),
        (base("arn:aws:iam::123456789012:role/deploy-web", "abcd.efgh.ijkl"), 400, "InvalidIdentityToken"),
        (base("arn:aws:iam::123456789012:role/deploy-web", &tampered), 400, "InvalidIdentityToken"),
        (base("arn:aws:iam::123456789012:role/deploy-web", &denied), 403, "AccessDenied"),
        // An invalid token cannot probe which roles exist: its own error comes first.
        (base("arn:aws:iam::123456789012:role/unknown", &tampered), 400, "InvalidIdentityToken"),
        (base("arn:aws:iam::x:y:role/plain", &token), 403, "AccessDenied"),
        (with(base("arn:aws:iam::999999999999:role/plain", &token), "Policy", "{}"), 400, "ValidationError"),
        (
            with(
                base("arn:aws:iam::123456789012:role/deploy-web", &token),
                "PolicyArns.member.1.arn",
                "arn:aws:iam::aws:policy/x",
            ),
            400,
            "ValidationError",
        ),
    ];
    for (form, status, expected) in cases {
        let (got, _, xml) = post(form).await;
        assert_eq!((got, code(&xml)), (status, expected.to_owned()), "{xml}");
        assert!(xml.contains("<ErrorResponse") && xml.contains("<Type>Sender</Type>"), "{xml}");
    }
    stub.set(StubMode::Fail { status: 400, code: "Throttling", message: "Rate exceeded" });
    let (got, _, xml) = post(base("arn:aws:iam::123456789012:role/deploy-web", &token)).await;
    assert_eq!((got, code(&xml)), (400, "Throttling".to_owned()));
    // The CI issuer's keys unreachable past the maximum staleness: AWS's IDPCommunicationError (retryable).
    github.set_behaviour(JwksBehaviour::Status(500));
    let later = NOW + 86_401;
    app.clock.set(tollgate::clock::UnixTime::from_secs(later));
    let (got, _, xml) =
        post(base("arn:aws:iam::123456789012:role/deploy-web", &github.token(later, ci_claims()))).await;
    assert_eq!((got, code(&xml)), (400, "IDPCommunicationError".to_owned()), "{xml}");
    github.set_behaviour(JwksBehaviour::Serve);
    app.clock.set(tollgate::clock::UnixTime::from_secs(NOW));
    // A claim with a control character cannot break the XML.
    let odd = github.token(NOW, json!({"sub": "repo:acme/web\u{1}x", "repository": "acme/web"}));
    let (status, _, xml) = post(base("arn:aws:iam::999999999999:role/plain", &odd)).await;
    assert_eq!(status, 200, "{xml}");
    assert!(xml.contains("repo:acme/web\u{fffd}x") && !xml.contains('\u{1}'), "{xml}");
    // The query string works too, and an Authorization header is ignored.
    stub.set(StubMode::Succeed { secret: "s".into() });
    let query = format!(
        "Action=AssumeRoleWithWebIdentity&Version=2011-06-15&RoleArn=arn:aws:iam::123456789012:role/deploy-web&RoleSessionName=q1&WebIdentityToken={token}"
    );
    let response = app
        .client
        .post(format!("{}/sts?{query}", app.url))
        .header("authorization", "AWS4-HMAC-SHA256 Credential=x")
        .send()
        .await
        .unwrap();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert_eq!(status, 200, "{text}");
}

#[tokio::test]
async fn rfc8693_token_exchange() {
    let (github, _stub, app) = app_with_stub("").await;
    let token = github.token(NOW, ci_claims());
    let exchange = |pairs: Vec<(&str, &str)>| {
        let request = app.client.post(format!("{}/token", app.url)).form(&pairs);
        async move {
            let response = request.send().await.unwrap();
            assert_eq!(response.headers()["cache-control"], "no-store");
            read(response).await
        }
    };
    let jwt = "urn:ietf:params:oauth:token-type:jwt";
    let grant = "urn:ietf:params:oauth:grant-type:token-exchange";
    let (status, body) = exchange(vec![
        ("grant_type", grant),
        ("subject_token", &token),
        ("subject_token_type", jwt),
        ("scope", "plain"),
    ])
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (body["issued_token_type"].as_str(), body["token_type"].as_str(), body["scope"].as_str()),
        (Some(jwt), Some("Bearer"), Some("plain"))
    );
    assert_eq!(payload(body["access_token"].as_str().unwrap())["aud"], "deploy-api");
    let other = json!({"sub": "repo:evil/web:ref:refs/heads/main"});
    let denied_token = github.token(NOW, other);
    let cases: Vec<(Vec<(&str, &str)>, &str)> = vec![
        (vec![("grant_type", "client_credentials")], "unsupported_grant_type"),
        (vec![("grant_type", grant), ("subject_token", &token), ("scope", "plain")], "invalid_request"),
        (vec![("grant_type", grant), ("subject_token", &token), ("subject_token_type", jwt)], "invalid_request"),
        (
            vec![("grant_type", grant), ("subject_token", "a.b.c"), ("subject_token_type", jwt), ("scope", "plain")],
            "invalid_grant",
        ),
        (
            vec![("grant_type", grant), ("subject_token", &token), ("subject_token_type", jwt), ("scope", "nope")],
            "invalid_scope",
        ),
        (
            vec![
                ("grant_type", grant),
                ("subject_token", &denied_token),
                ("subject_token_type", jwt),
                ("scope", "plain"),
            ],
            "unauthorized_client",
        ),
        (
            vec![
                ("grant_type", grant),
                ("subject_token", &token),
                ("subject_token_type", jwt),
                ("scope", "plain"),
                ("audience", "vault"),
            ],
            "invalid_target",
        ),
        (
            vec![
                ("grant_type", grant),
                ("subject_token", &token),
                ("subject_token_type", jwt),
                ("scope", "deploy-aws"),
            ],
            "invalid_target",
        ),
    ];
    for (pairs, code) in cases {
        let (status, body) = exchange(pairs).await;
        assert_eq!((status, body["error"].as_str()), (400, Some(code)), "{body}");
    }
}
