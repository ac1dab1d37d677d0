//! The `StringLike` wildcard matcher: `*` matches any run of characters (also empty, also `:` and `/`),
//! `?` exactly one Unicode scalar value; every pattern is anchored at both ends and case-sensitive.
//!
//! Patterns are compiled once at policy load into literal/`?` segments separated by `*`. Matching places the
//! first segment at the start, the last at the end and each middle segment at its leftmost fit, so it never
//! backtracks: the cost is at most (input length × pattern length) and usually linear. This module knows
//! nothing about claims or policies.

/// A compiled `StringLike` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The pattern split on `*`. One segment means the pattern has no `*`.
    segments: Vec<Segment>,
}

/// A run of the pattern between two `*`: literals and `?`, of a fixed length in characters.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
struct Segment {
    tokens: Vec<Token>,
    /// Length of any text this segment matches, in characters.
    char_len: usize,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Literal(String),
    /// `?` repeated this many times.
    AnyChars(usize),
}

/// A piece of a pattern as a language: one character, `?` (any one character) or `*` (any run).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(in crate::policy) enum GlobPiece {
    Char(char),
    AnyChar,
    AnyRun,
}

/// Builds a [`Pattern`] from pieces: pattern text (where `*` and `?` are wildcards) and literal text (where
/// they are plain characters, as for policy-variable values and the `${*}`/`${?}` escapes).
#[derive(Debug, Default)]
pub(in crate::policy) struct PatternBuilder {
    segments: Vec<Segment>,
    current: Segment,
    literal: String,
}

impl Pattern {
    /// Compiles `pattern`; every string is a valid pattern.
    pub fn new(pattern: &str) -> Pattern {
        let mut builder = PatternBuilder::default();
        builder.push_pattern(pattern);
        builder.finish()
    }

    /// The pattern as a sequence of characters, `?` and `*` (for `policy diff`'s automata).
    pub(in crate::policy) fn glob_pieces(&self) -> Vec<GlobPiece> {
        let mut pieces = Vec::new();
        for (index, segment) in self.segments.iter().enumerate() {
            if index > 0 {
                pieces.push(GlobPiece::AnyRun);
            }
            for token in &segment.tokens {
                match token {
                    Token::Literal(text) => pieces.extend(text.chars().map(GlobPiece::Char)),
                    Token::AnyChars(count) => pieces.extend(std::iter::repeat_n(GlobPiece::AnyChar, *count)),
                }
            }
        }
        pieces
    }

    /// True iff the whole of `text` matches the pattern.
    pub fn matches(&self, text: &str) -> bool {
        let Some((first, rest)) = self.segments.split_first() else {
            return text.is_empty();
        };
        let Some((last, middle)) = rest.split_last() else {
            return first.match_at(text, 0) == Some(text.len());
        };
        let Some(mut cursor) = first.match_at(text, 0) else {
            return false;
        };
        for segment in middle {
            match segment.find_from(text, cursor) {
                Some(end) => cursor = end,
                None => return false,
            }
        }
        // The last segment has a fixed length, so it can only sit at one place: flush with the end.
        let Some(start) = start_of_last_chars(text, last.char_len) else {
            return false;
        };
        start >= cursor && last.match_at(text, start) == Some(text.len())
    }
}

impl PatternBuilder {
    /// Appends pattern text: `*` and `?` are wildcards.
    pub(in crate::policy) fn push_pattern(&mut self, text: &str) {
        for character in text.chars() {
            match character {
                '*' => {
                    self.flush_literal();
                    self.segments.push(std::mem::take(&mut self.current));
                }
                '?' => {
                    self.flush_literal();
                    self.current.char_len += 1;
                    match self.current.tokens.last_mut() {
                        Some(Token::AnyChars(count)) => *count += 1,
                        _ => self.current.tokens.push(Token::AnyChars(1)),
                    }
                }
                literal => self.push_literal_char(literal),
            }
        }
    }

    /// Appends literal text: every character, `*` and `?` included, matches only itself.
    pub(in crate::policy) fn push_literal(&mut self, text: &str) {
        text.chars().for_each(|character| self.push_literal_char(character));
    }

    pub(in crate::policy) fn finish(mut self) -> Pattern {
        self.flush_literal();
        self.segments.push(self.current);
        Pattern { segments: self.segments }
    }

    fn push_literal_char(&mut self, character: char) {
        self.current.char_len += 1;
        self.literal.push(character);
    }

    fn flush_literal(&mut self) {
        if !self.literal.is_empty() {
            let literal = std::mem::take(&mut self.literal);
            self.current.tokens.push(Token::Literal(literal));
        }
    }
}

impl Segment {
    /// Matches the segment at byte offset `start` of `text`; returns the byte offset just past the match.
    fn match_at(&self, text: &str, start: usize) -> Option<usize> {
        let mut position = start;
        for token in &self.tokens {
            let rest = text.get(position..)?;
            match token {
                Token::Literal(literal) => {
                    if !rest.starts_with(literal.as_str()) {
                        return None;
                    }
                    position += literal.len();
                }
                Token::AnyChars(count) => {
                    let skipped: usize = rest.chars().take(*count).map(char::len_utf8).sum();
                    if rest.get(..skipped)?.chars().count() != *count {
                        return None;
                    }
                    position += skipped;
                }
            }
        }
        Some(position)
    }

