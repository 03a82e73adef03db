//! The properties the fuzz targets check (`fuzz/fuzz_targets/`), one function per target.
//!
//! Each takes the fuzzer's raw bytes, must never panic on any input, and panics (via
//! `assert!`) only when a property is broken. The same functions replay the checked-in
//! corpus `fuzz/corpus/<target>/` on stable in this module's tests, so every input the
//! fuzzer ever kept — and every crash it found — is checked by `cargo test`.
//!
//! Compiled for tests and with the `fuzz` feature (which the fuzz crate enables); not part
//! of the domain's API.

use crate::cursor::{CursorError, CursorSigner};
use crate::entry::ObjectCreatedEvent;
use crate::intake::{Intake, MAX_EVENT_BYTES, Verdict};
use crate::keys;
use eventpulse_contract_rt::json::{self, ParseError, Top};
use eventpulse_contract_rt::tree;
use serde_json::Value;
use std::sync::OnceLock;

/// Depth of a value: a scalar is 0, `[]` is 1.
fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Strict JSON intake (`json::parse`, `json::parse_each`):
/// - neither panics;
/// - both agree: same verdict, same check on refusal, the same elements on success;
/// - what parses nests at most 127 levels, and re-parses to itself from its serialisation;
/// - intake's fast reader (`tree::parse`) accepts only what the strict parser accepts, and
///   reads it as the same value (its compact text is serde_json's of the `Value`).
pub fn json_strict(data: &[u8]) {
    let whole = json::parse(data, json::DEFAULT_MAX_BYTES);
    let within_size = data.len() <= json::DEFAULT_MAX_BYTES;
    let text = std::str::from_utf8(data).ok().filter(|_| within_size);
    let arena = tree::Arena::new();
    if let Some(node) = text.and_then(|t| tree::parse(t, &arena)) {
        let value = whole
            .as_ref()
            .unwrap_or_else(|e| panic!("the fast reader accepted what is refused: {e}"));
        let serialised = serde_json::to_vec(value).unwrap_or_default();
        let read = serde_json::to_vec(&node).unwrap_or_default();
        assert_eq!(read, serialised, "the fast reader read another value");
        // Streaming, each value's compact text is written as it is read: the same bytes.
        let mut streamed = Vec::new();
        let top = tree::parse_each(text.unwrap_or_default(), |i, _, c| {
            streamed.push((i, c.as_str().to_owned()));
            true
        });
        match (value, top) {
            (Value::Array(items), Some(tree::Top::Array(n))) => {
                assert_eq!(n, items.len(), "the fast reader counted another length");
                for (k, (i, c)) in streamed.iter().enumerate() {
                    assert_eq!(*i, Some(k));
                    assert_eq!(c, &serde_json::to_string(&items[k]).unwrap_or_default());
                }
            }
            (_, Some(tree::Top::One)) => {
                assert_eq!(
                    streamed,
                    [(None, String::from_utf8_lossy(&serialised).into())]
                );
            }
            (_, top) => panic!("the fast reader read {top:?} streaming"),
        }
    }
    let mut elements = Vec::new();
    let each = json::parse_each(data, json::DEFAULT_MAX_BYTES, |i, v| elements.push((i, v)));
    match (&whole, each) {
        (Ok(v), Ok(top)) => {
            assert!(depth(v) <= 127, "parsed a value nested {} deep", depth(v));
            let text = serde_json::to_vec(v).unwrap_or_default();
            assert_eq!(
                json::parse(&text, usize::MAX).as_ref(),
                Ok(v),
                "the serialisation does not parse back to the same value"
            );
            match (v, top) {
                (Value::Array(items), Top::Array(n)) => {
                    assert_eq!(items.len(), n, "parse_each counted another length");
                    assert_eq!(elements.len(), n, "parse_each handed over another count");
                    for (k, (i, e)) in elements.iter().enumerate() {
                        assert_eq!(*i, k, "parse_each's indexes are out of order");
                        assert_eq!(e, &items[k], "parse_each's element {k} differs");
                    }
                }
                (other, Top::Other(o)) => assert_eq!(other, &o, "parse_each read another value"),
                (v, top) => panic!("parse read {v:?}, parse_each {top:?}"),
            }
        }
        (Err(a), Err(b)) => assert_eq!(a.check(), b.check(), "{a} / {b}"),
        (a, b) => panic!("parse and parse_each disagree: {a:?} / {b:?}"),
    }
    if let Err(e) = &whole {
        // The pointer of a duplicate key is a JSON pointer into the document.
        if let ParseError::DuplicateKey { pointer, .. } = e {
            assert!(pointer.is_empty() || pointer.starts_with('/'), "{pointer}");
        }
        let _ = e.to_string();
    }
}

