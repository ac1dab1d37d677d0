//! A small STS stand-in on 127.0.0.1:0 that answers with AWS's XML: success, or the failures moto cannot
//! produce (AccessDenied, Throttling, 500, a hang, garbage). It records every request's form parameters.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;

#[derive(Clone, Debug)]
pub enum StubMode {
    Succeed {
        secret: String,
    },
    /// Success with the default secret, after this long.
    SucceedAfter(Duration),
    Fail {
        status: u16,
        code: &'static str,
        message: &'static str,
    },
    Hang(Duration),
    Garbage,
}

pub struct StubState {
    mode: Mutex<StubMode>,
    pub requests: Mutex<Vec<HashMap<String, String>>>,
}

#[derive(Clone)]
pub struct StsStub {
    pub url: String,
    pub state: Arc<StubState>,
}

impl StsStub {
    pub async fn start() -> StsStub {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(StubState {
            mode: Mutex::new(StubMode::Succeed { secret: "stub-secret".into() }),
            requests: Mutex::new(Vec::new()),
        });
        let router = Router::new().route("/", post(answer)).with_state(Arc::clone(&state));
        tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
        StsStub { url, state }
    }

    pub fn set(&self, mode: StubMode) {
        *self.state.mode.lock().unwrap() = mode;
    }

    pub fn requests(&self) -> Vec<HashMap<String, String>> {
        self.state.requests.lock().unwrap().clone()
    }

    pub fn clear(&self) {
        self.state.requests.lock().unwrap().clear();
    }
}

fn xml_escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('\'', "&apos;").replace('"', "&quot;")
}

async fn answer(State(state): State<Arc<StubState>>, body: Bytes) -> Response {
    let params: HashMap<String, String> = url::form_urlencoded::parse(&body).into_owned().collect();
    let session = params.get("RoleSessionName").cloned().unwrap_or_default();
    state.requests.lock().unwrap().push(params);
    let mut mode = state.mode.lock().unwrap().clone();
    if let StubMode::SucceedAfter(delay) = mode {
        tokio::time::sleep(delay).await;
        mode = StubMode::Succeed { secret: "stub-secret".into() };
    }
    match mode {
        StubMode::Succeed { secret } => {
            let xml = format!(
                "<AssumeRoleWithWebIdentityResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><AssumeRoleWithWebIdentityResult><SubjectFromWebIdentityToken>repo:acme/web:ref:refs/heads/main</SubjectFromWebIdentityToken><Audience>sts.amazonaws.com</Audience><AssumedRoleUser><Arn>arn:aws:sts::123456789012:assumed-role/deploy-web/{session}</Arn><AssumedRoleId>AROASTUB:{session}</AssumedRoleId></AssumedRoleUser><Credentials><SessionToken>stub-session-token</SessionToken><SecretAccessKey>{}</SecretAccessKey><Expiration>2026-01-01T01:00:00Z</Expiration><AccessKeyId>ASIASTUBKEY</AccessKeyId></Credentials><Provider>stub</Provider></AssumeRoleWithWebIdentityResult><ResponseMetadata><RequestId>r1</RequestId></ResponseMetadata></AssumeRoleWithWebIdentityResponse>",
                xml_escape(&secret)
            );
            ([("content-type", "text/xml")], xml).into_response()
        }
        StubMode::Fail { status, code, message } => {
            let kind = if status >= 500 { "Receiver" } else { "Sender" };
            let xml = format!(
                "<ErrorResponse xmlns=\"https://sts.amazonaws.com/doc/2011-06-15/\"><Error><Type>{kind}</Type><Code>{code}</Code><Message>{message}</Message></Error><RequestId>r2</RequestId></ErrorResponse>"
            );
            (StatusCode::from_u16(status).unwrap(), [("content-type", "text/xml")], xml).into_response()
        }
        StubMode::Hang(duration) => {
            tokio::time::sleep(duration).await;
            StatusCode::GATEWAY_TIMEOUT.into_response()
        }
        StubMode::Garbage => ([("content-type", "text/xml")], "<<<not xml at all").into_response(),
        StubMode::SucceedAfter(_) => unreachable!("replaced by Succeed above"),
    }
}
