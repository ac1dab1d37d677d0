//! Trust policies: one role per file, compiled once at load into a [`PolicySet`] and evaluated purely against a
//! verified token's claims.
//!
//! A policy names its trusted issuers, the inbound audiences it accepts, allow/deny statements with AWS IAM
//! condition blocks over every claim of the token, and the [`Grant`] an allowed exchange receives. A file is
//! either in Tollgate's form (`issuer`, `audience`, `statements`) or an AWS trust policy pasted verbatim
//! (`Version`, `Statement` with `Principal.Federated`, `Action`, `Condition`), beside Tollgate's `role` and
//! `grant`. Explicit deny beats allow; otherwise deny. A policy on a shared issuer must pin the tenant in every
//! allow statement or it does not load.
//!
//! The code is in layers; each imports only from the layers above it in this list, never back:
//! - `error` (`PolicyError`, `CompileError`), `issuer` (what is known of the configured issuers), `source` (the
//!   raw serde shapes of a file, with source lines) and `condition/` (the condition language: `operator` names,
//!   `claim` canonical values, numbers and instants, `wildcard` the `StringLike` matcher, `placeholder` and
//!   `value` string values with `${claim}` variables, and the compiled `Condition` that matches them);
//! - `grant/`: what an allowed exchange gets ([`Grant`]: a broker token, or an AWS role session in `aws` within
//!   `limits`), rendered through `template`;
//! - `single_use` (the replay rule), `explain` (the [`Decision`]) and `eval`: the compiled [`Policy`] and its
//!   pure evaluation;
//! - `lint` (warnings on a compiled policy) and `trace` (the step-by-step [`Trace`]);
//! - `compile/`: the only constructor of [`Policy`], from one raw file (`aws_form` for the pasted form, `draft`
//!   the statement both forms produce, `tenant` for pinning);
//! - `set` ([`PolicySet`] and the broker's decision path) and `load` (files, all-or-nothing);
//! - `testing`: `*.test.yaml` cases through [`PolicySet::evaluate_case`], the path the broker uses; `diff`:
//!   two sets compared without traffic (what changed per role, and whether the new one allows a claim set the
//!   old one denies).
//!
mod compile;
mod condition;
pub mod diff;
mod error;
mod eval;
mod explain;
mod grant;
mod issuer;
pub mod lint;
mod load;
mod set;
mod single_use;
mod source;
pub mod testing;
mod trace;

#[cfg(test)]
mod tests;

pub use condition::wildcard::Pattern;
pub use error::PolicyError;
pub use eval::{AudienceRule, Effect, Policy, PolicySource};
pub use explain::{ConditionFailure, Decision, DenyReason, Explanation};
pub use grant::aws::{AwsGrant, AwsMode, SessionTags};
pub use grant::template::RenderError;
pub use grant::{Grant, TokenGrant};
pub use issuer::KnownIssuer;
pub use lint::Lint;
pub use set::{CaseOutcome, PolicySet};
pub use single_use::{OnStoreError, ReplayRule, SingleUse};
pub use trace::{AudienceTrace, ClaimDisplay, ConditionTrace, HIDDEN, StatementTrace, Trace, TracedValue};
