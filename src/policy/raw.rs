//! The serde shape of one policy file, exactly as written: `Raw*` types that reject unknown fields and keep the
//! source line of every key that a later check may need to point at. Nothing outside `policy` sees these types;
//! `compile` turns them into the checked ones. This module does no semantic checking beyond types.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// One policy file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawPolicy {
    pub(super) role: Spanned<String>,
    #[serde(default)]
    pub(super) description: Option<String>,
    pub(super) issuer: Spanned<OneOrMany>,
    pub(super) audience: Spanned<OneOrMany>,
    pub(super) statements: Spanned<Vec<Spanned<RawStatement>>>,
    pub(super) grant: Spanned<RawGrant>,
}

/// One statement: an effect and an AWS-shaped condition block (operator → claim → values).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawStatement {
    pub(super) effect: RawEffect,
    #[serde(default)]
    pub(super) condition: Option<KeyedMap<KeyedMap<ConditionValues>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawEffect {
    Allow,
    Deny,
}

/// What a policy grants. A plain struct with a `type` field rather than a tagged enum: serde's tagged enums
/// buffer their content and lose source locations.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawGrant {
    #[serde(rename = "type")]
    pub(super) kind: RawGrantKind,
    pub(super) audience: Spanned<OneOrMany>,
    pub(super) ttl: Spanned<RawTtl>,
    #[serde(default)]
    pub(super) subject: Option<Spanned<String>>,
    #[serde(default)]
    pub(super) claims: Option<KeyedMap<serde_json::Value>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(super) enum RawGrantKind {
    Token,
}

/// A lifetime: whole seconds, or a duration string such as `90s`, `15m`, `1h30m`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum RawTtl {
    Seconds(u64),
    Text(String),
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct OneOrMany(pub(super) Vec<String>);

/// Condition values: one scalar or a list of scalars, canonicalised to strings (booleans `true`/`false`,
/// integers in decimal). Floats, null and nested collections are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct ConditionValues(pub(super) Vec<String>);

/// A mapping whose keys keep their source location, in the order written. Duplicate keys are already refused
/// by the YAML layer.
#[derive(Debug)]
pub(super) struct KeyedMap<V>(pub(super) Vec<(Spanned<String>, V)>);

/// The source line of a spanned value, when the parser knew it.
pub(super) fn line_of<T>(spanned: &Spanned<T>) -> Option<u64> {
    Some(spanned.referenced.line()).filter(|line| *line > 0)
}

impl<'de, V: Deserialize<'de>> Deserialize<'de> for KeyedMap<V> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V>(PhantomData<V>);
        impl<'de, V: Deserialize<'de>> Visitor<'de> for MapVisitor<V> {
            type Value = KeyedMap<V>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyedMap<V>, A::Error> {
                let mut entries = Vec::new();
                while let Some(entry) = map.next_entry()? {
                    entries.push(entry);
                }
                Ok(KeyedMap(entries))
            }
        }
        deserializer.deserialize_map(MapVisitor(PhantomData))
    }
}

impl<'de> Deserialize<'de> for OneOrMany {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OneOrManyVisitor;
        impl<'de> Visitor<'de> for OneOrManyVisitor {
            type Value = OneOrMany;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string or a list of strings")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<OneOrMany, E> {
                Ok(OneOrMany(vec![value.to_owned()]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrMany, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element::<String>()? {
                    items.push(item);
                }
                Ok(OneOrMany(items))
            }
        }
        deserializer.deserialize_any(OneOrManyVisitor)
    }
}

/// One condition scalar, canonicalised to a string.
struct ConditionScalar(String);

/// Accepts the scalars a condition value may be; `Out` wraps the canonical string.
struct ScalarVisitor<Out>(fn(String) -> Out);

impl<'de, Out> Visitor<'de> for ScalarVisitor<Out> {
    type Value = Out;
    fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str("a string, boolean or integer, or a list of them")
    }
    fn visit_str<E: de::Error>(self, value: &str) -> Result<Out, E> {
        Ok((self.0)(value.to_owned()))
    }
    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Out, E> {
        Ok((self.0)(value.to_string()))
    }
    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Out, E> {
        Ok((self.0)(value.to_string()))
    }
    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Out, E> {
        Ok((self.0)(value.to_string()))
    }
    fn visit_f64<E: de::Error>(self, _value: f64) -> Result<Out, E> {
        Err(E::custom(
            "a condition value may not be a floating-point number; quote it",
        ))
    }
    fn visit_unit<E: de::Error>(self) -> Result<Out, E> {
        Err(E::custom("a condition value may not be null"))
    }
}

impl<'de> Deserialize<'de> for ConditionScalar {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(ScalarVisitor(ConditionScalar))
    }
}

impl<'de> Deserialize<'de> for ConditionValues {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValuesVisitor;
        impl<'de> Visitor<'de> for ValuesVisitor {
            type Value = ConditionValues;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a string, boolean or integer, or a list of them")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<ConditionValues, A::Error> {
                let mut values = Vec::new();
                while let Some(ConditionScalar(value)) = seq.next_element()? {
                    values.push(value);
                }
                Ok(ConditionValues(values))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<ConditionValues, E> {
                ScalarVisitor(|one| ConditionValues(vec![one])).visit_str(value)
            }
            fn visit_bool<E: de::Error>(self, value: bool) -> Result<ConditionValues, E> {
                ScalarVisitor(|one| ConditionValues(vec![one])).visit_bool(value)
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<ConditionValues, E> {
                ScalarVisitor(|one| ConditionValues(vec![one])).visit_i64(value)
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<ConditionValues, E> {
                ScalarVisitor(|one| ConditionValues(vec![one])).visit_u64(value)
            }
            fn visit_f64<E: de::Error>(self, value: f64) -> Result<ConditionValues, E> {
                ScalarVisitor(|one| ConditionValues(vec![one])).visit_f64(value)
            }
            fn visit_unit<E: de::Error>(self) -> Result<ConditionValues, E> {
                ScalarVisitor(|one| ConditionValues(vec![one])).visit_unit()
            }
        }
        deserializer.deserialize_any(ValuesVisitor)
    }
}

impl<'de> Deserialize<'de> for RawTtl {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct TtlVisitor;
        impl<'de> Visitor<'de> for TtlVisitor {
            type Value = RawTtl;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("whole seconds or a duration such as 90s, 15m or 1h")
            }
            fn visit_u64<E: de::Error>(self, value: u64) -> Result<RawTtl, E> {
                Ok(RawTtl::Seconds(value))
            }
            fn visit_i64<E: de::Error>(self, value: i64) -> Result<RawTtl, E> {
                u64::try_from(value)
                    .map(RawTtl::Seconds)
                    .map_err(|_| E::custom("ttl must be positive"))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawTtl, E> {
                Ok(RawTtl::Text(value.to_owned()))
            }
        }
        deserializer.deserialize_any(TtlVisitor)
    }
}
