//! The loopback redirect target of `tollgate admin login` (RFC 8252 §7.3): a tiny HTTP/1.1 listener on
//! 127.0.0.1 (port 0 unless `--port`) that waits, for a bounded time, for the browser to come back to
//! `/callback?code=…&state=…`. It checks `state` against the one this login sent, answers the browser with a
//! small static page, and hands the code (or the reason the sign-in failed) to the login. Other paths get 404.
//! Plain hyper on purpose: axum belongs to the server side (`http/`, `admin/`).

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context, bail};
use hyper::header::{CACHE_CONTROL, CONTENT_TYPE};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::net::TcpListener;
use tokio::sync::mpsc;

/// The path the provider redirects the browser to.
pub const CALLBACK_PATH: &str = "/callback";

/// How long one browser connection may take.
const CONNECTION_LIMIT: Duration = Duration::from_secs(10);

const SIGNED_IN_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tollgate</title></head>\
<body><h1>Tollgate received your sign-in.</h1><p>You can close this tab and return to your terminal.</p></body></html>\n";

const FAILED_PAGE: &str = "<!doctype html><html><head><meta charset=\"utf-8\"><title>Tollgate</title></head>\
<body><h1>The sign-in did not complete.</h1><p>Return to your terminal to see why.</p></body></html>\n";

/// A bound loopback listener and the `redirect_uri` that names it.
pub struct Callback {
    listener: TcpListener,
    pub redirect_uri: String,
}

/// What one callback request brought: the code, or why the sign-in failed.
type Outcome = Result<String, String>;

impl Callback {
    /// Binds 127.0.0.1 on `port` (0: any free port).
    pub async fn bind(port: Option<u16>) -> anyhow::Result<Callback> {
        let listener = TcpListener::bind(("127.0.0.1", port.unwrap_or(0)))
            .await
            .with_context(|| format!("binding 127.0.0.1:{} for the sign-in redirect", port.unwrap_or(0)))?;
        let port = listener.local_addr().context("reading the redirect listener's port")?.port();
        Ok(Callback { listener, redirect_uri: format!("http://127.0.0.1:{port}{CALLBACK_PATH}") })
    }

    /// Waits up to `limit` for the browser's callback carrying `state`; the authorization code.
    pub async fn wait(self, state: &str, limit: Duration) -> anyhow::Result<String> {
        let (sender, mut receiver) = mpsc::channel::<Outcome>(4);
        let accepting = tokio::spawn(accept(self.listener, Arc::from(state), sender));
        let outcome = tokio::time::timeout(limit, receiver.recv()).await;
        accepting.abort();
        match outcome {
            Err(_) => bail!("no sign-in came back within {} s; run `tollgate admin login` again", limit.as_secs()),
            Ok(None) => bail!("the sign-in redirect listener stopped"),
            Ok(Some(Ok(code))) => Ok(code),
            Ok(Some(Err(reason))) => bail!("{reason}"),
        }
    }
}

/// Serves browser connections one task each until aborted; a connection that carried a callback sends its
/// outcome once its answer was written (the connection is not kept alive).
async fn accept(listener: TcpListener, state: Arc<str>, sender: mpsc::Sender<Outcome>) {
    loop {
        let stream = match listener.accept().await {
            Ok((stream, _)) => stream,
            Err(_) => {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            }
        };
        let (state, sender) = (Arc::clone(&state), sender.clone());
        tokio::spawn(async move {
            let seen: Arc<Mutex<Option<Outcome>>> = Arc::new(Mutex::new(None));
            let slot = Arc::clone(&seen);
            let service = hyper::service::service_fn(move |request: Request<hyper::body::Incoming>| {
                let (response, outcome) = answer(&request, &state);
                if let (Some(outcome), Ok(mut slot)) = (outcome, slot.lock()) {
                    *slot = Some(outcome);
                }
                async move { Ok::<_, Infallible>(response) }
            });
            let connection = hyper::server::conn::http1::Builder::new()
                .keep_alive(false)
                .serve_connection(TokioIo::new(stream), service);
            let _ = tokio::time::timeout(CONNECTION_LIMIT, connection).await;
            let outcome = seen.lock().ok().and_then(|mut slot| slot.take());
            if let Some(outcome) = outcome {
                let _ = sender.send(outcome).await;
            }
        });
    }
}

