//! A deployment on moto server: the resources the functions need, created with the SDK
//! under names no other test or run uses, and the `EVENTPULSE_*` environment naming them.
//! The function tests and the benchmark start from [`Deployment::create`].

use eventpulse_aws::compose::{
    CURSOR_KEY_PARAMETER, EXPORTS_BUCKET, EXPORTS_QUEUE_URL, NOTIFY_TOPIC_ARN, PROCESS_BUCKET,
    QUARANTINE_BUCKET, TABLE,
};
use eventpulse_aws::{Aws, Clients, Endpoint, S3Buckets, Settings};

/// Where the moto server is; `scripts/moto.sh start` exports it.
pub const ENDPOINT_VAR: &str = "EVENTPULSE_MOTO_ENDPOINT";

/// The moto endpoint. Unset is an error, never a reason to skip: a green run must mean
/// the functions really ran against the AWS code paths.
pub fn endpoint() -> Result<String, String> {
    match std::env::var(ENDPOINT_VAR) {
        Ok(url) if !url.trim().is_empty() => Ok(url),
        _ => Err(format!(
            "{ENDPOINT_VAR} is not set: these run against moto server. Start it with\n\
             \x20   eval \"$(bash scripts/moto.sh start)\"\n\
             and stop it afterwards with `bash scripts/moto.sh stop`."
        )),
    }
}

/// Static test credentials (moto takes any) and the region the functions are given.
pub fn moto(url: &str) -> Endpoint {
    Endpoint {
        url: url.to_string(),
        region: "us-east-1".into(),
        access_key_id: "testing".into(),
        secret_access_key: "testing".into(),
    }
}

/// A name no other test (or run) uses; valid for a bucket, table, topic, queue or parameter.
pub fn unique(tag: &str) -> String {
    format!("ep-{tag}-{}", uuid::Uuid::new_v4().simple())
}

/// A cursor-signing key of 64 characters, as `eventpulse provision` stores it.
fn cursor_key() -> String {
    format!(
        "{}{}",
        uuid::Uuid::new_v4().simple(),
        uuid::Uuid::new_v4().simple()
    )
}

/// The resources of one deployment, and the adapters on them (for seeding and checking).
pub struct Deployment {
    pub endpoint: String,
    pub aws: Aws,
}

fn failed(what: &str, e: impl std::fmt::Debug) -> String {
    format!("{what} on moto: {e:?}")
}

impl Deployment {
    /// Three buckets, the table and the notification topic: what the processor needs.
    pub async fn create(endpoint: &str) -> Result<Self, String> {
        let clients = Clients::for_endpoint(&moto(endpoint)).await;
        let buckets = S3Buckets {
            process: unique("process"),
            quarantine: unique("quarantine"),
            exports: unique("exports"),
        };
        for name in [&buckets.process, &buckets.quarantine, &buckets.exports] {
            let created = clients.s3.create_bucket().bucket(name).send().await;
            created.map_err(|e| failed(&format!("creating bucket {name}"), e))?;
        }
        let table = unique("table");
        eventpulse_aws::dynamo::provision(&clients.dynamodb(), &table)
            .await
            .map_err(|e| failed(&format!("creating table {table}"), e))?;
        let topic = clients
            .sns
            .create_topic()
            .name(unique("notify"))
            .send()
            .await;
        let topic = topic.map_err(|e| failed("creating the topic", e))?;
        let settings = Settings {
            buckets,
            table,
            notify_topic_arn: topic.topic_arn().unwrap_or_default().to_string(),
            exports_queue_url: None,
            cursor_key_parameter: None,
        };
        Ok(Self {
            endpoint: endpoint.to_string(),
            aws: Aws::connect(clients, settings),
        })
    }

    /// Adds what the API function needs besides: the exports queue and the cursor key, a
    /// SecureString parameter.
    pub async fn with_api_resources(self) -> Result<Self, String> {
        let clients = self.aws.clients.clone();
        let mut settings = self.aws.settings.clone();
        let queue = clients.sqs().create_queue().queue_name(unique("exports"));
        let queue = queue
            .send()
            .await
            .map_err(|e| failed("creating the queue", e))?;
        settings.exports_queue_url = queue.queue_url().map(str::to_string);
        let name = format!("/{}/cursor-key", unique("param"));
        clients
            .ssm()
            .put_parameter()
            .name(&name)
            .value(cursor_key())
            .r#type(aws_sdk_ssm::types::ParameterType::SecureString)
            .send()
            .await
            .map_err(|e| failed(&format!("creating parameter {name}"), e))?;
        settings.cursor_key_parameter = Some(name);
        Ok(Self {
            endpoint: self.endpoint,
            aws: Aws::connect(clients, settings),
        })
    }

    /// The `EVENTPULSE_*` variables naming this deployment's resources.
    pub fn env(&self) -> Vec<(&'static str, String)> {
        let s = &self.aws.settings;
        let mut env = vec![
            (PROCESS_BUCKET, s.buckets.process.clone()),
            (QUARANTINE_BUCKET, s.buckets.quarantine.clone()),
            (EXPORTS_BUCKET, s.buckets.exports.clone()),
            (TABLE, s.table.clone()),
            (NOTIFY_TOPIC_ARN, s.notify_topic_arn.clone()),
        ];
        env.extend(s.exports_queue_url.clone().map(|q| (EXPORTS_QUEUE_URL, q)));
        env.extend(
            s.cursor_key_parameter
                .clone()
                .map(|p| (CURSOR_KEY_PARAMETER, p)),
        );
        env
    }
}
