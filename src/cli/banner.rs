//! What `tollgate serve` prints once it is listening: in one block, the URLs that matter (public, issuer,
//! discovery, JWKS, admin, and in dev mode the dev issuers) and where policies, state, logs and audit are. With
//! JSON logs the same facts are one log line instead.

use std::fmt::Write as _;
use std::net::SocketAddr;

use tollgate::app::Mode;
use tollgate::config::Config;
use tollgate::issuers::IssuerMatcher;
use tollgate::store::StateConfig;

/// The facts of the start block, in print order: (label, value).
pub fn facts(
    config: &Config,
    mode: Mode,
    public: SocketAddr,
    admin: SocketAddr,
    roles: usize,
) -> Vec<(&'static str, String)> {
    let scheme = |tls: bool| if tls { "https" } else { "http" };
    let issuer = &config.minter.issuer_url;
    let mut facts = vec![
        ("public", format!("{}://{public}  (POST /exchange, /sts, /token, /introspect)", scheme(config.tls.is_some()))),
        ("issuer", issuer.clone()),
        ("discovery", format!("{issuer}/.well-known/openid-configuration")),
        ("jwks", format!("{issuer}/.well-known/jwks.json")),
        ("admin", format!("{}://{admin}  (GET /metrics, /admin/v1/)", scheme(config.admin_tls.is_some()))),
    ];
    if mode == Mode::Dev {
        facts.push(("dev token", format!("POST {issuer}/dev/token")));
        for issuer in &config.issuers {
            let url = match &issuer.matcher {
                IssuerMatcher::Exact(url) => url.clone(),
                IssuerMatcher::Template(template) => template.to_string(),
            };
            facts.push(("dev issuer", format!("{}  {url}", issuer.name)));
        }
    }
    let reload = if config.watch_policies { "reloaded on change and SIGHUP" } else { "reloaded on SIGHUP" };
    facts.push(("policies", format!("{roles} roles from {} ({reload})", config.policies_dir.display())));
    if let Some(shadow) = &config.shadow_policies_dir {
        facts.push(("shadow", format!("candidate policies from {}", shadow.display())));
    }
    facts.push((
        "state",
        match &config.state {
            StateConfig::Sqlite { path } => format!("sqlite {}", path.display()),
            StateConfig::Postgres(postgres) => format!("postgres {}", postgres.describe()),
        },
    ));
    facts.push(("audit", config.audit.path.as_ref().map_or("stdout".to_owned(), |p| p.display().to_string())));
    facts
}

/// The block printed to stderr with pretty logs.
pub fn block(facts: &[(&'static str, String)], mode: Mode) -> String {
    let mut text = format!("Tollgate {} is serving", env!("CARGO_PKG_VERSION"));
    if mode == Mode::Dev {
        text.push_str(" in DEV MODE (an embedded CI issuer mints tokens for anyone: never in production)");
    }
    text.push('\n');
    let logs = ("logs", "stderr (RUST_LOG filters)");
    for (label, value) in facts.iter().map(|(l, v)| (*l, v.as_str())).chain([logs]) {
        let _ = writeln!(text, "  {label:<11}{value}");
    }
    text
}
