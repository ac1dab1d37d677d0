//! Tollgate: a CI workload-identity token broker.
//!
//! A CI job sends its OIDC ID token; Tollgate verifies it against the issuer's cached keys (`issuers`,
//! `verify`), evaluates the role's trust policy (`policy`), and mints a short-lived credential
//! (`credentials`). `broker::Broker::exchange` is the one use case; `http` is the only front of it.
//!
//! Modules in reading order: `config` (file -> validated config), `clock` (time as a parameter), `issuers`
//! (trusted issuers, JWKS cache), `verify` (token -> `VerifiedToken`), `policy` (trust policies, pure),
//! `credentials` (signing keys, minting, our JWKS), `broker` (the use case), `dev` (dev-mode CI issuer),
//! `limits` (listener limits, rate limiters), `tls` (the public listener's certificate), `http` (routes, the one
//! error mapping, serving), `reload` (policy hot reload), `audit` (one JSON line per decision), `metrics`
//! (Prometheus metrics, closed labels), `text` (attacker-chosen text cut for echoing), `operators` (the operator plane: sign-in, sessions, role bindings, runner credentials), `recent` (the last decisions, for operators), `admin` (the operator listener: `/metrics` and the admin API), `app` (wiring it all and
//! serving). See ARCHITECTURE.md.

pub mod admin;
pub mod app;
pub mod audit;
pub mod broker;
pub mod clock;
pub mod config;
pub mod credentials;
pub mod dev;
pub mod http;
pub mod issuers;
pub mod keyring;
pub mod limits;
pub mod metrics;
pub mod operators;
pub mod policy;
pub mod recent;
pub mod reload;
pub mod relying_party;
pub mod review;
pub mod revocation;
pub mod store;
pub mod sts;
pub mod text;
pub mod tls;
pub mod verify;
