//! Who the caller is, beyond CI tokens: a runner credential is looked up through the operator plane (the store
//! answers; a deleted credential fails at once) and becomes an identity of the built-in `tollgate-runners`
//! issuer; and a `role/<role>.user` binding, where one names the role, must name the caller too (both the trust
//! policy and the binding must allow).

use super::{Broker, BrokerError, ExchangeRequest, Presented};
use crate::clock::UnixTime;
use crate::operators::{OperatorError, Operators, Principal, RUNNERS_ISSUER};
use crate::verify::VerifiedToken;

impl Broker {
    /// Adds the operator plane: runner credentials and role bindings.
    pub fn with_operators(mut self, operators: std::sync::Arc<Operators>) -> Self {
        self.operators = Some(operators);
        self
    }

    /// Verifies a CI token, or finds the runner a credential belongs to.
    pub(super) async fn identify(
        &self,
        request: &ExchangeRequest,
        now: UnixTime,
        client: Option<&str>,
    ) -> Result<VerifiedToken, BrokerError> {
        let secret = match &request.token {
            Presented::Token(token) => {
                return self.verifier.verify_from(token, now, client).await.map_err(BrokerError::Verify);
            }
            Presented::Runner(secret) => secret,
        };
        let operators =
            self.operators.as_ref().ok_or(BrokerError::RunnerRefused("runner credentials are not enabled"))?;
        match operators.runner_identity(secret.expose(), self.minter.issuer_url(), now).await {
            Ok(runner) => Ok(VerifiedToken::vouched(
                runner.issuer_name,
                runner.iss,
                runner.sub,
                runner.jti,
                (runner.iat, runner.exp),
                runner.claims,
            )),
            Err(OperatorError::Unavailable(error)) => {
                tracing::error!(error = ?error.to_string(), "The state store failed; a runner credential could not be checked.");
                Err(BrokerError::StateUnavailable { role: request.role.clone() })
            }
            Err(OperatorError::Unauthenticated(reason)) => Err(BrokerError::RunnerRefused(reason)),
            Err(_) => Err(BrokerError::RunnerRefused("the credential could not be checked")),
        }
    }

    /// A `role/<role>.user` binding, if any names the role, must name this identity.
    pub(super) fn check_binding(&self, role: &str, verified: &VerifiedToken) -> Result<(), BrokerError> {
        let Some(operators) = &self.operators else {
            return Ok(());
        };
        let principal = if verified.issuer_name() == RUNNERS_ISSUER {
            let name = verified.claims().get("name").and_then(serde_json::Value::as_str).unwrap_or_default();
            Principal::Runner { name }
        } else {
            Principal::Ci { issuer: verified.issuer_name(), sub: verified.sub() }
        };
        match operators.config().bindings.may_use(role, &principal) {
            None | Some(true) => Ok(()),
            Some(false) => Err(BrokerError::NotBound { role: role.to_owned() }),
        }
    }
}
