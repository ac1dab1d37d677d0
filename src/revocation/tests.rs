//! What each kind of revocation hits, and what it leaves alone; expiry and staleness.

use std::time::Duration;

use serde_json::{Map, Value, json};

use super::*;
use crate::clock::UnixTime;

const NOW: UnixTime = UnixTime::from_secs(1_767_225_600);

fn revocation(id: &str, target: Target) -> Revocation {
    Revocation {
        id: id.into(),
        target,
        reason: "leaked".into(),
        author: "ops".into(),
        created_at: NOW,
        expires_at: NOW.plus_secs(3600),
    }
}

fn claims(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

fn inbound<'a>(claims: &'a Map<String, Value>, jti: &'a str, kid: &'a str) -> InboundQuery<'a> {
    InboundQuery { issuer: "github", jti: Some(jti), kid: Some(kid), claims, role: "deploy" }
}

/// A view that never goes stale within these tests (staleness has its own test).
fn view(revocations: Vec<Revocation>) -> RevocationView {
    let view = RevocationView::new(Duration::from_secs(3600));
    view.replace(revocations);
    view
}

#[test]
fn an_identity_glob_hits_every_token_of_the_repository_and_no_other() {
    let glob = Matcher::Glob("repo:acme/web:*".into());
    let view =
        view(vec![revocation("r1", Target::Identity { issuer: "github".into(), claim: "sub".into(), matcher: glob })]);
    let web = claims(json!({"sub": "repo:acme/web:ref:refs/heads/main"}));
    let api = claims(json!({"sub": "repo:acme/api:ref:refs/heads/main"}));
    assert_eq!(
        view.check_inbound(&inbound(&web, "j1", "k"), NOW),
        Err(Revoked::Hit { id: "r1".into(), kind: "identity" })
    );
    assert_eq!(view.check_inbound(&inbound(&api, "j1", "k"), NOW), Ok(()));
    let other_issuer = InboundQuery { issuer: "gitlab", ..inbound(&web, "j1", "k") };
    assert_eq!(view.check_inbound(&other_issuer, NOW), Ok(()));
}

#[test]
fn an_identity_equals_matches_numbers_as_their_json_text() {
    let equals = Matcher::Equals("42".into());
    let target = Target::Identity { issuer: "github".into(), claim: "repository_owner_id".into(), matcher: equals };
    let view = view(vec![revocation("r1", target)]);
    assert!(view.check_inbound(&inbound(&claims(json!({"repository_owner_id": 42})), "j", "k"), NOW).is_err());
    assert!(view.check_inbound(&inbound(&claims(json!({"repository_owner_id": "42"})), "j", "k"), NOW).is_err());
    assert!(view.check_inbound(&inbound(&claims(json!({"repository_owner_id": 420})), "j", "k"), NOW).is_ok());
    assert!(view.check_inbound(&inbound(&claims(json!({"repository_owner_id": [42]})), "j", "k"), NOW).is_ok());
}

#[test]
fn an_inbound_jti_is_per_issuer_and_a_tollgate_jti_only_hits_issued_tokens() {
    let view = view(vec![
        revocation("in", Target::InboundJti { issuer: "github".into(), jti: "j1".into() }),
        revocation("out", Target::TollgateJti { jti: "t1".into() }),
    ]);
    let empty = Map::new();
    assert!(view.check_inbound(&inbound(&empty, "j1", "k"), NOW).is_err());
    assert!(view.check_inbound(&InboundQuery { issuer: "gitlab", ..inbound(&empty, "j1", "k") }, NOW).is_ok());
    assert!(view.check_inbound(&inbound(&empty, "t1", "k"), NOW).is_ok());
    let issued = |jti| IssuedQuery { jti, kid: None, role: Some("deploy"), issued_at: NOW };
    assert!(view.check_issued(&issued("t1"), NOW).is_err());
    assert!(view.check_issued(&issued("j1"), NOW).is_ok());
}

#[test]
fn a_role_revocation_hits_tokens_minted_before_its_time_and_exchanges_until_then() {
    let before = NOW.plus_secs(100);
    let view = view(vec![revocation("r", Target::Role { role: "deploy".into(), before })]);
    let issued = |issued_at| IssuedQuery { jti: "t", kid: None, role: Some("deploy"), issued_at };
    assert!(view.check_issued(&issued(NOW.plus_secs(99)), NOW).is_err());
    assert!(view.check_issued(&issued(before), NOW).is_ok());
    assert!(view.check_issued(&IssuedQuery { role: Some("other"), ..issued(NOW) }, NOW).is_ok());
    let empty = Map::new();
    assert!(view.check_inbound(&inbound(&empty, "j", "k"), NOW.plus_secs(99)).is_err());
    assert!(view.check_inbound(&inbound(&empty, "j", "k"), before).is_ok());
}

