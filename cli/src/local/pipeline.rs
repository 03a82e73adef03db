//! The local stand-in for S3 → EventBridge → Lambda: a bounded queue of "Object Created"
//! events (serialised as the JSON AWS sends) and a fixed pool of workers that hand each one
//! to the same entry point the processing Lambda uses.
//!
//! Bounded on purpose: when processing falls behind, `object_created` waits for room, so an
//! upload is acknowledged only once its event is queued (back-pressure instead of unbounded
//! memory). Retryable failures are retried with backoff a few times; after that — or on
//! shutdown — the object simply stays in the process bucket and start-up recovery picks it up.

use eventpulse_handlers::entry::{self, ObjectCreatedEvent};
use eventpulse_handlers::ports::{Bucket, Clock, Dispatcher, ObjectStore, PortError, PortResult};
use eventpulse_handlers::processor::Processor;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Mutex, Semaphore, mpsc, watch};
use tokio::task::JoinSet;

/// Name the process bucket has in local events (EventBridge events name a bucket).
pub const LOCAL_PROCESS_BUCKET: &str = "eventpulse-local-process";
const MAX_ATTEMPTS: u32 = 5;

struct Job {
    /// The EventBridge event, as JSON: what the Lambda would receive.
    event: serde_json::Value,
    attempt: u32,
}

#[derive(Clone)]
pub struct QueueDispatcher {
    tx: mpsc::Sender<Job>,
    objects: Arc<dyn ObjectStore>,
    clock: Arc<dyn Clock>,
    enqueue_timeout: Duration,
}

#[async_trait::async_trait]
impl Dispatcher for QueueDispatcher {
    async fn object_created(&self, key: &str) -> PortResult<()> {
        let Some(info) = self.objects.head(Bucket::Process, key).await? else {
            return Ok(()); // Already processed and gone: S3 would not resend either.
        };
        let event = ObjectCreatedEvent::put_object(
            LOCAL_PROCESS_BUCKET,
            key,
            info.size,
            &info.etag,
            self.clock.now(),
        );
        let event =
            serde_json::to_value(&event).map_err(|e| PortError::permanent(e.to_string()))?;
        tokio::time::timeout(
            self.enqueue_timeout,
            self.tx.send(Job { event, attempt: 1 }),
        )
        .await
        .map_err(|_| PortError::transient("the processing queue is full; retry shortly"))?
        .map_err(|_| PortError::transient("the processing queue is shutting down"))
    }
}

pub struct Pipeline {
    pub dispatcher: QueueDispatcher,
    shutdown: watch::Sender<bool>,
    workers: JoinSet<()>,
}

impl Pipeline {
    /// Starts `workers` workers over a queue of `capacity` events, with at most
    /// `memory_budget` bytes of objects being processed at once (see [`MemoryBudget`]).
    /// `outbox` is woken after each object, so its notification goes out promptly.
    pub fn start(
        processor: Arc<Processor>,
        workers: usize,
        capacity: usize,
        memory_budget: u64,
        outbox: Arc<tokio::sync::Notify>,
    ) -> Self {
        let budget = Arc::new(MemoryBudget::new(memory_budget));
        let (tx, rx) = mpsc::channel::<Job>(capacity.max(1));
        let rx = Arc::new(Mutex::new(rx));
        let (shutdown, stop) = watch::channel(false);
        let dispatcher = QueueDispatcher {
            tx: tx.clone(),
            objects: processor.objects.clone(),
            clock: processor.clock.clone(),
            enqueue_timeout: Duration::from_secs(30),
        };
        let mut set = JoinSet::new();
        for _ in 0..workers.max(1) {
            let (rx, tx, processor, stop, outbox, budget) = (
                rx.clone(),
                tx.clone(),
                processor.clone(),
                stop.clone(),
                outbox.clone(),
                budget.clone(),
            );
            set.spawn(worker(rx, tx, processor, stop, outbox, budget));
        }
        Self {
            dispatcher,
            shutdown,
            workers: set,
        }
    }

    /// Queues every object left in the process bucket (crash recovery); returns how many.
    pub async fn recover(&self) -> PortResult<usize> {
        self.sweeper()
            .requeue_older_than(chrono::Duration::zero())
            .await
    }

    pub fn sweeper(&self) -> Sweeper {
        Sweeper {
            dispatcher: self.dispatcher.clone(),
        }
    }

    /// Stops taking new work, finishes what is queued or running, and returns.
    pub async fn drain(mut self) {
        let _ = self.shutdown.send(true);
        while self.workers.join_next().await.is_some() {}
    }
}

async fn worker(
    rx: Arc<Mutex<mpsc::Receiver<Job>>>,
    tx: mpsc::Sender<Job>,
    processor: Arc<Processor>,
    mut stop: watch::Receiver<bool>,
    outbox: Arc<tokio::sync::Notify>,
    budget: Arc<MemoryBudget>,
) {
    loop {
        let job = {
            let mut rx = rx.lock().await;
            if *stop.borrow() {
                // Draining: take what is already queued, then leave.
                match rx.try_recv() {
                    Ok(job) => job,
                    Err(_) => return,
                }
            } else {
                tokio::select! {
                    job = rx.recv() => match job { Some(j) => j, None => return },
                    _ = stop.changed() => continue,
                }
            }
        };
        run(job, &tx, &processor, &stop, &budget).await;
        outbox.notify_one();
    }
}