    /// Finds the leftmost match starting at or after byte offset `from`; returns the offset past it.
    fn find_from(&self, text: &str, from: usize) -> Option<usize> {
        let rest = text.get(from..)?;
        if let Some(Token::Literal(literal)) = self.tokens.first() {
            // Jump between occurrences of the leading literal instead of trying every offset.
            let mut offset = 0;
            while let Some(found) = rest.get(offset..)?.find(literal.as_str()) {
                let start = from + offset + found;
                if let Some(end) = self.match_at(text, start) {
                    return Some(end);
                }
                offset += found + rest.get(offset + found..)?.chars().next()?.len_utf8();
            }
            return None;
        }
        rest.char_indices()
            .map(|(index, _)| from + index)
            .chain(std::iter::once(text.len()))
            .find_map(|start| self.match_at(text, start))
    }
}

/// Byte offset where the last `count` characters of `text` begin, or `None` when `text` is shorter.
fn start_of_last_chars(text: &str, count: usize) -> Option<usize> {
    if count == 0 {
        return Some(text.len());
    }
    text.char_indices().rev().nth(count - 1).map(|(index, _)| index)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// The obvious recursive matcher, exponential in the worst case; the reference for the property test.
    fn reference(pattern: &[char], text: &[char]) -> bool {
        match pattern.split_first() {
            None => text.is_empty(),
            Some(('*', rest)) => (0..=text.len()).any(|skip| reference(rest, &text[skip..])),
            Some(('?', rest)) => !text.is_empty() && reference(rest, &text[1..]),
            Some((character, rest)) => text.first() == Some(character) && reference(rest, &text[1..]),
        }
    }

    fn check(pattern: &str, text: &str, expected: bool) {
        assert_eq!(Pattern::new(pattern).matches(text), expected, "pattern {pattern:?} on {text:?}");
    }

    #[test]
    fn table() {
        let cases = [
            ("", "", true),
            ("", "a", false),
            ("*", "", true),
            ("*", "anything:at/all", true),
            ("abc", "abc", true),
            ("abc", "abcd", false),
            ("abc", "xabc", false),
            ("abc", "ABC", false),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("a?c", "abbc", false),
            ("a?c", "aéc", true),
            ("??", "éé", true),
            ("??", "é", false),
            ("repo:acme/*", "repo:acme/web:ref:refs/heads/main", true),
            ("repo:acme/*", "repo:acme", false),
            ("repo:acme/web:*", "repo:acme/web:", true),
            ("repo:Acme/*", "repo:acme/web", false),
            ("*:ref:refs/heads/main", "repo:a/b:ref:refs/heads/main", true),
            ("*:ref:refs/heads/main", "repo:a/b:ref:refs/heads/main2", false),
            ("a*b*c", "abc", true),
            ("a*b*c", "aXbYc", true),
            ("a*b*c", "acb", false),
            ("a*bc*bc", "abcbc", true),
            ("a*bc*bc", "abcXbc", true),
            ("a*bc*bc", "abc", false),
            ("*?", "", false),
            ("*?", "x", true),
            ("*a?", "ab", true),
            ("a**b", "ab", true),
            ("*aab", "aaab", true),
            ("*?b?*", "ab", false),
            ("*?b?*", "abc", true),
        ];
        for (pattern, text, expected) in cases {
            check(pattern, text, expected);
        }
    }

    #[test]
    fn literal_pieces_are_not_wildcards() {
        let mut builder = PatternBuilder::default();
        builder.push_pattern("repo:");
        builder.push_literal("a*b?");
        builder.push_pattern("*");
        let pattern = builder.finish();
        assert!(pattern.matches("repo:a*b?:x"));
        assert!(!pattern.matches("repo:aXbY:x"));
        assert!(!pattern.matches("repo:a*b"));
    }

    #[test]
    fn long_inputs_stay_fast() {
        let text = "a".repeat(20_000);
        let pattern = format!("{}b", "a*".repeat(50));
        check(&pattern, &text, false);
        check(&format!("{}a", "a*".repeat(50)), &text, true);
    }

    proptest! {
        #[test]
        fn agrees_with_reference(
            pattern in proptest::collection::vec(prop_oneof![
                Just('a'), Just('b'), Just(':'), Just('/'), Just('é'), Just('*'), Just('?')
            ], 0..10),
            text in proptest::collection::vec(prop_oneof![
                Just('a'), Just('b'), Just(':'), Just('/'), Just('é')
            ], 0..14),
        ) {
            let pattern_string: String = pattern.iter().collect();
            let text_string: String = text.iter().collect();
            prop_assert_eq!(
                Pattern::new(&pattern_string).matches(&text_string),
                reference(&pattern, &text)
            );
        }
    }
}
