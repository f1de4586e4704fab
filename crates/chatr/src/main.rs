//! The `chatr` binary: read the configuration, start logging, serve until a signal.

use std::io::IsTerminal;
use std::process::ExitCode;

use chatr::cli::Command;
use clap::Parser;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::prelude::*;

#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    let cli = chatr::cli::Cli::parse();
    let config = cli.config;
    let admin_command = match cli.command {
        None => None,
        Some(Command::Admin { command }) => Some(command),
        Some(Command::Backup { file }) => {
            return report("backup", &file, chatr::backup::backup(&config, &file));
        }
        Some(Command::Restore { file }) => {
            return report("restore", &file, chatr::backup::restore(&config, &file));
        }
    };
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
        Ok(runtime) => match admin_command {
            Some(command) => runtime.block_on(admin(config, command)),
            None => {
                let export = logging(&config);
                let code = runtime.block_on(serve(config));
                // The spans still buffered go out before the process ends.
                if let Some(export) = export {
                    export.shutdown();
                }
                code
            }
        },
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

/// `chatr admin …`: through the server the configuration names, or one
/// started here on the same data when none answers there.
async fn admin(config: chatr::Config, command: chatr::operator::AdminCommand) -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::new("warn"))
        .with_writer(std::io::stderr)
        .init();
    let fail = |why: String| {
        eprintln!("admin: {why}");
        ExitCode::FAILURE
    };
    if config.jwt_secret.is_none()
        && let Err(e) = std::fs::create_dir_all(&config.data_dir)
    {
        return fail(format!("{}: {e}", config.data_dir.display()));
    }
    let token = chatr::auth::token::load_secret(config.jwt_secret.as_deref(), &config.data_dir)
        .and_then(|secret| chatr::auth::token::Tokens::new(&secret, config.token_ttl_secs))
        .and_then(|tokens| tokens.issue_operator());
    let token = match token {
        Ok(t) => t,
        Err(e) => return fail(e.to_string()),
    };
    let host = match config.host {
        std::net::IpAddr::V4(a) if a.is_unspecified() => std::net::Ipv4Addr::LOCALHOST.into(),
        std::net::IpAddr::V6(a) if a.is_unspecified() => std::net::Ipv6Addr::LOCALHOST.into(),
        other => other,
    };
    let configured = std::net::SocketAddr::new(host, config.port);
    let mut local = None;
    let addr = if config.port != 0 && chatr::operator::reachable(configured).await {
        configured
    } else {
        let mut here = config.clone();
        here.port = 0;
        here.host = std::net::Ipv4Addr::LOCALHOST.into();
        match chatr::start(here, std::future::pending()).await {
            Ok(running) => {
                let addr = running.addr;
                local = Some(running);
                addr
            }
            Err(e) => {
                return fail(format!(
                    "no server at {configured}, and none could start: {e}"
                ));
            }
        }
    };
    let outcome = chatr::operator::run(&command, addr, &token).await;
    if let Some(running) = local {
        let _ = running.stop().await;
    }
    match outcome {
        Ok(out) => {
            print!("{out}");
            ExitCode::SUCCESS
        }
        Err(e) => fail(e.to_string()),
    }
}

/// Logs to stderr (stdout carries only the line that announces the
/// address), filtered by `RUST_LOG`; and, when an OTLP endpoint is
/// configured, spans to it (filtered on their own, see `otel`).
fn logging(config: &chatr::Config) -> Option<chatr::otel::Export> {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    let logs = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let logs = match config.log_format {
        chatr::config::LogFormat::Json => logs.json().with_current_span(true).boxed(),
        chatr::config::LogFormat::Text => logs.with_ansi(std::io::stderr().is_terminal()).boxed(),
    };
    let (spans, export) = chatr::otel::layer().unzip();
    tracing_subscriber::registry()
        .with(logs.with_filter(filter))
        .with(spans)
        .init();
    if export.is_some() {
        tracing::info!("exporting spans over OTLP");
    }
    export
}

async fn serve(config: chatr::Config) -> ExitCode {
    tracing::debug!(?config, "configuration");
    if let Some(files) = chatr::config::raise_open_file_limit() {
        tracing::debug!(files, "open-file limit");
    }
    let running = match chatr::start(config, shutdown_signal()).await {
        Ok(running) => running,
        Err(e) => {
            // An operator needs the cause, not the client-facing summary
            // ("database unavailable" alone says nothing of which or why).
            let mut why = e.to_string();
            let mut cause = std::error::Error::source(&e);
            while let Some(c) = cause {
                // Some errors repeat their source's words in their own.
                let said = c.to_string();
                if !why.ends_with(&said) {
                    why = format!("{why}: {said}");
                }
                cause = c.source();
            }
            tracing::error!(error = %why, "could not start");
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
