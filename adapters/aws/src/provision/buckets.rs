//! The three buckets: created where missing, Block Public Access on all of them, and
//! EventBridge notifications on the process bucket (the processor's trigger).

use crate::error::classify;
use crate::{Clients, S3Buckets};
use aws_sdk_s3::Client;
use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, CreateBucketConfiguration, EventBridgeConfiguration,
    NotificationConfiguration, PublicAccessBlockConfiguration,
};
use eventpulse_handlers::ports::{PortError, PortResult};

pub(super) async fn provision(clients: &Clients, buckets: &S3Buckets) -> PortResult<()> {
    let region = clients.sdk.region().map(|r| r.as_ref().to_string());
    for name in [&buckets.process, &buckets.quarantine, &buckets.exports] {
        ensure(&clients.s3, name, region.as_deref()).await?;
        block_public_access(&clients.s3, name).await?;
    }
    eventbridge_notifications(&clients.s3, &buckets.process).await
}

/// HeadBucket first, because CreateBucket on a bucket we own answers differently by region
/// (us-east-1: success; elsewhere: `BucketAlreadyOwnedByYou`), and a bucket of another
/// account must be refused clearly: bucket names are global.
async fn ensure(s3: &Client, name: &str, region: Option<&str>) -> PortResult<()> {
    match s3.head_bucket().bucket(name).send().await {
        Ok(_) => return Ok(()),
        Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => {}
        Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 403) => {
            return Err(taken(name));
        }
        Err(e) => return Err(classify(&format!("S3 HeadBucket {name}"), e)),
    }
    let mut create = s3.create_bucket().bucket(name);
    // us-east-1 is the one region that takes no location constraint (and refuses one).
    if let Some(r) = region.filter(|r| *r != "us-east-1") {
        create = create.create_bucket_configuration(
            CreateBucketConfiguration::builder()
                .location_constraint(BucketLocationConstraint::from(r))
                .build(),
        );
    }
    match create.send().await {
        Ok(_) => Ok(()),
        // Created concurrently by another run of ours.
        Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(()),
        Err(e) if e.code() == Some("BucketAlreadyExists") => Err(taken(name)),
        Err(e) => Err(classify(&format!("S3 CreateBucket {name}"), e)),
    }
}

fn taken(name: &str) -> PortError {
    PortError::permanent(format!(
        "S3 bucket {name} exists and belongs to another account (bucket names are global): \
         choose another prefix"
    ))
}

/// All four settings on: uploads arrive through presigned URLs and leave through presigned
/// URLs, so no object is ever public.
async fn block_public_access(s3: &Client, name: &str) -> PortResult<()> {
    let current = match s3.get_public_access_block().bucket(name).send().await {
        Ok(out) => out.public_access_block_configuration,
        Err(e) if e.code() == Some("NoSuchPublicAccessBlockConfiguration") => None,
        Err(e) => return Err(classify(&format!("S3 GetPublicAccessBlock {name}"), e)),
    };
    let all_on = current.is_some_and(|c| {
        [
            c.block_public_acls,
            c.ignore_public_acls,
            c.block_public_policy,
            c.restrict_public_buckets,
        ]
        .iter()
        .all(|v| *v == Some(true))
    });
    if all_on {
        return Ok(());
    }
    s3.put_public_access_block()
        .bucket(name)
        .public_access_block_configuration(
            PublicAccessBlockConfiguration::builder()
                .block_public_acls(true)
                .ignore_public_acls(true)
                .block_public_policy(true)
                .restrict_public_buckets(true)
                .build(),
        )
        .send()
        .await
        .map_err(|e| classify(&format!("S3 PutPublicAccessBlock {name}"), e))?;
    Ok(())
}

/// Turns EventBridge delivery on, keeping whatever other notifications the bucket has
/// (the Put replaces the whole configuration). moto never reports EventBridge delivery
/// back, so there every run writes it again: the same configuration, nothing changes.
async fn eventbridge_notifications(s3: &Client, name: &str) -> PortResult<()> {
    let mut config = NotificationConfiguration::builder();
    match s3
        .get_bucket_notification_configuration()
        .bucket(name)
        .send()
        .await
    {
        Ok(current) if current.event_bridge_configuration.is_some() => return Ok(()),
        Ok(current) => {
            config = config
                .set_topic_configurations(current.topic_configurations)
                .set_queue_configurations(current.queue_configurations)
                .set_lambda_function_configurations(current.lambda_function_configurations);
        }
        Err(e) if is_motos_empty_configuration(&e) => {}
        Err(e) => {
            return Err(classify(
                &format!("S3 GetBucketNotificationConfiguration {name}"),
                e,
            ));
        }
    }
    let config = config
        .event_bridge_configuration(EventBridgeConfiguration::builder().build())
        .build();
    s3.put_bucket_notification_configuration()
        .bucket(name)
        .notification_configuration(config)
        .send()
        .await
        .map_err(|e| classify(&format!("S3 PutBucketNotificationConfiguration {name}"), e))?;
    Ok(())
}

/// moto answers a bucket without notifications with an empty `<GetBucketNotificationResponse/>`
/// where S3 sends an empty `<NotificationConfiguration/>`, which the SDK cannot parse.
/// Only that exact answer reads as "nothing configured": anything else unreadable stays an
/// error, since taking it for empty would overwrite the bucket's other notifications.
fn is_motos_empty_configuration<E>(e: &SdkError<E, HttpResponse>) -> bool {
    let Some(raw) = e.raw_response() else {
        return false;
    };
    let body = raw.body().bytes().map(String::from_utf8_lossy);
    raw.status().as_u16() == 200
        && body.is_some_and(|b| {
            let b = b.trim_end();
            b.contains("<GetBucketNotificationResponse") && b.ends_with("/>") && !b.contains("><")
        })
}
