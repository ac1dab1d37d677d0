//! The schema, as numbered migrations applied in order and recorded in `schema_migrations`, one list per
//! backend with the same numbers (the column types differ). A migration is never edited once released: a change
//! is a new number. `record_v1` holds the operator plane's records (sessions, runner credentials): a kind, an id,
//! the SHA-256 of the record's secret to look it up by, an opaque JSON body and an expiry; runner names are unique (4). Record tables carry their key-namespace version in their name (`used_jti_v1`): a new way of
//! forming keys gets a new table, never a reinterpretation.

/// SQLite: `(version, SQL)`, in order.
pub(super) const SQLITE: &[(u32, &str)] = &[
    (
        1,
        "CREATE TABLE used_jti_v1 (
            issuer TEXT NOT NULL,
            jti TEXT NOT NULL,
            scope TEXT NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (issuer, jti, scope)
        );
        CREATE INDEX used_jti_v1_expires_at ON used_jti_v1 (expires_at);",
    ),
    (
        2,
        "CREATE TABLE revocation_v1 (
            id TEXT PRIMARY KEY,
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            author TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL
        );
        CREATE INDEX revocation_v1_expires_at ON revocation_v1 (expires_at);",
    ),
    (
        3,
        "CREATE TABLE record_v1 (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            lookup TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at INTEGER NOT NULL,
            expires_at INTEGER NOT NULL,
            PRIMARY KEY (kind, id)
        );
        CREATE UNIQUE INDEX record_v1_lookup ON record_v1 (kind, lookup);
        CREATE INDEX record_v1_expires_at ON record_v1 (expires_at);",
    ),
    (4, "CREATE UNIQUE INDEX record_v1_runner_name ON record_v1 (json_extract(body, '$.name')) WHERE kind = 'runner';"),
];

/// PostgreSQL: the same versions.
pub(super) const POSTGRES: &[(u32, &str)] = &[
    (
        1,
        "CREATE TABLE used_jti_v1 (
            issuer TEXT NOT NULL,
            jti TEXT NOT NULL,
            scope TEXT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (issuer, jti, scope)
        );
        CREATE INDEX used_jti_v1_expires_at ON used_jti_v1 (expires_at);",
    ),
    (
        2,
        "CREATE TABLE revocation_v1 (
            id TEXT PRIMARY KEY,
            target TEXT NOT NULL,
            reason TEXT NOT NULL,
            author TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL
        );
        CREATE INDEX revocation_v1_expires_at ON revocation_v1 (expires_at);",
    ),
    (
        3,
        "CREATE TABLE record_v1 (
            kind TEXT NOT NULL,
            id TEXT NOT NULL,
            lookup TEXT NOT NULL,
            body TEXT NOT NULL,
            created_at BIGINT NOT NULL,
            expires_at BIGINT NOT NULL,
            PRIMARY KEY (kind, id)
        );
        CREATE UNIQUE INDEX record_v1_lookup ON record_v1 (kind, lookup);
        CREATE INDEX record_v1_expires_at ON record_v1 (expires_at);",
    ),
    (4, "CREATE UNIQUE INDEX record_v1_runner_name ON record_v1 (((body::jsonb) ->> 'name')) WHERE kind = 'runner';"),
];

/// For a process that must not migrate (the operator CLI): the store must be exactly at this build's version.
pub(super) fn require_current(current: u32) -> Result<(), super::StoreError> {
    match current.cmp(&latest()) {
        std::cmp::Ordering::Equal => Ok(()),
        std::cmp::Ordering::Less => Err(super::StoreError::Migration(format!(
            "the store is at schema version {current}, this build needs {}: run `tollgate state migrate`",
            latest()
        ))),
        std::cmp::Ordering::Greater => Err(super::StoreError::Migration(format!(
            "the store is at schema version {current}, newer than this build knows ({})",
            latest()
        ))),
    }
}

/// The newest schema version this build knows (both lists end at it).
pub(super) fn latest() -> u32 {
    SQLITE.last().map_or(0, |(version, _)| *version)
}

#[cfg(test)]
mod tests {
    #[test]
    fn both_backends_know_the_same_versions_in_order() {
        let versions = |list: &[(u32, &str)]| list.iter().map(|(v, _)| *v).collect::<Vec<_>>();
        assert_eq!(versions(super::SQLITE), versions(super::POSTGRES));
        assert!(versions(super::SQLITE).windows(2).all(|pair| pair.first() < pair.get(1)));
        assert_eq!(super::latest(), 4);
    }
}
