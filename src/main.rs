//! The `tollgate` command: parses arguments (`cli/args.rs`), sets up logging, and calls the subcommands in
//! `cli/`. No logic here.

mod cli;

use std::process::ExitCode;

use clap::{CommandFactory as _, Parser as _};

use cli::args::{Cli, Command, IntrospectionCommand, KeysCommand, KubernetesCommand, RevocationsCommand, StateCommand};

fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Command::Completions { shell } = cli.command {
        clap_complete::generate(shell, &mut Cli::command(), "tollgate", &mut std::io::stdout());
        return ExitCode::SUCCESS;
    }
    if !matches!(cli.command, Command::Serve { .. }) {
        let _ = cli::init_logging(tollgate::config::LogFormat::Pretty); // `serve` starts logging once its config is read
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("error: cannot start the runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(error) => {
            eprintln!("error: {error:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve { config, dev } => cli::serve::serve(config, dev).await,
        Command::Check { config, strict } => cli::serve::check(&config, strict),
        Command::Verify { token, jwks, config, audience, at } => {
            cli::verify::verify_token(&token, jwks, config, audience, at).await
        }
        Command::Explain { role, token, claims, issuer, config, at } => {
            let subject = match (token, claims) {
                (Some(token), _) => cli::policy::Subject::Token(token),
                (None, Some(claims)) => cli::policy::Subject::Claims(claims),
                (None, None) => anyhow::bail!("give --token FILE or --claims FILE"),
            };
            cli::policy::explain(&role, subject, issuer, config, at).await
        }
        Command::Policy { command } => cli::policy_tools::run(command).await,
        Command::Exchange { url, role, audience, format, token_file, token_env } => {
            cli::exchange::run(cli::exchange::Options { url, role, audience, format, token_file, token_env }).await
        }
        Command::Keys { command: KeysCommand::Generate { alg, out } } => cli::keys::generate_key(&alg, &out),
        Command::State { command: StateCommand::Migrate { config } } => cli::state::migrate(&config).await,
        Command::State { command: StateCommand::Check { config } } => cli::state::check(&config).await,
        Command::Revoke { command } => cli::revoke::revoke(command).await,
        Command::Revocations { command: RevocationsCommand::List { config } } => cli::revoke::list(&config).await,
        Command::Revocations { command: RevocationsCommand::Delete { config, id } } => {
            cli::revoke::delete(&config, &id).await
        }
        Command::Introspection { command: IntrospectionCommand::NewClient { name } } => {
            cli::revoke::new_introspection_client(&name)
        }
        Command::Admin(args) => cli::admin::run(args).await,
        Command::Kubeconfig(options) => {
            print!("{}", cli::kubernetes::kubeconfig(&options)?);
            Ok(ExitCode::SUCCESS)
        }
        Command::Kubernetes { command: KubernetesCommand::ApiserverConfig(options) } => {
            cli::kubernetes::print_apiserver_config(options)
        }
        Command::Completions { .. } => Ok(ExitCode::SUCCESS), // answered in main, before the runtime
    }
}
