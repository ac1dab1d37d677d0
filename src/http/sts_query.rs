//! Front door 2: a drop-in AWS STS endpoint. `POST /` and `/sts` speak the AWS Query protocol (form body or query
//! string) for `AssumeRoleWithWebIdentity` and answer AWS XML, element for element, with AWS's error codes.
//!
//! Unsigned requests are accepted and an `Authorization` header is ignored, as AWS does for this action. The
//! role is the policy whose AWS grant has the `RoleArn`, or `arn:aws:iam::<any>:role/<role>` for token grants,
//! whose "credentials" carry the Tollgate token as the session token.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::{Extension, RawQuery, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;

use super::AppState;
use crate::broker::{BrokerError, Credential, ExchangeRequest, Exchanged, FrontDoor, RequestContext};
use crate::sts::StsError;
use crate::text::shorten;
use crate::verify::{RawToken, VerifyError};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

/// An AWS error answer.
pub(super) struct StsFault {
    status: StatusCode,
    pub(super) code: &'static str,
    message: String,
}

/// The parameters of an `AssumeRoleWithWebIdentity` call, checked as AWS checks them.
pub(super) struct AssumeParams<'a> {
    pub(super) role_arn: &'a str,
    pub(super) session_name: &'a str,
    pub(super) token: RawToken,
    pub(super) duration: Option<u32>,
    pub(super) policy: Option<String>,
}

impl StsFault {
    fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into() }
    }

    fn validation(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "ValidationError", message)
    }
}

pub async fn handle(
    State(state): State<Arc<AppState>>,
    context: Option<Extension<RequestContext>>,
    RawQuery(query): RawQuery,
    body: Result<Bytes, BytesRejection>,
) -> Response {
    let request_id = request_id();
    let result = match body {
        Err(_) => Err(StsFault::validation("the request body could not be read or is too large")),
        Ok(body) => {
            let context = context.map(|Extension(c)| c).unwrap_or_default();
            assume(&state, &params(query.as_deref(), &body), &request_id, context).await
        }
    };
    let (status, xml) = match result {
        Ok(xml) => (StatusCode::OK, xml),
        Err(fault) => {
            if fault.status.is_client_error() {
                tracing::info!(code = fault.code, message = ?fault.message, "STS request refused.");
            }
            (fault.status, error_xml(&fault, &request_id))
        }
    };
    let mut response = (status, [(header::CONTENT_TYPE, "text/xml")], xml).into_response();
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert("x-amzn-RequestId", value);
    }
    response
}

/// Query string and form body together; the body wins on a repeated name.
pub(super) fn params(query: Option<&str>, body: &[u8]) -> HashMap<String, String> {
    let mut params: HashMap<String, String> =
        url::form_urlencoded::parse(query.unwrap_or_default().as_bytes()).into_owned().collect();
    params.extend(url::form_urlencoded::parse(body).into_owned());
    params
}

