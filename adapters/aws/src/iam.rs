//! What each Lambda function calls on AWS, and so what its IAM role must allow: nothing
//! more, nothing less.
//!
//! [`CALLS`] lists, per function, every SDK operation the adapters in this crate call on
//! that function's code paths, the IAM actions AWS authorises the operation with, the KMS
//! actions the service performs with the caller's permissions on the stack's key, and the
//! resources (bucket key prefixes, the table and which indexes, ...) it is called on.
//! [`PLATFORM`] adds what Lambda itself does with the role (logs, X-Ray, polling the
//! exports queue, the on-failure destination). The SAM template's roles are exactly their
//! union (`tests/template.rs`).
//!
//! The list cannot go stale: this module's tests scan every `.rs` file of `src/` for SDK
//! fluent calls (`client.put_item()…send()`, `…presigned(…)`) and fail when an operation
//! found in code is in none of [`CALLS`], [`NOT_ON_LAMBDA`] and [`PROVISION_ONLY`], or when
//! one listed there is no longer called. The provisioning code (`provision.rs`,
//! `provision/`, `dynamo/provision.rs`) never runs on Lambda (the stack creates those
//! resources), so what only it calls is in no role.
//!
//! Which function reaches which call is read from the code once and written down here.
//! The `eventpulse-processor` binary is deployed twice, because its two workloads need
//! different memory: as the processor (S3 Object Created and the sweep:
//! `handlers/src/processor.rs`, `commit.rs`, the outbox) and as the exporter (the exports
//! queue: `handlers/src/exports.rs`, which lists events, writes the result, records and
//! publishes the notification); `functions/processor/src/lib.rs` routes each trigger.
//! The API builds `Aws::ports().api(presigner, …, export_runner, cursor_key)` and serves
//! `handlers/src/api.rs`, which reads and lists, creates uploads and exports, reprocesses
//! (copy back to the process bucket) and deletes quarantined uploads, and manages the
//! owners' subscriptions (`handlers/src/api/subscriptions.rs`: the records in the table,
//! the SNS subscriptions of the notification topic), and never stores events, publishes,
//! or drains the outbox.

/// An AWS service the adapters call.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Service {
    S3,
    DynamoDb,
    Sns,
    Sqs,
    Ssm,
    EventBridge,
}

impl Service {
    /// The SDK crate of the service (as the code names it).
    pub fn sdk_crate(self) -> &'static str {
        match self {
            Service::S3 => "aws_sdk_s3",
            Service::DynamoDb => "aws_sdk_dynamodb",
            Service::Sns => "aws_sdk_sns",
            Service::Sqs => "aws_sdk_sqs",
            Service::Ssm => "aws_sdk_ssm",
            Service::EventBridge => "aws_sdk_eventbridge",
        }
    }

    /// The endpoint prefix KMS sees in `kms:ViaService` (`{prefix}.{region}.amazonaws.com`)
    /// when the service uses the key on the caller's behalf.
    pub fn endpoint_prefix(self) -> &'static str {
        match self {
            Service::S3 => "s3",
            Service::DynamoDb => "dynamodb",
            Service::Sns => "sns",
            Service::Sqs => "sqs",
            Service::Ssm => "ssm",
            Service::EventBridge => "events",
        }
    }
}

/// A deployed function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Function {
    /// `eventpulse-processor` as the processor: S3 Object Created and the sweep.
    Processor,
    /// `eventpulse-processor` as the exporter: the exports queue.
    Exporter,
    /// `eventpulse-api`: the REST API.
    Api,
}

/// What a call is made on, in the deployment's terms (the template test maps each to the
/// template's ARN expression).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Resource {
    /// The process bucket itself (listing).
    ProcessBucket,
    /// Objects under `incoming/` of the process bucket (the only prefix uploads use).
    ProcessIncoming,
    /// Any object of the quarantine bucket (`{owner}/…`, `_operator/…`).
    QuarantineObjects,
    /// Any object of the exports bucket (`{owner}/{exportId}.ndjson`).
    ExportsObjects,
    /// The table's items.
    Table,
    /// One of the table's indexes.
    Index(&'static str),
    /// The SNS topic of user notifications.
    NotifyTopic,
    /// The subscriptions of that topic, `{topicArn}:{id}`: SNS authorises Unsubscribe and
    /// GetSubscriptionAttributes on the subscription's ARN, never on the topic's.
    NotifySubscriptions,
    /// The SQS queue of export requests.
    ExportsQueue,
    /// The SSM SecureString holding the cursor-signing key.
    CursorKey,
    /// The processor's on-failure destination (an SQS queue).
    ProcessorFailureQueue,
    /// The function's own log group.
    OwnLogGroup,
    /// Every resource: only for actions IAM authorises on no narrower resource.
    Any,
}

