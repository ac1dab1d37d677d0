//! Tollgate's own credentials: its signing keys, the tokens it mints, and the discovery document and JWKS
//! that let any OIDC library trust them.
//!
//! Owns the key ring (active + previously active keys, swapped whole). It knows nothing of inbound tokens,
//! policies or HTTP; the broker hands it finished claims.

pub mod keys;
mod mint;
mod signer;

pub use keys::{KeyError, SigningAlg, SigningKey};
pub use mint::{JWKS_MAX_AGE_SECS, KeyState, MintError, Minted, Minter, MinterConfig, PreviousKey, TokenRequest};
