//! Connecting to PostgreSQL outside the pool: the TLS connector every connection uses (rustls on aws-lc-rs, the
//! server's certificate verified against `state.ca_file` or the system's roots), and the read-only schema check of
//! `tollgate state check`.

use std::sync::Arc;

use tokio_postgres_rustls::MakeRustlsConnect;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject as _;

use super::postgres::chain;
use super::{PostgresConfig, StoreError};

/// The recorded schema version (0 when the database has no schema yet), without migrating.
pub(super) async fn schema_version(config: &PostgresConfig) -> Result<u32, StoreError> {
    let open = |e: tokio_postgres::Error| StoreError::Open { path: config.describe(), reason: chain(&e) };
    let failed = |reason| StoreError::Open { path: config.describe(), reason };
    let connection = config.connection().map_err(failed)?;
    let tls = connector(config).map_err(failed)?;
    let (client, driver) = connection.connect(tls).await.map_err(open)?;
    let driver = tokio::spawn(driver);
    let result = async {
        let exists: bool =
            client.query_one("SELECT to_regclass('schema_migrations') IS NOT NULL", &[]).await?.try_get(0)?;
        if !exists {
            return Ok(0);
        }
        let row = client.query_one("SELECT COALESCE(MAX(version), 0) FROM schema_migrations", &[]).await?;
        Ok(u32::try_from(row.try_get::<_, i32>(0)?).unwrap_or(0))
    }
    .await
    .map_err(open);
    driver.abort();
    result
}

/// The TLS connector: rustls on aws-lc-rs, trusting `ca_file`'s certificates or the system's roots.
pub(super) fn connector(config: &PostgresConfig) -> Result<MakeRustlsConnect, String> {
    let mut roots = rustls::RootCertStore::empty();
    match (&config.ca_file, config.tls) {
        (Some(path), _) => {
            let read = |e: &dyn std::fmt::Display| format!("state.ca_file {}: {e}", path.display());
            for cert in CertificateDer::pem_file_iter(path).map_err(|e| read(&e))? {
                roots.add(cert.map_err(|e| read(&e))?).map_err(|e| read(&e))?;
            }
        }
        (None, true) => {
            for cert in rustls_native_certs::load_native_certs().certs {
                let _ = roots.add(cert);
            }
        }
        (None, false) => {}
    }
    if config.tls && roots.is_empty() {
        return Err("TLS to PostgreSQL needs root certificates: none in state.ca_file or the system's store".into());
    }
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let client = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| e.to_string())?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(MakeRustlsConnect::new(client))
}
