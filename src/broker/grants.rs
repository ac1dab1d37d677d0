//! Acting on an allowed grant: mint a Tollgate token, or get AWS credentials from STS with a token Tollgate
//! mints for AWS (`tollgate_token` mode) or with the CI token itself (`passthrough` mode); and which role an STS
//! `RoleArn` names.

use serde_json::Map;

use super::{Broker, BrokerError, Credential, ExchangeRequest, Presented};
use crate::clock::UnixTime;
use crate::credentials::TokenRequest;
use crate::policy::{AwsGrant, AwsMode, TokenGrant};
use crate::sts::{AssumeRequest, StsError};
use crate::verify::VerifiedToken;

/// The claim AWS reads session tags from.
const AWS_TAGS_CLAIM: &str = "https://aws.amazon.com/tags";
/// Lifetime of the token Tollgate mints only to present to STS.
const STS_TOKEN_TTL_SECS: u32 = 300;
/// AWS's bounds on a session's duration.
const AWS_MIN_DURATION_SECS: u32 = 900;

impl Broker {
    pub(super) fn issue_token(
        &self,
        grant: &TokenGrant,
        verified: &VerifiedToken,
        request: &ExchangeRequest,
        now: UnixTime,
    ) -> Result<(Credential, UnixTime), BrokerError> {
        let role = &request.role;
        let audience = match &request.audience {
            None => grant.audiences().first().cloned().unwrap_or_default(),
            Some(wanted) if grant.audiences().contains(wanted) => wanted.clone(),
            Some(wanted) => {
                return Err(BrokerError::AudienceNotGranted { role: role.clone(), audience: wanted.clone() });
            }
        };
        let render_error = |source| BrokerError::Render { role: role.clone(), source };
        let subject = grant.render_subject(verified.claims()).map_err(render_error)?;
        let extra = grant.render_claims(verified.claims()).map_err(render_error)?;
        let ttl_secs = request.ttl_secs.map_or(grant.ttl_seconds(), |asked| asked.min(grant.ttl_seconds()));
        let minted = self.minter.mint(
            TokenRequest {
                subject: subject.unwrap_or_else(|| verified.sub().to_owned()),
                audience: audience.clone(),
                ttl_secs,
                inbound_exp: verified.exp(),
                actor_iss: verified.iss().to_owned(),
                actor_sub: verified.sub().to_owned(),
                role: role.clone(),
                extra,
            },
            now,
        )?;
        let credential = Credential::Token { access_token: minted.token, audience, jti: minted.jti };
        Ok((credential, minted.expires_at))
    }

    pub(super) async fn issue_aws(
        &self,
        grant: &AwsGrant,
        verified: &VerifiedToken,
        request: &ExchangeRequest,
        now: UnixTime,
    ) -> Result<(Credential, UnixTime), BrokerError> {
        let role = &request.role;
        if request.audience.is_some() {
            return Err(BrokerError::AudienceNotGranted {
                role: role.clone(),
                audience: request.audience.clone().unwrap_or_default(),
            });
        }
        let render_error = |source| BrokerError::Render { role: role.clone(), source };
        let session_name = grant.render_session_name(verified.claims()).map_err(render_error)?;
        let tags = grant.render_session_tags(verified.claims()).map_err(render_error)?;
        // What STS is told, kept to fill in the answer's fields an STS implementation may leave out.
        let (token_issuer, token_audience) = match grant.mode() {
            AwsMode::Passthrough => {
                (verified.iss().to_owned(), verified.audiences().first().cloned().unwrap_or_default())
            }
            AwsMode::TollgateToken => (self.minter.issuer_url().to_owned(), grant.audience().to_owned()),
        };
        let web_identity_token = match grant.mode() {
            AwsMode::Passthrough => match &request.token {
                Presented::Token(token) => token.as_str().to_owned(),
                Presented::Runner(_) => {
                    let mismatch = "passes the CI token through to AWS; a runner credential has none";
                    return Err(BrokerError::GrantMismatch { role: role.clone(), mismatch });
                }
            },
            AwsMode::TollgateToken => {
                let mut extra = Map::new();
                if !tags.is_empty() {
                    extra.insert(AWS_TAGS_CLAIM.to_owned(), tags.to_claim());
                }
                let token_request = TokenRequest {
                    subject: verified.sub().to_owned(),
                    audience: grant.audience().to_owned(),
                    ttl_secs: STS_TOKEN_TTL_SECS,
                    inbound_exp: verified.exp(),
                    actor_iss: verified.iss().to_owned(),
                    actor_sub: verified.sub().to_owned(),
                    role: role.clone(),
                    extra,
                };
                self.minter.mint(token_request, now)?.token
            }
        };
        let duration_secs = request
            .ttl_secs
            .map_or(grant.duration_seconds(), |asked| asked.min(grant.duration_seconds()))
            .max(AWS_MIN_DURATION_SECS);
        let sts = self.sts.as_ref().ok_or_else(|| StsError::Unavailable("no STS client is configured".into()))?;
        let assume = AssumeRequest {
            role_arn: grant.role_arn().to_owned(),
            session_name,
            web_identity_token,
            duration_secs,
            policy: request.session_policy.clone(),
        };
        let mut credentials = sts.assume_role_with_web_identity(assume).await?;
        fill_if_empty(&mut credentials.subject_from_web_identity_token, verified.sub());
        fill_if_empty(&mut credentials.audience, &token_audience);
        fill_if_empty(&mut credentials.provider, &token_issuer);
        let expires_at = credentials.expiration;
        Ok((Credential::Aws(credentials), expires_at))
    }
}

fn fill_if_empty(field: &mut String, value: &str) {
    if field.is_empty() {
        value.clone_into(field);
    }
}

impl Broker {
    /// The role an STS `RoleArn` names in the policy set in force (see [`PolicySet::role_for_arn`]).
    pub fn role_for_arn(&self, role_arn: &str) -> Option<(String, bool)> {
        self.policies().role_for_arn(role_arn)
    }
}
