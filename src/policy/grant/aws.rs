//! The `aws` grant: an allowed exchange becomes an STS `AssumeRoleWithWebIdentity` call for one IAM role. This
//! module compiles the `grant:` block of `type: aws` (role ARN, session duration, session-name template, mode,
//! the audience of the token minted for STS, session tags and their transitive keys) and renders the session
//! name and the session-tags claim from the verified claims. AWS's own limits live in `limits`. It does not
//! mint tokens or call STS: the credentials and sts modules do.

use std::collections::BTreeMap;

use serde_json::{Map, Value};
use serde_saphyr::Spanned;

use crate::policy::error::CompileError;
use crate::policy::grant::limits::{
    DEFAULT_DURATION_SECONDS, MAX_SESSION_TAGS, MAX_TAG_VALUE_CHARS, TagKeyRule, check_role_arn,
    parse_session_duration, sanitise_session_name,
};
use crate::policy::grant::template::{RenderError, Template};
use crate::policy::source::{KeyedMap, OneOrMany, RawAwsMode, RawGrant, line_of};

/// How the exchange is presented to STS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AwsMode {
    /// Tollgate mints its own token (with the grant's audience and session tags) and sends that to STS.
    TollgateToken,
    /// The verified CI token itself is sent to STS; AWS must trust the CI provider directly.
    Passthrough,
}

/// An IAM role to assume with web identity: which role, for how long, and how to name and tag the session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsGrant {
    role_arn: String,
    duration_seconds: u32,
    mode: AwsMode,
    audience: String,
    session_name: Template,
    session_tags: Vec<SessionTag>,
    transitive_tag_keys: Vec<String>,
    /// Where `role_arn` was written, for the `duplicate-role-arn` lint.
    pub(in crate::policy) role_arn_line: Option<u64>,
}

/// Rendered AWS session tags: what goes into the `https://aws.amazon.com/tags` claim of the token minted for STS.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SessionTags {
    /// Tag key → its values (always exactly one here).
    pub principal_tags: BTreeMap<String, Vec<String>>,
    /// Keys of `principal_tags` that carry over into role chaining, in the order the policy lists them.
    pub transitive_tag_keys: Vec<String>,
}

/// One session tag: its key and the template of its value.
#[derive(Debug, Clone, PartialEq, Eq)]
struct SessionTag {
    key: String,
    value: Template,
}

/// The `aud` of the token minted for STS unless the grant says otherwise.
pub(in crate::policy) const DEFAULT_STS_AUDIENCE: &str = "sts.amazonaws.com";

/// The session name unless the grant says otherwise.
const DEFAULT_SESSION_NAME: &str = "${sub}";

/// The fields of a `type: aws` grant.
pub(in crate::policy) const AWS_FIELDS: &[&str] =
    &["type", "role_arn", "duration", "session_name", "mode", "audience", "session_tags", "transitive_tag_keys"];

impl AwsGrant {
    /// Adds the inbound claims its session name and tags read.
    pub(in crate::policy) fn claim_names(&self, out: &mut std::collections::BTreeSet<String>) {
        self.session_name.claim_names(out);
        self.session_tags.iter().for_each(|tag| tag.value.claim_names(out));
    }

    /// The role to assume, a checked IAM role ARN.
    pub fn role_arn(&self) -> &str {
        &self.role_arn
    }

    /// `DurationSeconds` for STS, 900..=43200 (default 3600).
    pub fn duration_seconds(&self) -> u32 {
        self.duration_seconds
    }

    pub fn mode(&self) -> AwsMode {
        self.mode
    }

    /// `aud` of the token minted for STS (tollgate_token mode). In passthrough mode it is the unused default,
    /// `sts.amazonaws.com`: STS then sees the CI token's own `aud`.
    pub fn audience(&self) -> &str {
        &self.audience
    }

    /// Renders the session-name template (default `${sub}`), then forces the result into `RoleSessionName`'s
    /// rules: characters outside `[A-Za-z0-9_+=,.@-]` become `-`, it is cut to 64 characters and padded with `-`
    /// to 2. Fails only as templates do (a missing claim, or one with no string form).
    pub fn render_session_name(&self, claims: &Map<String, Value>) -> Result<String, RenderError> {
        self.session_name.render(claims).map(|rendered| sanitise_session_name(&rendered))
    }

