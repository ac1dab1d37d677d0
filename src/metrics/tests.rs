//! Metrics unit tests: nothing a token or a request says can add a label value; every label set is closed.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use super::*;
use crate::broker::{DecisionEvent, FrontDoor, Outcome, Reason, RequestContext};
use crate::clock::UnixTime;

fn metrics() -> Metrics {
    Metrics::new(["github", "semaphore"]).unwrap()
}

fn event<'a>(
    context: &'a RequestContext,
    issuer: Option<&'a str>,
    role: &'a str,
    role_known: bool,
    outcome: Outcome,
    reason: Reason,
) -> DecisionEvent<'a> {
    DecisionEvent {
        time: UnixTime::from_secs(0),
        front_door: FrontDoor::Exchange,
        context,
        issuer,
        sub: Some("repo:acme/web:ref:refs/heads/main"),
        inbound_jti: Some("jti-1"),
        role,
        role_arn: None,
        role_known,
        outcome,
        reason,
        detail: String::new(),
        credential_sha256: None,
        expires_at: None,
        duration: Duration::from_micros(250),
        shadow: None,
        policy: None,
        claims: None,
    }
}

/// Every series of `name`, as label name -> value maps, with its counter value.
fn series(metrics: &Metrics, name: &str) -> Vec<(BTreeMap<String, String>, f64)> {
    let families = metrics.registry.gather();
    let family = families.iter().find(|f| f.name() == name).unwrap_or_else(|| panic!("{name} missing"));
    family
        .get_metric()
        .iter()
        .map(|m| {
            let labels = m.get_label().iter().map(|l| (l.name().to_owned(), l.value().to_owned())).collect();
            (labels, m.get_counter().get_value())
        })
        .collect()
}

fn values_of(metrics: &Metrics, name: &str, label: &str) -> BTreeSet<String> {
    series(metrics, name).into_iter().filter_map(|(labels, _)| labels.get(label).cloned()).collect()
}

#[test]
fn attacker_chosen_roles_and_untrusted_issuers_never_add_label_values() {
    let metrics = metrics();
    let context = RequestContext::default();
    metrics.record(&event(&context, Some("github"), "deploy", true, Outcome::Allow, Reason::Allowed));
    for n in 0..500 {
        let role = format!("attacker-role-{n}\"}}\n# injected");
        let iss = format!("https://evil-{n}.example");
        metrics.record(&event(&context, None, &role, false, Outcome::Deny, Reason::UnknownIssuer));
        metrics.record(&event(&context, Some(&iss), &role, false, Outcome::Deny, Reason::UnknownIssuer));
        metrics.record(&event(&context, Some("github"), &role, false, Outcome::Deny, Reason::UnknownRole));
    }
    assert_eq!(values_of(&metrics, EXCHANGES_TOTAL, "role"), BTreeSet::from(["deploy".into(), OTHER.into()]));
    assert_eq!(values_of(&metrics, EXCHANGES_TOTAL, "issuer"), BTreeSet::from(["github".into(), OTHER.into()]));
    // 1 allow series + 2 deny series (issuer other / github), whatever the 1,500 denials said.
    let all = series(&metrics, EXCHANGES_TOTAL);
    assert_eq!(all.len(), 3, "{all:?}");
    let denied: f64 = all.iter().filter(|(l, _)| l["outcome"] == "deny").map(|(_, v)| v).sum();
    assert_eq!(denied, 1500.0);
    let text = metrics.encode().unwrap();
    assert!(!text.contains("attacker") && !text.contains("evil") && !text.contains("injected"));
}

#[test]
fn exchange_labels_are_closed_for_every_outcome_and_reason() {
    let metrics = metrics();
    let context = RequestContext::default();
    for reason in Reason::ALL {
        for outcome in [Outcome::Allow, Outcome::Deny, Outcome::Error] {
            let mut decided = event(&context, Some("semaphore"), "build", true, outcome, reason);
            for door in FRONT_DOORS {
                decided.front_door = door;
                metrics.record(&decided);
            }
        }
    }
    let closed = |label: &str, allowed: &[&str]| {
        let seen = values_of(&metrics, EXCHANGES_TOTAL, label);
        assert!(seen.iter().all(|v| allowed.contains(&v.as_str())), "{label}: {seen:?}");
    };
    let reasons: Vec<&str> = Reason::ALL.iter().map(|r| r.as_str()).collect();
    closed("reason", &reasons);
    closed("outcome", &["allow", "deny", "error"]);
    closed("front_door", &["exchange", "sts", "token", "explain"]);
    let names: BTreeSet<String> =
        series(&metrics, EXCHANGES_TOTAL).into_iter().flat_map(|(l, _)| l.into_keys()).collect();
    assert_eq!(names, ["front_door", "issuer", "outcome", "reason", "role"].map(String::from).into());
    assert_eq!(series(&metrics, EXCHANGES_TOTAL).len(), Reason::ALL.len() * 3 * FRONT_DOORS.len());
}

