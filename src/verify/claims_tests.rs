//! Tests of the registered-claim checks: a table of rejections, and what the leeway still accepts.
use serde_json::json;

use super::*;

const NOW: i64 = 1_700_000_000;

fn rules() -> (Vec<String>, ClaimRules<'static>) {
    let audiences = vec!["tollgate".to_owned()];
    let leaked: &'static [String] = Box::leak(audiences.clone().into_boxed_slice());
    let rules = ClaimRules {
        issuer_name: "github",
        iss: "https://issuer",
        audiences: leaked,
        leeway_secs: 60,
        max_lifetime_secs: 3600,
        placeholder: Some(("org", "acme")),
    };
    (audiences, rules)
}

fn base() -> Value {
    json!({"iss": "https://issuer", "sub": "repo:a/b:ref:refs/heads/main", "aud": "tollgate",
           "exp": NOW + 300, "iat": NOW - 10, "nbf": NOW - 10, "jti": "j1"})
}

fn check_with(edit: impl FnOnce(&mut Map<String, Value>)) -> Result<VerifiedToken, VerifyError> {
    let Value::Object(mut claims) = base() else { unreachable!() };
    edit(&mut claims);
    check(claims, &rules().1, UnixTime::from_secs(NOW))
}

#[test]
fn accepts_a_good_token() {
    assert!(
        check_with(|c| {
            c.insert("org".into(), json!("acme"));
            c.insert("exp".into(), json!(NOW - 10 + 3600));
        })
        .is_ok()
    );
    let token = check_with(|_| {}).unwrap();
    assert_eq!(token.sub(), "repo:a/b:ref:refs/heads/main");
    assert_eq!(token.audiences(), ["tollgate"]);
    assert_eq!(token.jti(), Some("j1"));
    assert_eq!(token.issuer_name(), "github");
}

#[test]
fn table_of_rejections() {
    type Edit = fn(&mut Map<String, Value>);
    let cases: &[(&str, Edit, &str)] = &[
        (
            "missing sub",
            |c| {
                c.remove("sub");
            },
            "sub",
        ),
        (
            "numeric sub",
            |c| {
                c.insert("sub".into(), json!(5));
            },
            "sub",
        ),
        (
            "array sub",
            |c| {
                c.insert("sub".into(), json!(["repo:a/b:ref:refs/heads/main"]));
            },
            "\"sub\" must be a string",
        ),
        (
            "object sub",
            |c| {
                c.insert("sub".into(), json!({"repo": "a/b"}));
            },
            "\"sub\" must be a string",
        ),
        (
            "exp before nbf, each inside the leeway",
            |c| {
                c.insert("exp".into(), json!(NOW - 30));
                c.insert("nbf".into(), json!(NOW + 30));
                c.insert("iat".into(), json!(NOW - 40));
            },
            "exp is not after nbf",
        ),
        (
            "exp equal to nbf",
            |c| {
                c.insert("exp".into(), json!(NOW + 10));
                c.insert("nbf".into(), json!(NOW + 10));
            },
            "exp is not after nbf",
        ),
        (
            "exp before iat",
            |c| {
                c.insert("exp".into(), json!(NOW - 5));
                c.insert("iat".into(), json!(NOW + 5));
                c.remove("nbf");
            },
            "exp is before iat",
        ),
        (
            "lifetime over the issuer's ceiling",
            |c| {
                c.insert("exp".into(), json!(NOW - 10 + 3601));
            },
            "lifetime (exp - iat = 3601 s) is longer than this issuer allows (3600 s)",
        ),
        (
            "placeholder claim of another tenant",
            |c| {
                c.insert("org".into(), json!("evil"));
            },
            "\"org\" does not match the token's issuer",
        ),
        (
            "placeholder claim not a string",
            |c| {
                c.insert("org".into(), json!(["acme"]));
            },
            "\"org\" does not match the token's issuer",
        ),
        (
            "empty sub",
            |c| {
                c.insert("sub".into(), json!(""));
            },
            "sub",
        ),
        (
            "missing aud",
            |c| {
                c.remove("aud");
            },
            "aud",
        ),
        (
            "other aud",
            |c| {
                c.insert("aud".into(), json!("other"));
            },
            "audience",
        ),
        (
            "empty aud array",
            |c| {
                c.insert("aud".into(), json!([]));
            },
            "aud",
        ),
        (
            "missing exp",
            |c| {
                c.remove("exp");
            },
            "exp",
        ),
        (
            "string exp",
            |c| {
                c.insert("exp".into(), json!("9999999999"));
            },
            "exp",
        ),
        (
            "null exp",
            |c| {
                c.insert("exp".into(), Value::Null);
            },
            "exp",
        ),
        (
            "string nbf",
            |c| {
                c.insert("nbf".into(), json!("0"));
            },
            "nbf",
        ),
        (
            "missing iat",
            |c| {
                c.remove("iat");
            },
            "iat",
        ),
        (
            "bool iat",
            |c| {
                c.insert("iat".into(), json!(true));
            },
            "iat",
        ),
        (
            "expired past leeway",
            |c| {
                c.insert("exp".into(), json!(NOW - 61));
            },
            "expired",
        ),
        (
            "nbf past leeway",
            |c| {
                c.insert("nbf".into(), json!(NOW + 61));
            },
            "not valid before",
        ),
        (
            "iat in future",
            |c| {
                c.insert("iat".into(), json!(NOW + 61));
            },
            "issued in the future",
        ),
        (
            "other iss",
            |c| {
                c.insert("iss".into(), json!("https://issuer/"));
            },
            "issuer",
        ),
        (
            "numeric jti",
            |c| {
                c.insert("jti".into(), json!(1));
            },
            "jti",
        ),
    ];
    for (name, edit, expected) in cases {
        let error = check_with(*edit).expect_err(name);
        assert!(error.to_string().contains(expected), "{name}: {error}");
    }
}

#[test]
fn leeway_and_array_audiences_accept() {
    assert!(
        check_with(|c| {
            c.insert("exp".into(), json!(NOW - 60));
            c.insert("iat".into(), json!(NOW - 360));
            c.insert("nbf".into(), json!(NOW - 360));
        })
        .is_ok()
    );
    assert!(
        check_with(|c| {
            c.insert("nbf".into(), json!(NOW + 60));
        })
        .is_ok()
    );
    assert!(
        check_with(|c| {
            c.remove("nbf");
        })
        .is_ok()
    );
    assert!(
        check_with(|c| {
            c.insert("aud".into(), json!(["x", "tollgate"]));
        })
        .is_ok()
    );
    assert!(
        check_with(|c| {
            c.insert("exp".into(), json!((NOW + 10) as f64 + 0.5));
        })
        .is_ok()
    );
}
