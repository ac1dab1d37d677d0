//! Bearer secrets Tollgate hands out: operator sessions (`tgs_…`) and runner credentials (`tgr_…`). A secret is
//! a recognisable prefix, 40 random base62 characters (≈ 238 bits) and a 6-character base62 CRC-32 of the
//! rest, so secret scanners can find one and check it offline (as GitHub's `ghp_` tokens do). It is shown once;
//! only its SHA-256 is stored, and every comparison is of digests.

use std::fmt;

/// The kinds of secret, by prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SecretKind {
    /// An operator session (`tgs_`).
    Session,
    /// A runner credential (`tgr_`).
    Runner,
}

impl SecretKind {
    pub fn prefix(self) -> &'static str {
        match self {
            SecretKind::Session => "tgs_",
            SecretKind::Runner => "tgr_",
        }
    }
}

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_CHARS: usize = 40;
const CHECK_CHARS: usize = 6;

/// A secret as generated or presented. `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a presented text is not a secret of the expected kind (said without echoing it).
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    #[error("not a Tollgate {0} credential")]
    Malformed(&'static str),
    #[error("the credential's checksum does not match (mistyped or truncated)")]
    Checksum,
    #[error("generating a secret failed")]
    Random,
}

impl Secret {
    /// A new random secret of `kind`.
    pub fn generate(kind: SecretKind) -> Result<Secret, SecretError> {
        let mut text = String::with_capacity(kind.prefix().len() + RANDOM_CHARS + CHECK_CHARS);
        text.push_str(kind.prefix());
        let mut filled = 0;
        while filled < RANDOM_CHARS {
            let mut bytes = [0u8; 64];
            aws_lc_rs::rand::fill(&mut bytes).map_err(|_| SecretError::Random)?;
            // Rejection sampling keeps every character equally likely: 248 = 4 × 62.
            for byte in bytes.into_iter().filter(|b| *b < 248) {
                if filled == RANDOM_CHARS {
                    break;
                }
                text.push(char::from(*ALPHABET.get(usize::from(byte % 62)).unwrap_or(&b'0')));
                filled += 1;
            }
        }
        let check = base62_fixed(crc32(text.as_bytes()));
        text.push_str(&check);
        Ok(Secret(text))
    }

    /// Parses a presented secret of `kind`: prefix, length, alphabet and checksum.
    pub fn parse(kind: SecretKind, text: &str) -> Result<Secret, SecretError> {
        let what = match kind {
            SecretKind::Session => "session",
            SecretKind::Runner => "runner",
        };
        let body = text.strip_prefix(kind.prefix()).ok_or(SecretError::Malformed(what))?;
        if body.len() != RANDOM_CHARS + CHECK_CHARS || !body.bytes().all(|b| b.is_ascii_alphanumeric()) {
            return Err(SecretError::Malformed(what));
        }
        let (signed, check) = text.split_at(text.len() - CHECK_CHARS);
        if base62_fixed(crc32(signed.as_bytes())) != check {
            return Err(SecretError::Checksum);
        }
        Ok(Secret(text.to_owned()))
    }

    /// The text, to hand out once.
    pub fn expose(&self) -> &str {
        &self.0
    }

    /// The SHA-256 of the secret, hex: what is stored and looked up.
    pub fn digest(&self) -> String {
        sha256_hex(self.0.as_bytes())
    }
}

/// SHA-256 of `bytes`, lowercase hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, bytes);
    crate::text::hex(digest.as_ref())
}

/// `value` in exactly `CHECK_CHARS` base62 digits (62⁶ > 2³²).
fn base62_fixed(mut value: u32) -> String {
    let mut digits = [b'0'; CHECK_CHARS];
    for slot in digits.iter_mut().rev() {
        *slot = *ALPHABET.get((value % 62) as usize).unwrap_or(&b'0');
        value /= 62;
    }
    String::from_utf8_lossy(&digits).into_owned()
}

/// CRC-32 (IEEE 802.3, reflected, as zlib's).
fn crc32(bytes: &[u8]) -> u32 {
    let mut crc = !0u32;
    for byte in bytes {
        crc ^= u32::from(*byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 { (crc >> 1) ^ 0xEDB8_8320 } else { crc >> 1 };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_is_zlibs() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
    }

    #[test]
    fn generated_secrets_parse_and_differ() {
        let a = Secret::generate(SecretKind::Runner).unwrap();
        let b = Secret::generate(SecretKind::Runner).unwrap();
        assert_ne!(a, b);
        assert!(a.expose().starts_with("tgr_"));
        assert_eq!(a.expose().len(), 4 + 40 + 6);
        assert_eq!(Secret::parse(SecretKind::Runner, a.expose()).unwrap(), a);
        assert_eq!(a.digest().len(), 64);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }

    #[test]
    fn parsing_refuses_other_kinds_bad_alphabets_and_typos() {
        let secret = Secret::generate(SecretKind::Session).unwrap();
        let text = secret.expose();
        assert_eq!(Secret::parse(SecretKind::Runner, text), Err(SecretError::Malformed("runner")));
        assert!(Secret::parse(SecretKind::Session, &text[..text.len() - 1]).is_err());
        assert!(Secret::parse(SecretKind::Session, &format!("{text}x")).is_err());
        let mut typo = text.to_owned().into_bytes();
        typo[10] = if typo[10] == b'a' { b'b' } else { b'a' };
        assert_eq!(Secret::parse(SecretKind::Session, &String::from_utf8(typo).unwrap()), Err(SecretError::Checksum));
        let odd = format!("tgs_{}", "-".repeat(46));
        assert_eq!(Secret::parse(SecretKind::Session, &odd), Err(SecretError::Malformed("session")));
    }
}
