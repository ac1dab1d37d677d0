//! The serde shape of one policy file, exactly as written: `Raw*` types that reject unknown fields and keep the
//! source line of every key that a later check may need to point at. Two forms share one file shape: Tollgate's
//! (`issuer`, `audience`, `statements`) and a pasted AWS trust policy (`Version`, `Statement`); `compile` decides
//! which one a file uses; the `grant:` block's shape is in `grant`, scalars (one-or-many, TTLs, lines) in `scalar`. Nothing outside `policy` sees these types;
//! this module checks nothing beyond types.

pub(in crate::policy) mod grant;
pub(in crate::policy) mod scalar;

use serde::Deserialize;
use serde_saphyr::Spanned;

pub(in crate::policy) use crate::policy::source::grant::{RawAwsMode, RawGrant, RawGrantKind};
pub(in crate::policy) use crate::policy::source::scalar::{
    ConditionValues, KeyedMap, OneOrList, OneOrMany, OperatorKey, RawTtl, line_of, non_empty_strings, parse_duration,
};

/// A condition block: operator → condition key → values.
pub(in crate::policy) type RawConditionBlock = KeyedMap<KeyedMap<ConditionValues>, OperatorKey>;

/// One policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::policy) struct RawPolicy {
    pub(in crate::policy) role: Spanned<String>,
    #[serde(default)]
    pub(in crate::policy) description: Option<String>,
    #[serde(default)]
    pub(in crate::policy) issuer: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub(in crate::policy) audience: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub(in crate::policy) statements: Option<Spanned<Vec<Spanned<RawStatement>>>>,
    /// AWS form: must be `2012-10-17`.
    #[serde(default, rename = "Version")]
    pub(in crate::policy) version: Option<Spanned<String>>,
    /// AWS form: accepted and ignored, as AWS does.
    #[serde(default, rename = "Id")]
    #[expect(dead_code, reason = "accepted so that pasted policies load; it means nothing to Tollgate")]
    pub(in crate::policy) id: Option<String>,
    /// AWS form: one statement object or a list of them.
    #[serde(default, rename = "Statement")]
    pub(in crate::policy) aws_statements: Option<Spanned<OneOrList<RawAwsStatement>>>,
    pub(in crate::policy) grant: Spanned<RawGrant>,
    #[serde(default)]
    pub(in crate::policy) allow_unpinned_tenant: Option<Spanned<bool>>,
    /// `per_role` (default), `strict` or `off` (see `single_use`).
    #[serde(default)]
    pub(in crate::policy) single_use: Option<Spanned<String>>,
    /// `deny` (default) or `allow`.
    #[serde(default)]
    pub(in crate::policy) on_store_error: Option<Spanned<String>>,
}

/// One statement of the Tollgate form: an effect and an AWS-shaped condition block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::policy) struct RawStatement {
    pub(in crate::policy) effect: RawEffect,
    #[serde(default)]
    pub(in crate::policy) sid: Option<String>,
    #[serde(default)]
    pub(in crate::policy) condition: Option<RawConditionBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(in crate::policy) enum RawEffect {
    Allow,
    Deny,
}

/// One statement of a pasted AWS trust policy. Its line is the line of `Effect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::policy) struct RawAwsStatement {
    #[serde(default, rename = "Sid")]
    pub(in crate::policy) sid: Option<String>,
    #[serde(rename = "Effect")]
    pub(in crate::policy) effect: Spanned<RawAwsEffect>,
    #[serde(rename = "Principal")]
    pub(in crate::policy) principal: Spanned<RawPrincipal>,
    #[serde(rename = "Action")]
    pub(in crate::policy) action: Spanned<OneOrMany>,
    #[serde(default, rename = "Condition")]
    pub(in crate::policy) condition: Option<RawConditionBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(in crate::policy) enum RawAwsEffect {
    Allow,
    Deny,
}

/// `Principal: {Federated: …}`: the only principal a web-identity trust policy names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(in crate::policy) struct RawPrincipal {
    #[serde(rename = "Federated")]
    pub(in crate::policy) federated: OneOrMany,
}
