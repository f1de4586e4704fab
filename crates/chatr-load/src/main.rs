//! `chatr-load`: drives any server of the Chatr contract (Chatr itself or the
//! Node.js reference) over the public protocol only, and reports latency,
//! loss, and the server's CPU and memory read from `/proc`.

mod chat;
mod conns;
mod http;
mod proc;
mod sio;
mod timer;

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "chatr-load",
    about = "Load generator for Chatr-contract servers (loopback only)"
)]
struct Cli {
    /// Server address, e.g. 127.0.0.1:3001 (loopback only).
    #[arg(long, default_value = "127.0.0.1:3001")]
    server: String,
    /// PID of the server process, to read its CPU time and memory; with
    /// several nodes, their PIDs separated by commas (CPU is summed).
    #[arg(long)]
    pid: Option<String>,
    /// `chat` and `ramp`: connect the recipients to this node instead, so
    /// every message crosses from one node to another.
    #[arg(long)]
    recipients_server: Option<String>,
    #[command(subcommand)]
    scenario: Scenario,
}

#[derive(Subcommand)]
enum Scenario {
    /// N idle authenticated sessions: connect rate, failures, RSS per session.
    Conns {
        #[arg(long, default_value_t = 2000)]
        sessions: usize,
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 200)]
        parallel: usize,
        /// Seconds to wait after creating the accounts before the first RSS
        /// sample: a server may give back the memory of its logins late
        /// (tokio ends blocking threads idle for 10 s, and with them the
        /// memory of the password hashes they computed), which would bend
        /// the slope between the two samples.
        #[arg(long, default_value_t = 12.0)]
        settle: f64,
        /// Sessions at the first RSS sample (default: half of them); the
        /// slope is taken from there to all of them.
        #[arg(long)]
        from: Option<usize>,
    },
    /// P pairs at R messages/s in total for S seconds.
    Chat {
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[arg(long, default_value_t = 1000.0)]
        rate: f64,
        #[arg(long, default_value_t = 10.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1.0)]
        warmup: f64,
    },
    /// Rising rate until p99 > the limit or any loss; reports the highest clean rate.
    Ramp {
        #[arg(long, default_value_t = 50)]
        pairs: usize,
        #[arg(long, default_value_t = 1000.0)]
        start: f64,
        #[arg(long, default_value_t = 1.25)]
        factor: f64,
        #[arg(long, default_value_t = 4.0)]
        step_seconds: f64,
        #[arg(long, default_value_t = 50.0)]
        p99_ms: f64,
        #[arg(long, default_value_t = 60_000.0)]
        max_rate: f64,
        /// Runs a failed step again this many times before the ramp ends:
        /// a step the disk stalled (it stalls every server on the machine
        /// alike) says nothing of the rate, a rate beyond capacity fails
        /// again.
        #[arg(long, default_value_t = 0)]
        retries: u32,
        /// Runs every step this many times and judges it by the majority:
        /// one ramp on this machine spans three steps of noise, so a change
        /// of one step shows only when a step's verdict is not one run's.
        #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..))]
        trials: u32,
    },
    /// N sessions drop and reconnect at once; messages sent meanwhile must all arrive.
    Storm {
        #[arg(long, default_value_t = 2000)]
        sessions: usize,
        #[arg(long, default_value_t = 100)]
        users: usize,
        #[arg(long, default_value_t = 500)]
        parallel: usize,
        #[arg(long, default_value_t = 200)]
        messages: usize,
    },
}

fn loopback(server: &str) -> Result<SocketAddr, String> {
    let addr = server
        .to_socket_addrs()
        .map_err(|e| e.to_string())?
        .next()
        .ok_or("no address")?;
    if !addr.ip().is_loopback() {
        return Err(format!(
            "{addr} is not a loopback address; this tool only targets this machine"
        ));
    }
    Ok(addr)
}

