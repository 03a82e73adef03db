//! [`S3Presigner`]: presigned S3 URLs, so clients move bytes without our credentials.
//!
//! An upload URL is a SigV4 query-signed `PutObject` on one key of the process bucket that
//! signs, beside the key and the expiry, the headers the client must send:
//!
//! - `content-type: application/json`: nothing else can be uploaded through it;
//! - `content-length`, when the caller fixed the size: a body of another size is refused;
//! - `if-none-match: *`: S3's conditional write, so the URL can create the object but never
//!   overwrite one (a second PUT through the same URL gets 412). This is the AWS form of
//!   the embedded server's one-PUT-per-URL claim (ARCHITECTURE.md, "One upload id, one
//!   outcome").
//!
//! The methods are inherent and async, with the signatures the `Presigner` port is getting
//! (presigning can load credentials, which is async); implementing the port is then a
//! three-line forwarding impl.

use crate::error::classify;
use crate::s3::S3Buckets;
use aws_sdk_s3::presigning::PresigningConfig;
use chrono::{DateTime, TimeDelta, Utc};
use eventpulse_handlers::ports::{Bucket, PortError, PortResult, PresignedRequest, Presigner};
use std::time::{Duration, SystemTime};

/// SigV4's limit on a presigned URL's validity.
const MAX_VALIDITY: TimeDelta = TimeDelta::days(7);

/// Presigned URLs on the process (uploads) and any (downloads) bucket.
#[derive(Debug, Clone)]
pub struct S3Presigner {
    client: aws_sdk_s3::Client,
    buckets: S3Buckets,
}

/// The signing instant and validity for a URL that expires at `expires_at`. SigV4 counts
/// whole seconds from a whole-second `X-Amz-Date`, so the deadline is rounded down to what
/// S3 will actually enforce, and reported as such.
fn validity(expires_at: DateTime<Utc>) -> PortResult<(PresigningConfig, DateTime<Utc>)> {
    let now = Utc::now();
    let start = DateTime::from_timestamp(now.timestamp(), 0).unwrap_or(now);
    let valid = expires_at - start;
    if valid < TimeDelta::seconds(1) || valid > MAX_VALIDITY {
        return Err(PortError::permanent(format!(
            "presigning: expiry {expires_at} is not between 1 s and 7 days from now"
        )));
    }
    let secs = valid.num_seconds();
    let config = PresigningConfig::builder()
        .start_time(SystemTime::from(start))
        .expires_in(Duration::from_secs(secs.unsigned_abs()))
        .build()
        .map_err(|e| PortError::permanent(format!("presigning: {e}")))?;
    Ok((config, start + TimeDelta::seconds(secs)))
}

impl S3Presigner {
    pub fn new(client: aws_sdk_s3::Client, buckets: S3Buckets) -> Self {
        Self { client, buckets }
    }

    /// A PUT of `key` in the process bucket (of exactly `content_length` bytes, when given)
    /// that creates the object only if it does not exist yet, valid until `expires_at`.
    pub async fn presign_upload(
        &self,
        key: &str,
        content_length: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest> {
        let (config, expires_at) = validity(expires_at)?;
        let bucket = self.buckets.name(Bucket::Process);
        let what = format!("presigning PutObject s3://{bucket}/{key}");
        let length = content_length
            .map(|n| {
                i64::try_from(n)
                    .map_err(|_| PortError::permanent(format!("{what}: length {n} is too large")))
            })
            .transpose()?;
        let signed = self
            .client
            .put_object()
            .bucket(bucket)
            .key(key)
            .content_type("application/json")
            .set_content_length(length)
            .if_none_match("*")
            .presigned(config)
            .await
            .map_err(|e| classify(&what, e))?;
        Ok(PresignedRequest {
            url: signed.uri().to_string(),
            method: signed.method().to_string(),
            // Every header that was signed in and so must be sent as it is.
            headers: signed
                .headers()
                .map(|(k, v)| (k.to_ascii_lowercase(), v.to_string()))
                .collect(),
            expires_at,
        })
    }

    /// A GET of `key` in `bucket`, valid until `expires_at`.
    pub async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        expires_at: DateTime<Utc>,
    ) -> PortResult<String> {
        let (config, _) = validity(expires_at)?;
        let bucket = self.buckets.name(bucket);
        let signed = self
            .client
            .get_object()
            .bucket(bucket)
            .key(key)
            .presigned(config)
            .await
            .map_err(|e| classify(&format!("presigning GetObject s3://{bucket}/{key}"), e))?;
        Ok(signed.uri().to_string())
    }
}

/// The port, forwarding to the inherent methods (which tests call directly).
#[async_trait::async_trait]
impl Presigner for S3Presigner {
    async fn presign_upload(
        &self,
        key: &str,
        content_length: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest> {
        S3Presigner::presign_upload(self, key, content_length, expires_at).await
    }

    async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        expires_at: DateTime<Utc>,
    ) -> PortResult<String> {
        S3Presigner::presign_download(self, bucket, key, expires_at).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_down_to_whole_seconds_within_sigv4_limits() {
        let asked = Utc::now() + TimeDelta::milliseconds(90_500);
        let (config, until) = validity(asked).expect("valid");
        assert!(until <= asked && asked - until < TimeDelta::seconds(2));
        assert_eq!(until.timestamp_subsec_nanos(), 0);
        // 90.5 s from a start rounded down by up to 1 s.
        assert!((89..=91).contains(&config.expires().as_secs()));
        assert!(validity(Utc::now() + MAX_VALIDITY - TimeDelta::seconds(5)).is_ok());
        for bad in [
            Utc::now(),
            Utc::now() + MAX_VALIDITY + TimeDelta::seconds(5),
        ] {
            assert!(!validity(bad).expect_err("refused").retryable);
        }
    }
}
