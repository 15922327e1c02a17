//! `down`: delete the local cluster justpush created, after asking.

use crate::cluster::{delete_cluster, Provider, CLUSTER_NAME, SYSTEM_TOOLS};
use crate::error::CliError;
use crate::output::Shell;
use clap::Args;
use std::io::{BufRead, IsTerminal};

#[derive(Debug, Args)]
pub struct DownArgs {
    /// Which local cluster to delete.
    #[arg(long, value_enum, default_value_t = Provider::Kind)]
    pub cluster: Provider,
    /// Do not ask for confirmation.
    #[arg(long, short = 'y')]
    pub yes: bool,
}

pub fn run_down(args: &DownArgs, shell: &mut Shell) -> Result<(), CliError> {
    let what = format!("the {} cluster {CLUSTER_NAME:?}", args.cluster.binary());
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(CliError::usage(format!("refusing to delete {what} without confirmation: stdin is not a terminal; pass --yes")));
        }
        shell
            .prompt(&format!(
                "Delete {what} and everything running in it? [y/N] "
            ))
            .map_err(|e| CliError::failed(e.to_string()))?;
        let mut answer = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut answer)
            .map_err(|e| CliError::failed(e.to_string()))?;
        if !matches!(answer.trim(), "y" | "Y" | "yes") {
            shell.status("Kept", &what).ok();
            return Ok(());
        }
    }
    let deleted =
        delete_cluster(&SYSTEM_TOOLS, args.cluster).map_err(|e| CliError::failed(e.to_string()))?;
    if deleted {
        shell.status("Deleted", &what).ok();
    } else {
        shell
            .status("Nothing", &format!("to delete: {what} does not exist"))
            .ok();
    }
    Ok(())
}
