//! The serde shape of one policy file, exactly as written: `Raw*` types that reject unknown fields and keep the
//! source line of every key that a later check may need to point at. Two forms share one file shape: Tollgate's
//! (`issuer`, `audience`, `statements`) and a pasted AWS trust policy (`Version`, `Statement`); `compile` decides
//! which one a file uses; the `grant:` block's shape is in `raw_grant`. Nothing outside `policy` sees these types;
//! this module checks nothing beyond types.

use serde::Deserialize;
use serde_saphyr::Spanned;

pub(super) use crate::policy::raw_grant::{RawAwsMode, RawGrant, RawGrantKind};
pub(super) use crate::policy::raw_scalar::{
    ConditionValues, KeyedMap, OneOrList, OneOrMany, OperatorKey, RawTtl, line_of,
};

/// A condition block: operator → condition key → values.
pub(super) type RawConditionBlock = KeyedMap<KeyedMap<ConditionValues>, OperatorKey>;

/// One policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) role: Spanned<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    #[serde(default)]
    pub(super) issuer: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub(super) audience: Option<Spanned<OneOrMany>>,
    #[serde(default)]
    pub(super) statements: Option<Spanned<Vec<Spanned<RawStatement>>>>,
    /// AWS form: must be `2012-10-17`.
    #[serde(default, rename = "Version")]
    pub(super) version: Option<Spanned<String>>,
    /// AWS form: accepted and ignored, as AWS does.
    #[serde(default, rename = "Id")]
    #[expect(dead_code, reason = "accepted so that pasted policies load; it means nothing to Tollgate")]
    pub(super) id: Option<String>,
    /// AWS form: one statement object or a list of them.
    #[serde(default, rename = "Statement")]
    pub(super) aws_statements: Option<Spanned<OneOrList<RawAwsStatement>>>,
    pub(super) grant: Spanned<RawGrant>,
    #[serde(default)]
    pub(super) allow_unpinned_tenant: Option<Spanned<bool>>,
    /// `per_role` (default), `strict` or `off` (see `replay`).
    #[serde(default)]
    pub(super) single_use: Option<Spanned<String>>,
    /// `deny` (default) or `allow`.
    #[serde(default)]
    pub(super) on_store_error: Option<Spanned<String>>,
}

/// One statement of the Tollgate form: an effect and an AWS-shaped condition block.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatement {
    pub(super) effect: RawEffect,
    #[serde(default)]
    pub(super) sid: Option<String>,
    #[serde(default)]
    pub(super) condition: Option<RawConditionBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawEffect {
    Allow,
    Deny,
}

/// One statement of a pasted AWS trust policy. Its line is the line of `Effect`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawAwsStatement {
    #[serde(default, rename = "Sid")]
    pub(super) sid: Option<String>,
    #[serde(rename = "Effect")]
    pub(super) effect: Spanned<RawAwsEffect>,
    #[serde(rename = "Principal")]
    pub(super) principal: Spanned<RawPrincipal>,
    #[serde(rename = "Action")]
    pub(super) action: Spanned<OneOrMany>,
    #[serde(default, rename = "Condition")]
    pub(super) condition: Option<RawConditionBlock>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub(super) enum RawAwsEffect {
    Allow,
    Deny,
}

/// `Principal: {Federated: …}`: the only principal a web-identity trust policy names.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPrincipal {
    #[serde(rename = "Federated")]
    pub(super) federated: OneOrMany,
}