async fn run(
    job: Job,
    tx: &mpsc::Sender<Job>,
    processor: &Processor,
    stop: &watch::Receiver<bool>,
    budget: &MemoryBudget,
) {
    let event: ObjectCreatedEvent = match serde_json::from_value(job.event.clone()) {
        Ok(e) => e,
        Err(e) => {
            tracing::error!(error = %e, "dropping a malformed Object Created event");
            return;
        }
    };
    let Some(_room) = budget.take(event.detail.object.size).await else {
        return; // Closed: never, while a worker runs.
    };
    match entry::handle(processor, LOCAL_PROCESS_BUCKET, &event).await {
        Ok(_) => {}
        Err(e) if e.retryable() && job.attempt < MAX_ATTEMPTS && !*stop.borrow() => {
            let delay = Duration::from_millis(200 * 2u64.pow(job.attempt));
            tracing::warn!(key = %event.key(), attempt = job.attempt, error = %e, "retrying after {delay:?}");
            let tx = tx.clone();
            tokio::spawn(async move {
                tokio::time::sleep(delay).await;
                let _ = tx
                    .send(Job {
                        event: job.event,
                        attempt: job.attempt + 1,
                    })
                    .await;
            });
        }
        Err(e) => {
            // The object stays in the process bucket; the next start recovers it.
            tracing::error!(key = %event.key(), attempt = job.attempt, error = %e, "giving up on this object for now");
        }
    }
}

/// Bytes of objects being processed at once, over all workers. A worker holds an object,
/// its parse and its events while it works on it (a few times the object's size), so the
/// pool's memory is bounded by bytes rather than by counting workers: many small objects
/// are processed side by side (their commits then share the table's group commits), while
/// large ones wait for room. An object larger than the whole budget (or of unknown size)
/// takes all of it, alone.
pub struct MemoryBudget {
    kib: Semaphore,
    total_kib: u32,
}

impl MemoryBudget {
    pub fn new(bytes: u64) -> Self {
        let total_kib = u32::try_from(bytes.div_ceil(1024).clamp(1, Semaphore::MAX_PERMITS as u64))
            .unwrap_or(u32::MAX);
        Self {
            kib: Semaphore::new(total_kib as usize),
            total_kib,
        }
    }

    /// KiB an object of `size` bytes takes from the budget.
    fn share(&self, size: Option<u64>) -> u32 {
        match size {
            Some(size) => u32::try_from(size.div_ceil(1024))
                .unwrap_or(u32::MAX)
                .clamp(1, self.total_kib),
            None => self.total_kib,
        }
    }

    /// Waits for room for an object of `size` bytes; the room is given back on drop.
    async fn take(&self, size: Option<u64>) -> Option<tokio::sync::SemaphorePermit<'_>> {
        self.kib.acquire_many(self.share(size)).await.ok()
    }
}

/// Re-queues objects waiting in the process bucket.
pub struct Sweeper {
    dispatcher: QueueDispatcher,
}

impl Sweeper {
    /// Queues every object in the process bucket last written more than `age` ago; returns
    /// how many. Processing is idempotent, so queueing one that is also in flight is harmless.
    pub async fn requeue_older_than(&self, age: chrono::Duration) -> PortResult<usize> {
        let cutoff = self.dispatcher.clock.now() - age;
        let mut after: Option<String> = None;
        let mut n = 0;
        loop {
            let page = self
                .dispatcher
                .objects
                .list(Bucket::Process, "", after.as_deref(), 1000)
                .await?;
            for info in page.iter().filter(|i| i.last_modified <= cutoff) {
                self.dispatcher.object_created(&info.key).await?;
                n += 1;
            }
            match page.last() {
                Some(last) if page.len() == 1000 => after = Some(last.key.clone()),
                _ => return Ok(n),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::MemoryBudget;

    #[test]
    fn an_object_takes_its_size_and_never_more_than_the_whole_budget() {
        let b = MemoryBudget::new(4 * 1024 * 1024);
        assert_eq!(b.share(Some(0)), 1);
        assert_eq!(b.share(Some(1)), 1);
        assert_eq!(b.share(Some(1025)), 2);
        assert_eq!(b.share(Some(94 * 1024)), 94);
        assert_eq!(
            b.share(Some(5 * 1024 * 1024)),
            4096,
            "larger than the budget: all of it"
        );
        assert_eq!(b.share(None), 4096, "unknown size: all of it");
        assert_eq!(
            MemoryBudget::new(0).share(Some(10)),
            1,
            "a budget is never empty"
        );
    }

    #[tokio::test]
    async fn large_objects_wait_for_room_and_small_ones_share_it() {
        let b = MemoryBudget::new(100 * 1024);
        let small: Vec<_> = [Some(10 * 1024); 10].iter().map(|s| b.share(*s)).collect();
        let mut held = Vec::new();
        for s in small {
            held.push(
                b.kib
                    .try_acquire_many(s)
                    .expect("ten small objects fit at once"),
            );
        }
        assert!(
            b.kib.try_acquire_many(b.share(Some(1))).is_err(),
            "the budget is spent"
        );
        held.pop();
        let big = b.take(Some(10 * 1024)).await;
        assert!(big.is_some());
        drop(held);
        drop(big);
        let whole = b
            .take(Some(u64::MAX))
            .await
            .expect("room for the largest object alone");
        assert!(b.kib.try_acquire_many(1).is_err());
        drop(whole);
        assert_eq!(b.kib.available_permits(), 100);
    }
}
