//! The `tollgate` command's subcommands (binary only): each parses its inputs, calls the library and prints.

pub mod admin;
pub mod admin_api;
pub mod admin_callback;
pub mod admin_device;
pub mod admin_login;
pub mod admin_output;
pub mod admin_session;
pub mod admin_write;
pub mod args;
pub mod banner;
pub mod exchange;
pub mod keys;
pub mod kubernetes;
pub mod policy;
pub mod policy_tools;
pub mod revoke;
pub mod serve;
pub mod state;
pub mod verify;

/// Where `--dev` finds its config when none is given.
pub const DEV_CONFIG: &str = "deploy/dev/tollgate.yaml";

/// Logging to stderr: `RUST_LOG` filters (default `info`); JSON or pretty per `format`, or `TOLLGATE_LOG_FORMAT`.
/// Request lines carry their request id through the `request` span. Returns whether the lines are JSON.
pub fn init_logging(format: tollgate::config::LogFormat) -> bool {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    let json = match tollgate::config::process_env("TOLLGATE_LOG_FORMAT").as_deref() {
        Some("json") => true,
        Some(_) => false,
        None => format == tollgate::config::LogFormat::Json,
    };
    if json {
        builder.json().init();
    } else {
        builder.init();
    }
    json
}
