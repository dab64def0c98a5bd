//! `tandem-edge`: the edge server alone, for the server image (`deploy/Dockerfile`). The same
//! flags as `tandem edge` (`tandem_edge::cli::EdgeArgs`), without the phone-side tools.

use std::process::ExitCode;

use clap::Parser;

/// Serve models over the Open Inference Protocol: the edge half of split inference.
#[derive(Parser)]
#[command(name = "tandem-edge", version)]
struct Cli {
    #[command(flatten)]
    args: tandem_edge::cli::EdgeArgs,
}

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).init();
    match tandem_edge::cli::serve(Cli::parse().args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {}", e.to_string().replace('\n', " "));
            ExitCode::FAILURE
        }
    }
}
