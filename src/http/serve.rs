//! Serving a router on a listener: one task per connection (hyper, HTTP/1.1), the header read timeout
//! against slow clients, optional TLS (the handshake bounded by the same timeout), the client address for
//! handlers (`ConnectInfo<SocketAddr>`), and graceful shutdown: stop accepting, let requests in flight
//! finish within the grace period, then close whatever is still open and return.

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, Request};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tower::ServiceExt as _;

/// Pause after a failed `accept` (e.g. out of file descriptors), so the loop does not spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

/// How a listener serves its connections.
#[derive(Clone)]
pub struct ServeOptions {
    /// Complete request headers must arrive within this time; also bounds a TLS handshake.
    pub header_read_timeout: Duration,
    /// After shutdown begins, how long requests in flight may take before their connections are closed.
    pub shutdown_grace: Duration,
    /// Serve TLS with this acceptor; plain HTTP without.
    pub tls: Option<TlsAcceptor>,
}

/// Serves `router` on `listener` until `shutdown` completes, then shuts down gracefully (see the module doc).
pub async fn serve(
    listener: TcpListener,
    router: Router,
    options: ServeOptions,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let graceful = GracefulShutdown::new();
    let listen = listener.local_addr().map(|address| address.to_string()).unwrap_or_default();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(options.header_read_timeout);
    let mut shutdown = std::pin::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            () = &mut shutdown => break,
        };
        match accepted {
            Ok((stream, remote)) => {
                // Answers go out as soon as they are written (a TLS record or a late header never waits on
                // Nagle for the client's delayed ACK); a failure here only costs latency.
                let _ = stream.set_nodelay(true);
                let connection = Connection { router: router.clone(), http: http.clone(), options: options.clone() };
                tokio::spawn(connection.run(stream, remote, graceful.watcher()));
            }
            Err(error) => {
                tracing::warn!(error = %error, "Accepting a connection failed.");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
    drop(listener);
    let grace_secs = options.shutdown_grace.as_secs();
    tracing::info!(
        listen,
        open_connections = graceful.count(),
        grace_secs,
        "Shutting down: no new connections; finishing requests in flight."
    );
    match tokio::time::timeout(options.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => tracing::info!(listen, "Every connection is closed."),
        Err(_) => tracing::warn!(listen, grace_secs, "The grace period is over; closing the connections still open."),
    }
    Ok(())
}

struct Connection {
    router: Router,
    http: http1::Builder,
    options: ServeOptions,
}

impl Connection {
    async fn run(self, stream: TcpStream, remote: SocketAddr, watcher: Watcher) {
        let service = TowerToHyperService::new(self.router.map_request(move |mut request: Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(remote));
            request
        }));
        let served = match self.options.tls {
            None => watcher.watch(self.http.serve_connection(TokioIo::new(stream), service)).await,
            Some(acceptor) => {
                match tokio::time::timeout(self.options.header_read_timeout, acceptor.accept(stream)).await {
                    Ok(Ok(tls)) => watcher.watch(self.http.serve_connection(TokioIo::new(tls), service)).await,
                    Ok(Err(error)) => {
                        tracing::debug!(client = %remote.ip(), error = %error, "TLS handshake failed.");
                        return;
                    }
                    Err(_) => {
                        tracing::debug!(client = %remote.ip(), "TLS handshake timed out.");
                        return;
                    }
                }
            }
        };
        if let Err(error) = served {
            tracing::debug!(client = %remote.ip(), error = %error, "Connection ended with an error.");
        }
    }
}
