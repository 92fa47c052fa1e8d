//! CPU time of the API double: the sum over this process's threads named
//! [`crate::cloud::API_THREADS`] of `utime + stime` (`/proc/self/task/<tid>/stat`), sampled
//! so that both the total over a window and its busiest interval are known.

use std::time::{Duration, Instant};

/// Clock ticks per second of `/proc`'s times (`getconf CLK_TCK`; 100 on Linux everywhere).
fn ticks_per_second() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

/// CPU seconds the threads whose name starts with `prefix` have used so far.
pub fn thread_cpu_seconds(prefix: &str) -> f64 {
    let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
        return 0.0;
    };
    let mut ticks = 0u64;
    for task in tasks.flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else {
            continue;
        };
        // `pid (comm) state ppid ...`: comm may hold spaces, so split at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else {
            continue;
        };
        if !stat[open + 1..close].starts_with(prefix) {
            continue;
        }
        let fields: Vec<&str> = stat[close + 2..].split(' ').collect();
        // utime and stime are fields 14 and 15 of the line, 12 and 13 after comm.
        let field = |i: usize| fields.get(i).and_then(|f| f.parse::<u64>().ok());
        ticks += field(11).unwrap_or(0) + field(12).unwrap_or(0);
    }
    ticks as f64 / ticks_per_second()
}

/// Samples of the double's CPU time over a window.
pub struct CpuWindow {
    prefix: &'static str,
    started: Instant,
    start_cpu: f64,
    last: (Instant, f64),
    peak: f64,
}

/// Shortest interval a peak is measured over (a few clock ticks).
const PEAK_INTERVAL: Duration = Duration::from_millis(500);

impl CpuWindow {
    /// Starts measuring the threads named `prefix…`.
    pub fn start(prefix: &'static str) -> Self {
        let now = Instant::now();
        let cpu = thread_cpu_seconds(prefix);
        Self {
            prefix,
            started: now,
            start_cpu: cpu,
            last: (now, cpu),
            peak: 0.0,
        }
    }

    /// Takes a sample if the last one is at least [`PEAK_INTERVAL`] old.
    pub fn sample(&mut self) {
        let now = Instant::now();
        let elapsed = now.duration_since(self.last.0);
        if elapsed < PEAK_INTERVAL {
            return;
        }
        let cpu = thread_cpu_seconds(self.prefix);
        self.peak = self.peak.max((cpu - self.last.1) / elapsed.as_secs_f64());
        self.last = (now, cpu);
    }

    /// (CPU seconds over the window, mean cores, peak cores over any sampled interval).
    pub fn finish(mut self) -> (f64, f64, f64) {
        self.sample();
        let total = thread_cpu_seconds(self.prefix) - self.start_cpu;
        let wall = self.started.elapsed().as_secs_f64().max(1e-9);
        (total, total / wall, self.peak.max(total / wall))
    }
}
