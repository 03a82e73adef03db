//! The AWS backend's composition root: every adapter, built once from the function's
//! configuration. The Lambda functions, `eventpulse local --backend aws` and the moto tests
//! all start from [`Aws::connect`].
//!
//! Configuration comes from the environment under fixed names (shared with `infra/` and
//! printed by `eventpulse provision`):
//!
//! | variable | what |
//! |---|---|
//! | `EVENTPULSE_PROCESS_BUCKET` | uploads land here (`incoming/{sub}/{uploadId}.json`) |
//! | `EVENTPULSE_QUARANTINE_BUCKET` | quarantined objects and their reports |
//! | `EVENTPULSE_EXPORTS_BUCKET` | export results |
//! | `EVENTPULSE_TABLE` | the DynamoDB table |
//! | `EVENTPULSE_NOTIFY_TOPIC_ARN` | the SNS topic of user notifications |
//! | `EVENTPULSE_EXPORTS_QUEUE_URL` | the SQS queue of export requests (API function) |
//! | `EVENTPULSE_CURSOR_KEY_PARAMETER` | name of the SSM SecureString holding the cursor-signing key (API function); the key itself is never in the environment |

use crate::dynamo::DynamoTable;
use crate::queue::SqsExportRunner;
use crate::{Clients, S3Buckets, S3ObjectStore, S3Presigner, SnsNotifier, SnsSubscriber};
use eventpulse_handlers::exports::ExportRunner;
use eventpulse_handlers::ports::{PortError, PortResult, SystemClock};
use eventpulse_handlers::wiring::{Delivery, Ports};
use std::sync::Arc;

/// What one deployment is made of.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Settings {
    pub buckets: S3Buckets,
    pub table: String,
    pub notify_topic_arn: String,
    pub exports_queue_url: Option<String>,
    pub cursor_key_parameter: Option<String>,
}

pub const PROCESS_BUCKET: &str = "EVENTPULSE_PROCESS_BUCKET";
pub const QUARANTINE_BUCKET: &str = "EVENTPULSE_QUARANTINE_BUCKET";
pub const EXPORTS_BUCKET: &str = "EVENTPULSE_EXPORTS_BUCKET";
pub const TABLE: &str = "EVENTPULSE_TABLE";
pub const NOTIFY_TOPIC_ARN: &str = "EVENTPULSE_NOTIFY_TOPIC_ARN";
pub const EXPORTS_QUEUE_URL: &str = "EVENTPULSE_EXPORTS_QUEUE_URL";
pub const CURSOR_KEY_PARAMETER: &str = "EVENTPULSE_CURSOR_KEY_PARAMETER";

impl Settings {
    /// From the environment; a missing required variable is named in the error.
    pub fn from_env() -> Result<Self, String> {
        Self::from_lookup(|k| std::env::var(k).ok())
    }

    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, String> {
        let required = |k: &str| {
            get(k)
                .filter(|v| !v.is_empty())
                .ok_or_else(|| format!("{k} is not set"))
        };
        let optional = |k: &str| get(k).filter(|v| !v.is_empty());
        Ok(Self {
            buckets: S3Buckets {
                process: required(PROCESS_BUCKET)?,
                quarantine: required(QUARANTINE_BUCKET)?,
                exports: required(EXPORTS_BUCKET)?,
            },
            table: required(TABLE)?,
            notify_topic_arn: required(NOTIFY_TOPIC_ARN)?,
            exports_queue_url: optional(EXPORTS_QUEUE_URL),
            cursor_key_parameter: optional(CURSOR_KEY_PARAMETER),
        })
    }

    /// `export NAME=value` lines for a shell, in the order of the table above.
    pub fn to_exports(&self) -> String {
        let mut out = vec![
            (PROCESS_BUCKET, self.buckets.process.clone()),
            (QUARANTINE_BUCKET, self.buckets.quarantine.clone()),
            (EXPORTS_BUCKET, self.buckets.exports.clone()),
            (TABLE, self.table.clone()),
            (NOTIFY_TOPIC_ARN, self.notify_topic_arn.clone()),
        ];
        if let Some(q) = &self.exports_queue_url {
            out.push((EXPORTS_QUEUE_URL, q.clone()));
        }
        if let Some(p) = &self.cursor_key_parameter {
            out.push((CURSOR_KEY_PARAMETER, p.clone()));
        }
        out.into_iter()
            .map(|(k, v)| format!("export {k}={}\n", shell_quote(&v)))
            .collect()
    }
}

