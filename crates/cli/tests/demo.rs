//! The demo on one machine: two at once, each on free ports (HTTP and the
//! embedded MQTT endpoint), and a port already taken is refused with the
//! setting to change.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;

/// A running demo; killed when dropped, also when a test fails.
struct Demo {
    child: Child,
    lines: mpsc::Receiver<String>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `firstlink demo` with a small population, no training incidents.
fn demo(dir: &Path, listen: &str, env: &[(&str, &str)]) -> Demo {
    let mut child = Command::new(BIN)
        .args([
            "demo",
            "--listen",
            listen,
            "--data-dir",
            dir.to_str().unwrap(),
            "--volunteers",
            "30",
            "--incident-every",
            "0",
        ])
        .env("RUST_LOG", "warn")
        .env_remove("FIRSTLINK_MONITOR__BROKER_LISTEN")
        .env_remove("FIRSTLINK_LISTEN")
        .env_remove("FIRSTLINK_CONFIG")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (tx, lines) = mpsc::channel();
    for out in [
        Box::new(child.stdout.take().unwrap()) as Box<dyn std::io::Read + Send>,
        Box::new(child.stderr.take().unwrap()),
    ] {
        let tx = tx.clone();
        std::thread::spawn(move || {
            for l in BufReader::new(out).lines().map_while(Result::ok) {
                if tx.send(l).is_err() {
                    return;
                }
            }
        });
    }
    Demo { child, lines }
}

impl Demo {
    /// The rest of a line starting with `prefix`, waiting up to `secs`.
    fn line(&self, prefix: &str, secs: u64) -> String {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        while let Some(left) = end.checked_duration_since(Instant::now()) {
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    if let Some(rest) = l.trim_start().strip_prefix(prefix) {
                        return rest.trim().to_string();
                    }
                    seen.push(l);
                }
                Err(_) => break,
            }
        }
        panic!("no line {prefix:?} within {secs} s; output: {seen:#?}");
    }

    /// Waits for the process to end; its exit status and what it printed.
    fn exit(mut self, secs: u64) -> (std::process::ExitStatus, String) {
        let end = Instant::now() + Duration::from_secs(secs);
        let status = loop {
            if let Some(s) = self.child.try_wait().unwrap() {
                break s;
            }
            assert!(Instant::now() < end, "still running after {secs} s");
            std::thread::sleep(Duration::from_millis(100));
        };
        // The readers end with the process.
        let mut out = String::new();
        while let Ok(l) = self.lines.recv_timeout(Duration::from_secs(5)) {
            out.push_str(&l);
            out.push('\n');
        }
        (status, out)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_demos_run_side_by_side_on_free_ports() {
    let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let first = demo(a.path(), "127.0.0.1:0", &[]);
    let second = demo(b.path(), "127.0.0.1:0", &[]);
    let http = reqwest::Client::new();
    let mut seen = Vec::new();
    for d in [&first, &second] {
        // The first start builds the street graph and seeds the region.
        let base = d.line("server:", 300);
        let mqtt = d.line("MQTT (units):", 10);
        assert!(base.starts_with("http://127.0.0.1:"), "{base}");
        let mqtt = mqtt.strip_prefix("mqtt://").unwrap().to_string();
        let port: u16 = mqtt.rsplit(':').next().unwrap().parse().unwrap();
        assert_ne!(port, 1884, "the MQTT endpoint took a free port");
        let r = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
        // The MQTT endpoint listens where the banner says.
        tokio::net::TcpStream::connect(&mqtt).await.unwrap();
        seen.push((base, mqtt));
    }
    assert_ne!(seen[0], seen[1]);
    // Both still answer with the other one running.
    for (base, _) in &seen {
        let r = http.get(format!("{base}/health")).send().await.unwrap();
        assert_eq!(r.status(), 200);
    }
    drop((first, second));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_port_in_use_is_refused_naming_the_setting_to_change() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = taken.local_addr().unwrap().to_string();

    // The embedded MQTT endpoint, set to a port another process holds.
    let dir = tempfile::tempdir().unwrap();
    let d = demo(
        dir.path(),
        "127.0.0.1:0",
        &[("FIRSTLINK_MONITOR__BROKER_LISTEN", &addr)],
    );
    let (status, out) = d.exit(300);
    assert!(!status.success(), "{out}");
    assert!(
        out.contains(&format!("monitor.broker_listen {addr} is in use"))
            && out.contains("FIRSTLINK_MONITOR__BROKER_LISTEN")
            && out.contains("[monitor] broker_listen"),
        "{out}"
    );

    // The HTTP address, likewise (`serve` binds it first).
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--listen", &addr, "--data-dir"])
        .arg(dir.path())
        .env("FIRSTLINK_MONITOR__BROKER_LISTEN", "127.0.0.1:0")
        .env("RUST_LOG", "warn")
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains(&format!("listen {addr} is in use")) && err.contains("--listen"),
        "{err}"
    );
    drop(taken);
}
