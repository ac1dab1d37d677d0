//! The one integration-test binary: real HTTP on 127.0.0.1:0, fake CI issuers serving real keys, real vectors.
// Test code: a failed unwrap is a failed test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

mod audit;
mod aws;
mod aws_peers;
mod ci_client;
mod cli;
mod cli_help;
mod disclosure;
mod exchange;
mod fuzz_parsers;
mod jwks_cache;
mod kubectl;
mod kubernetes;
mod limits;
mod logs;
mod metrics;
mod operators;
mod operators_cli;
mod operators_openbao;
mod operators_runners;
mod operators_signin;
mod peers;
mod policies;
mod policy_review;
mod prometheus;
mod rejections;
mod relying_parties;
mod replay;
mod replicas;
mod replicas_runners;
mod revocation;
mod rotation;
mod shadow;
mod shutdown;
mod store;
mod support;
mod tenancy;
mod tidy;
mod tls;
mod vectors;
