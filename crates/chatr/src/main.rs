//! The `chatr` binary: read the configuration, start logging, serve until a signal.

use std::io::IsTerminal;
use std::process::ExitCode;

use chatr::cli::Command;
use clap::Parser;
use tracing_subscriber::EnvFilter;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = chatr::cli::Cli::parse();
    let config = cli.config;
    match cli.command {
        None => {}
        Some(Command::Backup { file }) => {
            return report("backup", &file, chatr::backup::backup(&config, &file));
        }
        Some(Command::Restore { file }) => {
            return report("restore", &file, chatr::backup::restore(&config, &file));
        }
    }
    // One worker: a current-thread runtime, so no task is ever handed to
    // (or stolen by) another thread and a wake-up is a queue push.
    let runtime = match config.worker_threads() {
        1 => tokio::runtime::Builder::new_current_thread(),
        n => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(n);
            builder
        }
    }
    .enable_all()
    .build();
    match runtime {
        Ok(runtime) => runtime.block_on(serve(config)),
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Says what a backup or restore did, on stdout, or why it failed, on stderr.
fn report(
    what: &str,
    file: &std::path::Path,
    outcome: Result<chatr::backup::Summary, chatr::backup::Failed>,
) -> ExitCode {
    match outcome {
        Ok(s) => {
            let database = if s.database {
                "the database"
            } else {
                "no database (PostgreSQL: use pg_dump)"
            };
            println!(
                "{what} {}: {database}, {} files ({} bytes)",
                file.display(),
                s.files,
                s.bytes
            );
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("{what} failed: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(config: chatr::Config) -> ExitCode {
    // Logs go to stderr: stdout carries only the line that announces the address.
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
    tracing::debug!(?config, "configuration");
    if let Some(files) = chatr::config::raise_open_file_limit() {
        tracing::debug!(files, "open-file limit");
    }
    let running = match chatr::start(config, shutdown_signal()).await {
        Ok(running) => running,
        Err(e) => {
            tracing::error!(error = %e, "could not start");
            return ExitCode::FAILURE;
        }
    };
    // Harnesses read this line to learn the port when PORT=0.
    println!("chatr listening on http://{}", running.addr);
    match running.wait().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!(error = %e, "server failed");
            ExitCode::FAILURE
        }
    }
}

async fn shutdown_signal() {
    let ctrl_c = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
}
