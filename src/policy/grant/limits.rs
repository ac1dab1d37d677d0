//! AWS's limits on what an `aws` grant sends to STS `AssumeRoleWithWebIdentity` and in its session-tags claim:
//! the role ARN's shape, the session duration range, the session name's alphabet and length (and the sanitiser
//! that forces a rendered name into them), and the rules for session-tag keys and values. Pure checks whose
//! errors are sentences; `aws` applies them at load and at render time. Knows nothing of policies or claims.

use std::ops::RangeInclusive;

use regex::Regex;

use crate::policy::source::{RawTtl, parse_duration};

/// `DurationSeconds` of `AssumeRoleWithWebIdentity`: 15 minutes to 12 hours.
pub(in crate::policy) const DURATION_SECONDS: RangeInclusive<u32> = 900..=43_200;

/// STS's default `DurationSeconds`.
pub(in crate::policy) const DEFAULT_DURATION_SECONDS: u32 = 3600;

/// The shortest and longest `RoleSessionName`.
pub(in crate::policy) const SESSION_NAME_MIN_CHARS: usize = 2;
pub(in crate::policy) const SESSION_NAME_MAX_CHARS: usize = 64;

/// At most this many session tags per session.
pub(in crate::policy) const MAX_SESSION_TAGS: usize = 50;

/// The longest session-tag key and value, in characters.
pub(in crate::policy) const MAX_TAG_KEY_CHARS: usize = 128;
pub(in crate::policy) const MAX_TAG_VALUE_CHARS: usize = 256;

/// `RoleArn` length bounds.
const ROLE_ARN_CHARS: RangeInclusive<usize> = 20..=2048;

/// The partitions an IAM role ARN may name.
const PARTITIONS: &[&str] = &["aws", "aws-cn", "aws-us-gov"];

/// AWS's tag-key alphabet: letters, separators (spaces), numbers and `_ . : / = + - @`.
const TAG_KEY_PATTERN: &str = r"^[\p{L}\p{Z}\p{N}_.:/=+\-@]+$";

/// Checks a session-tag key; built once per grant because it holds a compiled pattern.
#[derive(Debug)]
pub(in crate::policy) struct TagKeyRule(Regex);

/// Checks `arn:PARTITION:iam::ACCOUNT:role/[PATH/]NAME`: 20 to 2048 characters, partition `aws`, `aws-cn` or
/// `aws-us-gov`, a 12-digit account, and a path and name of `[A-Za-z0-9_+=,.@-]` parts separated by `/`.
pub(in crate::policy) fn check_role_arn(arn: &str) -> Result<(), String> {
    let length = arn.chars().count();
    if !ROLE_ARN_CHARS.contains(&length) {
        return Err(format!("role_arn must be 20 to 2048 characters, not {length}"));
    }
    let not_a_role = || format!("role_arn {arn:?} is not an IAM role ARN such as arn:aws:iam::123456789012:role/NAME");
    let mut fields = arn.splitn(6, ':');
    let (Some("arn"), Some(partition), Some("iam"), Some(""), Some(account), Some(resource)) =
        (fields.next(), fields.next(), fields.next(), fields.next(), fields.next(), fields.next())
    else {
        return Err(not_a_role());
    };
    if !PARTITIONS.contains(&partition) {
        return Err(format!("role_arn {arn:?}: partition {partition:?} is not aws, aws-cn or aws-us-gov"));
    }
    if account.len() != 12 || !account.bytes().all(|byte| byte.is_ascii_digit()) {
        return Err(format!("role_arn {arn:?}: account {account:?} is not 12 digits"));
    }
    let Some(path_and_name) = resource.strip_prefix("role/") else {
        return Err(not_a_role());
    };
    if path_and_name.split('/').any(str::is_empty) {
        return Err(format!("role_arn {arn:?} has an empty role name or path part"));
    }
    if !path_and_name.chars().all(|character| is_iam_name_char(character) || character == '/') {
        return Err(format!("role_arn {arn:?}: a role's path and name may use only A-Z a-z 0-9 _ + = , . @ - and /"));
    }
    Ok(())
}

/// Reads `duration:`: whole seconds or a duration string, 900..=43200 seconds.
pub(in crate::policy) fn parse_session_duration(raw: &RawTtl) -> Result<u32, String> {
    let out_of_range = |seconds: String| {
        format!("duration must be between 900 seconds (15m) and 43200 seconds (12h), not {seconds} seconds")
    };
    let seconds = match raw {
        RawTtl::Seconds(seconds) => *seconds,
        RawTtl::Negative(seconds) => return Err(out_of_range(seconds.to_string())),
        RawTtl::Text(text) => {
            parse_duration(text).ok_or_else(|| format!("duration {text:?} is not a duration such as 900, 15m or 1h"))?
        }
    };
    u32::try_from(seconds)
        .ok()
        .filter(|seconds| DURATION_SECONDS.contains(seconds))
        .ok_or_else(|| out_of_range(seconds.to_string()))
}

/// Forces `text` into a valid `RoleSessionName`: every character outside `[A-Za-z0-9_+=,.@-]` becomes `-`, the
/// result is cut to 64 characters, and padded with `-` to at least 2.
pub(in crate::policy) fn sanitise_session_name(text: &str) -> String {
    let mut name: String = text
        .chars()
        .take(SESSION_NAME_MAX_CHARS)
        .map(|character| if is_iam_name_char(character) { character } else { '-' })
        .collect();
    while name.len() < SESSION_NAME_MIN_CHARS {
        name.push('-');
    }
    name
}

