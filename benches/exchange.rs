//! Criterion benches of the exchange and of the limit it is measured against, in one run:
//!
//! - `ceiling/*`: the cryptography alone, straight on aws-lc-rs with keys parsed beforehand (RS256 and ES256
//!   verify; ES256, EdDSA and RS256 sign). The ceiling of an exchange is one RS256 verify plus one ES256 sign;
//! - `verify/*`: `Verifier::verify` (split, header checks, issuer and key selection, signature, claims);
//! - `mint/*`: `Minter::mint` (claims, jti, signature);
//! - `exchange/*`: a whole in-process `Broker::exchange` (verify + policy + mint), bare and with the sinks a
//!   server attaches (audit to a file, metrics, the recent-decisions ring), and with those and shadow evaluation
//!   (a candidate policy set evaluated beside the live one).
//!
//! Keys are cached, as in the steady state of a busy broker. `scripts/bench-table.py` reads the results and
//! prints each figure beside the ceiling (`make bench`).
// Bench setup: a failure is a broken bench, not an input path.
#![allow(clippy::expect_used, clippy::unwrap_used, clippy::panic)]

use std::sync::Arc;

use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair, ParsedPublicKey,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair,
};
use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};
use tollgate::audit::{Audit, AuditConfig};
use tollgate::broker::{Broker, DecisionSink, ExchangeRequest, FrontDoor};
use tollgate::clock::{FixedClock, UnixTime};
use tollgate::credentials::{Minter, MinterConfig, SigningAlg, SigningKey, TokenRequest};
use tollgate::issuers::{IssuerConfig, IssuerMatcher, Issuers, JwksSettings, KeySet, KeysConfig};
use tollgate::metrics::Metrics;
use tollgate::policy::PolicySet;
use tollgate::recent::RecentDecisions;
use tollgate::verify::{RawToken, Verifier};

const NOW: i64 = 1_767_225_600;
const ISSUER: &str = "https://token.actions.githubusercontent.com";
/// The signed input of a GitHub Actions token is about this long (header + payload, base64url).
const SIGNED_INPUT_BYTES: usize = 1100;

fn ci_token(key: &SigningKey) -> String {
    let claims = json!({
        "iss": ISSUER, "aud": "tollgate", "iat": NOW, "nbf": NOW, "exp": NOW + 300, "jti": "j",
        "sub": "repo:acme/web:ref:refs/heads/main", "repository": "acme/web", "repository_owner": "acme",
        "repository_owner_id": "1000", "repository_id": "2000", "repository_visibility": "private",
        "actor": "octocat", "actor_id": "3000", "workflow": "deploy", "head_ref": "", "base_ref": "",
        "ref": "refs/heads/main", "ref_type": "branch", "ref_protected": "true", "event_name": "push",
        "workflow_ref": "acme/web/.github/workflows/deploy.yml@refs/heads/main",
        "workflow_sha": "9f2c3b1a4d5e6f708192a3b4c5d6e7f809a1b2c3",
        "job_workflow_ref": "acme/web/.github/workflows/deploy.yml@refs/heads/main",
        "job_workflow_sha": "9f2c3b1a4d5e6f708192a3b4c5d6e7f809a1b2c3", "sha": "9f2c3b1a4d5e6f708192a3b4c5d6e7f809a1b2c3",
        "run_id": "1", "run_number": "1", "run_attempt": "1", "runner_environment": "github-hosted",
    });
    let Value::Object(claims) = claims else { unreachable!() };
    key.sign(&claims).expect("sign")
}

const POLICY: &str = "role: deploy-web\nissuer: github\naudience: tollgate\nsingle_use: off\nstatements:\n  - effect: allow\n    condition:\n      StringEquals:\n        repository_owner_id: \"1000\"\n      StringLike:\n        sub: [\"repo:acme/web:ref:refs/heads/main\", \"repo:acme/web:environment:prod*\"]\ngrant:\n  type: token\n  audience: deploy-api\n  ttl: 15m\n  claims:\n    repository: \"${repository}\"\n";

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
    let known = [tollgate::policy::KnownIssuer::named("github")];
    let policies = PolicySet::from_sources(&[("deploy-web.yaml".into(), POLICY.into())], &known).expect("policy");
    Broker::new(Verifier::new(issuers), policies, minter(), Arc::new(FixedClock::new(now)))
}

fn minter() -> Minter {
    let config =
        MinterConfig { issuer_url: "https://tollgate.example".into(), max_ttl_secs: 3600, cap_at_inbound_exp: false };
    Minter::new(config, SigningKey::generate(SigningAlg::Es256).expect("key"), Vec::new())
}

/// The sinks `app` attaches: the recent-decisions ring, the audit log (a file here) and the metrics.
fn with_sinks(broker: Broker, audit_path: &std::path::Path) -> Broker {
    let config = AuditConfig { path: Some(audit_path.to_path_buf()), ..AuditConfig::default() };
    let audit = Audit::open(&config).expect("audit");
    let metrics = Metrics::new(["github"]).expect("metrics");
    broker
        .with_sink(Arc::new(RecentDecisions::default()) as Arc<dyn DecisionSink>)
        .with_sink(Arc::new(audit) as Arc<dyn DecisionSink>)
        .with_sink(Arc::new(metrics) as Arc<dyn DecisionSink>)
}

