//! Issue 5, TLS on the public listener: the served app answers https with the certificate from its files,
//! refuses plain http, and hands new connections a replaced certificate once the files change.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tollgate::app::{App, Mode};
use tollgate::clock::SystemClock;
use tollgate::config::Config;
use tollgate::credentials::SigningAlg;

use crate::support::*;

/// Writes a fresh self-signed certificate for 127.0.0.1 and its key; returns the certificate (PEM, DER).
fn write_pair(dir: &Path) -> (String, Vec<u8>) {
    let key = rcgen::KeyPair::generate().unwrap();
    let params = rcgen::CertificateParams::new(vec!["127.0.0.1".to_owned(), "localhost".to_owned()]).unwrap();
    let cert = params.self_signed(&key).unwrap();
    // The key first: the watcher only applies a change once both files have stayed put for a poll.
    std::fs::write(dir.join("key.pem"), key.serialize_pem()).unwrap();
    std::fs::write(dir.join("cert.pem"), cert.pem()).unwrap();
    (cert.pem(), cert.der().to_vec())
}

/// A client that trusts only `cert_pem` and reports the server's certificate.
fn client_trusting(cert_pem: &str) -> reqwest::Client {
    let cert = reqwest::Certificate::from_pem(cert_pem.as_bytes()).unwrap();
    reqwest::Client::builder().tls_certs_only([cert]).tls_info(true).build().unwrap()
}

/// GET /healthz over a new connection: the status and the certificate the server presented.
async fn healthz(client: &reqwest::Client, url: &str) -> Result<(u16, Vec<u8>), reqwest::Error> {
    let response = client.get(format!("{url}/healthz")).send().await?;
    let info = response.extensions().get::<reqwest::tls::TlsInfo>().cloned();
    let cert = info.and_then(|i| i.peer_certificate().map(<[u8]>::to_vec)).unwrap_or_default();
    Ok((response.status().as_u16(), cert))
}

#[tokio::test]
async fn https_serves_the_certificate_files_and_new_connections_get_a_replaced_certificate() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let Workdir { dir, policies, key_file: key } = workdir(&[policy("deploy", "github", "repo:acme/*")]);
    let (first_pem, first_der) = write_pair(dir.path());
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: https://tollgate.test\nsigning:\n  key_file: {}\npolicies: {}\ntls:\n  cert_file: cert.pem\n  key_file: key.pem\ntrusted_issuers:\n{}",
        key.display(),
        policies.display(),
        issuer_entry("github", &github, "")
    );
    let config = Config::parse(&yaml, &dir.path().join("tollgate.yaml"), &|_| None).unwrap();
    let app = App::build(&config, Mode::Production, Arc::new(SystemClock)).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener, std::future::pending()));
    let url = format!("https://{address}");

    let (status, served) = healthz(&client_trusting(&first_pem), &url).await.unwrap();
    assert_eq!((status, served == first_der), (200, true));
    let plain = reqwest::Client::new().get(format!("http://{address}/healthz")).send().await;
    assert!(plain.is_err(), "plain http gets no answer on the TLS listener");

    let (second_pem, second_der) = write_pair(dir.path());
    let renewed = client_trusting(&second_pem);
    let mut picked_up = None;
    for _ in 0..100 {
        // A new client per try: a new connection, so a new handshake.
        if let Ok(answer) = healthz(&client_trusting(&second_pem), &url).await {
            picked_up = Some(answer);
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (status, served) = picked_up.expect("the replaced certificate was picked up within 10 s");
    assert_eq!((status, served == second_der), (200, true));
    assert_eq!(healthz(&renewed, &url).await.unwrap().0, 200);
    assert!(healthz(&client_trusting(&first_pem), &url).await.is_err(), "the old certificate is no longer served");
}

#[tokio::test]
async fn the_admin_listener_serves_https_with_its_own_certificate() {
    let github = FakeIssuer::start(SigningAlg::Rs256).await;
    let Workdir { dir, policies, key_file: key } = workdir(&[policy("deploy", "github", "repo:acme/*")]);
    let admin_dir = dir.path().join("admin");
    std::fs::create_dir(&admin_dir).unwrap();
    let (admin_pem, admin_der) = write_pair(&admin_dir);
    let yaml = format!(
        "listen: 127.0.0.1:0\nissuer_url: https://tollgate.test\nsigning:\n  key_file: {}\npolicies: {}\nadmin:\n  tls:\n    cert_file: admin/cert.pem\n    key_file: admin/key.pem\ntrusted_issuers:\n{}",
        key.display(),
        policies.display(),
        issuer_entry("github", &github, "")
    );
    let config = Config::parse(&yaml, &dir.path().join("tollgate.yaml"), &|_| None).unwrap();
    let mut app = App::build(&config, Mode::Production, Arc::new(SystemClock)).await.unwrap();
    let admin_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let admin = admin_listener.local_addr().unwrap();
    app.admin_listener = Some(admin_listener);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let public = listener.local_addr().unwrap();
    tokio::spawn(app.serve(listener, std::future::pending()));

    let (status, served) = healthz(&client_trusting(&admin_pem), &format!("https://{admin}")).await.unwrap();
    assert_eq!((status, served == admin_der), (200, true));
    let plain = reqwest::Client::new().get(format!("http://{admin}/healthz")).send().await;
    assert!(plain.is_err(), "plain http gets no answer on the admin TLS listener");
    let (status, body) =
        read(reqwest::Client::new().get(format!("http://{public}/healthz")).send().await.unwrap()).await;
    assert_eq!(status, 200, "the public listener keeps its own setting (plain here): {body}");
}