/// `[\w+=,.@-]` as IAM means it: ASCII letters and digits, `_`, and `+ = , . @ -`.
pub(in crate::policy) fn is_iam_name_char(character: char) -> bool {
    character.is_ascii_alphanumeric() || matches!(character, '_' | '+' | '=' | ',' | '.' | '@' | '-')
}

impl TagKeyRule {
    pub(in crate::policy) fn new() -> Result<TagKeyRule, String> {
        Regex::new(TAG_KEY_PATTERN).map(TagKeyRule).map_err(|error| format!("session tag key pattern: {error}"))
    }

    /// 1 to 128 characters of AWS's tag-key alphabet, not starting with `aws:` in any case.
    pub(in crate::policy) fn check(&self, key: &str) -> Result<(), String> {
        if key.is_empty() {
            return Err("a session tag needs a non-empty key".to_owned());
        }
        if key.chars().count() > MAX_TAG_KEY_CHARS {
            return Err(format!("session tag key {key:?} is longer than {MAX_TAG_KEY_CHARS} characters"));
        }
        if !self.0.is_match(key) {
            return Err(format!("session tag key {key:?} may use only letters, numbers, spaces and _ . : / = + - @"));
        }
        if key.get(..4).is_some_and(|prefix| prefix.eq_ignore_ascii_case("aws:")) {
            return Err(format!("session tag key {key:?}: keys starting with aws: are reserved by AWS"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn role_arns() {
        let long_name = format!("arn:aws:iam::123456789012:role/{}", "a".repeat(2048 - 31));
        assert_eq!(long_name.len(), 2048);
        for good in [
            "arn:aws:iam::123456789012:role/deploy-web",
            "arn:aws-cn:iam::123456789012:role/a",
            "arn:aws-us-gov:iam::000000000000:role/service-role/x_+=,.@-y",
            long_name.as_str(),
        ] {
            assert_eq!(check_role_arn(good), Ok(()), "{good}");
        }
        let too_long = format!("{long_name}a");
        for (bad, fragment) in [
            ("arn:aws:iam::1:role", "20 to 2048 characters, not 19"),
            (too_long.as_str(), "not 2049"),
            ("arn:aws:sts::123456789012:role/deploy", "is not an IAM role ARN"),
            ("arn:aws:iam:us-east-1:123456789012:role/deploy", "is not an IAM role ARN"),
            ("arn:aws:iam::123456789012:user/deploy", "is not an IAM role ARN"),
            ("xrn:aws:iam::123456789012:role/deploy", "is not an IAM role ARN"),
            ("arn:aws:iam::123456789012-role/deploy", "is not an IAM role ARN"),
            ("arn:aws-eu:iam::123456789012:role/deploy", "partition \"aws-eu\""),
            ("arn:aws:iam::12345678901x:role/deploy", "account \"12345678901x\" is not 12 digits"),
            ("arn:aws:iam::1234567890123:role/deploy", "is not 12 digits"),
            ("arn:aws:iam::123456789012:role/", "empty role name or path part"),
            ("arn:aws:iam::123456789012:role", "is not an IAM role ARN"),
            ("arn:aws:iam::123456789012:role/path/", "empty role name or path part"),
            ("arn:aws:iam::123456789012:role//deploy", "empty role name or path part"),
            ("arn:aws:iam::123456789012:role/dep loy", "may use only"),
            ("arn:aws:iam::123456789012:role/déploy", "may use only"),
            ("arn:aws:iam::123456789012:role/a:b", "may use only"),
        ] {
            let error = check_role_arn(bad).unwrap_err();
            assert!(error.contains(fragment), "{bad}: {error}");
        }
    }

    #[test]
    fn durations() {
        use RawTtl::{Negative, Seconds, Text};
        assert_eq!(parse_session_duration(&Seconds(900)), Ok(900));
        assert_eq!(parse_session_duration(&Seconds(43_200)), Ok(43_200));
        assert_eq!(parse_session_duration(&Text("1h".into())), Ok(3600));
        assert_eq!(parse_session_duration(&Text("12h".into())), Ok(43_200));
        for (raw, fragment) in [
            (Seconds(899), "not 899 seconds"),
            (Seconds(43_201), "not 43201 seconds"),
            (Seconds(u64::MAX), "not 18446744073709551615 seconds"),
            (Negative(-5), "not -5 seconds"),
            (Text("14m".into()), "not 840 seconds"),
            (Text("soon".into()), "\"soon\" is not a duration"),
            (Text("900".into()), "\"900\" is not a duration"),
        ] {
            let error = parse_session_duration(&raw).unwrap_err();
            assert!(error.contains(fragment), "{raw:?}: {error}");
        }
    }

    #[test]
    fn tag_keys() {
        let rule = TagKeyRule::new().unwrap();
        let longest = "k".repeat(128);
        for good in ["repository", "Team Name", "a_b.c:d/e=f+g-h@i", "équipe", "環境", "x1", "awsx", longest.as_str()]
        {
            assert_eq!(rule.check(good), Ok(()), "{good}");
        }
        let too_long = "k".repeat(129);
        for (bad, fragment) in [
            ("", "non-empty key"),
            (too_long.as_str(), "longer than 128"),
            ("a*b", "may use only"),
            ("a#b", "may use only"),
            ("tab\there", "may use only"),
            ("aws:x", "reserved by AWS"),
            ("AWS:x", "reserved by AWS"),
            ("Aws:", "reserved by AWS"),
        ] {
            let error = rule.check(bad).unwrap_err();
            assert!(error.contains(fragment), "{bad:?}: {error}");
        }
    }
}
