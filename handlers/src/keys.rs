//! The object key layout: where an object lives says whose it is.
//!
//! | bucket     | key                                   |
//! |------------|---------------------------------------|
//! | process    | `incoming/{owner}/{uploadId}.json`    |
//! | process    | `incoming/{owner}/{uploadId}.reprocess.json`: the API's reprocess copy |
//! | quarantine | `{owner}/{uploadId}.json` (+ `.report.json`) |
//! | quarantine | `_operator/{hash}.json`: keys outside the layout |
//! | exports    | `{owner}/{exportId}.ndjson`           |
//!
//! The owner of an uploaded object is read from its key, never from its content: presigned
//! uploads can only write under the caller's own prefix.
//!
//! A reprocess copies the quarantined object back under a key of its own, which no upload
//! URL is ever signed for: so the processor can tell the copy from a second object that
//! the owner's upload URL (still valid for its few minutes) put under the upload's key, and
//! the copy can never overwrite one. (Upload ids have no `.`, so the two forms never meet.)

use sha2::{Digest, Sha256};

pub const INCOMING: &str = "incoming/";
/// Owner of objects whose key is outside the layout. Not a valid user id (leading `_`), so
/// no user can ever read it.
pub const OPERATOR: &str = "_operator";

/// Owner and upload id of a process-bucket key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadKey {
    pub owner: String,
    pub upload_id: String,
    /// The reprocess copy (`reprocess_key`), not the owner's own upload.
    pub reprocess: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("key `{key}` is outside the layout incoming/{{userId}}/{{uploadId}}.json: {why}")]
pub struct InvalidKey {
    pub key: String,
    pub why: &'static str,
}

/// A user id: what a token's `sub` may be. Cognito's are UUIDs; local ones are names.
pub fn is_valid_owner(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 128
        && b[0].is_ascii_alphanumeric()
        && b.iter()
            .all(|c| c.is_ascii_alphanumeric() || b"._@-".contains(c))
}

/// Whether `s` is a valid upload (or export) id: the generated `UploadId` type holds the
/// schema's rule.
pub fn is_valid_id(s: &str) -> bool {
    eventpulse_generated::types::UploadId::try_from(s.to_string()).is_ok()
}

pub fn incoming_key(owner: &str, upload_id: &str) -> String {
    format!("{INCOMING}{owner}/{upload_id}.json")
}

/// Where a reprocess puts the quarantined object back for processing.
pub fn reprocess_key(owner: &str, upload_id: &str) -> String {
    format!("{INCOMING}{owner}/{upload_id}{REPROCESS_SUFFIX}")
}

const REPROCESS_SUFFIX: &str = ".reprocess.json";

pub fn parse_incoming(key: &str) -> Result<UploadKey, InvalidKey> {
    let bad = |why| InvalidKey {
        key: key.to_string(),
        why,
    };
    let rest = key
        .strip_prefix(INCOMING)
        .ok_or_else(|| bad("it does not start with incoming/"))?;
    let (owner, file) = rest
        .split_once('/')
        .ok_or_else(|| bad("it has no user segment"))?;
    let (upload_id, reprocess) = match file.strip_suffix(REPROCESS_SUFFIX) {
        Some(id) => (id, true),
        None => (
            file.strip_suffix(".json")
                .ok_or_else(|| bad("it does not end in .json"))?,
            false,
        ),
    };
    if !is_valid_owner(owner) {
        return Err(bad("the user segment is not a valid user id"));
    }
    if !is_valid_id(upload_id) {
        return Err(bad("the upload id is not valid"));
    }
    Ok(UploadKey {
        owner: owner.to_string(),
        upload_id: upload_id.to_string(),
        reprocess,
    })
}

pub fn quarantine_key(owner: &str, upload_id: &str) -> String {
    format!("{owner}/{upload_id}.json")
}

/// Where an object with an invalid key is quarantined, and the id it is filed under: a hash
/// of the key, so the same bad key always lands in the same place (idempotent).
pub fn operator_quarantine(key: &str) -> (String, String) {
    let id: String = hex::encode(Sha256::digest(key.as_bytes()))[..32].to_string();
    (format!("{OPERATOR}/{id}.json"), id)
}

pub fn export_key(owner: &str, export_id: &str) -> String {
    format!("{owner}/{export_id}.ndjson")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let k = incoming_key("alice", "u-1");
        assert_eq!(k, "incoming/alice/u-1.json");
        assert_eq!(
            parse_incoming(&k).unwrap(),
            UploadKey {
                owner: "alice".into(),
                upload_id: "u-1".into(),
                reprocess: false,
            }
        );
        let r = reprocess_key("alice", "u-1");
        assert_eq!(r, "incoming/alice/u-1.reprocess.json");
        assert_eq!(
            parse_incoming(&r).unwrap(),
            UploadKey {
                owner: "alice".into(),
                upload_id: "u-1".into(),
                reprocess: true,
            }
        );
    }

    #[test]
    fn refuses_keys_outside_the_layout() {
        for key in [
            "alice/u1.json",
            "incoming/u1.json",
            "incoming/alice/u1.txt",
            "incoming/alice/sub/u1.json",
            "incoming/../u1.json",
            "incoming/_operator/u1.json",
            "incoming/alice/.json",
            "incoming//u1.json",
            "incoming/al ice/u1.json",
            "incoming/alice/.reprocess.json",
            "incoming/alice/u1.reprocess.reprocess.json",
            "incoming/alice/u1.other.json",
        ] {
            assert!(parse_incoming(key).is_err(), "{key}");
        }
    }

    #[test]
    fn operator_space_is_not_a_user() {
        assert!(!is_valid_owner(OPERATOR));
        let (k1, id1) = operator_quarantine("weird/key");
        assert_eq!(operator_quarantine("weird/key"), (k1.clone(), id1.clone()));
        assert!(k1.starts_with("_operator/") && is_valid_id(&id1));
    }
}