#[test]
fn a_kid_revocation_with_an_issuer_hits_only_that_issuers_tokens() {
    let view = view(vec![
        revocation("any", Target::Kid { kid: "ours".into(), issuer: None }),
        revocation("gh", Target::Kid { kid: "theirs".into(), issuer: Some("github".into()) }),
    ]);
    let empty = Map::new();
    assert!(view.check_inbound(&inbound(&empty, "j", "theirs"), NOW).is_err());
    assert!(view.check_inbound(&InboundQuery { issuer: "gitlab", ..inbound(&empty, "j", "theirs") }, NOW).is_ok());
    assert!(view.check_inbound(&inbound(&empty, "j", "ours"), NOW).is_err());
    let issued = |kid| IssuedQuery { jti: "t", kid: Some(kid), role: None, issued_at: NOW };
    assert!(view.check_issued(&issued("ours"), NOW).is_err());
    assert!(view.check_issued(&issued("theirs"), NOW).is_ok(), "an issuer-bound kid never hits our own tokens");
}

#[test]
fn an_expired_revocation_hits_nothing() {
    let view = view(vec![revocation("r", Target::TollgateJti { jti: "t".into() })]);
    let issued = IssuedQuery { jti: "t", kid: None, role: None, issued_at: NOW };
    assert!(view.check_issued(&issued, NOW.plus_secs(3599)).is_err());
    assert_eq!(view.check_issued(&issued, NOW.plus_secs(3600)), Ok(()));
}

#[tokio::test]
async fn a_view_not_refreshed_within_its_bound_fails_closed() {
    let view = RevocationView::new(Duration::from_millis(30));
    let empty = Map::new();
    assert_eq!(view.check_inbound(&inbound(&empty, "j", "k"), NOW), Ok(()));
    tokio::time::sleep(Duration::from_millis(60)).await;
    assert!(matches!(view.check_inbound(&inbound(&empty, "j", "k"), NOW), Err(Revoked::Stale { .. })));
    assert!(!view.is_fresh());
    view.replace(Vec::new());
    assert_eq!(view.check_inbound(&inbound(&empty, "j", "k"), NOW), Ok(()));
    assert!(view.age() < Duration::from_millis(30));
}

#[test]
fn targets_round_trip_as_json_and_validation_refuses_empty_long_or_expired() {
    let target = Target::Identity { issuer: "github".into(), claim: "sub".into(), matcher: Matcher::Glob("a*".into()) };
    let stored = revocation("r", target.clone());
    let json = stored.target_json();
    assert_eq!(json, r#"{"kind":"identity","issuer":"github","claim":"sub","matcher":{"glob":"a*"}}"#);
    assert_eq!(serde_json::from_str::<Target>(&json).ok(), Some(target));
    assert_eq!(stored.validate(NOW), Ok(()));
    let empty = Revocation { reason: String::new(), ..stored.clone() };
    assert_eq!(empty.validate(NOW), Err(RevocationError::Empty("reason")));
    let long = Revocation { author: "a".repeat(MAX_TEXT + 1), ..stored.clone() };
    assert_eq!(long.validate(NOW), Err(RevocationError::TooLong("author")));
    let expired = Revocation { expires_at: NOW, ..stored };
    assert!(matches!(expired.validate(NOW), Err(RevocationError::AlreadyExpired { .. })));
}

#[test]
fn many_globs_of_every_prefix_length_are_found_through_the_prefix_index() {
    let glob = |pattern: &str| Target::Identity {
        issuer: "github".into(),
        claim: "sub".into(),
        matcher: Matcher::Glob(pattern.into()),
    };
    let mut revocations: Vec<Revocation> =
        (0..500).map(|n| revocation(&format!("org{n}"), glob(&format!("repo:org{n}/*")))).collect();
    revocations.push(revocation("any-evil", glob("*:ref:refs/heads/evil")));
    revocations.push(revocation("one-char", glob("repo:acme/?pi:*")));
    let view = view(revocations);
    let hit = |sub: &str| match view.check_inbound(&inbound(&claims(json!({"sub": sub})), "j", "k"), NOW) {
        Err(Revoked::Hit { id, .. }) => Some(id),
        _ => None,
    };
    assert_eq!(hit("repo:org417/web:ref:refs/heads/main").as_deref(), Some("org417"));
    assert_eq!(hit("repo:org4170/web:ref:refs/heads/main"), None, "org4170 is not org417/");
    assert_eq!(hit("repo:acme/web:ref:refs/heads/evil").as_deref(), Some("any-evil"), "an empty prefix");
    assert_eq!(hit("repo:acme/api:ref:refs/heads/main").as_deref(), Some("one-char"));
    assert_eq!(hit("répo:acme/web:ref:refs/heads/main"), None, "prefix lengths off a char boundary are skipped");
}
