//! What the kernel says about a process: CPU time and resident memory.

use std::time::Duration;

/// Clock ticks per second of `/proc/PID/stat` (USER_HZ, 100 on Linux).
const TICKS_PER_SEC: u64 = 100;

/// User + system CPU time consumed so far by `pid` (`self` for this process).
pub fn cpu_time(pid: &str) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after_name = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(Duration::from_micros(
        (utime + stime) * 1_000_000 / TICKS_PER_SEC,
    ))
}

/// Resident set size in bytes.
pub fn rss_bytes(pid: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    let kb: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb * 1024)
}

/// CPU time of every process in a comma-separated list (several nodes).
fn cpu_time_all(pids: &str) -> Option<Duration> {
    pids.split(',').map(|p| cpu_time(p.trim())).sum()
}

/// Measures CPU used by the server (all its nodes) and by this tool over a window.
pub struct CpuWindow {
    server: Option<(String, Duration)>,
    own: Option<Duration>,
}

pub struct CpuUsed {
    pub server: Option<Duration>,
    pub own: Option<Duration>,
}

impl CpuWindow {
    pub fn start(server_pid: Option<&str>) -> Self {
        Self {
            server: server_pid.and_then(|p| cpu_time_all(p).map(|t| (p.to_owned(), t))),
            own: cpu_time("self"),
        }
    }

    pub fn stop(&self) -> CpuUsed {
        CpuUsed {
            server: self
                .server
                .as_ref()
                .and_then(|(pid, t0)| cpu_time_all(pid).map(|t| t.saturating_sub(*t0))),
            own: self
                .own
                .and_then(|t0| cpu_time("self").map(|t| t.saturating_sub(t0))),
        }
    }
}