// One thread: no cross-thread wake-ups per frame, so the tool's own cost per
// message stays small and it leaves the other core to the server.
#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let server = match loopback(&cli.server) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("chatr-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let pid = cli.pid.as_deref();
    let recipients = match cli.recipients_server.as_deref().map(loopback).transpose() {
        Ok(a) => a.unwrap_or(server),
        Err(e) => {
            eprintln!("chatr-load: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result =
        match cli.scenario {
            Scenario::Conns {
                sessions,
                users,
                parallel,
                settle,
                from,
            } => match http::register_many(server, users.max(1), 8).await {
                Ok(accounts) => {
                    if pid.is_some() {
                        tokio::time::sleep(Duration::from_secs_f64(settle.max(0.0))).await;
                    }
                    let from = from.unwrap_or(sessions / 2).min(sessions);
                    conns::conns(server, pid, &accounts, sessions, from, parallel).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
            Scenario::Chat {
                pairs,
                rate,
                seconds,
                warmup,
            } => {
                async {
                    let accounts = http::register_many(server, pairs * 2, 8).await?;
                    let mut rig = chat::Rig::connect(
                        server,
                        recipients,
                        &accounts,
                        (rate * seconds) as usize + 1,
                    )
                    .await?;
                    let result = rig
                        .run(rate, seconds, warmup, Duration::from_secs(5), pid)
                        .await;
                    result.print("chat");
                    rig.close();
                    Ok::<_, String>(())
                }
                .await
            }
            Scenario::Ramp {
                pairs,
                start,
                factor,
                step_seconds,
                p99_ms,
                max_rate,
                retries,
                trials,
            } => async {
                let accounts = http::register_many(server, pairs * 2, 8).await?;
                let mut capacity = 0.0;
                let mut r = start;
                while r <= max_rate {
                    capacity += r * step_seconds * f64::from((retries + 1) * trials);
                    r *= factor;
                }
                let mut rig =
                    chat::Rig::connect(server, recipients, &accounts, capacity as usize + 1)
                        .await?;
                let mut best = None;
                let mut rate = start;
                let mut retried = 0;
                'steps: while rate <= max_rate {
                    let mut tries = 0;
                    loop {
                        let mut clean = 0;
                        for trial in 0..trials {
                            if trial > 0 {
                                tokio::time::sleep(Duration::from_millis(500)).await;
                            }
                            let result = rig
                                .run(rate, step_seconds, 1.0, Duration::from_secs(3), pid)
                                .await;
                            result.print(if tries == 0 { "ramp-step" } else { "ramp-retry" });
                            if result.clean((p99_ms * 1000.0) as u64) {
                                clean += 1;
                            }
                        }
                        if clean * 2 > trials {
                            retried += tries;
                            break;
                        }
                        if tries == retries {
                            break 'steps;
                        }
                        tries += 1;
                        tokio::time::sleep(Duration::from_millis(500)).await;
                    }
                    best = Some(rate);
                    rate *= factor;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                }
                match best {
                    Some(b) => println!(
                        "ramp: highest clean rate {b:.0} messages/s (p99 ≤ {p99_ms} ms, no loss; \
                         {retried} steps passed on a retry, {trials} runs a step)"
                    ),
                    None => println!("ramp: no clean rate at or above {start:.0}/s"),
                }
                println!(
                    "RESULT {}",
                    serde_json::json!({ "scenario": "ramp", "highest_clean_rate": best, "retried": retried, "trials": trials })
                );
                rig.close();
                Ok(())
            }
            .await,
            Scenario::Storm {
                sessions,
                users,
                parallel,
                messages,
            } => match http::register_many(server, users.max(1) + 1, 8).await {
                Ok(accounts) => {
                    conns::storm(server, pid, &accounts, sessions, parallel, messages).await;
                    Ok(())
                }
                Err(e) => Err(e),
            },
        };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("chatr-load: {e}");
            ExitCode::FAILURE
        }
    }
}
