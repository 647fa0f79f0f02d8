//! Percentiles, resident memory and table printing.

use std::time::Duration;

/// Latency samples in nanoseconds.
#[derive(Default)]
pub struct Samples(pub Vec<u64>);

impl Samples {
    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn push(&mut self, d: Duration) {
        self.0.push(u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
    }

    pub fn push_ns(&mut self, ns: u64) {
        self.0.push(ns);
    }

    pub fn extend(&mut self, other: Samples) {
        self.0.extend(other.0);
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Sorts once; call before the percentiles.
    pub fn sort(&mut self) {
        self.0.sort_unstable();
    }

    /// Nearest-rank percentile (`q` in 0..=1) of sorted samples, in ms.
    pub fn pct_ms(&self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        let n = self.0.len();
        let rank = ((q * n as f64).ceil() as usize).clamp(1, n);
        self.0[rank - 1] as f64 / 1e6
    }

    pub fn max_ms(&self) -> f64 {
        self.0.last().map_or(f64::NAN, |&x| x as f64 / 1e6)
    }

    pub fn mean_ms(&self) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.iter().map(|&x| x as f64).sum::<f64>() / self.0.len() as f64 / 1e6
    }
}

/// The resident set size of this process, bytes (from /proc/self/status).
pub fn rss_bytes() -> u64 {
    let s = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    s.lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok())
        .map_or(0, |kb| kb * 1024)
}

/// A plain-text table with right-aligned columns after the first.
pub struct Table {
    title: String,
    head: Vec<String>,
    rows: Vec<Vec<String>>,
}

impl Table {
    pub fn new(title: &str, head: &[&str]) -> Self {
        Self {
            title: title.into(),
            head: head.iter().map(|s| s.to_string()).collect(),
            rows: Vec::new(),
        }
    }

    pub fn row(&mut self, cells: Vec<String>) {
        self.rows.push(cells);
    }

    pub fn print(&self) {
        let cols = self.head.len();
        let mut w = vec![0usize; cols];
        for r in std::iter::once(&self.head).chain(&self.rows) {
            for (i, c) in r.iter().enumerate().take(cols) {
                w[i] = w[i].max(c.chars().count());
            }
        }
        let line = |r: &Vec<String>| {
            let mut s = String::from("| ");
            for (i, width) in w.iter().enumerate() {
                let c = r.get(i).map_or("", String::as_str);
                let pad = width - c.chars().count();
                if i == 0 {
                    s.push_str(c);
                    s.push_str(&" ".repeat(pad));
                } else {
                    s.push_str(&" ".repeat(pad));
                    s.push_str(c);
                }
                s.push_str(" | ");
            }
            s.trim_end().to_string()
        };
        println!("\n### {}\n", self.title);
        println!("{}", line(&self.head));
        let sep: Vec<String> = w
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                if i == 0 {
                    "-".repeat(n)
                } else {
                    format!("{}:", "-".repeat(n.max(2) - 1))
                }
            })
            .collect();
        println!("| {} |", sep.join(" | "));
        for r in &self.rows {
            println!("{}", line(r));
        }
    }
}

/// `1234567.8` → `"1,234,568"`.
pub fn thousands(x: f64) -> String {
    let n = x.round() as i64;
    let s = n.unsigned_abs().to_string();
    let mut out = String::new();
    for (i, ch) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(ch);
    }
    if n < 0 { format!("-{out}") } else { out }
}

/// Milliseconds with three decimals.
pub fn ms(x: f64) -> String {
    format!("{x:.3}")
}

/// A met/missed mark for a target.
pub fn verdict(ok: bool) -> String {
    if ok { "met".into() } else { "MISSED".into() }
}

/// Nanoseconds this thread has spent on a CPU (from /proc/thread-self/schedstat).
pub fn thread_cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|x| x.parse().ok()))
        .unwrap_or(0)
}

/// The 1, 5 and 15 minute load averages, as /proc/loadavg reports them.
pub fn loadavg() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .unwrap_or_default()
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}
