//! [`S3ObjectStore`]: the [`ObjectStore`] port on three S3 buckets.
//!
//! - **ETags** are S3's, without the quotes S3 puts around them: the MD5 of the content for
//!   a single-part object, so the same content has the same ETag, as the ledger expects.
//! - **Reads are bounded** twice: by the `Content-Length` S3 announces, before any byte is
//!   read, and by counting the body as it streams, so that a length that lies (or a proxy
//!   that drops it) still cannot make us buffer more than `max_bytes`.
//! - **Copies are server-side** and pinned to the content that was measured: the source is
//!   HEADed first (for its size, which CopyObject does not return) and copied with
//!   `x-amz-copy-source-if-match` on its ETag, so the returned size and ETag always describe
//!   what was copied.
//! - **Large objects** (exports) are written in parts: a multipart upload (`multipart`).
//! - **Errors** go through `crate::error::classify`; "not found" answers become `None`.

use crate::error::classify;
use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::primitives::{ByteStream, DateTime as S3DateTime};
use bytes::{Bytes, BytesMut};
use chrono::{DateTime, Utc};
use eventpulse_handlers::ports::{
    Bucket, Object, ObjectInfo, ObjectStore, ObjectWriter, PortError, PortResult, Read,
};

mod multipart;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};

/// The most keys ListObjectsV2 returns per page.
const MAX_PAGE: usize = 1000;

/// What `x-amz-copy-source` leaves unencoded: RFC 3986's unreserved characters and the `/`
/// between bucket and key segments. Everything else (spaces, `+`, `%`, `=`, UTF-8) is
/// percent-encoded, as S3 requires.
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~')
    .remove(b'/');

/// The real bucket names behind the domain's three buckets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Buckets {
    pub process: String,
    pub quarantine: String,
    pub exports: String,
}

impl S3Buckets {
    pub fn name(&self, bucket: Bucket) -> &str {
        match bucket {
            Bucket::Process => &self.process,
            Bucket::Quarantine => &self.quarantine,
            Bucket::Exports => &self.exports,
        }
    }
}

/// The object store on S3; cheap to clone.
#[derive(Debug, Clone)]
pub struct S3ObjectStore {
    client: aws_sdk_s3::Client,
    buckets: S3Buckets,
}

impl S3ObjectStore {
    pub fn new(client: aws_sdk_s3::Client, buckets: S3Buckets) -> Self {
        Self { client, buckets }
    }

    /// Checks that the three buckets exist and are ours to use: for start-up, because a
    /// `head` cannot tell a missing bucket from a missing key (S3 answers a bare 404 to
    /// both), so a misconfigured name would otherwise read as "no such object" there.
    pub async fn check_buckets(&self) -> PortResult<()> {
        for bucket in [Bucket::Process, Bucket::Quarantine, Bucket::Exports] {
            let name = self.buckets.name(bucket);
            self.client
                .head_bucket()
                .bucket(name)
                .send()
                .await
                .map_err(|e| classify(&format!("S3 HeadBucket s3://{name} ({bucket:?})"), e))?;
        }
        Ok(())
    }

    fn what(&self, op: &str, bucket: Bucket, key: &str) -> String {
        format!("S3 {op} s3://{}/{key}", self.buckets.name(bucket))
    }
}

/// S3 quotes its ETags (`"9b2c…"`); the domain compares bare values.
fn unquote(etag: &str) -> String {
    etag.trim_matches('"').to_string()
}

fn etag(what: &str, etag: Option<&str>) -> PortResult<String> {
    etag.map(unquote)
        .filter(|e| !e.is_empty())
        .ok_or_else(|| PortError::permanent(format!("{what}: the answer has no ETag")))
}

/// S3 always sends `Last-Modified`; an S3-compatible store that does not gets the time of
/// the answer, which is what the field approximates anyway.
fn instant(t: Option<&S3DateTime>) -> DateTime<Utc> {
    t.and_then(|t| DateTime::from_timestamp(t.secs(), t.subsec_nanos()))
        .unwrap_or_else(Utc::now)
}

fn size(what: &str, len: Option<i64>) -> PortResult<u64> {
    len.and_then(|n| u64::try_from(n).ok()).ok_or_else(|| {
        PortError::permanent(format!("{what}: the answer has no valid content length"))
    })
}

/// Whether S3 answered that the key (not the bucket) does not exist. HEAD answers carry no
/// body, so a missing key and a missing bucket both read as `NotFound` there; GET and
/// CopyObject say `NoSuchKey`, and `NoSuchBucket` stays an error.
fn is_missing_key<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> bool {
    matches!(err.code(), Some("NoSuchKey" | "NotFound"))
}

