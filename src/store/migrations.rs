//! The schema, as numbered migrations applied in order and recorded in `schema_migrations`. A migration is
//! never edited once released: a change is a new number. Record tables carry their key-namespace version in
//! their name (`used_jti_v1`): a new way of forming keys gets a new table, never a reinterpretation.

/// `(version, SQL)`, in order.
pub(super) const MIGRATIONS: &[(u32, &str)] = &[(
    1,
    "CREATE TABLE used_jti_v1 (
        issuer TEXT NOT NULL,
        jti TEXT NOT NULL,
        scope TEXT NOT NULL,
        expires_at INTEGER NOT NULL,
        PRIMARY KEY (issuer, jti, scope)
    );
    CREATE INDEX used_jti_v1_expires_at ON used_jti_v1 (expires_at);",
)];

/// The newest schema version this build knows.
pub(super) fn latest() -> u32 {
    MIGRATIONS.last().map_or(0, |(version, _)| *version)
}
