//! The release binaries as Lambda runs them: cold starts (a new process each), then one
//! process answering invocation after invocation.

use crate::inproc::InProcess;
use crate::workload::Function;
use eventpulse_lambda_sim::RuntimeApi;
use eventpulse_lambda_sim::moto::Deployment;
use eventpulse_lambda_sim::process::{FunctionProcess, Sandbox};
use std::path::Path;
use std::time::{Duration, Instant};

/// Only a hung function runs into it.
const TIMEOUT: Duration = Duration::from_secs(30);

pub struct Cold {
    /// Spawn → first `/next`.
    pub init: Vec<Duration>,
    /// The first invocation of each new process, `invoke` → answer.
    pub first: Vec<Duration>,
}

pub struct Warm {
    pub latency: Vec<Duration>,
    /// `VmHWM` after all of them, just before the process is stopped.
    pub peak_rss_kib: u64,
}

pub struct Bench<'a> {
    pub deployment: &'a Deployment,
    pub sandbox: &'a Sandbox,
    pub function: Function,
    pub binary: &'a Path,
}

impl Bench<'_> {
    async fn start(&self) -> Result<(RuntimeApi, FunctionProcess, Instant), String> {
        let api = RuntimeApi::start().await.map_err(|e| e.to_string())?;
        let env = self.deployment.env();
        let p = self
            .sandbox
            .spawn(&api, self.binary, self.function.name(), &env)
            .map_err(|e| format!("spawning {}: {e}", self.binary.display()))?;
        match api.wait_first_next(TIMEOUT).await {
            Some(at) => Ok((api, p, at)),
            None => Err(format!(
                "{} never asked for work:\n{}",
                self.function.name(),
                p.log()
            )),
        }
    }

    async fn invoke(&self, api: &RuntimeApi, p: &FunctionProcess) -> Result<Duration, String> {
        let event = self.function.event(self.deployment).await?;
        let started = Instant::now();
        let answer = api.invoke(event, TIMEOUT).await;
        let took = started.elapsed();
        let answer = answer.map_err(|e| format!("{e}; log:\n{}", p.log()))?;
        self.function.check(&answer)?;
        Ok(took)
    }

    pub async fn cold(&self, n: usize) -> Result<Cold, String> {
        let mut cold = Cold {
            init: Vec::with_capacity(n),
            first: Vec::with_capacity(n),
        };
        for _ in 0..n {
            let (api, p, first_next) = self.start().await?;
            cold.init.push(first_next - p.spawned);
            cold.first.push(self.invoke(&api, &p).await?);
            p.stop().await;
        }
        Ok(cold)
    }

    /// `n` invocations of one process, each followed by one of the same code in-process
    /// (`inproc`), so that both meet moto in the same state.
    pub async fn warm(&self, n: usize, inproc: &mut InProcess) -> Result<Warm, String> {
        let (api, p, _) = self.start().await?;
        // The first invocations are the cold ones (connections, credentials): not counted.
        self.invoke(&api, &p).await?;
        inproc.invoke(self.deployment, false).await?;
        let mut latency = Vec::with_capacity(n);
        for _ in 0..n {
            latency.push(self.invoke(&api, &p).await?);
            inproc.invoke(self.deployment, true).await?;
        }
        let peak_rss_kib = p.peak_rss_kib().ok_or("no VmHWM in /proc/{pid}/status")?;
        p.stop().await;
        Ok(Warm {
            latency,
            peak_rss_kib,
        })
    }
}