fn too_large(what: &str, max_bytes: u64) -> PortError {
    PortError::permanent(format!(
        "{what}: the object is larger than the {max_bytes} bytes allowed"
    ))
}

/// Reads a body, failing as soon as it goes past `max_bytes` (whatever was announced).
async fn read_bounded(
    body: &mut ByteStream,
    capacity: u64,
    max_bytes: u64,
    what: &str,
) -> PortResult<Bytes> {
    let mut buf = BytesMut::with_capacity(usize::try_from(capacity).unwrap_or(0));
    while let Some(chunk) = body.next().await {
        let chunk =
            chunk.map_err(|e| PortError::transient(format!("{what}: reading the body: {e}")))?;
        if (buf.len() + chunk.len()) as u64 > max_bytes {
            return Err(too_large(what, max_bytes));
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf.freeze())
}

#[async_trait]
impl ObjectStore for S3ObjectStore {
    async fn put(
        &self,
        bucket: Bucket,
        key: &str,
        bytes: Bytes,
        content_type: &str,
    ) -> PortResult<ObjectInfo> {
        let what = self.what("PutObject", bucket, key);
        let size = bytes.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(self.buckets.name(bucket))
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(|e| classify(&what, e))?;
        Ok(ObjectInfo {
            key: key.to_string(),
            size,
            etag: etag(&what, out.e_tag())?,
            // PutObject does not return Last-Modified; S3 sets it to when the write
            // happened, which is now to within the round trip.
            last_modified: Utc::now(),
        })
    }

    async fn head(&self, bucket: Bucket, key: &str) -> PortResult<Option<ObjectInfo>> {
        let what = self.what("HeadObject", bucket, key);
        let out = match self
            .client
            .head_object()
            .bucket(self.buckets.name(bucket))
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing_key(&e) => return Ok(None),
            Err(e) => return Err(classify(&what, e)),
        };
        Ok(Some(ObjectInfo {
            key: key.to_string(),
            size: size(&what, out.content_length())?,
            etag: etag(&what, out.e_tag())?,
            last_modified: instant(out.last_modified()),
        }))
    }

    async fn get(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Object>> {
        match self.read(bucket, key, max_bytes).await? {
            None => Ok(None),
            Some(Read::Whole(o)) => Ok(Some(o)),
            Some(Read::TooLarge(_)) => {
                Err(too_large(&self.what("GetObject", bucket, key), max_bytes))
            }
        }
    }

    /// One GetObject: the size and ETag come with the headers, before the body.
    async fn read(&self, bucket: Bucket, key: &str, max_bytes: u64) -> PortResult<Option<Read>> {
        let what = self.what("GetObject", bucket, key);
        let mut out = match self
            .client
            .get_object()
            .bucket(self.buckets.name(bucket))
            .key(key)
            .send()
            .await
        {
            Ok(out) => out,
            Err(e) if is_missing_key(&e) => return Ok(None),
            Err(e) => return Err(classify(&what, e)),
        };
        let announced = out.content_length().and_then(|n| u64::try_from(n).ok());
        if let Some(size) = announced.filter(|n| *n > max_bytes) {
            // Dropping `out` closes the connection without reading the body.
            return Ok(Some(Read::TooLarge(ObjectInfo {
                key: key.to_string(),
                size,
                etag: etag(&what, out.e_tag())?,
                last_modified: instant(out.last_modified()),
            })));
        }
        let capacity = announced.unwrap_or(0).min(max_bytes);
        let bytes = read_bounded(&mut out.body, capacity, max_bytes, &what).await?;
        Ok(Some(Read::Whole(Object {
            info: ObjectInfo {
                key: key.to_string(),
                size: bytes.len() as u64,
                etag: etag(&what, out.e_tag())?,
                last_modified: instant(out.last_modified()),
            },
            bytes,
        })))
    }

    async fn copy(
        &self,
        from: Bucket,
        from_key: &str,
        to: Bucket,
        to_key: &str,
    ) -> PortResult<Option<ObjectInfo>> {
        let Some(source) = self.head(from, from_key).await? else {
            return Ok(None);
        };
        let what = format!(
            "S3 CopyObject s3://{}/{from_key} → s3://{}/{to_key}",
            self.buckets.name(from),
            self.buckets.name(to)
        );
        let copy_source = utf8_percent_encode(
            &format!("{}/{from_key}", self.buckets.name(from)),
            COPY_SOURCE,
        )
        .to_string();
        let out = match self
            .client
            .copy_object()
            .copy_source(copy_source)
            .copy_source_if_match(format!("\"{}\"", source.etag))
            .bucket(self.buckets.name(to))
            .key(to_key)
            .send()
            .await
        {
            Ok(out) => out,
            // Deleted between the HEAD and the copy: missing, as if the HEAD had seen it.
            Err(e) if is_missing_key(&e) => return Ok(None),
            // Overwritten between the HEAD and the copy: the next attempt measures the new
            // content.
            Err(e) if e.code() == Some("PreconditionFailed") => {
                return Err(PortError::transient(format!(
                    "{what}: the source changed while it was being copied"
                )));
            }
            Err(e) => return Err(classify(&what, e)),
        };
        let result = out.copy_object_result();
        Ok(Some(ObjectInfo {
            key: to_key.to_string(),
            size: source.size,
            etag: etag(&what, result.and_then(|r| r.e_tag()))?,
            last_modified: instant(result.and_then(|r| r.last_modified())),
        }))
    }

    async fn writer(
        &self,
        bucket: Bucket,
        key: &str,
        content_type: &str,
    ) -> PortResult<Box<dyn ObjectWriter>> {
        Ok(Box::new(multipart::S3Writer::new(
            self.clone(),
            bucket,
            key,
            content_type,
        )))
    }

    async fn delete(&self, bucket: Bucket, key: &str) -> PortResult<()> {
        let what = self.what("DeleteObject", bucket, key);
        // S3 answers 204 whether or not the key existed.
        self.client
            .delete_object()
            .bucket(self.buckets.name(bucket))
            .key(key)
            .send()
            .await
            .map_err(|e| classify(&what, e))?;
        Ok(())
    }

    async fn list(
        &self,
        bucket: Bucket,
        prefix: &str,
        start_after: Option<&str>,
        limit: usize,
    ) -> PortResult<Vec<ObjectInfo>> {
        let what = format!(
            "S3 ListObjectsV2 s3://{}/{prefix}*",
            self.buckets.name(bucket)
        );
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        while out.len() < limit {
            let page_size = (limit - out.len()).min(MAX_PAGE);
            let mut request = self
                .client
                .list_objects_v2()
                .bucket(self.buckets.name(bucket))
                .prefix(prefix)
                .max_keys(i32::try_from(page_size).unwrap_or(i32::MAX));
            // The continuation token carries the position once there is one.
            request = match token.take() {
                Some(t) => request.continuation_token(t),
                None => request.set_start_after(start_after.map(str::to_string)),
            };
            let page = request.send().await.map_err(|e| classify(&what, e))?;
            for o in page.contents() {
                let key = o.key().ok_or_else(|| {
                    PortError::permanent(format!("{what}: a listed object has no key"))
                })?;
                out.push(ObjectInfo {
                    key: key.to_string(),
                    size: size(&what, o.size())?,
                    etag: etag(&what, o.e_tag())?,
                    last_modified: instant(o.last_modified()),
                });
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        out.truncate(limit);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_percent_encoded_except_slashes() {
        let enc = |s: &str| utf8_percent_encode(s, COPY_SOURCE).to_string();
        assert_eq!(
            enc("b/incoming/a-1_x.~/u.json"),
            "b/incoming/a-1_x.~/u.json"
        );
        assert_eq!(enc("b/sp ace+%3D=:"), "b/sp%20ace%2B%253D%3D%3A");
        assert_eq!(enc("b/é ü"), "b/%C3%A9%20%C3%BC");
    }

    /// The guard on the stream itself, for bodies whose length was not announced (or was
    /// wrong): S3 always announces it, so this cannot be provoked through moto.
    #[tokio::test]
    async fn bodies_are_cut_off_past_the_limit() {
        let mut body = ByteStream::from(Bytes::from_static(b"0123456789"));
        let e = read_bounded(&mut body, 0, 9, "get")
            .await
            .expect_err("over");
        assert!(
            !e.retryable && e.message.contains("larger than the 9 bytes"),
            "{e}"
        );
        let mut body = ByteStream::from(Bytes::from_static(b"0123456789"));
        let read = read_bounded(&mut body, 0, 10, "get").await.expect("at");
        assert_eq!(read.as_ref(), b"0123456789");
    }

    #[test]
    fn etags_lose_their_quotes() {
        assert_eq!(unquote("\"abc\""), "abc");
        assert_eq!(unquote("abc"), "abc");
        assert!(etag("x", Some("\"\"")).is_err());
    }
}
