//! Text that an attacker chooses, made safe to echo: cut to a readable length. Callers print the result with
//! `{:?}` (quoted, control characters and newlines escaped), so it can neither flood nor forge a log line.

/// How many characters of an unverified value an error text or a log line keeps.
pub const MAX_ECHOED_CHARS: usize = 120;

/// `text` cut to [`MAX_ECHOED_CHARS`] characters, with `…` where it was cut.
pub fn shorten(text: &str) -> String {
    match text.char_indices().nth(MAX_ECHOED_CHARS) {
        Some((cut, _)) => format!("{}…", text.get(..cut).unwrap_or_default()),
        None => text.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cuts_long_text_on_a_character_boundary() {
        assert_eq!(shorten("kid-1"), "kid-1");
        let long = "é".repeat(12_000);
        let cut = shorten(&long);
        assert_eq!(cut.chars().count(), MAX_ECHOED_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(format!("{:?}", shorten("a\nINFO forged")), "\"a\\nINFO forged\"");
    }
}
