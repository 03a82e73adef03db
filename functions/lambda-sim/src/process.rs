//! A function binary as a process under a [`RuntimeApi`], with the environment Lambda would
//! give it on a moto deployment, and what a benchmark reads from it (its peak RSS).

use crate::RuntimeApi;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tokio::process::Child;

/// What every function process shares: empty AWS profile files (so nothing of the
/// developer's `~/.aws` is read) and a directory for the processes' logs.
pub struct Sandbox {
    dir: tempfile::TempDir,
    endpoint: String,
}

impl Sandbox {
    pub fn new(endpoint: &str) -> std::io::Result<Self> {
        let dir = tempfile::tempdir()?;
        for f in ["config", "credentials"] {
            std::fs::write(dir.path().join(f), "")?;
        }
        Ok(Self {
            dir,
            endpoint: endpoint.to_string(),
        })
    }

    /// The SDK's side of the environment: every service at moto, static credentials.
    fn aws_env(&self) -> Vec<(&'static str, String)> {
        let file = |f: &str| self.dir.path().join(f).display().to_string();
        vec![
            ("AWS_ENDPOINT_URL", self.endpoint.clone()),
            ("AWS_ACCESS_KEY_ID", "testing".into()),
            ("AWS_SECRET_ACCESS_KEY", "testing".into()),
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_CONFIG_FILE", file("config")),
            ("AWS_SHARED_CREDENTIALS_FILE", file("credentials")),
        ]
    }

    /// Starts `binary` as function `name` under `api`, with `env` (the `EVENTPULSE_*`
    /// variables) on top of Lambda's and the SDK's. Nothing else of ours leaks in: any
    /// inherited `AWS_*` or `EVENTPULSE_*` variable is removed.
    pub fn spawn(
        &self,
        api: &RuntimeApi,
        binary: &Path,
        name: &str,
        env: &[(&str, String)],
    ) -> std::io::Result<FunctionProcess> {
        let mut cmd = api.command(binary, name);
        cmd.envs(self.aws_env())
            .envs(env.iter().map(|(k, v)| (*k, v)));
        let ours: Vec<String> = cmd
            .as_std()
            .get_envs()
            .map(|(k, _)| k.to_string_lossy().into_owned())
            .collect();
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy();
            let scoped = k.starts_with("AWS_") || k.starts_with("EVENTPULSE_");
            if scoped && !ours.iter().any(|o| *o == k) {
                cmd.env_remove(&*k);
            }
        }
        // Logs to a file, never to a pipe nobody reads: a full pipe would block the function.
        let log = self
            .dir
            .path()
            .join(format!("{name}-{}.log", uuid::Uuid::new_v4().simple()));
        let out = std::fs::File::create(&log)?;
        cmd.stdin(Stdio::null())
            .stdout(out.try_clone()?)
            .stderr(out);
        let spawned = Instant::now();
        let child = cmd.spawn()?;
        Ok(FunctionProcess {
            child,
            log,
            spawned,
        })
    }
}

/// A running (or exited) function process.
pub struct FunctionProcess {
    child: Child,
    log: PathBuf,
    /// Just before the process was spawned: the start of its cold start.
    pub spawned: Instant,
}

impl FunctionProcess {
    /// Whether it is still running.
    pub fn is_running(&mut self) -> bool {
        matches!(self.child.try_wait(), Ok(None))
    }

    /// Waits (at most `timeout`) for it to exit by itself.
    pub async fn exited(&mut self, timeout: Duration) -> Option<ExitStatus> {
        tokio::time::timeout(timeout, self.child.wait())
            .await
            .ok()?
            .ok()
    }

    /// What it wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Its peak resident set (`VmHWM`), in KiB, while it runs.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()?)).ok()?;
        let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
        line.split_whitespace().nth(1)?.parse().ok()
    }

    /// Stops it (SIGKILL, as Lambda does to an environment it retires) and reaps it.
    pub async fn stop(mut self) {
        let _ = self.child.kill().await;
    }
}