/// Validates the parameters, in AWS's order, up to (not including) any broker call.
pub(super) fn parse_assume(params: &HashMap<String, String>) -> Result<AssumeParams<'_>, StsFault> {
    let get = |name: &str| params.get(name).map(String::as_str);
    match get("Action") {
        Some("AssumeRoleWithWebIdentity") => {}
        Some(other) => {
            let message = format!("Could not find operation {other} for version 2011-06-15");
            return Err(StsFault::new(StatusCode::BAD_REQUEST, "InvalidAction", message));
        }
        None => return Err(StsFault::new(StatusCode::BAD_REQUEST, "MissingAction", "Missing Action")),
    }
    if get("Version").is_some_and(|v| v != "2011-06-15") {
        return Err(StsFault::validation("Version must be 2011-06-15"));
    }
    let role_arn = bounded(get("RoleArn"), "roleArn", 20, 2048)?;
    let session_name = bounded(get("RoleSessionName"), "roleSessionName", 2, 64)?;
    if !session_name.chars().all(|c| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c)) {
        return Err(constraint(
            "roleSessionName",
            session_name,
            "Member must satisfy regular expression pattern: [\\w+=,.@-]*",
        ));
    }
    let token_text = bounded(get("WebIdentityToken"), "webIdentityToken", 4, 20_000)?;
    let duration = match get("DurationSeconds") {
        None => None,
        Some(text) => match text.parse::<u32>() {
            Ok(secs) if (900..=43_200).contains(&secs) => Some(secs),
            _ => return Err(constraint("durationSeconds", text, "Member must have value between 900 and 43200")),
        },
    };
    let policy = get("Policy").map(str::to_owned);
    if policy.as_ref().is_some_and(|p| p.is_empty() || p.len() > 2048) {
        return Err(StsFault::validation("Policy must be 1 to 2048 characters"));
    }
    if params.keys().any(|k| k.starts_with("PolicyArns.")) {
        return Err(StsFault::validation("PolicyArns is not supported by this endpoint; pass an inline Policy"));
    }
    let token = RawToken::parse(token_text).map_err(|e| verify_fault(&e))?;
    Ok(AssumeParams { role_arn, session_name, token, duration, policy })
}

async fn assume(
    state: &AppState,
    params: &HashMap<String, String>,
    request_id: &str,
    context: RequestContext,
) -> Result<String, StsFault> {
    let AssumeParams { role_arn, session_name, token, duration, policy } = parse_assume(params)?;
    // A RoleArn that names no role goes through the same exchange as one that does (and fails there as an
    // unknown role, audited): the token's own errors come first, then the answer every untrusting role gets.
    // An ARN (it holds ':') never equals a role name.
    let role = state.broker.role_for_arn(role_arn).map_or_else(|| shorten(role_arn), |(role, _)| role);
    let request = ExchangeRequest {
        token: token.into(),
        role,
        role_arn: Some(role_arn.to_owned()),
        audience: None,
        ttl_secs: duration,
        session_policy: policy,
        tokens_only: false,
        front_door: FrontDoor::Sts,
        context,
    };
    let exchanged = state.broker.exchange(request).await.map_err(broker_fault)?;
    Ok(success_xml(exchanged, role_arn, session_name, request_id))
}

fn bounded<'a>(value: Option<&'a str>, member: &str, min: usize, max: usize) -> Result<&'a str, StsFault> {
    let value = value.ok_or_else(|| StsFault::validation(format!("1 validation error detected: Value null at '{member}' failed to satisfy constraint: Member must not be null")))?;
    if !(min..=max).contains(&value.chars().count()) {
        let shown = if member == "webIdentityToken" { "(token)" } else { value };
        return Err(constraint(member, shown, &format!("Member must have length between {min} and {max}")));
    }
    Ok(value)
}

fn constraint(member: &str, value: &str, rule: &str) -> StsFault {
    let value: String = value.chars().take(64).collect();
    StsFault::validation(format!(
        "1 validation error detected: Value '{value}' at '{member}' failed to satisfy constraint: {rule}"
    ))
}

fn not_authorized() -> StsFault {
    StsFault::new(StatusCode::FORBIDDEN, "AccessDenied", "Not authorized to perform sts:AssumeRoleWithWebIdentity")
}

fn verify_fault(error: &VerifyError) -> StsFault {
    match error {
        VerifyError::Expired { .. } => StsFault::new(
            StatusCode::BAD_REQUEST,
            "ExpiredTokenException",
            "Token expired: current date/time is past the value of the 'exp' claim",
        ),
        _ if error.is_unavailable() => StsFault::new(
            StatusCode::BAD_REQUEST,
            "IDPCommunicationError",
            "Couldn't retrieve verification key from your identity provider",
        ),
        _ => StsFault::new(StatusCode::BAD_REQUEST, "InvalidIdentityToken", error.to_string()),
    }
}

