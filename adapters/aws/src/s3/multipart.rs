//! [`S3Writer`]: the port's [`ObjectWriter`] as an S3 multipart upload.
//!
//! One part is held back until the next arrives or `finish` is called, so an object that
//! turns out to be a single part is written with one plain `PutObject` (one request, not
//! three). Otherwise `CreateMultipartUpload` starts with the first part, each `UploadPart`
//! carries one, and `CompleteMultipartUpload` makes the object visible at once, whole. A
//! failed or abandoned writer aborts its upload; one a crash leaves is aborted by the exports
//! bucket's lifecycle rule (`AbortIncompleteMultipartUpload`, infra/template.yaml).

use super::{S3ObjectStore, etag};
use crate::error::classify;
use async_trait::async_trait;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use bytes::Bytes;
use chrono::Utc;
use eventpulse_handlers::ports::{
    Bucket, ObjectInfo, ObjectStore, ObjectWriter, PortError, PortResult,
};

pub(super) struct S3Writer {
    store: S3ObjectStore,
    bucket: Bucket,
    key: String,
    content_type: String,
    /// The part not written yet.
    held: Option<Bytes>,
    /// The multipart upload, once there are two parts.
    upload_id: Option<String>,
    parts: Vec<CompletedPart>,
    size: u64,
}

impl S3Writer {
    pub(super) fn new(store: S3ObjectStore, bucket: Bucket, key: &str, content_type: &str) -> Self {
        Self {
            store,
            bucket,
            key: key.to_string(),
            content_type: content_type.to_string(),
            held: None,
            upload_id: None,
            parts: Vec::new(),
            size: 0,
        }
    }

    fn bucket_name(&self) -> String {
        self.store.buckets.name(self.bucket).to_string()
    }

    async fn upload_id(&mut self) -> PortResult<String> {
        if let Some(id) = &self.upload_id {
            return Ok(id.clone());
        }
        let what = self
            .store
            .what("CreateMultipartUpload", self.bucket, &self.key);
        let out = self
            .store
            .client
            .create_multipart_upload()
            .bucket(self.bucket_name())
            .key(&self.key)
            .content_type(&self.content_type)
            .send()
            .await
            .map_err(|e| classify(&what, e))?;
        let id = out
            .upload_id()
            .filter(|id| !id.is_empty())
            .ok_or_else(|| PortError::permanent(format!("{what}: the answer has no upload id")))?
            .to_string();
        self.upload_id = Some(id.clone());
        Ok(id)
    }

    async fn upload_part(&mut self, part: Bytes) -> PortResult<()> {
        let upload_id = self.upload_id().await?;
        let number = self.parts.len() as i32 + 1;
        let what = self.store.what("UploadPart", self.bucket, &self.key);
        let out = self
            .store
            .client
            .upload_part()
            .bucket(self.bucket_name())
            .key(&self.key)
            .upload_id(upload_id)
            .part_number(number)
            .body(ByteStream::from(part))
            .send()
            .await
            .map_err(|e| classify(&what, e))?;
        self.parts.push(
            CompletedPart::builder()
                .part_number(number)
                .e_tag(etag(&what, out.e_tag())?)
                .build(),
        );
        Ok(())
    }
}

impl S3Writer {
    /// The ETag of the object a completion whose answer could not be read made, if it is
    /// this upload's (`{md5 of the parts' md5s}-{parts}`, this size).
    async fn completed_anyway(&self, what: &str, parts: usize) -> PortResult<String> {
        match self.store.head(self.bucket, &self.key).await? {
            Some(o) if o.size == self.size && o.etag.ends_with(&format!("-{parts}")) => Ok(o.etag),
            found => Err(PortError::transient(format!(
                "{what}: the answer could not be read and the object is not the upload's ({found:?})"
            ))),
        }
    }
}

#[async_trait]
impl ObjectWriter for S3Writer {
    async fn write(&mut self, part: Bytes) -> PortResult<()> {
        self.size += part.len() as u64;
        if let Some(previous) = self.held.replace(part) {
            self.upload_part(previous).await?;
        }
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> PortResult<ObjectInfo> {
        let last = self.held.take().unwrap_or_default();
        if self.parts.is_empty() {
            return self
                .store
                .put(self.bucket, &self.key, last, &self.content_type)
                .await;
        }
        self.upload_part(last).await?;
        let upload_id = self.upload_id().await?;
        let what = self
            .store
            .what("CompleteMultipartUpload", self.bucket, &self.key);
        let parts = self.parts.len();
        let out = self
            .store
            .client
            .complete_multipart_upload()
            .bucket(self.bucket_name())
            .key(&self.key)
            .upload_id(upload_id)
            .multipart_upload(
                CompletedMultipartUpload::builder()
                    .set_parts(Some(std::mem::take(&mut self.parts)))
                    .build(),
            )
            .send()
            .await;
        let etag = match out {
            Ok(out) => etag(&what, out.e_tag())?,
            // moto 5.2.1 answers 200 with a `CompleteMultipartUploadResponse` root, which the
            // SDK cannot read. A 200 means the upload completed: confirmed by the object
            // itself, a multipart ETag of this many parts and this size.
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 200 => {
                self.completed_anyway(&what, parts).await?
            }
            Err(e) => return Err(classify(&what, e)),
        };
        Ok(ObjectInfo {
            key: self.key.clone(),
            size: self.size,
            etag,
            // As for PutObject: S3 dates the object to the completion, which is now.
            last_modified: Utc::now(),
        })
    }

    async fn abort(self: Box<Self>) -> PortResult<()> {
        let Some(upload_id) = &self.upload_id else {
            return Ok(()); // nothing was sent
        };
        let what = self
            .store
            .what("AbortMultipartUpload", self.bucket, &self.key);
        self.store
            .client
            .abort_multipart_upload()
            .bucket(self.bucket_name())
            .key(&self.key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| classify(&what, e))?;
        Ok(())
    }
}
