//! Prometheus metrics: one recorder per process (the `metrics` facade's
//! macros record from anywhere at the cost of an atomic add), rendered as
//! Prometheus text at `/metrics`. Names, in one place so that the dashboard
//! (`docs/grafana-dashboard.json`) and the docs can rely on them.

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

pub const SESSIONS: &str = "chatr_sessions";
pub const CONNECTS_REFUSED: &str = "chatr_connects_refused_total";
pub const MESSAGES_STORED: &str = "chatr_messages_stored_total";
pub const MESSAGES_DELIVERED: &str = "chatr_messages_delivered_total";
pub const ACK_SECONDS: &str = "chatr_ack_seconds";
pub const COMMIT_SECONDS: &str = "chatr_commit_seconds";
pub const BATCH_JOBS: &str = "chatr_writer_batch_jobs";
pub const WRITER_WAIT: &str = "chatr_writer_wait_seconds";
pub const WRITER_QUEUE: &str = "chatr_writer_queue_jobs";
pub const RELAY_QUEUE: &str = "chatr_relay_queue";
pub const REFUSED: &str = "chatr_refused_total";
pub const UPLOADS: &str = "chatr_uploads_total";
pub const UPLOAD_BYTES: &str = "chatr_upload_bytes_total";
pub const DATABASE_ERRORS: &str = "chatr_database_errors_total";
pub const REDIS_ERRORS: &str = "chatr_redis_errors_total";
pub const PUSHES: &str = "chatr_pushes_total";
pub const PUSH_QUEUE: &str = "chatr_push_queue";
pub const PROCESS_CPU: &str = "chatr_process_cpu_seconds";
pub const PROCESS_RSS: &str = "chatr_process_resident_memory_bytes";
pub const PROCESS_FDS: &str = "chatr_process_open_fds";

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Handles of the per-message metrics, looked up once: the macros hash the
/// name and search the registry on every call.
pub fn messages_stored() -> &'static metrics::Counter {
    static H: OnceLock<metrics::Counter> = OnceLock::new();
    H.get_or_init(|| metrics::counter!(MESSAGES_STORED))
}

pub fn push_queue() -> &'static metrics::Gauge {
    static H: OnceLock<metrics::Gauge> = OnceLock::new();
    H.get_or_init(|| metrics::gauge!(PUSH_QUEUE))
}

pub fn messages_delivered() -> &'static metrics::Counter {
    static H: OnceLock<metrics::Counter> = OnceLock::new();
    H.get_or_init(|| metrics::counter!(MESSAGES_DELIVERED))
}

pub fn ack_seconds() -> &'static metrics::Histogram {
    static H: OnceLock<metrics::Histogram> = OnceLock::new();
    H.get_or_init(|| metrics::histogram!(ACK_SECONDS))
}

/// The writer's per-batch metrics: a commit at 1,000 messages/s is a batch.
pub fn commit_seconds() -> &'static metrics::Histogram {
    static H: OnceLock<metrics::Histogram> = OnceLock::new();
    H.get_or_init(|| metrics::histogram!(COMMIT_SECONDS))
}

pub fn batch_jobs() -> &'static metrics::Histogram {
    static H: OnceLock<metrics::Histogram> = OnceLock::new();
    H.get_or_init(|| metrics::histogram!(BATCH_JOBS))
}

/// How long the oldest write of a batch waited for the batch to begin
/// (SQLite's inline writer): the queue's share of a message's latency.
pub fn writer_wait_seconds() -> &'static metrics::Histogram {
    static H: OnceLock<metrics::Histogram> = OnceLock::new();
    H.get_or_init(|| metrics::histogram!(WRITER_WAIT))
}

pub fn writer_queue() -> &'static metrics::Gauge {
    static H: OnceLock<metrics::Gauge> = OnceLock::new();
    H.get_or_init(|| metrics::gauge!(WRITER_QUEUE))
}

/// Installs the process's recorder (once; later calls reuse it, as tests
/// start several servers in one process) and keeps its histograms drained.
pub fn install() -> Option<PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            // Histograms are of seconds, but for the batch's size: a count
            // of writes, up to the writer's largest batch (512).
            let recorder = PrometheusBuilder::new()
                .set_buckets(&[
                    0.000_1, 0.000_25, 0.000_5, 0.001, 0.002_5, 0.005, 0.01, 0.025, 0.05, 0.1,
                    0.25, 0.5, 1.0, 2.5,
                ])
                .ok()?
                .set_buckets_for_metric(
                    Matcher::Full(BATCH_JOBS.into()),
                    &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0],
                )
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            describe();
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("chatr-metrics".into())
                .spawn(move || {
                    loop {
                        std::thread::sleep(Duration::from_secs(5));
                        upkeep.run_upkeep();
                    }
                })
                .ok()?;
            Some(handle)
        })
        .clone()
}

