//! Hand-written deserializers for the scalar shapes policy files share: a string or a list of strings
//! ([`OneOrMany`]), an object or a list of objects ([`OneOrList`]), condition values canonicalised to strings
//! ([`ConditionValues`]), mappings that keep each key's source line ([`KeyedMap`]) and lifetimes ([`RawTtl`]).
//! Pure serde plumbing: no policy rule is checked here.

use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_saphyr::Spanned;

/// A lifetime: whole seconds, or a duration string such as `90s`, `15m`, `1h30m`. A negative number is kept so
/// that the field that reads it can say what it accepts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) enum RawTtl {
    Seconds(u64),
    Negative(i64),
    Text(String),
}

/// A string or a list of strings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) struct OneOrMany(pub(in crate::policy) Vec<String>);

/// One object or a list of objects (AWS `Statement`).
#[derive(Debug)]
pub(in crate::policy) struct OneOrList<T>(pub(in crate::policy) Vec<T>);

/// Condition values: one scalar or a list of scalars, canonicalised to strings (booleans `true`/`false`,
/// integers in decimal). Floats, null and nested collections are refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) struct ConditionValues(pub(in crate::policy) Vec<String>);

/// A mapping whose keys keep their source location, in the order written. Duplicate keys are already refused
/// by the YAML layer.
#[derive(Debug)]
pub(in crate::policy) struct KeyedMap<V, K = String>(pub(in crate::policy) Vec<(Spanned<K>, V)>);

/// A condition operator name as a mapping key. YAML reads a plain `Null` key as null, so null is taken to be
/// the operator `Null` (as `~:` and `null:` then are too).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(in crate::policy) struct OperatorKey(pub(in crate::policy) String);

/// The source line of a spanned value, when the parser knew it.
pub(in crate::policy) fn line_of<T>(spanned: &Spanned<T>) -> Option<u64> {
    Some(spanned.referenced.line()).filter(|line| *line > 0)
}

impl<'de, V: Deserialize<'de>, K: Deserialize<'de>> Deserialize<'de> for KeyedMap<V, K> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct MapVisitor<V, K>(PhantomData<(V, K)>);
        impl<'de, V: Deserialize<'de>, K: Deserialize<'de>> Visitor<'de> for MapVisitor<V, K> {
            type Value = KeyedMap<V, K>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a mapping")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyedMap<V, K>, A::Error> {
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

impl<'de> Deserialize<'de> for OperatorKey {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl<'de> Visitor<'de> for KeyVisitor {
            type Value = OperatorKey;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a condition operator name")
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<OperatorKey, E> {
                Ok(OperatorKey(value.to_owned()))
            }
            fn visit_unit<E: de::Error>(self) -> Result<OperatorKey, E> {
                Ok(OperatorKey("Null".to_owned()))
            }
            fn visit_none<E: de::Error>(self) -> Result<OperatorKey, E> {
                Ok(OperatorKey("Null".to_owned()))
            }
        }
        deserializer.deserialize_any(KeyVisitor)
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

impl<'de, T: Deserialize<'de>> Deserialize<'de> for OneOrList<T> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ListVisitor<T>(PhantomData<T>);
        impl<'de, T: Deserialize<'de>> Visitor<'de> for ListVisitor<T> {
            type Value = OneOrList<T>;
            fn expecting(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                formatter.write_str("a mapping or a list of mappings")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<OneOrList<T>, A::Error> {
                T::deserialize(MapAccessDeserializer::new(map)).map(|one| OneOrList(vec![one]))
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<OneOrList<T>, A::Error> {
                let mut items = Vec::new();
                while let Some(item) = seq.next_element()? {
                    items.push(item);
                }
                Ok(OneOrList(items))
            }
        }
        deserializer.deserialize_any(ListVisitor(PhantomData))
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
        Err(E::custom("a condition value may not be a floating-point number; quote it"))
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
                Ok(u64::try_from(value).map_or(RawTtl::Negative(value), RawTtl::Seconds))
            }
            fn visit_str<E: de::Error>(self, value: &str) -> Result<RawTtl, E> {
                Ok(RawTtl::Text(value.to_owned()))
            }
        }
        deserializer.deserialize_any(TtlVisitor)
    }
}
/// Checks that a string-or-list field is non-empty and has no empty entries; drops repeated entries.
pub(in crate::policy) fn non_empty_strings(values: Vec<String>, field: &str) -> Result<Vec<String>, String> {
    if values.is_empty() {
        return Err(format!("{field} needs at least one value"));
    }
    let mut unique: Vec<String> = Vec::with_capacity(values.len());
    for value in values {
        if value.is_empty() {
            return Err(format!("{field} may not be an empty string"));
        }
        if !unique.contains(&value) {
            unique.push(value);
        }
    }
    Ok(unique)
}

/// A duration such as `90s`, `15m`, `1h30m` in seconds; `None` for anything else (a bare number too).
pub(in crate::policy) fn parse_duration(text: &str) -> Option<u64> {
    if text.is_empty() {
        return None;
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for character in text.chars() {
        if let Some(digit) = character.to_digit(10) {
            number = Some(number.unwrap_or(0).checked_mul(10)?.checked_add(u64::from(digit))?);
            continue;
        }
        let unit = match character {
            'h' => 3600,
            'm' => 60,
            's' => 1,
            _ => return None,
        };
        total = total.checked_add(number.take()?.checked_mul(unit)?)?;
    }
    // A trailing bare number ("15") has no unit: refuse rather than guess.
    if number.is_some() { None } else { Some(total) }
}
