//! The `tollgate` command's subcommands (binary only): each parses its inputs, calls the library and prints.

pub mod exchange;
pub mod keys;
pub mod policy;
pub mod serve;
pub mod verify;

/// Where `--dev` finds its config when none is given.
pub const DEV_CONFIG: &str = "deploy/dev/tollgate.yaml";
