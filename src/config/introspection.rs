//! The `introspection:` block: the relying parties that may call `POST /introspect`, each with a name and the
//! SHA-256 (64 hex characters) of its bearer secret (`tollgate introspection new-client NAME` makes both).

use serde::Deserialize;

use crate::broker::{IntrospectionClient, IntrospectionClients};

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawIntrospection {
    #[serde(default)]
    clients: Vec<RawClient>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawClient {
    name: String,
    secret_sha256: String,
    audiences: Option<Vec<String>>,
}

pub(super) fn introspection(raw: &RawIntrospection) -> Result<IntrospectionClients, String> {
    let mut clients: Vec<IntrospectionClient> = Vec::new();
    for (index, client) in raw.clients.iter().enumerate() {
        let key = format!("introspection.clients[{index}]");
        if client.name.is_empty() || clients.iter().any(|c| c.name == client.name) {
            return Err(format!("{key}.name: must be present and unique"));
        }
        let secret_sha256 = hex32(&client.secret_sha256)
            .ok_or_else(|| format!("{key}.secret_sha256: must be 64 hex characters (a SHA-256)"))?;
        if client.audiences.as_ref().is_some_and(Vec::is_empty) {
            return Err(format!("{key}.audiences: leave it out to allow every audience, or name some"));
        }
        clients.push(IntrospectionClient {
            name: client.name.clone(),
            secret_sha256,
            audiences: client.audiences.clone(),
        });
    }
    Ok(IntrospectionClients(clients))
}

pub(super) fn hex32(text: &str) -> Option<[u8; 32]> {
    let text = text.trim();
    if text.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (slot, pair) in out.iter_mut().zip(text.as_bytes().chunks(2)) {
        *slot = u8::from_str_radix(std::str::from_utf8(pair).ok()?, 16).ok()?;
    }
    Some(out)
}
