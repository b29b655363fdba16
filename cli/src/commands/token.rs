//! `transflow token`: an API token for `transflow serve` or `transflow dev`, signed the way
//! they check it (the same `[auth]` settings, the same generated secret).

use crate::cli::TokenArgs;
use anyhow::{Result, bail};
use std::process::ExitCode;
use std::time::SystemTime;
use transflow_service::config::Config;
use transflow_service::embedded::{Layout, auth};
use transflow_store::assembly::rfc3339;

/// Prints the token alone on stdout (for `TOKEN=$(transflow token --user …)`), and what it is
/// on stderr.
pub fn token(paths: &Layout, config: &Config, args: TokenArgs) -> Result<ExitCode> {
    if args.user.is_empty() || args.user.len() > 256 {
        bail!("`--user` must have 1 to 256 characters, as the server accepts");
    }
    let Some(token) = auth(config, paths)?.token_for(&args.user, args.ttl) else {
        bail!("authentication is disabled (`auth.disabled = true`): requests need no token");
    };
    println!("{token}");
    eprintln!(
        "token for user `{}` (claim `{}`), valid until {}",
        args.user,
        config.auth.user_claim,
        rfc3339(SystemTime::now() + args.ttl)
    );
    Ok(ExitCode::SUCCESS)
}