fn ceiling(c: &mut Criterion) {
    let rng = SystemRandom::new();
    let message = vec![b'a'; SIGNED_INPUT_BYTES];
    let rsa = RsaKeyPair::generate(aws_lc_rs::rsa::KeySize::Rsa2048).expect("rsa");
    let mut rsa_signature = vec![0; rsa.public_modulus_len()];
    rsa.sign(&RSA_PKCS1_SHA256, &rng, &message, &mut rsa_signature).expect("sign");
    let rsa_public = ParsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, rsa.public_key().as_ref()).expect("parse");
    c.bench_function("ceiling/RS256_verify", |b| {
        b.iter(|| rsa_public.verify_sig(&message, &rsa_signature).expect("verified"))
    });
    let pkcs8 = EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING).expect("ec").to_pkcs8v1().expect("pkcs8");
    let ec = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref()).expect("ec");
    let ec_signature = ec.sign(&rng, &message).expect("sign");
    let ec_public = ParsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, ec.public_key().as_ref()).expect("parse");
    c.bench_function("ceiling/ES256_verify", |b| {
        b.iter(|| ec_public.verify_sig(&message, ec_signature.as_ref()).expect("verified"))
    });
    // A minted payload is about 600 bytes of base64url after its header.
    let minted = vec![b'a'; 700];
    c.bench_function("ceiling/ES256_sign", |b| b.iter(|| ec.sign(&rng, &minted).expect("signed")));
    let ed = Ed25519KeyPair::generate().expect("ed");
    c.bench_function("ceiling/EdDSA_sign", |b| b.iter(|| ed.sign(&minted)));
    c.bench_function("ceiling/RS256_sign", |b| {
        b.iter(|| rsa.sign(&RSA_PKCS1_SHA256, &rng, &minted, &mut rsa_signature).expect("signed"))
    });
}

fn request(token: &RawToken) -> ExchangeRequest {
    ExchangeRequest {
        token: token.clone().into(),
        role: "deploy-web".into(),
        role_arn: None,
        audience: None,
        ttl_secs: None,
        session_policy: None,
        tokens_only: false,
        front_door: FrontDoor::Exchange,
        context: Default::default(),
    }
}

fn tollgate(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
    let now = UnixTime::from_secs(NOW);
    let audit_dir = tempfile::tempdir().expect("tempdir");
    for (name, alg) in [("RS256", SigningAlg::Rs256), ("ES256", SigningAlg::Es256)] {
        let ci_key = SigningKey::generate(alg).expect("key");
        let token = RawToken::parse(&ci_token(&ci_key)).expect("token");
        let bare = broker(&ci_key);
        c.bench_function(&format!("verify/{name}"), |b| {
            b.iter(|| runtime.block_on(bare.verifier().verify(&token, now)).expect("verified"))
        });
        c.bench_function(&format!("exchange/{name}-in_ES256-out"), |b| {
            b.iter(|| runtime.block_on(bare.exchange(request(&token))).expect("exchanged"))
        });
        let sinks = with_sinks(broker(&ci_key), &audit_dir.path().join(format!("audit-{name}.log")));
        c.bench_function(&format!("exchange/{name}-in_ES256-out_sinks"), |b| {
            b.iter(|| runtime.block_on(sinks.exchange(request(&token))).expect("exchanged"))
        });
        // Shadow evaluation on (issue 12): a candidate set (here the same policy under a narrower glob, so
        // the two agree) evaluated beside the live one on every exchange.
        let candidate = POLICY.replace("\"repo:acme/web:environment:prod*\"", "\"repo:acme/web:environment:prod\"");
        let known = [tollgate::policy::KnownIssuer::named("github")];
        let candidate = PolicySet::from_sources(&[("deploy-web.yaml".into(), candidate)], &known).expect("candidate");
        let shadow = with_sinks(broker(&ci_key), &audit_dir.path().join(format!("audit-{name}-shadow.log")))
            .with_shadow(candidate);
        c.bench_function(&format!("exchange/{name}-in_ES256-out_sinks_shadow"), |b| {
            b.iter(|| runtime.block_on(shadow.exchange(request(&token))).expect("exchanged"))
        });
    }
    let minter = minter();
    let mut extra = serde_json::Map::new();
    extra.insert("repository".into(), "acme/web".into());
    c.bench_function("mint/ES256", |b| {
        b.iter(|| {
            let request = TokenRequest {
                subject: "repo:acme/web:ref:refs/heads/main".into(),
                audience: "deploy-api".into(),
                ttl_secs: 900,
                inbound_exp: now.plus_secs(300),
                actor_iss: ISSUER.into(),
                actor_sub: "repo:acme/web:ref:refs/heads/main".into(),
                role: "deploy-web".into(),
                extra: extra.clone(),
            };
            minter.mint(request, now).expect("minted")
        })
    });
}

criterion_group!(exchange, ceiling, tollgate);
criterion_main!(exchange);
