//! Presigned URLs for the local object store: what S3 presigning is on AWS.
//!
//! An upload URL carries its expiry, the allowed length and an HMAC-SHA256 over
//! `METHOD \n key \n expiry \n length`, so it authorises exactly one kind of request on one
//! key until it expires, and cannot be altered to another key, size or deadline.

use chrono::{DateTime, Utc};
use eventpulse_handlers::ports::{Bucket, PortResult, PresignedRequest, Presigner};
use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

pub const UPLOAD_PATH: &str = "/_local/upload/";
pub const DOWNLOAD_PATH: &str = "/_local/download/";

pub struct LocalPresigner {
    key: Vec<u8>,
    base_url: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PresignError {
    #[error("the URL's signature does not match: it was altered or not issued by this server")]
    BadSignature,
    #[error("the URL expired at {0}; request a new one")]
    Expired(DateTime<Utc>),
    #[error("the URL is missing `{0}`")]
    Missing(&'static str),
}

pub fn bucket_name(b: Bucket) -> &'static str {
    match b {
        Bucket::Process => "process",
        Bucket::Quarantine => "quarantine",
        Bucket::Exports => "exports",
    }
}

pub fn bucket_from_name(s: &str) -> Option<Bucket> {
    match s {
        "process" => Some(Bucket::Process),
        "quarantine" => Some(Bucket::Quarantine),
        "exports" => Some(Bucket::Exports),
        _ => None,
    }
}

/// The query parameters of a presigned URL.
#[derive(Debug, Default, serde::Deserialize)]
pub struct Signed {
    pub expires: Option<i64>,
    pub length: Option<u64>,
    pub sig: Option<String>,
}

impl LocalPresigner {
    pub fn new(key: &[u8], base_url: &str) -> Self {
        Self {
            key: key.to_vec(),
            base_url: base_url.trim_end_matches('/').to_string(),
        }
    }

    fn mac(&self, method: &str, target: &str, expires: i64, length: Option<u64>) -> HmacSha256 {
        let mut mac = <HmacSha256 as Mac>::new_from_slice(&self.key)
            .unwrap_or_else(|_| unreachable!("HMAC takes any key length"));
        let length = length.map(|n| n.to_string()).unwrap_or_else(|| "-".into());
        mac.update(format!("{method}\n{target}\n{expires}\n{length}").as_bytes());
        mac
    }

    /// Checks a presigned request; returns the exact length it allows, if it fixes one.
    pub fn verify(
        &self,
        method: &str,
        target: &str,
        q: &Signed,
        now: DateTime<Utc>,
    ) -> Result<Option<u64>, PresignError> {
        let expires = q.expires.ok_or(PresignError::Missing("expires"))?;
        let sig = q.sig.as_deref().ok_or(PresignError::Missing("sig"))?;
        let tag = hex::decode(sig).map_err(|_| PresignError::BadSignature)?;
        self.mac(method, target, expires, q.length)
            .verify_slice(&tag)
            .map_err(|_| PresignError::BadSignature)?;
        let deadline = DateTime::from_timestamp(expires, 0).ok_or(PresignError::BadSignature)?;
        if now > deadline {
            return Err(PresignError::Expired(deadline));
        }
        Ok(q.length)
    }

    fn sign(&self, method: &str, target: &str, expires: i64, length: Option<u64>) -> String {
        hex::encode(
            self.mac(method, target, expires, length)
                .finalize()
                .into_bytes(),
        )
    }
}

impl LocalPresigner {
    /// The signed upload request (synchronous: signing is a local HMAC).
    pub fn upload_request(
        &self,
        key: &str,
        content_length: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest> {
        let expires = expires_at.timestamp();
        let sig = self.sign("PUT", key, expires, content_length);
        let length = content_length
            .map(|n| format!("&length={n}"))
            .unwrap_or_default();
        Ok(PresignedRequest {
            url: format!(
                "{}{UPLOAD_PATH}{key}?expires={expires}{length}&sig={sig}",
                self.base_url
            ),
            method: "PUT".into(),
            headers: vec![("content-type".into(), "application/json".into())],
            expires_at: DateTime::from_timestamp(expires, 0).unwrap_or(expires_at),
        })
    }

    /// The signed download URL.
    pub fn download_url(
        &self,
        bucket: Bucket,
        key: &str,
        expires_at: DateTime<Utc>,
    ) -> PortResult<String> {
        let expires = expires_at.timestamp();
        let target = format!("{}/{key}", bucket_name(bucket));
        let sig = self.sign("GET", &target, expires, None);
        Ok(format!(
            "{}{DOWNLOAD_PATH}{target}?expires={expires}&sig={sig}",
            self.base_url
        ))
    }
}

#[async_trait::async_trait]
impl Presigner for LocalPresigner {
    async fn presign_upload(
        &self,
        key: &str,
        content_length: Option<u64>,
        expires_at: DateTime<Utc>,
    ) -> PortResult<PresignedRequest> {
        self.upload_request(key, content_length, expires_at)
    }