fn broker_fault(error: BrokerError) -> StsFault {
    match error {
        BrokerError::Verify(verify) => verify_fault(&verify),
        BrokerError::Replayed { .. } | BrokerError::JtiRequired { .. } | BrokerError::RunnerRefused(_) => {
            StsFault::new(StatusCode::BAD_REQUEST, "InvalidIdentityToken", error.to_string())
        }
        BrokerError::StateUnavailable { .. } | BrokerError::RevocationsUnavailable { .. } => StsFault::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "ServiceUnavailable",
            "the state store is unavailable; try again",
        ),
        BrokerError::Revoked { .. } | BrokerError::NotBound { .. } => StsFault::new(
            StatusCode::FORBIDDEN,
            "AccessDenied",
            "Not authorized to perform sts:AssumeRoleWithWebIdentity: the token's identity or credential was revoked",
        ),
        BrokerError::Upstream(upstream) => upstream_fault(upstream),
        BrokerError::Mint(_) => StsFault::new(StatusCode::INTERNAL_SERVER_ERROR, "InternalFailure", "internal error"),
        BrokerError::RateLimited { .. } => StsFault::new(StatusCode::BAD_REQUEST, "Throttling", "Rate exceeded"),
        // Exactly the answer to an unknown RoleArn: no role's existence shows through.
        BrokerError::UnknownRole(_)
        | BrokerError::IssuerNotTrustedByRole { .. }
        | BrokerError::AudienceNotAcceptedByRole(_)
        | BrokerError::RoleUnavailable(_)
        | BrokerError::AccessDenied { .. } => not_authorized(),
        BrokerError::GrantMismatch { .. } => {
            StsFault::validation("Policy applies to AWS credentials only; this role issues Tollgate tokens")
        }
        BrokerError::Denied { .. } | BrokerError::Render { .. } | BrokerError::AudienceNotGranted { .. } => {
            StsFault::new(
                StatusCode::FORBIDDEN,
                "AccessDenied",
                format!("Not authorized to perform sts:AssumeRoleWithWebIdentity: {error}"),
            )
        }
    }
}

fn upstream_fault(error: StsError) -> StsFault {
    match error {
        StsError::AccessDenied(m) => StsFault::new(StatusCode::FORBIDDEN, "AccessDenied", m),
        StsError::Throttled(m) => StsFault::new(StatusCode::BAD_REQUEST, "Throttling", m),
        StsError::InvalidIdentityToken(m) => StsFault::new(StatusCode::BAD_REQUEST, "InvalidIdentityToken", m),
        StsError::ExpiredToken(m) => StsFault::new(StatusCode::BAD_REQUEST, "ExpiredTokenException", m),
        StsError::IdpRejectedClaim(m) => StsFault::new(StatusCode::FORBIDDEN, "IDPRejectedClaim", m),
        StsError::Validation(m) => StsFault::validation(m),
        StsError::PolicyRejected { code, message } => StsFault::new(StatusCode::BAD_REQUEST, code, message),
        StsError::IdpCommunication(m) => StsFault::new(StatusCode::BAD_REQUEST, "IDPCommunicationError", m),
        StsError::Unavailable(detail) => {
            tracing::warn!(detail = ?detail, "Upstream STS is unavailable.");
            StsFault::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "ServiceUnavailable",
                "AWS STS did not answer usefully; try again",
            )
        }
    }
}

/// The elements of a successful answer.
struct Assumed {
    subject: String,
    audience: String,
    provider: String,
    user_arn: String,
    user_id: String,
    key_id: String,
    secret: String,
    session_token: String,
}

