//! Fuzz target: any bytes as a config file (`Config::parse`, at a path that does not exist, with and without an
//! environment override). Must never panic; whatever parses has at least one issuer, unique issuer names, a token
//! TTL ceiling within 60..=86400 and relative paths under the config's folder; the override always wins.
#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use tollgate::config::{Config, ENV_LISTEN};

const DIR: &str = "/nonexistent/tollgate-fuzz";

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    let path = Path::new(DIR).join("tollgate.yaml");
    let Ok(config) = Config::parse(text, &path, &|_| None) else { return };
    let mut names = config.issuer_names();
    assert!(!names.is_empty());
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), config.issuers.len(), "issuer names are not unique");
    assert!((60..=86_400).contains(&config.minter.max_ttl_secs));
    assert!(config.policies_dir.starts_with(DIR) || config.policies_dir.is_absolute());
    assert_eq!(config.known_issuers().len(), config.issuers.len());
    let env = |name: &str| (name == ENV_LISTEN).then(|| "127.0.0.1:0".to_owned());
    let overridden =
        Config::parse(text, &path, &env).expect("an environment override of a valid listen breaks nothing");
    assert_eq!(overridden.listen, "127.0.0.1:0".parse().expect("an address"));
});
