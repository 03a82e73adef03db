//! A real `eventpulse local` process for tests and benchmarks: ephemeral port, given data
//! dir, JSON logs captured.

#![allow(dead_code)]

use eventpulse_client::EventPulse;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

/// The `eventpulse` binary of this build; `EP_BENCH_SERVER_BIN` names another one, so that a
/// benchmark can compare two builds in one session (`cli/benches/local.rs`).
pub fn bin() -> String {
    std::env::var("EP_BENCH_SERVER_BIN")
        .ok()
        .filter(|b| !b.is_empty())
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_eventpulse").to_string())
}

pub struct Server {
    child: Option<Child>,
    pub base: String,
    pub data: PathBuf,
    logs: Arc<Mutex<Vec<String>>>,
}

/// Which adapters the server runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Embedded,
    /// The AWS adapters on moto (`EVENTPULSE_MOTO_ENDPOINT`), provisioned under a prefix of
    /// the test's own.
    Aws,
}

/// The moto server to run on; unset fails (never skips) the test.
pub fn moto_endpoint() -> String {
    std::env::var("EVENTPULSE_MOTO_ENDPOINT").unwrap_or_else(|_| {
        panic!(
            "EVENTPULSE_MOTO_ENDPOINT is not set: the AWS-backend tests run against moto server. \
             Start it with `eval \"$(bash scripts/moto.sh start)\"` (scripts/test.sh does)."
        )
    })
}

impl Server {
    pub fn start(data: &Path) -> Server {
        Self::start_with(data, &[])
    }

    pub fn start_on(backend: Backend, data: &Path) -> Server {
        Self::start_on_with(backend, data, &[])
    }

    /// [`Server::start_on`] with more arguments for `eventpulse local`.
    pub fn start_on_with(backend: Backend, data: &Path, more: &[&str]) -> Server {
        match backend {
            Backend::Embedded => Self::start_with(data, more),
            Backend::Aws => {
                // One deployment per data dir, so a restart finds its own resources.
                let prefix = format!(
                    "e2e-{}",
                    &data
                        .file_name()
                        .unwrap()
                        .to_string_lossy()
                        .to_lowercase()
                        .replace(|c: char| !c.is_ascii_alphanumeric(), "")
                );
                let prefix: String = prefix.chars().take(30).collect();
                let mut args = vec!["--backend", "aws", "--provision", "--prefix", &prefix];
                args.extend_from_slice(more);
                Self::start_with(data, &args)
            }
        }
    }

    pub fn start_with(data: &Path, extra: &[&str]) -> Server {
        let mut command = Command::new(bin());
        if extra.contains(&"aws") {
            let empty = data.join("empty-aws-profile");
            std::fs::create_dir_all(data).unwrap();
            std::fs::write(&empty, "").unwrap();
            command
                .env("AWS_ENDPOINT_URL", moto_endpoint())
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_REGION", "us-east-1")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .env("AWS_CONFIG_FILE", &empty)
                .env("AWS_SHARED_CREDENTIALS_FILE", &empty);
        }
        let mut child = command
            .args(["local", "--addr", "127.0.0.1:0", "--quiet"])
            .args(extra)
            .arg("--data-dir")
            .arg(data)
            .env("EVENTPULSE_LOG_FORMAT", "json")
            .env("EVENTPULSE_LOG", "info")
            .env_remove("EVENTPULSE_JWT_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start eventpulse local");
        let stderr = child.stderr.take().unwrap();
        let logs = Arc::new(Mutex::new(Vec::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let sink = logs.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if line.contains("eventpulse local is listening") {
                    let v: Value = serde_json::from_str(&line).unwrap_or_default();
                    let _ = tx.send(v["addr"].as_str().unwrap_or_default().to_string());
                }
                sink.lock().unwrap().push(line);
            }
        });
        let addr = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("server did not start: {:?}", logs.lock().unwrap()));
        Server {
            child: Some(child),
            base: format!("http://{addr}"),
            data: data.to_path_buf(),
            logs,
        }
    }

    pub fn token(&self, user: &str) -> String {
        let out = Command::new(bin())
            .args(["token", "--user", user])
            .arg("--data-dir")
            .arg(&self.data)
            .env_remove("EVENTPULSE_JWT_SECRET")
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    }

    pub fn client(&self, user: &str) -> EventPulse {
        EventPulse::new(&self.base, Some(&self.token(user))).unwrap()
    }

    /// SIGTERM, then wait: the server drains in-flight work and exits.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let status = child.wait().unwrap();
            assert!(status.success(), "server exited with {status}");
        }
    }

    /// The log lines once `ready` holds for them, or after 10 s whatever they are (the
    /// assertions that follow then say what is missing). An audit line is written after its
    /// response is sent and reaches this process through a pipe and a reader thread, so a
    /// test that has just received a response may not see its line yet.
    pub fn log_lines_when(&self, ready: impl Fn(&[Value]) -> bool) -> Vec<Value> {
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        loop {
            let lines = self.log_lines();
            if ready(&lines) || std::time::Instant::now() >= deadline {
                return lines;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }

    pub fn log_lines(&self) -> Vec<Value> {
        self.logs
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| serde_json::from_str(l).ok())
            .collect()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// The pid of the `eventpulse local` serving `data` (its arguments name that data dir), for
/// benchmarks that read its CPU time or memory from /proc; Linux only.
pub fn server_pid(data: &Path) -> Option<u32> {
    let data = data.to_string_lossy();
    std::fs::read_dir("/proc").ok()?.flatten().find_map(|e| {
        let pid: u32 = e.file_name().to_string_lossy().parse().ok()?;
        let cmdline = std::fs::read(e.path().join("cmdline")).ok()?;
        let args: Vec<String> = cmdline
            .split(|b| *b == 0)
            .map(|a| String::from_utf8_lossy(a).into_owned())
            .collect();
        (args.iter().any(|a| a == "local") && args.iter().any(|a| *a == data)).then_some(pid)
    })
}