fn assumed(exchanged: Exchanged, role_arn: &str, session_name: &str) -> Assumed {
    match exchanged.credential {
        Credential::Aws(c) => Assumed {
            subject: c.subject_from_web_identity_token,
            audience: c.audience,
            provider: c.provider,
            user_arn: c.assumed_role_arn,
            user_id: c.assumed_role_id,
            key_id: c.access_key_id,
            secret: c.secret_access_key,
            session_token: c.session_token,
        },
        Credential::Token { access_token, audience, jti } => {
            let (account, role) = role_arn
                .split_once(":iam::")
                .and_then(|(_, r)| r.split_once(":role/"))
                .unwrap_or(("000000000000", "role"));
            let key_id: String =
                format!("TGT{}", jti.to_ascii_uppercase().replace(['-', '_'], "0")).chars().take(20).collect();
            Assumed {
                subject: exchanged.ci_subject,
                audience,
                provider: exchanged.ci_issuer,
                user_arn: format!("arn:aws:sts::{account}:assumed-role/{role}/{session_name}"),
                user_id: format!("{key_id}:{session_name}"),
                key_id,
                secret: random_secret(),
                session_token: access_token,
            }
        }
    }
}

fn success_xml(exchanged: Exchanged, role_arn: &str, session_name: &str, request_id: &str) -> String {
    let expiration = exchanged.expires_at.to_rfc3339();
    let a = assumed(exchanged, role_arn, session_name);
    format!(
        "<AssumeRoleWithWebIdentityResponse xmlns=\"{NAMESPACE}\">\n  <AssumeRoleWithWebIdentityResult>\n    <SubjectFromWebIdentityToken>{}</SubjectFromWebIdentityToken>\n    <Audience>{}</Audience>\n    <AssumedRoleUser>\n      <Arn>{}</Arn>\n      <AssumedRoleId>{}</AssumedRoleId>\n    </AssumedRoleUser>\n    <Credentials>\n      <SessionToken>{}</SessionToken>\n      <SecretAccessKey>{}</SecretAccessKey>\n      <Expiration>{}</Expiration>\n      <AccessKeyId>{}</AccessKeyId>\n    </Credentials>\n    <Provider>{}</Provider>\n  </AssumeRoleWithWebIdentityResult>\n  <ResponseMetadata>\n    <RequestId>{}</RequestId>\n  </ResponseMetadata>\n</AssumeRoleWithWebIdentityResponse>\n",
        xml(&a.subject),
        xml(&a.audience),
        xml(&a.user_arn),
        xml(&a.user_id),
        xml(&a.session_token),
        xml(&a.secret),
        xml(&expiration),
        xml(&a.key_id),
        xml(&a.provider),
        xml(request_id),
    )
}

fn error_xml(fault: &StsFault, request_id: &str) -> String {
    let kind = if fault.status.is_server_error() { "Receiver" } else { "Sender" };
    format!(
        "<ErrorResponse xmlns=\"{NAMESPACE}\">\n  <Error>\n    <Type>{kind}</Type>\n    <Code>{}</Code>\n    <Message>{}</Message>\n  </Error>\n  <RequestId>{}</RequestId>\n</ErrorResponse>\n",
        fault.code,
        xml(&fault.message),
        xml(request_id)
    )
}

/// Escapes text for an XML element; characters XML 1.0 forbids (C0 controls but tab, newline, carriage return)
/// become U+FFFD, so a claim can never make the answer unparsable.
fn xml(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            '\t' | '\n' | '\r' => out.push(c),
            c if (c as u32) < 0x20 || c == '\u{fffe}' || c == '\u{ffff}' => out.push('\u{fffd}'),
            c => out.push(c),
        }
    }
    out
}

/// A random request id in AWS's UUID shape.
fn request_id() -> String {
    let mut bytes = [0u8; 16];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    let mut id = String::with_capacity(36);
    for (i, byte) in bytes.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            id.push('-');
        }
        id.push_str(&format!("{byte:02x}"));
    }
    id
}

fn random_secret() -> String {
    let mut bytes = [0u8; 30];
    let _ = aws_lc_rs::rand::fill(&mut bytes);
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
