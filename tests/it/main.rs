//! The one integration-test binary: real HTTP on 127.0.0.1:0, fake CI issuers serving real keys, real vectors.

mod cli;
mod exchange;
mod jwks_cache;
mod peers;
mod rejections;
mod support;
mod vectors;