/// One SDK operation one function calls, and what IAM must allow for it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Call {
    pub function: Function,
    pub service: Service,
    /// The SDK's fluent method, as the code calls it (`put_item`).
    pub operation: &'static str,
    /// The IAM actions AWS authorises the operation with (`TransactWriteItems` is
    /// authorised as the item actions it contains, `HeadObject` as `s3:GetObject`, …).
    pub actions: &'static [&'static str],
    /// KMS actions the service performs on the stack's key with the caller's permissions
    /// (granted with `kms:ViaService` of [`Call::service`]).
    pub kms: &'static [&'static str],
    pub resources: &'static [Resource],
    /// Where and why the function calls it.
    pub why: &'static str,
}

/// An SDK operation in the code that no role grants, and why.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NotGranted {
    pub service: Service,
    pub operation: &'static str,
    pub why: &'static str,
}

/// What Lambda does with a function's role, beyond the function's own calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlatformGrant {
    pub function: Function,
    pub actions: &'static [&'static str],
    /// KMS actions on the stack's key, with `kms:ViaService` of `kms_via`.
    pub kms: &'static [&'static str],
    pub kms_via: Option<Service>,
    pub resource: Resource,
    pub why: &'static str,
}

use Function::{Api, Exporter, Processor};
use Resource::*;
use Service::{DynamoDb, S3, Sns, Sqs, Ssm};

/// Reads of objects of an SSE-KMS bucket decrypt with the key; writes generate a data key
/// (S3 Bucket Keys make the calls rare, not unnecessary).
const S3_READ_KMS: &[&str] = &["kms:Decrypt"];
const S3_WRITE_KMS: &[&str] = &["kms:GenerateDataKey"];
/// DynamoDB decrypts the table key with the caller's permissions (and caches it for a
/// few minutes per connection).
const DYNAMODB_KMS: &[&str] = &["kms:Decrypt", "kms:DescribeKey"];
/// SNS and SQS encrypt each message under a data key: senders need both.
const MESSAGE_KMS: &[&str] = &["kms:GenerateDataKey", "kms:Decrypt"];

