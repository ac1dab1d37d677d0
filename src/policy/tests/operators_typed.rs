//! Table tests for the boolean, numeric, date and `Null` operators, `…IfExists`, and the `ForAnyValue:` /
//! `ForAllValues:` qualifiers with the AWS documentation's multivalued-key examples (missing, empty and mixed
//! sets, negated operators).

use serde_json::json;

use super::operators::table;

#[test]
fn bool_operator() {
    table(
        "Bool",
        &[
            (&["true"], json!({"a": true}), true),
            (&["true"], json!({"a": "true"}), true),
            (&["true"], json!({"a": false}), false),
            (&["true"], json!({"a": "True"}), false),
            (&["true"], json!({"a": 1}), false),
            (&["false"], json!({"a": "false"}), true),
            (&["true"], json!({}), false),
        ],
    );
    table("BoolIfExists", &[(&["true"], json!({}), true), (&["true"], json!({"a": false}), false)]);
}

#[test]
fn numeric_operators_read_numbers_and_numeric_strings() {
    table(
        "NumericEquals",
        &[
            (&["74"], json!({"a": "74"}), true),
            (&["74"], json!({"a": 74}), true),
            (&["74"], json!({"a": 74.0}), true),
            (&["74"], json!({"a": "074.00"}), true),
            (&["74"], json!({"a": "seventy-four"}), false),
            (&["74"], json!({"a": true}), false),
            (&["74"], json!({}), false),
            (&["1", "74"], json!({"a": ["3", "74"]}), true),
            (&["18446744073709551615"], json!({"a": u64::MAX}), true),
            (&["9007199254740993"], json!({"a": "9007199254740992"}), false),
        ],
    );
    table(
        "NumericNotEquals",
        &[
            (&["74"], json!({"a": 75}), true),
            (&["74"], json!({"a": "74"}), false),
            (&["74"], json!({}), true),
            (&["74"], json!({"a": "x"}), true),
        ],
    );
    table(
        "NumericLessThan",
        &[
            (&["10"], json!({"a": 9}), true),
            (&["10"], json!({"a": 10}), false),
            (&["10"], json!({"a": "9.5"}), true),
            (&["10"], json!({"a": -1}), true),
        ],
    );
    table("NumericLessThanEquals", &[(&["10"], json!({"a": "10"}), true), (&["10"], json!({"a": 11}), false)]);
    table(
        "NumericGreaterThan",
        &[
            (&["1.5"], json!({"a": 2}), true),
            (&["1.5"], json!({"a": "1.5"}), false),
            (&["1.5"], json!({"a": "1.50001"}), true),
        ],
    );
    table("NumericGreaterThanEquals", &[(&["1.5"], json!({"a": 1.5}), true), (&["1.5"], json!({"a": 1}), false)]);
}

#[test]
fn date_operators_read_epoch_seconds_and_rfc3339() {
    let new_year: &[&str] = &["2024-01-01T00:00:00Z"];
    table(
        "DateLessThan",
        &[
            (new_year, json!({"a": 1_700_000_000}), true),
            (new_year, json!({"a": "1700000000"}), true),
            (new_year, json!({"a": "2024-06-01T00:00:00Z"}), false),
            (new_year, json!({"a": "2024-01-01T00:00:00Z"}), false),
            (new_year, json!({"a": "last year"}), false),
            (new_year, json!({}), false),
        ],
    );
    table("DateLessThanEquals", &[(new_year, json!({"a": 1_704_067_200}), true)]);
    table(
        "DateGreaterThanEquals",
        &[
            (&["1704067200"], json!({"a": "2024-01-01T00:00:00Z"}), true),
            (&["1704067200"], json!({"a": 1_704_067_199}), false),
        ],
    );
    table("DateGreaterThan", &[(&["1704067200"], json!({"a": "2024-01-01T00:00:01Z"}), true)]);
    table("DateEquals", &[(&["2024-01-01T01:00:00+01:00"], json!({"a": "2024-01-01T00:00:00Z"}), true)]);
    table("DateNotEquals", &[(new_year, json!({}), true), (new_year, json!({"a": 1_704_067_200}), false)]);
}

#[test]
fn null_tests_presence() {
    let absent: &[&str] = &["true"];
    let present: &[&str] = &["false"];
    table(
        "Null",
        &[
            (absent, json!({}), true),
            (absent, json!({"a": null}), true),
            (absent, json!({"a": []}), true),
            (absent, json!({"a": ""}), false),
            (absent, json!({"a": "x"}), false),
            (present, json!({}), false),
            (present, json!({"a": null}), false),
            (present, json!({"a": []}), false),
            (present, json!({"a": ""}), true),
            (present, json!({"a": [1]}), true),
            (&["true", "false"], json!({}), true),
        ],
    );
}

#[test]
fn if_exists_holds_on_missing_claims() {
    table(
        "StringEqualsIfExists",
        &[
            (&["x"], json!({}), true),
            (&["x"], json!({"a": null}), true),
            (&["x"], json!({"a": "x"}), true),
            (&["x"], json!({"a": "y"}), false),
        ],
    );
    table("StringNotLikeIfExists", &[(&["x*"], json!({}), true), (&["x*"], json!({"a": "xy"}), false)]);
    table("NumericLessThanIfExists", &[(&["5"], json!({}), true), (&["5"], json!({"a": 6}), false)]);
    table("ForAnyValue:StringEqualsIfExists", &[(&["x"], json!({}), true), (&["x"], json!({"a": ["y"]}), false)]);
}

/// The AWS documentation's multivalued-key examples, with `a` standing for `aws:TagKeys`.
#[test]
fn multivalued_keys_as_documented_by_aws() {
    let tags: &[&str] = &["environment", "cost-center"];
    table(
        "ForAllValues:StringEquals",
        &[
            (tags, json!({"a": ["environment", "cost-center"]}), true),
            (tags, json!({"a": ["environment"]}), true),
            (tags, json!({"a": ["environment", "owner"]}), false),
            (tags, json!({"a": "environment"}), true),
            (tags, json!({"a": ["environment", 5]}), false),
            (tags, json!({}), true),
            (tags, json!({"a": []}), true),
        ],
    );
    table(
        "ForAnyValue:StringEquals",
        &[
            (tags, json!({"a": ["environment", "owner"]}), true),
            (tags, json!({"a": ["owner"]}), false),
            (tags, json!({"a": "cost-center"}), true),
            (tags, json!({}), false),
            (tags, json!({"a": []}), false),
        ],
    );
    table(
        "ForAnyValue:StringNotEquals",
        &[
            (tags, json!({"a": ["environment", "owner"]}), true),
            (tags, json!({"a": ["environment", "cost-center"]}), false),
            (tags, json!({}), false),
        ],
    );
    table(
        "ForAllValues:StringNotEquals",
        &[
            (tags, json!({"a": ["owner", "team"]}), true),
            (tags, json!({"a": ["owner", "environment"]}), false),
            (tags, json!({}), true),
        ],
    );
    table(
        "ForAllValues:StringLike",
        &[
            (&["Created*"], json!({"a": ["CreatedBy", "CreatedAt"]}), true),
            (&["Created*"], json!({"a": ["CreatedBy", "Owner"]}), false),
        ],
    );
    table(
        "ForAnyValue:NumericGreaterThan",
        &[(&["10"], json!({"a": [1, "20"]}), true), (&["10"], json!({"a": [1, 2]}), false)],
    );
}
