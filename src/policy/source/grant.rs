//! The serde shape of a policy's `grant:` block, exactly as written: every field any grant type takes, each
//! optional, plus every key written with its source line. Which fields a type takes (and which it requires) is
//! `grant`'s business: the `type` may come after the other keys, so an unknown field can only be judged once the
//! whole block is read, and it is then reported at its own line with the fields of that type. A hand-written
//! visitor rather than a tagged enum: serde's tagged enums buffer their content and lose source locations.
//! Checks nothing beyond types.

use std::fmt;

use serde::Deserialize;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_saphyr::Spanned;

use crate::policy::source::scalar::{KeyedMap, OneOrMany, RawTtl};

/// One `grant:` block.
#[derive(Debug, Default)]
pub(in crate::policy) struct RawGrant {
    pub(in crate::policy) kind: Option<Spanned<RawGrantKind>>,
    /// Token: the minted token's audiences. AWS: the `aud` of the token minted for STS.
    pub(in crate::policy) audience: Option<Spanned<OneOrMany>>,
    pub(in crate::policy) ttl: Option<Spanned<RawTtl>>,
    pub(in crate::policy) subject: Option<Spanned<String>>,
    pub(in crate::policy) claims: Option<KeyedMap<serde_json::Value>>,
    pub(in crate::policy) role_arn: Option<Spanned<String>>,
    pub(in crate::policy) duration: Option<Spanned<RawTtl>>,
    pub(in crate::policy) session_name: Option<Spanned<String>>,
    pub(in crate::policy) mode: Option<Spanned<RawAwsMode>>,
    pub(in crate::policy) session_tags: Option<Spanned<KeyedMap<String>>>,
    pub(in crate::policy) transitive_tag_keys: Option<Spanned<Vec<Spanned<String>>>>,
    /// Every key of the block, in the order written, known or not.
    pub(in crate::policy) written: Vec<Spanned<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(in crate::policy) enum RawGrantKind {
    Token,
    Aws,
}

/// How an `aws` grant presents the exchange to STS.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(in crate::policy) enum RawAwsMode {
    TollgateToken,
    Passthrough,
}

impl<'de> Deserialize<'de> for RawGrant {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct GrantVisitor;
        impl<'de> Visitor<'de> for GrantVisitor {
            type Value = RawGrant;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a grant: a mapping with a type")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawGrant, A::Error> {
                let mut grant = RawGrant::default();
                while let Some(key) = map.next_key::<Spanned<String>>()? {
                    grant.read_value(&key.value, &mut map)?;
                    grant.written.push(key);
                }
                Ok(grant)
            }
        }
        deserializer.deserialize_map(GrantVisitor)
    }
}

impl RawGrant {
    /// Reads the value of the field `name`; the value of an unknown field is skipped (`grant` refuses it).
    fn read_value<'de, A: MapAccess<'de>>(&mut self, name: &str, map: &mut A) -> Result<(), A::Error> {
        match name {
            "type" => self.kind = Some(map.next_value()?),
            "audience" => self.audience = Some(map.next_value()?),
            "ttl" => self.ttl = Some(map.next_value()?),
            "subject" => self.subject = Some(map.next_value()?),
            "claims" => self.claims = Some(map.next_value()?),
            "role_arn" => self.role_arn = Some(map.next_value()?),
            "duration" => self.duration = Some(map.next_value()?),
            "session_name" => self.session_name = Some(map.next_value()?),
            "mode" => self.mode = Some(map.next_value()?),
            "session_tags" => self.session_tags = Some(map.next_value()?),
            "transitive_tag_keys" => self.transitive_tag_keys = Some(map.next_value()?),
            _ => {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
}