/// Every AWS call of each function (see the module docs).
pub const CALLS: &[Call] = &[
    // --- processor: S3 (`S3ObjectStore`, src/s3.rs) -----------------------------------
    Call {
        function: Processor,
        service: S3,
        operation: "head_object",
        actions: &["s3:GetObject"],
        kms: &[],
        resources: &[ProcessIncoming],
        why: "Processor::process measures the object an event names; copy() measures its source",
    },
    Call {
        function: Processor,
        service: S3,
        operation: "get_object",
        actions: &["s3:GetObject"],
        kms: S3_READ_KMS,
        resources: &[ProcessIncoming],
        why: "Processor::process reads the upload (bounded by the intake limit)",
    },
    Call {
        function: Processor,
        service: S3,
        operation: "copy_object",
        actions: &["s3:GetObject"],
        kms: S3_READ_KMS,
        resources: &[ProcessIncoming],
        why: "quarantining copies the upload out of the process bucket (the copy's source)",
    },
    Call {
        function: Processor,
        service: S3,
        operation: "copy_object",
        actions: &["s3:PutObject"],
        kms: S3_WRITE_KMS,
        resources: &[QuarantineObjects],
        why: "quarantining copies the upload into the quarantine bucket (the copy's destination)",
    },
    Call {
        function: Processor,
        service: S3,
        operation: "put_object",
        actions: &["s3:PutObject"],
        kms: S3_WRITE_KMS,
        resources: &[QuarantineObjects],
        why: "the quarantine report beside the object",
    },
    Call {
        function: Processor,
        service: S3,
        operation: "delete_object",
        actions: &["s3:DeleteObject"],
        kms: &[],
        resources: &[ProcessIncoming, QuarantineObjects],
        why: "a processed upload leaves the process bucket (delete last); a reprocessed upload that is stored clears its quarantine copy and report",
    },
    Call {
        function: Processor,
        service: S3,
        operation: "list_objects_v2",
        actions: &["s3:ListBucket"],
        kms: &[],
        resources: &[ProcessBucket],
        why: "the sweep lists objects left in the process bucket",
    },
    // --- processor: DynamoDB (`DynamoTable`, src/dynamo/) ------------------------------
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "get_item",
        actions: &["dynamodb:GetItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "the ledger check (get_upload), takeovers, mark_stored's refusal, release_events",
    },
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "batch_get_item",
        actions: &["dynamodb:BatchGetItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "find_conflicts, the holders' uploads of hold_events",
    },
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "put_item",
        actions: &["dynamodb:PutItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "create_upload (an upload the API did not record), takeovers of void holds",
    },
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "update_item",
        actions: &["dynamodb:UpdateItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "hold_events, release_events, mark_delivered",
    },
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "delete_item",
        actions: &["dynamodb:DeleteItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "release_events deletes an event no upload holds any more",
    },
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "transact_write_items",
        actions: &[
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
        ],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "mark_stored [Update upload, Delete quarantine entry], commit_quarantined [Update upload, Put entry, Put notification]: IAM authorises each action inside",
    },
    Call {
        function: Processor,
        service: DynamoDb,
        operation: "query",
        actions: &["dynamodb:Query"],
        kms: DYNAMODB_KMS,
        resources: &[Index("gsi3")],
        why: "the sweep reads the outbox (undelivered_notifications)",
    },
    // --- processor: SNS (`SnsNotifier`, src/sns.rs) -----------------------------------
    Call {
        function: Processor,
        service: Sns,
        operation: "publish",
        actions: &["sns:Publish"],
        kms: MESSAGE_KMS,
        resources: &[NotifyTopic],
        why: "quarantine notifications, at once, and whatever the sweep finds in the outbox",
    },
    // --- exporter (`Exporter`, handlers/src/exports.rs) --------------------------------
    Call {
        function: Exporter,
        service: DynamoDb,
        operation: "get_item",
        actions: &["dynamodb:GetItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "get_export: the request's export record",
    },
    Call {
        function: Exporter,
        service: DynamoDb,
        operation: "query",
        actions: &["dynamodb:Query"],
        kms: DYNAMODB_KMS,
        resources: &[Index("gsi1"), Index("gsi2")],
        why: "list_events pages through the owner's events (gsi1, gsi2 with a type)",
    },
    Call {
        function: Exporter,
        service: DynamoDb,
        operation: "batch_get_item",
        actions: &["dynamodb:BatchGetItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "list_events checks the holders' uploads (only listed events are exported)",
    },
    Call {
        function: Exporter,
        service: DynamoDb,
        operation: "put_item",
        actions: &["dynamodb:PutItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "put_export (done or failed), record_notification",
    },
    Call {
        function: Exporter,
        service: DynamoDb,
        operation: "update_item",
        actions: &["dynamodb:UpdateItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "mark_delivered after the notification was published",
    },
    Call {
        function: Exporter,
        service: S3,
        operation: "put_object",
        actions: &["s3:PutObject"],
        kms: S3_WRITE_KMS,
        resources: &[ExportsObjects],
        why: "the NDJSON result, when it is one part",
    },
    // A larger result is a multipart upload (src/s3/multipart.rs). Under SSE-KMS S3 decrypts
    // the upload's data key for each part, so the parts need kms:Decrypt too.
    Call {
        function: Exporter,
        service: S3,
        operation: "create_multipart_upload",
        actions: &["s3:PutObject"],
        kms: &["kms:GenerateDataKey", "kms:Decrypt"],
        resources: &[ExportsObjects],
        why: "the NDJSON result, written in parts as it is read",
    },
    Call {
        function: Exporter,
        service: S3,
        operation: "upload_part",
        actions: &["s3:PutObject"],
        kms: &["kms:GenerateDataKey", "kms:Decrypt"],
        resources: &[ExportsObjects],
        why: "each part of the NDJSON result",
    },
    Call {
        function: Exporter,
        service: S3,
        operation: "complete_multipart_upload",
        actions: &["s3:PutObject"],
        kms: &["kms:GenerateDataKey", "kms:Decrypt"],
        resources: &[ExportsObjects],
        why: "the result becomes visible, whole",
    },
    Call {
        function: Exporter,
        service: S3,
        operation: "abort_multipart_upload",
        actions: &["s3:AbortMultipartUpload"],
        kms: &[],
        resources: &[ExportsObjects],
        why: "an export that failed half-way leaves no parts behind",
    },
    Call {
        function: Exporter,
        service: Sns,
        operation: "publish",
        actions: &["sns:Publish"],
        kms: MESSAGE_KMS,
        resources: &[NotifyTopic],
        why: "the export_done / export_failed notification, at once",
    },
    // --- api: S3 (`S3ObjectStore`, `S3Presigner`) -------------------------------------
    Call {
        function: Api,
        service: S3,
        operation: "head_object",
        actions: &["s3:GetObject"],
        kms: &[],
        resources: &[ProcessIncoming, QuarantineObjects],
        why: "reprocess: the incoming key must be free, and copy() measures its source in the quarantine bucket",
    },
    Call {
        function: Api,
        service: S3,
        operation: "get_object",
        actions: &["s3:GetObject"],
        kms: S3_READ_KMS,
        resources: &[QuarantineObjects, ExportsObjects],
        why: "quarantine show reads the report and the object; export downloads are presigned GETs (S3 authorises them as the signer)",
    },
    Call {
        function: Api,
        service: S3,
        operation: "put_object",
        actions: &["s3:PutObject"],
        kms: S3_WRITE_KMS,
        resources: &[ProcessIncoming],
        why: "upload URLs are presigned PUTs under incoming/{sub}/ (S3 authorises the upload as the signer)",
    },
    Call {
        function: Api,
        service: S3,
        operation: "copy_object",
        actions: &["s3:GetObject"],
        kms: S3_READ_KMS,
        resources: &[QuarantineObjects],
        why: "reprocess copies the quarantined object back (the copy's source)",
    },
    Call {
        function: Api,
        service: S3,
        operation: "copy_object",
        actions: &["s3:PutObject"],
        kms: S3_WRITE_KMS,
        resources: &[ProcessIncoming],
        why: "reprocess copies the quarantined object back to incoming/ (the copy's destination)",
    },
    Call {
        function: Api,
        service: S3,
        operation: "delete_object",
        actions: &["s3:DeleteObject"],
        kms: &[],
        resources: &[QuarantineObjects],
        why: "DELETE of a quarantined upload removes its object and report",
    },
    // --- api: DynamoDB -----------------------------------------------------------------
    Call {
        function: Api,
        service: DynamoDb,
        operation: "get_item",
        actions: &["dynamodb:GetItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "get_upload, get_quarantine, get_export, get_event, get_subscription (and before delete_subscription)",
    },
    Call {
        function: Api,
        service: DynamoDb,
        operation: "batch_get_item",
        actions: &["dynamodb:BatchGetItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "the holders' uploads of get_event and list_events",
    },
    Call {
        function: Api,
        service: DynamoDb,
        operation: "put_item",
        actions: &["dynamodb:PutItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "create_upload (POST /v1/uploads), put_export (POST /v1/exports)",
    },
    Call {
        function: Api,
        service: DynamoDb,
        operation: "update_item",
        actions: &["dynamodb:UpdateItem"],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "update_subscription: the status and SNS subscription ARN of a subscription",
    },
    Call {
        function: Api,
        service: DynamoDb,
        operation: "transact_write_items",
        actions: &[
            "dynamodb:ConditionCheckItem",
            "dynamodb:UpdateItem",
            "dynamodb:DeleteItem",
            "dynamodb:PutItem",
        ],
        kms: DYNAMODB_KMS,
        resources: &[Table],
        why: "reopen_upload [ConditionCheck entry, Update upload], delete_quarantine [Delete entry, ConditionCheck upload], create_subscription [Update counter, Put endpoint, Put subscription], delete_subscription [Delete subscription, Delete endpoint, Update counter]: IAM authorises each action inside",
    },
    Call {
        function: Api,
        service: DynamoDb,
        operation: "query",
        actions: &["dynamodb:Query"],
        kms: DYNAMODB_KMS,
        resources: &[Table, Index("gsi1"), Index("gsi2")],
        why: "list_subscriptions (the table: the owner's partition), list_events (gsi1, gsi2 with a type), list_quarantine and list_notifications (gsi1)",
    },
    // --- api: SNS (`SnsSubscriber`, src/subscribe.rs) ----------------------------------
    Call {
        function: Api,
        service: Sns,
        operation: "subscribe",
        actions: &["sns:Subscribe"],
        kms: &[],
        resources: &[NotifyTopic],
        why: "POST /v1/subscriptions: the owner's endpoint subscribed to the notification topic, filtered on userId and kind",
    },
    Call {
        function: Api,
        service: Sns,
        operation: "get_subscription_attributes",
        actions: &["sns:GetSubscriptionAttributes"],
        kms: &[],
        resources: &[NotifySubscriptions],
        why: "PendingConfirmation: after Subscribe, and when a pending subscription is read",
    },
    Call {
        function: Api,
        service: Sns,
        operation: "unsubscribe",
        actions: &["sns:Unsubscribe"],
        kms: &[],
        resources: &[NotifySubscriptions],
        why: "DELETE /v1/subscriptions/{id} stops SNS's deliveries before the record goes",
    },
    // --- api: SQS and SSM --------------------------------------------------------------
    Call {
        function: Api,
        service: Sqs,
        operation: "send_message",
        actions: &["sqs:SendMessage"],
        kms: MESSAGE_KMS,
        resources: &[ExportsQueue],
        why: "SqsExportRunner::submit hands an export to the processor",
    },
    Call {
        function: Api,
        service: Ssm,
        operation: "get_parameter",
        actions: &["ssm:GetParameter"],
        kms: &["kms:Decrypt"],
        resources: &[CursorKey],
        why: "Aws::cursor_key reads the SecureString once at init (with decryption)",
    },
];

/// Operations of the runtime adapters that no function calls on AWS.
pub const NOT_ON_LAMBDA: &[NotGranted] = &[NotGranted {
    service: S3,
    operation: "head_bucket",
    why: "S3ObjectStore::check_buckets: only `eventpulse local --backend aws` checks its buckets at start-up",
}];

/// Operations only the provisioning code calls (`eventpulse provision`, tests); the stack
/// creates these resources itself, so no role may call them.
pub const PROVISION_ONLY: &[NotGranted] = &[
    prov(S3, "create_bucket"),
    prov(S3, "get_public_access_block"),
    prov(S3, "put_public_access_block"),
    prov(S3, "get_bucket_notification_configuration"),
    prov(S3, "put_bucket_notification_configuration"),
    prov(Sns, "create_topic"),
    prov(Sqs, "create_queue"),
    prov(Sqs, "get_queue_attributes"),
    prov(Sqs, "set_queue_attributes"),
    prov(Service::EventBridge, "describe_rule"),
    prov(Service::EventBridge, "put_rule"),
    prov(Service::EventBridge, "list_targets_by_rule"),
    prov(Service::EventBridge, "put_targets"),
    prov(Ssm, "put_parameter"),
    prov(DynamoDb, "describe_table"),
    prov(DynamoDb, "create_table"),
    prov(DynamoDb, "describe_time_to_live"),
    prov(DynamoDb, "update_time_to_live"),
];

const fn prov(service: Service, operation: &'static str) -> NotGranted {
    NotGranted {
        service,
        operation,
        why: "provisioning only: the SAM template creates this resource",
    }
}

/// What Lambda itself does with each role.
pub const PLATFORM: &[PlatformGrant] = &[
    PlatformGrant {
        function: Processor,
        actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
        kms: &[],
        kms_via: None,
        resource: OwnLogGroup,
        why: "Lambda writes the function's stdout/stderr (JSON logs, EMF) to its log group",
    },
    PlatformGrant {
        function: Exporter,
        actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
        kms: &[],
        kms_via: None,
        resource: OwnLogGroup,
        why: "Lambda writes the function's stdout/stderr (JSON logs) to its log group",
    },
    PlatformGrant {
        function: Api,
        actions: &["logs:CreateLogStream", "logs:PutLogEvents"],
        kms: &[],
        kms_via: None,
        resource: OwnLogGroup,
        why: "Lambda writes the function's stdout/stderr to its log group",
    },
    PlatformGrant {
        function: Processor,
        actions: &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        kms: &[],
        kms_via: None,
        resource: Any,
        why: "active tracing: the X-Ray daemon in the execution environment sends the function's segments; these actions support no resource-level permissions",
    },
    PlatformGrant {
        function: Exporter,
        actions: &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        kms: &[],
        kms_via: None,
        resource: Any,
        why: "active tracing: the X-Ray daemon in the execution environment sends the function's segments; these actions support no resource-level permissions",
    },
    PlatformGrant {
        function: Api,
        actions: &["xray:PutTraceSegments", "xray:PutTelemetryRecords"],
        kms: &[],
        kms_via: None,
        resource: Any,
        why: "active tracing: the X-Ray daemon in the execution environment sends the function's segments; these actions support no resource-level permissions",
    },
    PlatformGrant {
        function: Exporter,
        actions: &[
            "sqs:ReceiveMessage",
            "sqs:DeleteMessage",
            "sqs:GetQueueAttributes",
        ],
        kms: &["kms:Decrypt"],
        kms_via: Some(Sqs),
        resource: ExportsQueue,
        why: "the event source mapping polls the exports queue with the function's role",
    },
    PlatformGrant {
        function: Processor,
        actions: &["sqs:SendMessage"],
        kms: MESSAGE_KMS,
        kms_via: Some(Sqs),
        resource: ProcessorFailureQueue,
        why: "Lambda sends failed asynchronous invocations to the on-failure destination with the function's role",
    },
];

/// The (action, resource) pairs `function`'s role must allow: its calls and the platform's.
pub fn grants(function: Function) -> std::collections::BTreeSet<(&'static str, Resource)> {
    let calls = CALLS
        .iter()
        .filter(|c| c.function == function)
        .flat_map(|c| {
            c.actions
                .iter()
                .flat_map(move |a| c.resources.iter().map(move |r| (*a, *r)))
        });
    let platform = PLATFORM
        .iter()
        .filter(|p| p.function == function)
        .flat_map(|p| p.actions.iter().map(move |a| (*a, p.resource)));
    calls.chain(platform).collect()
}

/// The (KMS action, service it is used through) pairs `function`'s role must allow on the
/// stack's key.
pub fn key_grants(function: Function) -> std::collections::BTreeSet<(&'static str, Service)> {
    let calls = CALLS
        .iter()
        .filter(|c| c.function == function)
        .flat_map(|c| c.kms.iter().map(move |k| (*k, c.service)));
    let platform = PLATFORM
        .iter()
        .filter(|p| p.function == function)
        .flat_map(|p| {
            p.kms_via
                .into_iter()
                .flat_map(|s| p.kms.iter().map(move |k| (*k, s)))
        });
    calls.chain(platform).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::{BTreeMap, BTreeSet};
    use std::path::{Path, PathBuf};

    /// `src` with comments, string and character literals blanked (same length, newlines
    /// kept), so that parentheses and dots inside them do not count.
    fn code_only(src: &str) -> String {
        let b = src.as_bytes();
        let mut out = b.to_vec();
        let blank = |out: &mut Vec<u8>, from: usize, to: usize| {
            for c in &mut out[from..to] {
                if *c != b'\n' {
                    *c = b' ';
                }
            }
        };
        let mut i = 0;
        while i < b.len() {
            match b[i] {
                b'/' if b.get(i + 1) == Some(&b'/') => {
                    let end = src[i..].find('\n').map_or(b.len(), |n| i + n);
                    blank(&mut out, i, end);
                    i = end;
                }
                b'/' if b.get(i + 1) == Some(&b'*') => {
                    let end = src[i + 2..].find("*/").map_or(b.len(), |n| i + 2 + n + 2);
                    blank(&mut out, i, end);
                    i = end;
                }
                b'r' if (b.get(i + 1) == Some(&b'"') || b.get(i + 1) == Some(&b'#'))
                    && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_')) =>
                {
                    // r"…" or r#"…"#
                    let hashes = b[i + 1..].iter().take_while(|c| **c == b'#').count();
                    let open = i + 1 + hashes;
                    if b.get(open) != Some(&b'"') {
                        i += 1;
                        continue;
                    }
                    let close = format!("\"{}", "#".repeat(hashes));
                    let end = src[open + 1..]
                        .find(&close)
                        .map_or(b.len(), |n| open + 1 + n + close.len());
                    blank(&mut out, i, end);
                    i = end;
                }
                b'"' => {
                    let mut j = i + 1;
                    while j < b.len() && b[j] != b'"' {
                        j += if b[j] == b'\\' { 2 } else { 1 };
                    }
                    blank(&mut out, i, (j + 1).min(b.len()));
                    i = j + 1;
                }
                // A char literal ('x', '\n', '\''), not a lifetime ('a).
                b'\'' if b.get(i + 2) == Some(&b'\'') && b.get(i + 1) != Some(&b'\\') => {
                    blank(&mut out, i, i + 3);
                    i += 3;
                }
                b'\'' if b.get(i + 1) == Some(&b'\\') => {
                    let end = src[i + 2..].find('\'').map_or(b.len(), |n| i + 2 + n + 1);
                    blank(&mut out, i, end);
                    i = end;
                }
                _ => i += 1,
            }
        }
        String::from_utf8(out).expect("only ASCII bytes were replaced")
    }

    /// Client accessors a chain may start with before the operation (`clients.sqs()`).
    const ACCESSORS: &[&str] = &[
        "clone",
        "client",
        "s3",
        "sns",
        "sqs",
        "ssm",
        "dynamodb",
        "eventbridge",
    ];

    fn is_ident(c: u8) -> bool {
        c.is_ascii_alphanumeric() || c == b'_'
    }

    /// The methods of the chain that ends at `end` (the `.` of `.send()`), first to last.
    fn chain_before(code: &str, end: usize) -> (Vec<&str>, usize) {
        let b = code.as_bytes();
        let mut i = end;
        let mut methods = Vec::new();
        loop {
            while i > 0 && b[i - 1].is_ascii_whitespace() {
                i -= 1;
            }
            if i == 0 || b[i - 1] != b')' {
                break;
            }
            let mut depth = 0usize;
            let mut j = i;
            loop {
                j -= 1;
                match b[j] {
                    b')' => depth += 1,
                    b'(' => {
                        depth -= 1;
                        if depth == 0 {
                            break;
                        }
                    }
                    _ => {}
                }
                assert!(j > 0, "unbalanced parentheses before offset {end}");
            }
            let mut k = j;
            while k > 0 && is_ident(b[k - 1]) {
                k -= 1;
            }
            // A raw identifier (`.r#type(…)`).
            if k >= 2 && &b[k - 2..k] == b"r#" {
                k -= 2;
            }
            let mut dot = k;
            while dot > 0 && b[dot - 1].is_ascii_whitespace() {
                dot -= 1;
            }
            if k == j || dot == 0 || b[dot - 1] != b'.' {
                break; // a plain function call or a group: the chain's receiver
            }
            methods.push(&code[k..j]);
            i = dot - 1;
        }
        methods.reverse();
        (methods, i)
    }

    /// The first method of a chain that is not a client accessor.
    fn operation_of<'a>(methods: &[&'a str]) -> Option<&'a str> {
        methods.iter().copied().find(|m| !ACCESSORS.contains(m))
    }

    /// Where the receiver `var` of a bare `var.send()` was built: the operation of the
    /// nearest `let [mut] var = …` before `at`.
    fn operation_of_binding<'a>(code: &'a str, var: &str, at: usize) -> Option<&'a str> {
        let before = &code[..at];
        let start = [format!("let mut {var} ="), format!("let {var} =")]
            .iter()
            .filter_map(|p| before.rfind(p.as_str()).map(|i| i + p.len()))
            .max()?;
        let b = code.as_bytes();
        let mut i = start;
        loop {
            // `.ident(` or `ident` / `.ident` path segments.
            while i < at && b[i].is_ascii_whitespace() {
                i += 1;
            }
            let dotted = b.get(i) == Some(&b'.');
            if dotted {
                i += 1;
            }
            let s = i;
            while i < at && is_ident(b[i]) {
                i += 1;
            }
            if s == i {
                return None;
            }
            let name = &code[s..i];
            if b.get(i) == Some(&b'(') {
                if dotted && !ACCESSORS.contains(&name) {
                    return Some(name);
                }
                // skip the arguments
                let mut depth = 0usize;
                loop {
                    match b.get(i) {
                        Some(b'(') => depth += 1,
                        Some(b')') => {
                            depth -= 1;
                            if depth == 0 {
                                i += 1;
                                break;
                            }
                        }
                        None => return None,
                        _ => {}
                    }
                    i += 1;
                }
            }
        }
    }

    /// Every SDK operation a source file calls, with the byte offset of each call.
    fn sdk_calls(src: &str) -> Result<Vec<(String, usize)>, String> {
        let code = code_only(src);
        let mut found = Vec::new();
        for terminal in [".send()", ".presigned("] {
            for (at, _) in code.match_indices(terminal) {
                let (methods, receiver_end) = chain_before(&code, at);
                let op = match operation_of(&methods) {
                    Some(op) => Some(op),
                    None => {
                        let b = code.as_bytes();
                        let mut s = receiver_end;
                        while s > 0 && is_ident(b[s - 1]) {
                            s -= 1;
                        }
                        operation_of_binding(&code, &code[s..receiver_end], at)
                    }
                };
                let line = src[..at].lines().count();
                match op {
                    Some(op) => found.push((op.to_string(), at)),
                    None => {
                        return Err(format!(
                            "line {line}: a `{terminal}` whose operation the scan cannot name"
                        ));
                    }
                }
            }
        }
        Ok(found)
    }

    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read src dir") {
            let path = entry.expect("dir entry").path();
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }

    fn src_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
    }

    fn is_provisioning(rel: &str) -> bool {
        rel == "provision.rs" || rel.starts_with("provision/") || rel == "dynamo/provision.rs"
    }

    /// The SDK crates a file can be calling: those it names, else those its module's
    /// `mod.rs` names (a submodule on its parent's client).
    fn services_of(rel: &str, src: &str) -> BTreeSet<Service> {
        const ALL: [Service; 6] = [S3, DynamoDb, Sns, Sqs, Ssm, Service::EventBridge];
        let named = |text: &str| -> BTreeSet<Service> {
            // `aws_sdk_s3` is a prefix of no other crate name we use, but check the
            // character after it anyway.
            ALL.into_iter()
                .filter(|s| {
                    text.match_indices(s.sdk_crate()).any(|(i, m)| {
                        !text[i + m.len()..].starts_with(|c: char| c.is_alphanumeric() || c == '_')
                    })
                })
                .collect()
        };
        let own = named(src);
        if !own.is_empty() {
            return own;
        }
        let parent = Path::new(rel)
            .parent()
            .filter(|p| !p.as_os_str().is_empty());
        parent
            .map(|p| {
                let text =
                    std::fs::read_to_string(src_dir().join(p).join("mod.rs")).unwrap_or_default();
                named(&text)
            })
            .unwrap_or_default()
    }

    /// (service, operation) → the files calling it, for the runtime and the provisioning
    /// code apart.
    type Found = BTreeMap<(Service, String), BTreeSet<String>>;

    fn scan() -> (Found, Found) {
        let mut files = Vec::new();
        rust_files(&src_dir(), &mut files);
        let known: BTreeMap<&str, Service> = CALLS
            .iter()
            .map(|c| (c.operation, c.service))
            .chain(
                NOT_ON_LAMBDA
                    .iter()
                    .chain(PROVISION_ONLY)
                    .map(|n| (n.operation, n.service)),
            )
            .collect();
        let (mut runtime, mut provisioning) = (Found::new(), Found::new());
        let mut problems = Vec::new();
        for path in files {
            let rel = path
                .strip_prefix(src_dir())
                .expect("under src")
                .to_string_lossy()
                .replace('\\', "/");
            let src = std::fs::read_to_string(&path).expect("read source");
            let calls = match sdk_calls(&src) {
                Ok(c) => c,
                Err(e) => {
                    problems.push(format!("{rel}: {e}"));
                    continue;
                }
            };
            let services = services_of(&rel, &src);
            for (op, _) in calls {
                let Some(service) = known.get(op.as_str()).copied() else {
                    problems.push(format!(
                        "{rel}: calls `{op}`, which is in none of CALLS, NOT_ON_LAMBDA, PROVISION_ONLY (src/iam.rs): add it with the function that calls it and its IAM action"
                    ));
                    continue;
                };
                if !services.contains(&service) {
                    problems.push(format!(
                        "{rel}: calls `{op}`, listed as {service:?}, but the file uses {services:?}"
                    ));
                }
                let into = if is_provisioning(&rel) {
                    &mut provisioning
                } else {
                    &mut runtime
                };
                into.entry((service, op)).or_default().insert(rel.clone());
            }
        }
        assert!(problems.is_empty(), "{}", problems.join("\n"));
        (runtime, provisioning)
    }

    #[test]
    fn the_scan_reads_chains_bindings_and_presigning() {
        let src = r#"
            // self.client.scan().send() in a comment is not a call
            let s = "x.delete_table().send()";
            let out = self
                .client
                .put_item()
                .table_name(&*self.table)
                .condition_expression(format!("a ({}) b", x.name("pk")))
                .send()
                .await;
            let q = clients.sqs().create_queue().queue_name(n).send().await?;
            let mut request = client.create_table().table_name(t);
            request = request.billing_mode(m);
            match request.send().await { _ => {} }
            let signed = self.client.get_object().bucket(b).key(k).presigned(config).await;
            ssm.put_parameter().r#type(t).overwrite(false).send().await;
            let c = '(';
        "#;
        let ops: Vec<String> = sdk_calls(src)
            .expect("every call named")
            .into_iter()
            .map(|(op, _)| op)
            .collect();
        assert_eq!(
            ops,
            [
                "put_item",
                "create_queue",
                "create_table",
                "put_parameter",
                "get_object"
            ]
        );
        assert!(sdk_calls("fn f() { (a, b).send() }").is_err());
    }

    #[test]
    fn every_sdk_operation_in_the_code_is_listed_and_every_listed_one_is_called() {
        let (runtime, provisioning) = scan();
        let listed_runtime: BTreeSet<(Service, String)> = CALLS
            .iter()
            .map(|c| (c.service, c.operation.to_string()))
            .chain(
                NOT_ON_LAMBDA
                    .iter()
                    .map(|n| (n.service, n.operation.to_string())),
            )
            .collect();
        let found_runtime: BTreeSet<_> = runtime.keys().cloned().collect();
        assert_eq!(
            found_runtime, listed_runtime,
            "the runtime adapters' SDK operations (left) differ from CALLS + NOT_ON_LAMBDA (right)"
        );
        // What only provisioning calls is exactly PROVISION_ONLY, and none of it is
        // granted to a function.
        let only_provisioning: BTreeSet<_> = provisioning
            .keys()
            .filter(|k| !runtime.contains_key(*k))
            .cloned()
            .collect();
        let listed_provisioning: BTreeSet<_> = PROVISION_ONLY
            .iter()
            .map(|n| (n.service, n.operation.to_string()))
            .collect();
        assert_eq!(only_provisioning, listed_provisioning);
        for c in CALLS {
            assert!(
                !listed_provisioning.contains(&(c.service, c.operation.to_string())),
                "{c:?} is provisioning only"
            );
        }
        // Not vacuous: the scan sees the adapters' calls where they are.
        assert!(
            runtime[&(DynamoDb, "transact_write_items".to_string())].contains("dynamo/uploads.rs")
        );
        assert!(runtime[&(S3, "put_object".to_string())].contains("presign.rs"));
        assert!(runtime[&(Ssm, "get_parameter".to_string())].contains("compose.rs"));
        assert!(provisioning[&(Ssm, "get_parameter".to_string())].contains("provision/secret.rs"));
    }

    #[test]
    fn calls_are_well_formed() {
        for c in CALLS {
            let prefix = format!("{}:", iam_prefix(c.service));
            assert!(!c.actions.is_empty() && !c.resources.is_empty(), "{c:?}");
            for a in c.actions {
                assert!(a.starts_with(&prefix) && !a.contains('*'), "{c:?}: {a}");
            }
            for k in c.kms {
                assert!(k.starts_with("kms:") && !k.contains('*'), "{c:?}: {k}");
            }
            assert!(
                !c.resources.contains(&Any),
                "{c:?}: a call on every resource"
            );
        }
        for p in PLATFORM {
            assert_eq!(p.kms.is_empty(), p.kms_via.is_none(), "{p:?}");
            // Only X-Ray may name every resource.
            if p.resource == Any {
                assert!(p.actions.iter().all(|a| a.starts_with("xray:")), "{p:?}");
            }
        }
        // The processor never touches SSM, the exports or the exports queue; the exporter
        // never touches the uploads; the API never publishes or lists the process bucket,
        // and touches SNS only to manage the notification topic's subscriptions.
        let processor = grants(Processor);
        let exporter = grants(Exporter);
        let api = grants(Api);
        assert!(
            !processor
                .iter()
                .any(|(a, r)| a.starts_with("ssm:") || *r == ExportsQueue || *r == ExportsObjects)
        );
        assert!(!exporter.iter().any(|(_, r)| matches!(
            r,
            ProcessBucket | ProcessIncoming | QuarantineObjects | CursorKey
        )));
        let api_sns: BTreeSet<(&str, Resource)> = api
            .iter()
            .filter(|(a, _)| a.starts_with("sns:"))
            .copied()
            .collect();
        assert_eq!(
            api_sns,
            BTreeSet::from([
                ("sns:Subscribe", NotifyTopic),
                ("sns:GetSubscriptionAttributes", NotifySubscriptions),
                ("sns:Unsubscribe", NotifySubscriptions),
            ])
        );
        // Only the API touches the topic's subscriptions.
        assert!(
            !processor
                .iter()
                .chain(&exporter)
                .any(|(_, r)| *r == NotifySubscriptions)
        );
        assert!(!api.contains(&("s3:ListBucket", ProcessBucket)));
    }

    fn iam_prefix(s: Service) -> &'static str {
        match s {
            S3 => "s3",
            DynamoDb => "dynamodb",
            Sns => "sns",
            Sqs => "sqs",
            Ssm => "ssm",
            Service::EventBridge => "events",
        }
    }
}