    async fn presign_download(
        &self,
        bucket: Bucket,
        key: &str,
        expires_at: DateTime<Utc>,
    ) -> PortResult<String> {
        self.download_url(bucket, key, expires_at)
    }
}

/// The signed parameters of a presigned URL's query, as the fuzz property reads them
/// (unknown parameters ignored, unparsable values absent).
#[cfg(any(test, fuzzing))]
fn signed_query(query: &str) -> Signed {
    let mut q = Signed::default();
    for (k, v) in query.split('&').filter_map(|kv| kv.split_once('=')) {
        match k {
            "expires" => q.expires = v.parse().ok(),
            "length" => q.length = v.parse().ok(),
            "sig" => q.sig = Some(v.into()),
            _ => {}
        }
    }
    q
}

/// The fuzz target's property (`fuzz/fuzz_targets/presign.rs`; the checked-in corpus
/// `fuzz/corpus/presign/` is replayed by this module's tests on stable). The first byte
/// picks the case:
/// - even: the rest is a request as a client sends it, `METHOD path?query`. Verifying never
///   panics, and a request that verifies is exactly one this server signed: the same method,
///   target, expiry and length signed again give its signature;
/// - odd: the rest makes a key and a length; the upload URL presigned for them verifies, with
///   that length, until it expires and not after, and not for another key, method or length.
#[cfg(any(test, fuzzing))]
pub fn fuzz_property(data: &[u8]) {
    const KEY: &[u8] = b"fuzz-presign-key";
    let p = LocalPresigner::new(KEY, "http://127.0.0.1:8080");
    let Some(now) = DateTime::from_timestamp(1_800_000_000, 0) else {
        return;
    };
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    let Ok(text) = std::str::from_utf8(rest) else {
        return;
    };
    if mode % 2 == 0 {
        let Some((method, url)) = text.split_once(' ') else {
            return;
        };
        let (path, query) = url.split_once('?').unwrap_or((url, ""));
        let target = path
            .strip_prefix(UPLOAD_PATH)
            .or_else(|| path.strip_prefix(DOWNLOAD_PATH))
            .unwrap_or(path);
        let q = signed_query(query);
        if let Ok(length) = p.verify(method, target, &q, now) {
            assert_eq!(length, q.length);
            let (Some(expires), Some(sig)) = (q.expires, q.sig.as_deref()) else {
                panic!("verified without an expiry or a signature: {text:?}");
            };
            assert_eq!(
                p.sign(method, target, expires, q.length),
                sig.to_ascii_lowercase(),
                "verified a signature this server did not make: {text:?}"
            );
            assert!(DateTime::from_timestamp(expires, 0).is_some_and(|d| d >= now));
        }
        return;
    }
    let (key, length) = match text.rsplit_once(' ') {
        Some((key, n)) => (key, n.parse::<u64>().ok()),
        None => (text, None),
    };
    let expires_at = now + chrono::Duration::seconds(i64::from(mode) * 7);
    let Ok(r) = p.upload_request(key, length, expires_at) else {
        panic!("presigning failed for {key:?}");
    };
    let Some(query) = r.url.rsplit_once('?').map(|(_, q)| q) else {
        panic!("no query in {}", r.url);
    };
    let q = signed_query(query);
    // A key holding `?`, `&` or `=` would garble the URL; ours never do (the layout), and
    // such a URL must then not verify as something else.
    if key.contains(['?', '&', '=', '#']) {
        if let Ok(n) = p.verify("PUT", key, &q, now) {
            assert_eq!(n, length, "a garbled URL verified with another length");
        }
        return;
    }
    assert_eq!(p.verify("PUT", key, &q, now), Ok(length), "{}", r.url);
    assert_eq!(p.verify("PUT", key, &q, expires_at), Ok(length));
    assert!(matches!(
        p.verify("PUT", key, &q, expires_at + chrono::Duration::seconds(1)),
        Err(PresignError::Expired(_))
    ));
    let other = format!("{key}x");
    assert_eq!(
        p.verify("PUT", &other, &q, now),
        Err(PresignError::BadSignature)
    );
    assert_eq!(
        p.verify("GET", key, &q, now),
        Err(PresignError::BadSignature)
    );
    let longer = Signed {
        length: Some(length.map_or(0, |n| n.wrapping_add(1))),
        expires: q.expires,
        sig: q.sig.clone(),
    };
    assert_eq!(
        p.verify("PUT", key, &longer, now),
        Err(PresignError::BadSignature)
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(url: &str) -> Signed {
        let q = url.split_once('?').unwrap().1;
        let mut s = Signed::default();
        for (k, v) in q.split('&').map(|kv| kv.split_once('=').unwrap()) {
            match k {
                "expires" => s.expires = v.parse().ok(),
                "length" => s.length = v.parse().ok(),
                "sig" => s.sig = Some(v.into()),
                _ => {}
            }
        }
        s
    }

    #[test]
    fn upload_urls_verify_and_resist_tampering() {
        let p = LocalPresigner::new(b"k", "http://127.0.0.1:8080/");
        let now = Utc::now();
        let r = p
            .upload_request(
                "incoming/alice/u1.json",
                Some(42),
                now + chrono::Duration::minutes(5),
            )
            .unwrap();
        assert!(
            r.url
                .starts_with("http://127.0.0.1:8080/_local/upload/incoming/alice/u1.json?")
        );
        let q = query(&r.url);
        assert_eq!(
            p.verify("PUT", "incoming/alice/u1.json", &q, now),
            Ok(Some(42))
        );
        assert_eq!(
            p.verify("PUT", "incoming/bob/u1.json", &q, now),
            Err(PresignError::BadSignature)
        );
        assert_eq!(
            p.verify("GET", "incoming/alice/u1.json", &q, now),
            Err(PresignError::BadSignature)
        );
        let longer = Signed {
            length: Some(43),
            ..query(&r.url)
        };
        assert_eq!(
            p.verify("PUT", "incoming/alice/u1.json", &longer, now),
            Err(PresignError::BadSignature)
        );
        let later = Signed {
            expires: q.expires.map(|e| e + 3600),
            ..query(&r.url)
        };
        assert_eq!(
            p.verify("PUT", "incoming/alice/u1.json", &later, now),
            Err(PresignError::BadSignature)
        );
        assert!(matches!(
            p.verify(
                "PUT",
                "incoming/alice/u1.json",
                &q,
                now + chrono::Duration::minutes(6)
            ),
            Err(PresignError::Expired(_))
        ));
        assert_eq!(
            LocalPresigner::new(b"other", "x").verify("PUT", "incoming/alice/u1.json", &q, now),
            Err(PresignError::BadSignature)
        );
    }

    #[test]
    fn download_urls_are_bound_to_bucket_and_key() {
        let p = LocalPresigner::new(b"k", "http://h");
        let now = Utc::now();
        let url = p
            .download_url(
                Bucket::Exports,
                "alice/e1.ndjson",
                now + chrono::Duration::minutes(1),
            )
            .unwrap();
        let q = query(&url);
        assert_eq!(
            p.verify("GET", "exports/alice/e1.ndjson", &q, now),
            Ok(None)
        );
        assert_eq!(
            p.verify("GET", "exports/bob/e1.ndjson", &q, now),
            Err(PresignError::BadSignature)
        );
    }

    /// Every file of the checked-in corpus `fuzz/corpus/presign/` keeps the property.
    #[test]
    fn fuzz_corpus_presign() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/presign");
        let mut n = 0;
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            let caught = std::panic::catch_unwind(|| fuzz_property(&bytes));
            assert!(caught.is_ok(), "{} breaks the property", path.display());
            n += 1;
        }
        assert!(n >= 3, "{} holds {n} files", dir.display());
    }
}
