//! Text that an attacker chooses, made safe to echo: cut to a readable length. Callers print the result with
//! `{:?}` (quoted, control characters and newlines escaped), so it can neither flood nor forge a log line. Also
//! the one hex encoder (digests and random ids in answers and audit lines).

/// How many characters of an unverified value an error text or a log line keeps.
pub const MAX_ECHOED_CHARS: usize = 120;

/// Lowercase hex of `bytes` (digests, random ids), in one allocation.
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut text = String::with_capacity(bytes.len() * 2);
    for byte in bytes {
        for nibble in [byte >> 4, byte & 0x0f] {
            text.push(char::from(DIGITS.get(usize::from(nibble)).copied().unwrap_or(b'0')));
        }
    }
    text
}

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
    fn hex_is_lowercase_two_digits_per_byte() {
        assert_eq!(hex(&[0x00, 0x0f, 0xa5, 0xff]), "000fa5ff");
        assert_eq!(hex(&[]), "");
    }

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
