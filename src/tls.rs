//! TLS for the public listener (rustls with the aws-lc-rs provider): the server certificate chain and key
//! from PEM files, reloaded when either file changes (polled, debounced) or on SIGHUP.
//!
//! A pair that does not load (unreadable, no certificate, a key that does not match the certificate) is
//! refused and the previous pair keeps serving; only the start refuses to run without one. New connections
//! get the new certificate; open ones keep theirs. Knows no HTTP: `http::serve` runs the handshakes.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::rustls::crypto::{CryptoProvider, aws_lc_rs};
use tokio_rustls::rustls::pki_types::pem::PemObject as _;
use tokio_rustls::rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::server::{ClientHello, ResolvesServerCert};
use tokio_rustls::rustls::sign::CertifiedKey;
use tokio_rustls::rustls::{self, ServerConfig};

/// How often the certificate and key files are looked at; a change is applied once it has been quiet for one more look.
pub const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Where the certificate chain and key are (config `tls:`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsConfig {
    /// PEM certificate chain, leaf first.
    pub cert_file: PathBuf,
    /// PEM private key (PKCS#8, PKCS#1 RSA or SEC1 EC).
    pub key_file: PathBuf,
}

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {reason}")]
    File { path: String, reason: String },
    #[error("{0}: no certificate found")]
    NoCertificate(String),
    #[error("the key does not fit the certificate: {0}")]
    Key(rustls::Error),
    #[error("TLS setup: {0}")]
    Setup(rustls::Error),
}

/// The server side of TLS: a rustls config whose certificate can be replaced while serving.
pub struct ServerTls {
    files: TlsConfig,
    resolver: Arc<Resolver>,
    config: Arc<ServerConfig>,
}

#[derive(Debug)]
struct Resolver {
    current: ArcSwap<CertifiedKey>,
}

impl ServerTls {
    /// Loads the pair; fails if it does not load.
    pub fn load(files: TlsConfig) -> Result<ServerTls, TlsError> {
        let provider = Arc::new(aws_lc_rs::default_provider());
        let certified = load_pair(&files, &provider)?;
        let resolver = Arc::new(Resolver { current: ArcSwap::from_pointee(certified) });
        let mut config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(TlsError::Setup)?
            .with_no_client_auth()
            .with_cert_resolver(Arc::clone(&resolver) as Arc<dyn ResolvesServerCert>);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(ServerTls { files, resolver, config: Arc::new(config) })
    }

    /// Accepts TLS connections with the certificate in force at each handshake.
    pub fn acceptor(&self) -> TlsAcceptor {
        TlsAcceptor::from(Arc::clone(&self.config))
    }

    /// Loads the files again; on success new handshakes use the new pair, on failure the old one stays.
    pub fn reload(&self) -> Result<(), TlsError> {
        match load_pair(&self.files, self.config.crypto_provider()) {
            Ok(certified) => {
                self.resolver.current.store(Arc::new(certified));
                tracing::info!(cert = %self.files.cert_file.display(), "TLS certificate reloaded.");
                Ok(())
            }
            Err(error) => {
                tracing::error!(error = %error, "TLS certificate reload refused; the previous certificate keeps serving.");
                Err(error)
            }
        }
    }

    /// Reloads when the files changed and then stayed the same for one poll, and on SIGHUP, until dropped.
    pub async fn watch(self: Arc<Self>) {
        let mut hangups = hangups();
        let mut applied = self.stamp();
        let mut pending = None;
        let mut tick = tokio::time::interval(POLL_INTERVAL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let hangup = tokio::select! {
                _ = tick.tick() => false,
                () = next_hangup(&mut hangups) => true,
            };
            let seen = self.stamp();
            if hangup || (seen != applied && pending.as_ref() == Some(&seen)) {
                let tls = Arc::clone(&self);
                // A refused pair is not retried until the files change again (or the next SIGHUP).
                let _ = tokio::task::spawn_blocking(move || tls.reload()).await;
                applied = seen;
                pending = None;
            } else {
                pending = (seen != applied).then_some(seen);
            }
        }
    }

    /// Sizes and modification times of the two files.
    fn stamp(&self) -> [Option<(u64, SystemTime)>; 2] {
        let stamp = |path: &Path| std::fs::metadata(path).ok().and_then(|m| Some((m.len(), m.modified().ok()?)));
        [stamp(&self.files.cert_file), stamp(&self.files.key_file)]
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.load_full())
    }
}

fn load_pair(files: &TlsConfig, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let file_error = |path: &Path, error: &dyn std::fmt::Display| TlsError::File {
        path: path.display().to_string(),
        reason: error.to_string(),
    };
    let chain = CertificateDer::pem_file_iter(&files.cert_file)
        .map_err(|e| file_error(&files.cert_file, &e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| file_error(&files.cert_file, &e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(files.cert_file.display().to_string()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.key_file).map_err(|e| file_error(&files.key_file, &e))?;
    CertifiedKey::from_der(chain, key, provider).map_err(TlsError::Key)
}

#[cfg(unix)]
type Hangups = Option<tokio::signal::unix::Signal>;
#[cfg(not(unix))]
type Hangups = Option<()>;

fn hangups() -> Hangups {
    #[cfg(unix)]
    {
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok()
    }
    #[cfg(not(unix))]
    None
}

async fn next_hangup(hangups: &mut Hangups) {
    #[cfg(unix)]
    if let Some(signal) = hangups.as_mut()
        && signal.recv().await.is_some()
    {
        return;
    }
    #[cfg(not(unix))]
    let _ = hangups;
    std::future::pending::<()>().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> (TlsConfig, Vec<u8>) {
        let key = rcgen::KeyPair::generate().unwrap();
        let cert = rcgen::CertificateParams::new(vec![name.to_owned()]).unwrap().self_signed(&key).unwrap();
        let files = TlsConfig { cert_file: dir.join("cert.pem"), key_file: dir.join("key.pem") };
        std::fs::write(&files.cert_file, cert.pem()).unwrap();
        std::fs::write(&files.key_file, key.serialize_pem()).unwrap();
        (files, cert.der().to_vec())
    }

    fn served(tls: &ServerTls) -> Vec<u8> {
        tls.resolver.current.load().end_entity_cert().unwrap().to_vec()
    }

    #[test]
    fn a_pair_loads_and_reloads_and_a_bad_pair_is_refused_keeping_the_old() {
        let dir = tempfile::tempdir().unwrap();
        let (files, first) = write_pair(dir.path(), "one.test");
        let tls = ServerTls::load(files.clone()).unwrap();
        assert_eq!(served(&tls), first);
        let (_, second) = write_pair(dir.path(), "two.test");
        tls.reload().unwrap();
        assert_eq!(served(&tls), second);
        // A key from another pair: refused, the current pair stays.
        let other = rcgen::KeyPair::generate().unwrap();
        std::fs::write(&files.key_file, other.serialize_pem()).unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::Key(_))));
        assert_eq!(served(&tls), second);
        std::fs::write(&files.cert_file, "not a certificate").unwrap();
        assert!(matches!(tls.reload(), Err(TlsError::NoCertificate(_))));
        std::fs::remove_file(&files.key_file).unwrap();
        assert!(matches!(ServerTls::load(files), Err(TlsError::NoCertificate(_) | TlsError::File { .. })));
    }
}
