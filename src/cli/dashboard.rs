//! `dashboard`: the web page and REST API (`crate::dashboard`), on 127.0.0.1 until Ctrl-C.

use std::path::PathBuf;

use clap::Args;

use crate::error::CliError;
use crate::output::Shell;

#[derive(Debug, Args)]
pub struct DashboardArgs {
    /// Port on 127.0.0.1 (0: any free port; the URL printed says which).
    #[arg(long, default_value_t = 0)]
    pub port: u16,
    /// The directory whose projects the dashboard may read (itself and its direct
    /// subdirectories; default: the current directory).
    #[arg(long, value_name = "DIR")]
    pub dir: Option<PathBuf>,
}

pub fn run(args: &DashboardArgs, shell: &mut Shell) -> Result<(), CliError> {
    let dir = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let root = std::fs::canonicalize(&dir).map_err(|e| {
        CliError::usage(format!(
            "--dir {}: {e}; pass a directory that exists",
            dir.display()
        ))
    })?;
    if !root.is_dir() {
        return Err(CliError::usage(format!(
            "--dir {}: not a directory",
            dir.display()
        )));
    }
    let state = crate::pipeline::progress::state_dir();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(CliError::io)?;
    let stop = tokio_util::sync::CancellationToken::new();
    let on_signal = stop.clone();
    // Registered before the URL is printed, so a Ctrl-C right after it is not missed (a
    // `ctrl_c()` future registers only when first polled, on another thread).
    let mut interrupt = {
        let _in_runtime = rt.enter();
        tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())
            .map_err(CliError::io)?
    };
    rt.spawn(async move {
        if interrupt.recv().await.is_some() {
            on_signal.cancel();
        }
    });
    let file = crate::dashboard::state_file(&state);
    rt.block_on(crate::dashboard::serve(
        root,
        args.port,
        &state,
        |url| {
            // The one place the token is shown: on stderr, for the person who started it.
            let _ = shell.status("Dashboard", url);
            let _ = shell.status(
                "State",
                &format!("{} (mode 0600; Ctrl-C stops the dashboard)", file.display()),
            );
        },
        stop,
    ))
    .map_err(CliError::failed)
}
