//! Upstream AWS STS: `AssumeRoleWithWebIdentity` through aws-sdk-sts, with one deadline per call, bounded
//! retries, and AWS's error codes mapped to what happened.
//!
//! Owns the STS client (no AWS credentials: the call is authorised by the web-identity token itself). It knows
//! nothing of policies or HTTP serving; the broker decides what to ask for.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use aws_sdk_sts::config::retry::RetryConfig;
use aws_sdk_sts::config::timeout::TimeoutConfig;
use aws_sdk_sts::config::{BehaviorVersion, Region};
use aws_sdk_sts::error::{ProvideErrorMetadata, SdkError};

use crate::clock::{Stopwatch, UnixTime};

/// Config `aws:`.
#[derive(Clone, Debug)]
pub struct StsConfig {
    pub region: String,
    /// Any STS-compatible endpoint; `None` means AWS's regional endpoint.
    pub endpoint_url: Option<String>,
    /// Deadline of one `AssumeRoleWithWebIdentity` call, retries included.
    pub timeout_secs: u64,
    /// Attempts per call (1 = no retry).
    pub max_attempts: u32,
}

impl Default for StsConfig {
    fn default() -> Self {
        Self { region: "us-east-1".into(), endpoint_url: None, timeout_secs: 10, max_attempts: 3 }
    }
}

/// What to ask STS for.
pub struct AssumeRequest {
    pub role_arn: String,
    pub session_name: String,
    pub web_identity_token: String,
    pub duration_secs: u32,
    /// An inline session policy (the STS `Policy` parameter).
    pub policy: Option<String>,
}

/// Temporary AWS credentials and what STS said about them. `Debug` hides the secrets.
#[derive(Clone, PartialEq, Eq)]
pub struct AwsCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expiration: UnixTime,
    pub assumed_role_arn: String,
    pub assumed_role_id: String,
    pub subject_from_web_identity_token: String,
    pub audience: String,
    pub provider: String,
}

impl fmt::Debug for AwsCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AwsCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("expiration", &self.expiration)
            .field("assumed_role_arn", &self.assumed_role_arn)
            .finish_non_exhaustive()
    }
}

/// Why STS did not give credentials, by AWS error code. Messages are AWS's own, safe to pass on.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StsError {
    #[error("AWS STS denied access: {0}")]
    AccessDenied(String),
    #[error("AWS STS is throttling requests: {0}")]
    Throttled(String),
    #[error("AWS STS refused the web identity token: {0}")]
    InvalidIdentityToken(String),
    #[error("AWS STS says the web identity token expired: {0}")]
    ExpiredToken(String),
    #[error("AWS STS rejected a claim of the token: {0}")]
    IdpRejectedClaim(String),
    #[error("AWS STS refused a parameter: {0}")]
    Validation(String),
    #[error("AWS STS refused the session policy ({code}): {message}")]
    PolicyRejected { code: &'static str, message: String },
    #[error("AWS STS could not reach the identity provider: {0}")]
    IdpCommunication(String),
    #[error("AWS STS is unavailable: {0}")]
    Unavailable(String),
}

/// Told about every upstream call, its outcome and how long it took (metrics). Must be cheap and must not block.
pub trait StsObserver: Send + Sync + fmt::Debug {
    fn observe(&self, result: Result<(), &StsError>, elapsed: Duration);
}

/// The upstream STS client.
#[derive(Clone, Debug)]
pub struct StsClient {
    client: aws_sdk_sts::Client,
    deadline: Duration,
    observer: Option<Arc<dyn StsObserver>>,
}