#[test]
fn every_sts_error_has_its_own_closed_result() {
    let m = || "m".to_owned();
    let errors = [
        StsError::AccessDenied(m()),
        StsError::Throttled(m()),
        StsError::InvalidIdentityToken(m()),
        StsError::ExpiredToken(m()),
        StsError::IdpRejectedClaim(m()),
        StsError::Validation(m()),
        StsError::PolicyRejected { code: "PackedPolicyTooLarge", message: m() },
        StsError::IdpCommunication(m()),
        StsError::Unavailable(m()),
    ];
    let metrics = metrics();
    metrics.observe(Ok(()), Duration::from_millis(20));
    for error in &errors {
        metrics.observe(Err(error), Duration::from_millis(20));
    }
    let results: BTreeSet<&str> =
        std::iter::once(sts_result(Ok(()))).chain(errors.iter().map(|e| sts_result(Err(e)))).collect();
    assert_eq!(results, STS_RESULTS.into_iter().collect(), "one result per variant, all in STS_RESULTS");
    assert!(series(&metrics, STS_REQUESTS_TOTAL).iter().all(|(_, count)| *count == 1.0));
    assert_eq!(values_of(&metrics, STS_REQUESTS_TOTAL, "result").len(), STS_RESULTS.len());
}

#[test]
fn http_labels_are_route_templates_and_known_methods_only() {
    let metrics = metrics();
    metrics.record_http(Some("/dev/issuer/semaphore/{org}/jwks"), "GET", "200");
    metrics.record_http(None, "GET", "404");
    metrics.record_http(None, "BREW", "418");
    metrics.record_http(Some("/exchange"), "POST", "not-a-status");
    assert_eq!(
        values_of(&metrics, HTTP_REQUESTS_TOTAL, "route"),
        ["/dev/issuer/semaphore/{org}/jwks", "/exchange", UNMATCHED].map(String::from).into()
    );
    assert_eq!(values_of(&metrics, HTTP_REQUESTS_TOTAL, "method"), ["GET", "POST", OTHER].map(String::from).into());
    assert_eq!(
        values_of(&metrics, HTTP_REQUESTS_TOTAL, "status"),
        ["200", "404", "418", OTHER].map(String::from).into()
    );
}

#[test]
fn the_text_output_has_every_metric_and_sub_millisecond_buckets() {
    let metrics = metrics();
    let context = RequestContext::default();
    metrics.record(&event(&context, Some("github"), "deploy", true, Outcome::Allow, Reason::Allowed));
    metrics.record_http(Some("/exchange"), "POST", "200");
    let text = metrics.encode().unwrap();
    for name in [
        EXCHANGES_TOTAL,
        EXCHANGE_DURATION_SECONDS,
        JWKS_FETCHES_TOTAL,
        POLICY_RELOADS_TOTAL,
        POLICIES_LOADED,
        POLICY_LAST_RELOAD_TIMESTAMP_SECONDS,
        STS_REQUESTS_TOTAL,
        STS_DURATION_SECONDS,
        BUILD_INFO,
        HTTP_REQUESTS_TOTAL,
    ] {
        assert!(text.contains(&format!("# TYPE {name} ")), "{name} missing:\n{text}");
    }
    assert!(text.contains(&format!("{BUILD_INFO}{{version=\"{}\"}} 1", env!("CARGO_PKG_VERSION"))));
    assert!(text.contains(r#"tollgate_exchange_duration_seconds_bucket{front_door="exchange",le="0.0001"} 0"#));
    assert!(text.contains(r#"tollgate_exchange_duration_seconds_bucket{front_door="exchange",le="0.00025"} 1"#));
    // Known label values start at zero, so rates and alerts see them before the first event.
    assert!(text.contains(r#"tollgate_jwks_fetches_total{issuer="semaphore",result="error"} 0"#));
    assert!(text.contains(r#"tollgate_sts_requests_total{result="throttled"} 0"#));
    #[cfg(target_os = "linux")]
    assert!(text.contains("process_resident_memory_bytes") && text.contains("process_open_fds"));
}