    /// Renders the session tags. A tag whose template names a claim the token lacks is left out, and so is its
    /// transitive key; a value longer than 256 characters is an error, never truncated; empty values are kept.
    /// Empty in passthrough mode, where the grant has no tags.
    pub fn render_session_tags(&self, claims: &Map<String, Value>) -> Result<SessionTags, RenderError> {
        let mut tags = SessionTags::default();
        for tag in &self.session_tags {
            let value = match tag.value.render(claims) {
                Ok(value) => value,
                Err(RenderError::MissingClaim(_)) => continue,
                Err(error) => return Err(error),
            };
            if value.chars().count() > MAX_TAG_VALUE_CHARS {
                return Err(RenderError::SessionTagTooLong { key: tag.key.clone() });
            }
            tags.principal_tags.insert(tag.key.clone(), vec![value]);
        }
        tags.transitive_tag_keys =
            self.transitive_tag_keys.iter().filter(|key| tags.principal_tags.contains_key(*key)).cloned().collect();
        Ok(tags)
    }
}

impl SessionTags {
    pub fn is_empty(&self) -> bool {
        self.principal_tags.is_empty() && self.transitive_tag_keys.is_empty()
    }

    /// The `https://aws.amazon.com/tags` claim value: `{"principal_tags": {k: [v]}, "transitive_tag_keys": [...]}`
    /// (`transitive_tag_keys` omitted when empty).
    pub fn to_claim(&self) -> Value {
        let principal_tags: Map<String, Value> =
            self.principal_tags.iter().map(|(key, values)| (key.clone(), Value::from(values.clone()))).collect();
        let mut claim = Map::new();
        claim.insert("principal_tags".to_owned(), Value::Object(principal_tags));
        if !self.transitive_tag_keys.is_empty() {
            claim.insert("transitive_tag_keys".to_owned(), Value::from(self.transitive_tag_keys.clone()));
        }
        Value::Object(claim)
    }
}

/// Compiles a `type: aws` grant; `grant_line` is where the block starts. Fields of other grant types are
/// already refused.
pub(in crate::policy) fn compile_aws_grant(raw: RawGrant, grant_line: Option<u64>) -> Result<AwsGrant, CompileError> {
    let Some(role_arn) = raw.role_arn else {
        return Err(CompileError::at(grant_line, "missing field `role_arn`"));
    };
    let role_arn_line = line_of(&role_arn);
    check_role_arn(&role_arn.value).map_err(|message| CompileError::at(role_arn_line, message))?;
    let duration_seconds = match &raw.duration {
        None => DEFAULT_DURATION_SECONDS,
        Some(spanned) => {
            parse_session_duration(&spanned.value).map_err(|message| CompileError::at(line_of(spanned), message))?
        }
    };
    let mode = match raw.mode.as_ref().map(|spanned| spanned.value) {
        None | Some(RawAwsMode::TollgateToken) => AwsMode::TollgateToken,
        Some(RawAwsMode::Passthrough) => AwsMode::Passthrough,
    };
    let passthrough_tags = refuse_tags_in_passthrough(&raw.written, mode);
    let audience = compile_audience(raw.audience, mode)?;
    passthrough_tags?;
    let session_name = match raw.session_name {
        None => Template::parse(DEFAULT_SESSION_NAME).map_err(|message| CompileError::at(grant_line, message))?,
        Some(spanned) => {
            Template::parse(&spanned.value).map_err(|message| CompileError::at(line_of(&spanned), message))?
        }
    };
    let (session_tags, transitive_tag_keys) = compile_tags(raw.session_tags, raw.transitive_tag_keys)?;
    Ok(AwsGrant {
        role_arn: role_arn.value,
        duration_seconds,
        mode,
        audience,
        session_name,
        session_tags,
        transitive_tag_keys,
        role_arn_line,
    })
}