impl StsClient {
    pub fn new(config: &StsConfig) -> Self {
        let deadline = Duration::from_secs(config.timeout_secs.max(1));
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(deadline)
            .operation_attempt_timeout(deadline)
            .connect_timeout(deadline.min(Duration::from_secs(5)))
            .build();
        let mut builder = aws_sdk_sts::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new(config.region.clone()))
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(config.max_attempts.clamp(1, 5)));
        if let Some(url) = &config.endpoint_url {
            builder = builder.endpoint_url(url.clone());
        }
        Self { client: aws_sdk_sts::Client::from_conf(builder.build()), deadline, observer: None }
    }

    /// Adds the observer told about every call.
    pub fn with_observer(mut self, observer: Arc<dyn StsObserver>) -> Self {
        self.observer = Some(observer);
        self
    }

    pub async fn assume_role_with_web_identity(&self, request: AssumeRequest) -> Result<AwsCredentials, StsError> {
        let stopwatch = Stopwatch::start();
        let result = self.call(request).await;
        if let Some(observer) = &self.observer {
            observer.observe(result.as_ref().map(|_| ()), stopwatch.elapsed());
        }
        result
    }

    async fn call(&self, request: AssumeRequest) -> Result<AwsCredentials, StsError> {
        let call = self
            .client
            .assume_role_with_web_identity()
            .role_arn(request.role_arn)
            .role_session_name(request.session_name)
            .web_identity_token(request.web_identity_token)
            .duration_seconds(i32::try_from(request.duration_secs).unwrap_or(i32::MAX))
            .set_policy(request.policy)
            .send();
        // The SDK has its own operation timeout; this outer one makes "never a hang" independent of it.
        let output = match tokio::time::timeout(self.deadline + Duration::from_secs(1), call).await {
            Err(_) => return Err(StsError::Unavailable(format!("no answer within {} s", self.deadline.as_secs()))),
            Ok(result) => result.map_err(map_error)?,
        };
        let credentials =
            output.credentials().ok_or_else(|| StsError::Unavailable("no credentials in the answer".into()))?;
        let user = output.assumed_role_user();
        Ok(AwsCredentials {
            access_key_id: credentials.access_key_id().to_owned(),
            secret_access_key: credentials.secret_access_key().to_owned(),
            session_token: credentials.session_token().to_owned(),
            expiration: UnixTime::from_secs(credentials.expiration().secs()),
            assumed_role_arn: user.map(|u| u.arn().to_owned()).unwrap_or_default(),
            assumed_role_id: user.map(|u| u.assumed_role_id().to_owned()).unwrap_or_default(),
            subject_from_web_identity_token: output.subject_from_web_identity_token().unwrap_or_default().to_owned(),
            audience: output.audience().unwrap_or_default().to_owned(),
            provider: output.provider().unwrap_or_default().to_owned(),
        })
    }
}

fn map_error<E: ProvideErrorMetadata + std::error::Error + 'static, R: fmt::Debug>(error: SdkError<E, R>) -> StsError {
    match &error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let message = err.message().unwrap_or("no message").to_owned();
            classify(err.code().unwrap_or_default(), message)
        }
        SdkError::TimeoutError(_) => StsError::Unavailable("the call timed out".into()),
        SdkError::DispatchFailure(_) => StsError::Unavailable("could not reach the endpoint".into()),
        SdkError::ResponseError(_) => StsError::Unavailable("the answer could not be read".into()),
        _ => StsError::Unavailable(error.to_string()),
    }
}

/// AWS error code -> what happened. Unknown codes (and 5xx without a code) are the upstream's fault.
pub fn classify(code: &str, message: String) -> StsError {
    match code {
        "AccessDenied" | "AccessDeniedException" => StsError::AccessDenied(message),
        "Throttling" | "ThrottlingException" | "RequestLimitExceeded" => StsError::Throttled(message),
        "InvalidIdentityToken" => StsError::InvalidIdentityToken(message),
        "ExpiredTokenException" | "ExpiredToken" => StsError::ExpiredToken(message),
        "IDPRejectedClaim" => StsError::IdpRejectedClaim(message),
        "ValidationError" => StsError::Validation(message),
        "PackedPolicyTooLarge" => StsError::PolicyRejected { code: "PackedPolicyTooLarge", message },
        "MalformedPolicyDocument" => StsError::PolicyRejected { code: "MalformedPolicyDocument", message },
        "IDPCommunicationError" => StsError::IdpCommunication(message),
        _ => StsError::Unavailable(if code.is_empty() { message } else { format!("{code}: {message}") }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_codes_map_to_what_happened() {
        let m = || "m".to_owned();
        assert_eq!(classify("AccessDenied", m()), StsError::AccessDenied(m()));
        assert_eq!(classify("Throttling", m()), StsError::Throttled(m()));
        assert_eq!(classify("ExpiredTokenException", m()), StsError::ExpiredToken(m()));
        assert_eq!(classify("InvalidIdentityToken", m()), StsError::InvalidIdentityToken(m()));
        assert_eq!(classify("IDPRejectedClaim", m()), StsError::IdpRejectedClaim(m()));
        assert_eq!(classify("ValidationError", m()), StsError::Validation(m()));
        assert_eq!(
            classify("PackedPolicyTooLarge", m()),
            StsError::PolicyRejected { code: "PackedPolicyTooLarge", message: m() }
        );
        assert_eq!(classify("IDPCommunicationError", m()), StsError::IdpCommunication(m()));
        assert!(matches!(classify("InternalFailure", m()), StsError::Unavailable(_)));
        assert!(matches!(classify("", m()), StsError::Unavailable(_)));
    }

    #[test]
    fn debug_hides_the_secrets() {
        let credentials = AwsCredentials {
            access_key_id: "ASIAEXAMPLE".into(),
            secret_access_key: "super-secret".into(),
            session_token: "session-secret".into(),
            expiration: UnixTime::from_secs(0),
            assumed_role_arn: "arn".into(),
            assumed_role_id: "id".into(),
            subject_from_web_identity_token: "s".into(),
            audience: "a".into(),
            provider: "p".into(),
        };
        let shown = format!("{credentials:?}");
        assert!(shown.contains("ASIAEXAMPLE") && !shown.contains("secret"), "{shown}");
    }
}
