//! `${…}` placeholders in text: the one splitter that policy variables in condition values and grant templates
//! share. It checks nothing about what stands inside the braces; each caller does.

/// A piece of text split at `${…}` placeholders.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::policy) enum Piece<'a> {
    Literal(&'a str),
    /// What stands between `${` and the next `}`, unchecked.
    Placeholder(&'a str),
}

/// Splits `text` at `${…}` placeholders (grant templates and policy variables alike); `None` when a `${` is
/// never closed. Empty literals are left out.
pub(in crate::policy) fn split_placeholders(text: &str) -> Option<Vec<Piece<'_>>> {
    let mut pieces = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let (literal, after) = rest.split_at(start);
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        let body = after.get(2..).unwrap_or_default();
        let end = body.find('}')?;
        let (name, tail) = body.split_at(end);
        pieces.push(Piece::Placeholder(name));
        rest = tail.get(1..).unwrap_or_default();
    }
    if !rest.is_empty() {
        pieces.push(Piece::Literal(rest));
    }
    Some(pieces)
}