/// `audience:`: one non-empty string, only in tollgate_token mode; default `sts.amazonaws.com`.
fn compile_audience(raw: Option<Spanned<OneOrMany>>, mode: AwsMode) -> Result<String, CompileError> {
    let Some(spanned) = raw else {
        return Ok(DEFAULT_STS_AUDIENCE.to_owned());
    };
    let line = line_of(&spanned);
    if mode == AwsMode::Passthrough {
        return Err(CompileError::at(
            line,
            "audience applies only to mode tollgate_token: in passthrough mode STS receives the CI token with its own aud",
        ));
    }
    match spanned.value.0.as_slice() {
        [audience] if !audience.is_empty() => Ok(audience.clone()),
        _ => Err(CompileError::at(line, "the audience of an aws grant is one non-empty string")),
    }
}

/// `session_tags:` and `transitive_tag_keys:`.
fn compile_tags(
    tags: Option<Spanned<KeyedMap<String>>>,
    transitive: Option<Spanned<Vec<Spanned<String>>>>,
) -> Result<(Vec<SessionTag>, Vec<String>), CompileError> {
    let session_tags = match tags {
        None => Vec::new(),
        Some(spanned) => compile_session_tags(spanned.value)?,
    };
    let transitive_tag_keys = match transitive {
        None => Vec::new(),
        Some(spanned) => compile_transitive_keys(spanned.value, &session_tags)?,
    };
    Ok((session_tags, transitive_tag_keys))
}

/// Session tags only in tollgate_token mode: a passed-through CI token cannot carry them. `written` is every key
/// of the grant block.
fn refuse_tags_in_passthrough(written: &[Spanned<String>], mode: AwsMode) -> Result<(), CompileError> {
    let tag_field = |key: &&Spanned<String>| matches!(key.value.as_str(), "session_tags" | "transitive_tag_keys");
    match written.iter().find(tag_field) {
        Some(key) if mode == AwsMode::Passthrough => Err(CompileError::at(
            line_of(key),
            format!(
                "{} needs mode tollgate_token: in passthrough mode the CI token goes to STS unchanged and cannot \
                 carry session tags",
                key.value
            ),
        )),
        _ => Ok(()),
    }
}

fn compile_session_tags(raw: KeyedMap<String>) -> Result<Vec<SessionTag>, CompileError> {
    let mut tags: Vec<SessionTag> = Vec::with_capacity(raw.0.len().min(MAX_SESSION_TAGS));
    let rule = TagKeyRule::new().map_err(|message| CompileError::at(None, message))?;
    for (key, value) in raw.0 {
        let line = line_of(&key);
        let key = key.value;
        if tags.len() == MAX_SESSION_TAGS {
            return Err(CompileError::at(
                line,
                format!("more than {MAX_SESSION_TAGS} session tags: AWS takes at most 50"),
            ));
        }
        rule.check(&key).map_err(|message| CompileError::at(line, message))?;
        let folded = key.to_lowercase();
        if let Some(other) = tags.iter().find(|tag| tag.key.to_lowercase() == folded) {
            return Err(CompileError::at(
                line,
                format!("session tag keys {:?} and {key:?} differ only in case, which AWS does not allow", other.key),
            ));
        }
        let template = Template::parse(&value).map_err(|message| CompileError::at(line, message))?;
        if template.fixed_chars() > MAX_TAG_VALUE_CHARS {
            return Err(CompileError::at(
                line,
                format!("session tag {key:?}: the value is longer than {MAX_TAG_VALUE_CHARS} characters"),
            ));
        }
        tags.push(SessionTag { key, value: template });
    }
    Ok(tags)
}

/// Each transitive key must be a session-tag key; repeats are dropped.
fn compile_transitive_keys(raw: Vec<Spanned<String>>, tags: &[SessionTag]) -> Result<Vec<String>, CompileError> {
    let mut keys: Vec<String> = Vec::with_capacity(raw.len());
    for key in raw {
        if !tags.iter().any(|tag| tag.key == key.value) {
            return Err(CompileError::at(
                line_of(&key),
                format!("transitive tag key {:?} is not a key of session_tags", key.value),
            ));
        }
        if !keys.contains(&key.value) {
            keys.push(key.value);
        }
    }
    Ok(keys)
}