fn describe() {
    use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
    describe_gauge!(SESSIONS, "Socket.IO sessions connected to this node");
    describe_counter!(CONNECTS_REFUSED, "connection attempts refused, by reason");
    describe_counter!(MESSAGES_STORED, "messages stored through this node");
    describe_counter!(
        MESSAGES_DELIVERED,
        "receipts that moved a message to delivered"
    );
    describe_histogram!(
        ACK_SECONDS,
        Unit::Seconds,
        "message:send received to acknowledged"
    );
    describe_histogram!(
        COMMIT_SECONDS,
        Unit::Seconds,
        "one writer batch: begin to commit"
    );
    describe_histogram!(BATCH_JOBS, "writes committed together in one batch");
    describe_histogram!(
        WRITER_WAIT,
        Unit::Seconds,
        "the oldest write of a batch: queued to the batch's start (SQLite's inline writer)"
    );
    describe_gauge!(WRITER_QUEUE, "writes waiting for the writer");
    describe_gauge!(
        RELAY_QUEUE,
        "notices waiting to be published to other nodes"
    );
    describe_counter!(REFUSED, "events and requests refused, by error code");
    describe_counter!(UPLOADS, "files uploaded");
    describe_counter!(UPLOAD_BYTES, Unit::Bytes, "bytes of files uploaded");
    describe_counter!(DATABASE_ERRORS, "database operations that failed");
    describe_counter!(REDIS_ERRORS, "Redis operations that failed");
    describe_counter!(
        PUSHES,
        "Web Push deliveries by outcome: sent, gone, refused, failed, capped, dropped"
    );
    describe_gauge!(PUSH_QUEUE, "pushes waiting for a delivery slot");
    describe_gauge!(
        PROCESS_CPU,
        Unit::Seconds,
        "CPU time of this process so far"
    );
    describe_gauge!(PROCESS_RSS, Unit::Bytes, "resident memory of this process");
    describe_gauge!(PROCESS_FDS, "open file descriptors of this process");
}

/// The Prometheus text, with the process figures read now.
pub fn render(handle: &PrometheusHandle) -> String {
    process_figures();
    handle.render()
}

/// CPU, RSS and open descriptors from /proc (Linux; elsewhere nothing).
fn process_figures() {
    let ticks = 100.0; // USER_HZ on Linux
    if let Ok(stat) = std::fs::read_to_string("/proc/self/stat") {
        // Fields after the command name, which may hold spaces.
        let after = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
        let fields: Vec<&str> = after.split_whitespace().collect();
        let num = |i: usize| {
            fields
                .get(i)
                .and_then(|f| f.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        // utime and stime are fields 14 and 15 of the whole line: 11 and 12 here.
        metrics::gauge!(PROCESS_CPU).set((num(11) + num(12)) / ticks);
        // rss (in pages) is field 24: 21 here.
        metrics::gauge!(PROCESS_RSS).set(num(21) * 4096.0);
    }
    if let Ok(fds) = std::fs::read_dir("/proc/self/fd") {
        metrics::gauge!(PROCESS_FDS).set(fds.count() as f64);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every metric the Grafana dashboard queries is one this module records.
    #[test]
    fn the_dashboard_uses_only_recorded_metrics() {
        let known = [
            SESSIONS,
            CONNECTS_REFUSED,
            MESSAGES_STORED,
            MESSAGES_DELIVERED,
            ACK_SECONDS,
            COMMIT_SECONDS,
            BATCH_JOBS,
            WRITER_WAIT,
            WRITER_QUEUE,
            RELAY_QUEUE,
            REFUSED,
            UPLOADS,
            UPLOAD_BYTES,
            DATABASE_ERRORS,
            REDIS_ERRORS,
            PROCESS_CPU,
            PROCESS_RSS,
            PROCESS_FDS,
        ];
        let dashboard = include_str!("../../../docs/grafana-dashboard.json");
        let mut used = 0;
        for (i, _) in dashboard.match_indices("chatr_") {
            let name: String = dashboard[i..]
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            let base = ["_bucket", "_sum", "_count"]
                .iter()
                .find_map(|s| name.strip_suffix(s))
                .unwrap_or(&name);
            assert!(known.contains(&base), "the dashboard queries {name}");
            used += 1;
        }
        assert!(used >= 10);
    }
}
