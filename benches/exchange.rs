//! Criterion benches: token verification (RS256, ES256) and a whole in-process exchange
//! (verify + policy + mint), with keys already cached — the steady state of a busy broker.
// Bench setup: a failure is a broken bench, not an input path.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tollgate::broker::{Broker, ExchangeRequest};
use tollgate::clock::{FixedClock, UnixTime};
use tollgate::credentials::{Minter, MinterConfig, SigningAlg, SigningKey};
use tollgate::issuers::{IssuerConfig, IssuerMatcher, Issuers, JwksSettings, KeySet, KeysConfig};
use tollgate::policy::PolicySet;
use tollgate::verify::{RawToken, Verifier};

const NOW: i64 = 1_767_225_600;
const ISSUER: &str = "https://token.actions.githubusercontent.com";

fn ci_token(key: &SigningKey) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": "tollgate", "iat": NOW, "nbf": NOW, "exp": NOW + 300, "jti": "j",
        "sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web", "repository_owner": "acme",
        "repository_owner_id": "1000", "ref": "refs/heads/main", "ref_type": "branch", "event_name": "push",
        "job_workflow_ref": "acme/web/.github/workflows/deploy.yml@refs/heads/main", "run_id": "1",
    });
    let Value::Object(claims) = claims else { unreachable!() };
    key.sign(&claims).expect("sign")
}

fn broker(ci_key: &SigningKey) -> Broker {
    let jwks = json!({"keys": [Value::Object(ci_key.public_jwk().clone())]}).to_string();
    let config = IssuerConfig {
        name: "github".into(),
        matcher: IssuerMatcher::Exact(ISSUER.into()),
        keys: KeysConfig::Static(KeySet::parse(jwks.as_bytes()).expect("jwks")),
        algorithms: vec![jsonwebtoken::Algorithm::RS256, jsonwebtoken::Algorithm::ES256],
        audiences: vec!["tollgate".into()],
        leeway_secs: 60,
        max_lifetime_secs: 3600,
        profile: None,
        tenancy: tollgate::issuers::TenancySetting::Derived,
        allow_private_network: false,
    };
    let now = UnixTime::from_secs(NOW);
    let issuers = Arc::new(Issuers::new(vec![config], JwksSettings::default(), now).expect("issuers"));
    // The same token every iteration: single use is off here; benches/store.rs measures a claim.
    let policy = "role: deploy-web\nissuer: github\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"\n      StringLike:\n        sub: [\"repo:acme/web:ref:refs/heads/main\", \"repo:acme/web:environment:prod*\"]\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n  claims:\n    repository: \"${repository}\"\n";
    let known = [tollgate::policy::KnownIssuer::named("github")];
    let policies = PolicySet::from_sources(&[("deploy-web.yaml".into(), policy.into())], &known).expect("policy");
    let minter_config =
        MinterConfig { issuer_url: "https://tollgate.example".into(), max_ttl_secs: 3600, cap_at_inbound_exp: false };
    let minter = Minter::new(minter_config, SigningKey::generate(SigningAlg::Es256).expect("key"), Vec::new());
    Broker::new(Verifier::new(issuers), policies, minter, Arc::new(FixedClock::new(now)))
}

fn benches(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    for (name, alg) in [("RS256", SigningAlg::Rs256), ("ES256", SigningAlg::Es256)] {
        let ci_key = SigningKey::generate(alg).expect("key");
        let broker = broker(&ci_key);
        let token = RawToken::parse(&ci_token(&ci_key)).expect("token");
        let now = UnixTime::from_secs(NOW);
        c.bench_function(&format!("verify/{name}"), |b| {
            b.iter(|| runtime.block_on(broker.verifier().verify(&token, now)).expect("verified"))
        });
        c.bench_function(&format!("exchange/{name}-in_ES256-out"), |b| {
            b.iter(|| {
                let request = ExchangeRequest {
                    token: token.clone().into(),
                    role: "deploy-web".into(),
                    audience: None,
                    ttl_secs: None,
                    session_policy: None,
                    tokens_only: false,
                    front_door: tollgate::broker::FrontDoor::Exchange,
                    context: Default::default(),
                };
                runtime.block_on(broker.exchange(request)).expect("exchanged")
            })
        });
    }
}

criterion_group!(exchange, benches);
criterion_main!(exchange);
