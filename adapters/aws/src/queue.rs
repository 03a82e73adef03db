//! [`SqsExportRunner`]: exports handed to the processor function through an SQS queue.
//!
//! A Lambda is frozen the moment it answers, so the API function cannot run an export after
//! its `202`; it records the export `running` and puts an [`ExportRequest`] on the queue,
//! whose consumer (the processor function) runs it. SQS redelivers a message its consumer
//! failed on, and moves it to the dead-letter queue past the redrive limit.

use crate::error::classify;
use async_trait::async_trait;
use eventpulse_handlers::exports::{ExportRequest, ExportRunner};
use eventpulse_handlers::ports::{ExportRecord, PortError, PortResult};

pub struct SqsExportRunner {
    client: aws_sdk_sqs::Client,
    queue_url: String,
}

impl SqsExportRunner {
    pub fn new(client: aws_sdk_sqs::Client, queue_url: impl Into<String>) -> Self {
        Self {
            client,
            queue_url: queue_url.into(),
        }
    }
}

#[async_trait]
impl ExportRunner for SqsExportRunner {
    async fn submit(&self, export: &ExportRecord) -> PortResult<()> {
        let body = serde_json::to_string(&ExportRequest {
            owner: export.owner.clone(),
            export_id: export.export_id.clone(),
        })
        .map_err(|e| PortError::permanent(e.to_string()))?;
        self.client
            .send_message()
            .queue_url(&self.queue_url)
            .message_body(body)
            .send()
            .await
            .map_err(|e| classify(&format!("SendMessage to {}", self.queue_url), e))?;
        Ok(())
    }
}