fn intake() -> &'static Intake {
    static INTAKE: OnceLock<Intake> = OnceLock::new();
    INTAKE.get_or_init(|| match Intake::new(json::DEFAULT_MAX_BYTES, 100) {
        Ok(i) => i,
        Err(e) => panic!("the published bundle does not compile: {e}"),
    })
}

/// The upload validator as the processor runs it (`Intake::check` over the published
/// bundle):
/// - never panics;
/// - an accepted object is strict JSON, holds 1 to 1000 events, each within the event size
///   limit, with its index, id, type and hash consistent with the document;
/// - a refused one lists at most the report's cap of errors and counts at least those.
pub fn upload_validator(data: &[u8]) {
    match intake().check(data) {
        Verdict::Accepted(events) => {
            // Whichever path accepted, the full one (jsonschema) accepts the same events.
            assert_eq!(
                intake().check_full(data),
                Verdict::Accepted(events.clone()),
                "the fast path accepted what the full one judges otherwise"
            );
            let doc = match json::parse(data, json::DEFAULT_MAX_BYTES) {
                Ok(doc) => doc,
                Err(e) => panic!("intake accepted what strict JSON refuses: {e}"),
            };
            assert!(
                !events.is_empty() && events.len() <= 1000,
                "{}",
                events.len()
            );
            let bodies: Vec<&Value> = match &doc {
                Value::Array(items) => items.iter().collect(),
                one => vec![one],
            };
            assert_eq!(bodies.len(), events.len(), "events lost or invented");
            for (k, e) in events.iter().enumerate() {
                assert_eq!(e.index, k);
                // The stored text is the uploaded event, spelled as serde_json writes it.
                let text = serde_json::to_string(bodies[k]).unwrap_or_default();
                assert_eq!(e.body.as_str(), text, "event {k} is not the uploaded one");
                assert_eq!(bodies[k]["eventId"].as_str(), Some(e.event_id.as_str()));
                assert_eq!(bodies[k]["type"].as_str(), Some(e.event_type.as_str()));
                assert_eq!(
                    e.content_hash,
                    lower_hex_sha256(crate::intake::hashed_form(bodies[k]).as_bytes()),
                    "event {k}: hash"
                );
                assert!(e.canonical_bytes <= MAX_EVENT_BYTES);
                assert_eq!(e.content_hash.len(), 64);
                assert!(
                    e.typed().is_ok(),
                    "accepted event {k} does not read as its type"
                );
            }
        }
        Verdict::Rejected(r) => {
            assert!(r.errors.len() <= 100, "{} errors listed", r.errors.len());
            assert!(r.error_count >= r.errors.len() as u64);
            assert!(!r.message.is_empty());
        }
    }
}

/// The S3-via-EventBridge "Object Created" event (`entry::ObjectCreatedEvent`) and the key
/// it names:
/// - reading never panics, nor does decoding the key;
/// - what reads round-trips through its serialisation;
/// - a key without `%` is used as is; the decoded key goes through the key-layout property.
pub fn s3_event(data: &[u8]) {
    let Ok(e) = serde_json::from_slice::<ObjectCreatedEvent>(data) else {
        return;
    };
    let back = match serde_json::to_vec(&e) {
        Ok(b) => b,
        Err(err) => panic!("a read event does not serialise: {err}"),
    };
    match serde_json::from_slice::<ObjectCreatedEvent>(&back) {
        Ok(again) => assert_eq!(again, e, "the event does not round-trip"),
        Err(err) => panic!("the serialised event does not read back: {err}"),
    }
    let key = e.key();
    if !e.detail.object.key.contains('%') {
        assert_eq!(key, e.detail.object.key);
    }
    key_layout(key.as_bytes());
}

/// Key layout (`keys::parse_incoming`, `keys::operator_quarantine`):
/// - never panics;
/// - a key that parses has a valid owner and upload id and is exactly the key the layout
///   builds from them (`incoming_key`, or `reprocess_key` for the reprocess copy), so no
///   two keys name the same upload in the same role;
/// - every key, inside the layout or not, has an operator quarantine place with a valid id.
pub fn key_layout(data: &[u8]) {
    let Ok(key) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(k) = keys::parse_incoming(key) {
        assert!(keys::is_valid_owner(&k.owner), "{:?}", k.owner);
        assert!(keys::is_valid_id(&k.upload_id), "{:?}", k.upload_id);
        let built = if k.reprocess {
            keys::reprocess_key(&k.owner, &k.upload_id)
        } else {
            keys::incoming_key(&k.owner, &k.upload_id)
        };
        assert_eq!(built, key);
        assert!(!k.owner.contains('/') && !k.upload_id.contains('/'));
        assert!(k.owner != ".." && k.upload_id != "..");
        assert_eq!(
            keys::quarantine_key(&k.owner, &k.upload_id),
            format!("{}/{}.json", k.owner, k.upload_id)
        );
    }
    let (place, id) = keys::operator_quarantine(key);
    assert!(keys::is_valid_id(&id), "{id}");
    assert_eq!(place, format!("{}/{id}.json", keys::OPERATOR));
}