/// Quotes `v` for a POSIX shell unless it is plainly safe (names, ARNs, URLs).
pub(crate) fn shell_quote(v: &str) -> String {
    if v.chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_.:/@".contains(c))
    {
        v.to_string()
    } else {
        format!("'{}'", v.replace('\'', r"'\''"))
    }
}

/// The AWS adapters of one deployment.
pub struct Aws {
    pub clients: Clients,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub ssm: aws_sdk_ssm::Client,
    pub settings: Settings,
    pub objects: Arc<S3ObjectStore>,
    pub table: Arc<DynamoTable>,
    pub notifier: Arc<SnsNotifier>,
    /// The owners' subscriptions, as SNS subscriptions of the notification topic.
    pub subscriber: Arc<SnsSubscriber>,
    pub presigner: Arc<S3Presigner>,
}

impl Aws {
    /// Every adapter on `clients` (built once: `Clients::from_env` on Lambda).
    pub fn connect(clients: Clients, settings: Settings) -> Self {
        let dynamodb = clients.dynamodb();
        let sqs = clients.sqs();
        let ssm = clients.ssm();
        Self {
            objects: Arc::new(S3ObjectStore::new(
                clients.s3.clone(),
                settings.buckets.clone(),
            )),
            table: Arc::new(DynamoTable::new(dynamodb.clone(), settings.table.clone())),
            notifier: Arc::new(SnsNotifier::new(
                clients.sns.clone(),
                settings.notify_topic_arn.clone(),
            )),
            subscriber: Arc::new(SnsSubscriber::new(
                clients.sns.clone(),
                settings.notify_topic_arn.clone(),
            )),
            presigner: Arc::new(S3Presigner::new(
                clients.s3.clone(),
                settings.buckets.clone(),
            )),
            dynamodb,
            sqs,
            ssm,
            clients,
            settings,
        }
    }

    /// The ports. A function delivers what it recorded before it answers (`AtOnce`): a
    /// Lambda runs nothing after that; the sweep retries what failed. Subscriptions live in
    /// the same table; SNS delivers to them.
    pub fn ports(&self) -> Ports {
        Ports {
            objects: self.objects.clone(),
            table: self.table.clone(),
            notifier: self.notifier.clone(),
            subscriptions: self.table.clone(),
            subscriber: self.subscriber.clone(),
            clock: Arc::new(SystemClock),
            delivery: Delivery::AtOnce,
        }
    }

    /// The export runner of the API function: the exports queue.
    pub fn export_runner(&self) -> PortResult<Arc<dyn ExportRunner>> {
        let url = self
            .settings
            .exports_queue_url
            .clone()
            .ok_or_else(|| PortError::permanent(format!("{EXPORTS_QUEUE_URL} is not set")))?;
        Ok(Arc::new(SqsExportRunner::new(self.sqs.clone(), url)))
    }

    /// The cursor-signing key, read once at init from its SSM SecureString.
    pub async fn cursor_key(&self) -> PortResult<Vec<u8>> {
        let name =
            self.settings.cursor_key_parameter.clone().ok_or_else(|| {
                PortError::permanent(format!("{CURSOR_KEY_PARAMETER} is not set"))
            })?;
        let out = self
            .ssm
            .get_parameter()
            .name(&name)
            .with_decryption(true)
            .send()
            .await
            .map_err(|e| crate::error::classify(&format!("GetParameter {name}"), e))?;
        let value = out
            .parameter()
            .and_then(|p| p.value())
            .ok_or_else(|| PortError::permanent(format!("parameter {name} has no value")))?;
        if value.len() < 32 {
            return Err(PortError::permanent(format!(
                "parameter {name} holds a key shorter than 32 bytes"
            )));
        }
        Ok(value.as_bytes().to_vec())
    }
}