/// The browser's answer to one request, and the outcome when it was the callback.
fn answer<B>(request: &Request<B>, expected_state: &str) -> (Response<String>, Option<Outcome>) {
    if request.uri().path() != CALLBACK_PATH {
        return (page(StatusCode::NOT_FOUND, "not found\n", "text/plain; charset=utf-8"), None);
    }
    // A redirect with another `state` is not this login's (a stale tab, a page probing local ports): it is
    // answered and ignored, and the login keeps waiting for its own.
    let Some(outcome) = outcome(request.uri().query().unwrap_or_default(), expected_state) else {
        return (page(StatusCode::BAD_REQUEST, FAILED_PAGE, "text/html; charset=utf-8"), None);
    };
    let response = match &outcome {
        Ok(_) => page(StatusCode::OK, SIGNED_IN_PAGE, "text/html; charset=utf-8"),
        Err(_) => page(StatusCode::BAD_REQUEST, FAILED_PAGE, "text/html; charset=utf-8"),
    };
    (response, Some(outcome))
}

/// The code a callback's query carries, after checking its `state`; `None` when the state is not this login's.
fn outcome(query: &str, expected_state: &str) -> Option<Outcome> {
    let mut code = None;
    let mut state = None;
    let mut error = None;
    let mut description = None;
    for (key, value) in url::form_urlencoded::parse(query.as_bytes()) {
        let slot = match key.as_ref() {
            "code" => &mut code,
            "state" => &mut state,
            "error" => &mut error,
            "error_description" => &mut description,
            _ => continue,
        };
        // Code and state whole (some providers' codes are long); only text for the terminal is cut.
        *slot = Some(value.into_owned());
    }
    if state.as_deref() != Some(expected_state) {
        return None;
    }
    if let Some(error) = error {
        let description = description.map(|d| format!(": {}", shorten(&d))).unwrap_or_default();
        return Some(Err(format!("the identity provider refused the sign-in: {}{description}", shorten(&error))));
    }
    Some(code.filter(|code| !code.is_empty()).ok_or_else(|| "the sign-in redirect carries no code".to_owned()))
}

fn page(status: StatusCode, body: &str, content_type: &'static str) -> Response<String> {
    let mut response = Response::new(body.to_owned());
    *response.status_mut() = status;
    response.headers_mut().insert(CONTENT_TYPE, hyper::header::HeaderValue::from_static(content_type));
    response.headers_mut().insert(CACHE_CONTROL, hyper::header::HeaderValue::from_static("no-store"));
    response
}

/// Provider text is printed to a terminal: one line, at most 300 characters.
fn shorten(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(300).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_state_must_match_before_anything_else_counts() {
        assert_eq!(outcome("code=abc&state=s1", "s1"), Some(Ok("abc".to_owned())));
        let long = "c".repeat(2000);
        assert_eq!(outcome(&format!("code={long}&state=s1"), "s1"), Some(Ok(long)), "a long code is kept whole");
        // Not this login's: ignored, whatever it says.
        assert_eq!(outcome("code=abc&state=s2", "s1"), None);
        assert_eq!(outcome("code=abc", "s1"), None);
        assert_eq!(outcome("error=access_denied&state=s2", "s1"), None);
        let refused = outcome("error=access_denied&error_description=no%0Away&state=s1", "s1").unwrap().unwrap_err();
        assert_eq!(refused, "the identity provider refused the sign-in: access_denied: noway");
        assert!(outcome("state=s1", "s1").unwrap().unwrap_err().contains("no code"));
    }

    #[tokio::test]
    async fn a_browser_gets_a_page_and_the_login_gets_the_code() {
        let callback = Callback::bind(None).await.unwrap();
        let base = callback.redirect_uri.clone();
        let waiting = tokio::spawn(callback.wait("st", Duration::from_secs(10)));
        let client = reqwest::Client::new();
        let other = client.get(base.replace("/callback", "/favicon.ico")).send().await.unwrap();
        assert_eq!(other.status(), 404);
        let forged = client.get(format!("{base}?code=evil&state=other")).send().await.unwrap();
        assert_eq!(forged.status(), 400, "another state is answered, and ignored");
        let page = client.get(format!("{base}?code=c0de&state=st")).send().await.unwrap();
        assert_eq!(page.status(), 200);
        assert!(page.text().await.unwrap().contains("received your sign-in"));
        assert_eq!(waiting.await.unwrap().unwrap(), "c0de");
    }

    #[tokio::test]
    async fn the_wait_is_bounded() {
        let callback = Callback::bind(None).await.unwrap();
        let error = callback.wait("st", Duration::from_millis(50)).await.unwrap_err();
        assert!(error.to_string().contains("no sign-in came back"), "{error}");
    }
}