const CURSOR_KEY: &[u8] = b"fuzz-cursor-key";
const OWNER: &str = "alice";
const FINGERPRINT: &str = "0123456789abcdef01234567";

/// Cursor decoding (`CursorSigner::decode`). The first byte picks the case:
/// - `0`–`127`: the rest is a cursor as a client sends it. Decoding never panics; a cursor
///   that decodes was signed with this key for this owner and query, and re-encodes to
///   exactly itself (there is one spelling of each cursor);
/// - `128`–`255`: the rest is a position (JSON). A cursor made of it decodes back to it, for
///   its owner and query only, and no one-character change of it decodes to anything else.
pub fn cursor(data: &[u8]) {
    let signer = CursorSigner::new(CURSOR_KEY);
    let Some((&mode, rest)) = data.split_first() else {
        return;
    };
    if mode < 128 {
        let Ok(text) = std::str::from_utf8(rest) else {
            return;
        };
        if let Ok(p) = signer.decode::<Value>(text, OWNER, FINGERPRINT) {
            assert_eq!(signer.encode(OWNER, FINGERPRINT, &p), text, "two spellings");
        }
        // The positions the API decodes.
        let _ = signer.decode::<(String, String)>(text, OWNER, FINGERPRINT);
        let _ = signer.decode::<Option<(String, String)>>(text, OWNER, FINGERPRINT);
        return;
    }
    let Ok(position) = serde_json::from_slice::<Value>(rest) else {
        return;
    };
    let c = signer.encode(OWNER, FINGERPRINT, &position);
    assert_eq!(
        signer.decode::<Value>(&c, OWNER, FINGERPRINT).as_ref(),
        Ok(&position)
    );
    assert_eq!(
        signer.decode::<Value>(&c, "bob", FINGERPRINT),
        Err(CursorError::Invalid)
    );
    assert_eq!(
        signer.decode::<Value>(&c, OWNER, "other"),
        Err(CursorError::OtherQuery)
    );
    // One changed character, at a position and to a character taken from the input.
    let at = usize::from(mode) % c.len().max(1);
    let mut altered: Vec<u8> = c.clone().into_bytes();
    if let Some(b) = altered.get_mut(at) {
        *b = if *b == b'A' { b'B' } else { b'A' };
    }
    if let Ok(altered) = String::from_utf8(altered) {
        assert!(
            signer
                .decode::<Value>(&altered, OWNER, FINGERPRINT)
                .is_err(),
            "an altered cursor {altered} decoded"
        );
    }
}

fn lower_hex_sha256(bytes: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::{Path, PathBuf};

    /// Every file of `fuzz/corpus/<target>/`; the corpus must not be empty.
    fn corpus(target: &str) -> Vec<(PathBuf, Vec<u8>)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../fuzz/corpus")
            .join(target);
        let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(&dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|entry| {
                let path = entry.expect("a corpus directory entry").path();
                let bytes =
                    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
                (path, bytes)
            })
            .collect();
        files.sort();
        assert!(
            files.len() >= 3,
            "{} holds {} files",
            dir.display(),
            files.len()
        );
        files
    }

    fn replay(target: &str, property: fn(&[u8])) {
        for (path, bytes) in corpus(target) {
            let caught = std::panic::catch_unwind(|| property(&bytes));
            assert!(
                caught.is_ok(),
                "{target}: {} breaks the property",
                path.display()
            );
        }
    }

    #[test]
    fn corpus_json_strict() {
        replay("json_strict", json_strict);
    }

    #[test]
    fn corpus_upload_validator() {
        replay("upload_validator", upload_validator);
    }

    #[test]
    fn corpus_s3_event() {
        replay("s3_event", s3_event);
    }

    #[test]
    fn corpus_cursor() {
        replay("cursor", cursor);
    }

    #[test]
    fn corpus_key_layout() {
        replay("key_layout", key_layout);
    }

    /// A genuine cursor takes the decoding branch of the property (its re-encoding check).
    #[test]
    fn a_genuine_cursor_is_checked() {
        let signer = CursorSigner::new(CURSOR_KEY);
        let good = signer.encode(OWNER, FINGERPRINT, &serde_json::json!(["a", "b"]));
        assert!(signer.decode::<Value>(&good, OWNER, FINGERPRINT).is_ok());
        let mut input = vec![0u8];
        input.extend_from_slice(good.as_bytes());
        cursor(&input);
    }
}
