//! Intake: what an uploaded object contains, or why it is refused.
//!
//! The object is the unit: either every event in it is well-formed and valid against the
//! published schema ([`Verdict::Accepted`]), or the object is refused as a whole with a
//! reason code and every error found ([`Verdict::Rejected`]). The same code serves
//! `eventpulse validate` and the processor, so what the CLI accepts offline is exactly what
//! the pipeline stores.

use chrono::Datelike;
use eventpulse_contract_rt::EventJson;
use eventpulse_contract_rt::json::ParseError;
use eventpulse_contract_rt::rt::OccurredAt;
use eventpulse_contract_rt::tree::{self, Node, Top};
use eventpulse_contract_rt::validate::{CompileError, Rejection, SchemaErrors, Validator};
use eventpulse_generated::check;
use eventpulse_generated::types::{EventError, ReasonCode, TypedEvent};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One valid event of an accepted object.
#[derive(Debug, Clone, PartialEq)]
pub struct ParsedEvent {
    /// Position in the uploaded document (0 for a single event).
    pub index: usize,
    pub event_id: String,
    pub event_type: String,
    pub occurred_at: OccurredAt,
    /// The event as uploaded, as compact JSON text (key order kept, numbers and strings
    /// spelled as serde_json spells them): what the table stores and responses carry.
    pub body: EventJson,
    /// Hex SHA-256 of the event's canonical JSON (keys sorted, no white space): two uploads
    /// of the same event have the same hash whatever their formatting or key order.
    pub content_hash: String,
    /// Size of the event as canonical JSON (keys sorted, no white space).
    pub canonical_bytes: usize,
}

impl ParsedEvent {
    /// The event as the generated type. Intake has checked that every accepted event reads as
    /// one (and refused the object otherwise), but does not keep it: nothing downstream needs
    /// it, and holding a second copy of every event doubled what an object costs to free.
    pub fn typed(&self) -> Result<TypedEvent, String> {
        let body = self.body.to_value().map_err(|e| e.to_string())?;
        typed_view(&self.event_type, &body)
    }
}

/// Why an object is refused, in the shape of a quarantine report.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejected {
    pub reason: ReasonCode,
    /// One sentence for humans.
    pub message: String,
    /// The errors listed (capped).
    pub errors: Vec<EventError>,
    /// All errors found, listed or not.
    pub error_count: u64,
    /// Number of events, when the object parsed as JSON.
    pub event_count: Option<u64>,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    Accepted(Vec<ParsedEvent>),
    Rejected(Rejected),
}

/// Largest event, as canonical JSON: 256 KiB, so that an event with its attributes fits in
/// one DynamoDB item (400 KB) as well as in a SQLite row.
pub const MAX_EVENT_BYTES: usize = 256 * 1024;

#[derive(Debug)]
pub struct Intake {
    validator: Validator,
    max_event_bytes: usize,
}

impl Intake {
    /// `max_bytes`: the largest object accepted; `max_errors`: how many errors a report lists.
    pub fn new(max_bytes: usize, max_errors: usize) -> Result<Self, CompileError> {
        Ok(Self {
            validator: Validator::new(eventpulse_generated::UPLOAD_OBJECT_SCHEMA)?
                .with_max_bytes(max_bytes)
                .with_max_errors(max_errors),
            max_event_bytes: MAX_EVENT_BYTES,
        })
    }

    /// Sets the largest event (as canonical JSON) accepted; [`MAX_EVENT_BYTES`] by default.
    /// The registered types' schemas keep events far below it; it guards types to come.
    pub fn with_max_event_bytes(mut self, n: usize) -> Self {
        self.max_event_bytes = n;
        self
    }

    pub fn max_bytes(&self) -> usize {
        self.validator.max_bytes()
    }

    /// Refuses an object from its announced size alone, before reading it.
    pub fn check_size(&self, size: u64) -> Option<Rejected> {
        let limit = self.validator.max_bytes() as u64;
        (size > limit).then(|| rejected_parse(&ParseError::TooLarge { size, limit }))
    }

    pub fn check(&self, bytes: &[u8]) -> Verdict {
        match self.fast(bytes) {
            Some(events) => Verdict::Accepted(events),
            None => self.full(bytes),
        }
    }

    /// The fast path alone (see [`Self::check`]), for the tests and benchmarks that hold it
    /// to the full one.
    pub fn check_fast(&self, bytes: &[u8]) -> Option<Vec<ParsedEvent>> {
        self.fast(bytes)
    }

    /// The full path alone: what [`Self::check`] answers whenever the fast path declines.
    pub fn check_full(&self, bytes: &[u8]) -> Verdict {
        self.full(bytes)
    }

    /// The fast path: a borrowed tree and the generated checks (`eventpulse_generated::check`)
    /// instead of `serde_json::Value` and jsonschema. It only ever accepts: `Some` when the
    /// object is certainly valid, with exactly the events [`Self::full`] would make of it;
    /// `None` for anything else (invalid, or valid in a way it does not handle, such as
    /// integers spelled `2.0`), which [`Self::full`] then judges and explains.
    fn fast(&self, bytes: &[u8]) -> Option<Vec<ParsedEvent>> {
        if bytes.len() > self.validator.max_bytes() {
            return None;
        }
        let text = std::str::from_utf8(bytes).ok()?;
        if text.starts_with('\u{feff}') {
            return None;
        }
        let (min, max) = check::BATCH_ITEMS.unwrap_or((usize::MAX, 0));
        let mut scratch = Scratch::new();
        let mut out = Vec::new();
        let top = tree::parse_each(text, |index, node, compact| {
            let event = match index {
                Some(i) if i >= max => return false,
                Some(i) => self.fast_event(i, &node, compact, &mut scratch),
                None => self.fast_event(0, &node, compact, &mut scratch),
            };
            match event {
                Some(e) => {
                    out.push(e);
                    true
                }
                None => false,
            }
        })?;
        match top {
            Top::Array(n) if n < min => None,
            Top::Array(_) | Top::One => Some(out),
        }
    }

    /// One event of the fast path: checked, then mapped as [`parsed`] maps it.
    fn fast_event(
        &self,
        index: usize,
        node: &Node<'_>,
        compact: tree::Compact<'_>,
        scratch: &mut Scratch,
    ) -> Option<ParsedEvent> {
        let members = node.as_object()?;
        let event_type = node.get("type")?.as_str()?;
        if !check::event_of_type(event_type)?(node) {
            return None;
        }
        let event_id = node.get("eventId")?.as_str()?;
        let occurred_text = node.get("occurredAt")?.as_str()?;
        let occurred_at: OccurredAt = occurred_text.parse().ok()?;
        if !(0..=9999).contains(&occurred_at.utc().year()) {
            return None;
        }
        scratch.canonical.clear();
        write_hashed_members(members, occurred_text, &mut scratch.canonical);
        if scratch.canonical.len() > self.max_event_bytes {
            return None;
        }
        let content_hash = lower_hex(&Sha256::digest(&scratch.canonical[..]));
        // The generated checks and the generated types come from the same schema, so an
        // event the checks accept reads as its type; unlike the full path, no typed copy is
        // made to prove it here (tests/fast_path.rs and the fuzz properties do, for every
        // event they accept).
        let body = EventJson::from_compact(compact);
        Some(ParsedEvent {
            index,
            event_id: event_id.to_string(),
            event_type: event_type.to_string(),
            occurred_at,
            canonical_bytes: scratch.canonical.len(),
            content_hash,
            body,
        })
    }

    /// The full path: `serde_json::Value` and the jsonschema validator, with every error.
    fn full(&self, bytes: &[u8]) -> Verdict {
        // Each event is mapped (typed view, canonical JSON, hash) right after it is validated,
        // while it is in cache; one buffer holds every event's canonical JSON in turn.
        let mut canonical = Vec::with_capacity(2048);
        let mapped = match self
            .validator
            .validate_bytes_map(bytes, |index, body| parsed(index, body, &mut canonical))
        {
            Ok(mapped) => mapped,
            Err(Rejection::Parse(e)) => return Verdict::Rejected(rejected_parse(&e)),
            Err(Rejection::Schema(errors)) => {
                return Verdict::Rejected(rejected_schema(errors, self.validator.max_events()));
            }
        };
        let single = mapped.single;
        let total = mapped.items.len() as u64;
        let mut out = Vec::with_capacity(mapped.items.len());
        for (index, event) in mapped.items.into_iter().enumerate() {
            match event {
                Ok(e) => out.push(e),
                // Valid against the schema but not against the generated types: the two are
                // built from the same source, so this is our bug; refuse rather than guess.
                Err(message) => {
                    return Verdict::Rejected(Rejected {
                        reason: ReasonCode::SchemaViolation,
                        message: format!("event {index} could not be read: {message}"),
                        errors: vec![EventError {
                            event_id: None,
                            index: Some(index as u64),
                            keyword: "type".into(),
                            message,
                            pointer: if single {
                                String::new()
                            } else {
                                format!("/{index}")
                            },
                        }],
                        error_count: 1,
                        event_count: Some(total),
                    });
                }
            }
        }
        // One event must fit in one table item on every backend (DynamoDB's is 400 KB).
        let too_big: Vec<EventError> = out
            .iter()
            .filter(|e| e.canonical_bytes > self.max_event_bytes)
            .map(|e| EventError {
                event_id: Some(e.event_id.clone()),
                index: Some(e.index as u64),
                keyword: "maxEventBytes".into(),
                message: format!(
                    "the event is {} bytes as JSON; one event may be at most {} bytes",
                    e.canonical_bytes, self.max_event_bytes
                ),
                pointer: if single {
                    String::new()
                } else {
                    format!("/{}", e.index)
                },
            })
            .collect();
        if !too_big.is_empty() {
            return Verdict::Rejected(Rejected {
                reason: ReasonCode::TooLarge,
                message: format!(
                    "{} event(s) are larger than {} bytes; nothing from this object was stored.",
                    too_big.len(),
                    self.max_event_bytes
                ),
                error_count: too_big.len() as u64,
                errors: too_big,
                event_count: Some(total),
            });
        }
        // RFC 3339 allows offsets that move 0000-01-01 or 9999-12-31 outside years 0000-9999
        // in UTC, where no store can keep them in order. Refuse those, naming the field.
        let out_of_range: Vec<EventError> = out
            .iter()
            .filter(|e| !(0..=9999).contains(&e.occurred_at.utc().year()))
            .map(|e| EventError {
                event_id: Some(e.event_id.clone()),
                index: Some(e.index as u64),
                keyword: "range".into(),
                message: format!(
                    "{} is outside years 0000-9999 once converted to UTC",
                    e.occurred_at
                ),
                pointer: if single {
                    "/occurredAt".into()
                } else {
                    format!("/{}/occurredAt", e.index)
                },
            })
            .collect();
        if !out_of_range.is_empty() {
            return Verdict::Rejected(Rejected {
                reason: ReasonCode::SchemaViolation,
                message: format!(
                    "{} event(s) occur outside years 0000-9999 in UTC; nothing from this object was stored.",
                    out_of_range.len()
                ),
                error_count: out_of_range.len() as u64,
                errors: out_of_range,
                event_count: Some(total),
            });
        }
        Verdict::Accepted(out)
    }
}

/// What the fast path reuses from one event to the next.
struct Scratch {
    canonical: Vec<u8>,
}

impl Scratch {
    /// Sized for a typical event (about 1 KB) so that a single-event object, the common
    /// upload, does not grow it step by step.
    fn new() -> Self {
        Self {
            canonical: Vec::with_capacity(2048),
        }
    }
}

/// [`write_hashed_form`] of an event read as a [`Node`]: its canonical JSON with
/// `occurredAt` (whose text is `occurred_at`) in its canonical spelling.
fn write_hashed_members(
    members: &[(tree::Text<'_>, Node<'_>)],
    occurred_at: &str,
    out: &mut Vec<u8>,
) {
    let respelled = canonical_occurred_at(occurred_at).filter(|c| c != occurred_at);
    let mut order = [0u8; tree::MAX_FAST_MEMBERS];
    out.push(b'{');
    for (i, &m) in tree::sorted(members, &mut order).iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        let (k, v) = &members[usize::from(m)];
        tree::write_text(k, out);
        out.push(b':');
        match &respelled {
            Some(c) if k.as_str() == "occurredAt" => tree::write_str(c, out),
            _ => tree::write_canonical(v, out),
        }
    }
    out.push(b'}');
}

fn parsed(index: usize, body: Value, canonical: &mut Vec<u8>) -> Result<ParsedEvent, String> {
    let field = |name: &str| {
        body.get(name)
            .and_then(Value::as_str)
            .ok_or_else(|| format!("no {name}"))
    };
    let event_id = field("eventId")?.to_string();
    let event_type = field("type")?.to_string();
    // Every accepted event must read as its generated type (the API serves it as one later);
    // checked here, while the event is in cache, then dropped.
    typed_view(&event_type, &body)?;
    let occurred_at: OccurredAt = field("occurredAt")?
        .parse()
        .map_err(|e: eventpulse_contract_rt::rt::InvalidTimestamp| e.to_string())?;
    canonical.clear();
    write_hashed_form(&body, canonical).map_err(|e| e.to_string())?;
    let content_hash = lower_hex(&Sha256::digest(&canonical[..]));
    Ok(ParsedEvent {
        canonical_bytes: canonical.len(),
        index,
        event_id,
        event_type,
        occurred_at,
        body: EventJson::from_value(&body).map_err(|e| e.to_string())?,
        content_hash,
    })
}

/// `bytes` as lowercase hex, as `hex::encode` spells it (which goes through an iterator of
/// `char`s: 6% of intake on small events).
fn lower_hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = Vec::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.extend_from_slice(&[DIGITS[usize::from(b >> 4)], DIGITS[usize::from(b & 0xf)]]);
    }
    // Hex digits are ASCII, so this never falls back.
    String::from_utf8(out).unwrap_or_default()
}

/// `body` as the generated type, read as the variant `event_type` names; only a document
/// spelling integers as floats (`2.0`) pays for a normalised copy.
fn typed_view(event_type: &str, body: &Value) -> Result<TypedEvent, String> {
    let unregistered = || format!("{event_type:?} is not a registered event type");
    match TypedEvent::deserialize_variant(event_type, body) {
        None => Err(unregistered()),
        Some(Ok(t)) => Ok(t),
        Some(Err(_)) => TypedEvent::deserialize_variant(
            event_type,
            eventpulse_contract_rt::json::integral_numbers(body.clone()),
        )
        .ok_or_else(unregistered)?
        .map_err(|e| e.to_string()),
    }
}

/// What an event's content hash is taken of: its canonical JSON, with `occurredAt` in its
/// canonical spelling ([`canonical_occurred_at`]), so that the same event is recognised
/// whatever spelling of the same instant and offset it was sent with. The stored body keeps
/// the uploader's text. An event whose `occurredAt` is already canonical hashes exactly as
/// its plain canonical JSON.
pub fn hashed_form(body: &Value) -> String {
    let mut out = Vec::new();
    // As in `canonical_json`: writing to memory cannot fail, and JSON is UTF-8.
    match write_hashed_form(body, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Appends [`hashed_form`] of `body` to `out`.
pub fn write_hashed_form(body: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    let text = body.get("occurredAt").and_then(Value::as_str);
    match text.and_then(canonical_occurred_at) {
        // Only a respelled `occurredAt` pays for a copy.
        Some(canonical) if Some(canonical.as_str()) != text => {
            let mut copy = body.clone();
            copy["occurredAt"] = Value::String(canonical);
            write_canonical(&copy, out)
        }
        _ => write_canonical(body, out),
    }
}

/// The canonical spelling of an `occurredAt` of the schema's pattern (`None` for any other
/// text): the fraction without trailing zeros (none at all when it is zero) and `Z` for
/// `+00:00`. Other offsets, `-00:00` included (RFC 3339: local offset unknown), are kept:
/// the same instant at another offset is other content.
pub fn canonical_occurred_at(text: &str) -> Option<String> {
    // `YYYY-MM-DDTHH:MM:SS` is 19 ASCII bytes; the rest is `[.digits]` and the offset.
    let (head, rest) = (text.get(..19)?, text.get(19..)?);
    let (fraction, offset) = match rest.strip_suffix('Z') {
        Some(f) => (f, "Z"),
        None => {
            let at = rest.len().checked_sub(6)?;
            let (f, o) = (rest.get(..at)?, rest.get(at..)?);
            if !o.starts_with(['+', '-']) {
                return None;
            }
            (f, if o == "+00:00" { "Z" } else { o })
        }
    };
    let digits = match fraction.strip_prefix('.') {
        Some(d) if !d.is_empty() && d.bytes().all(|b| b.is_ascii_digit()) => d,
        Some(_) => return None,
        None if fraction.is_empty() => "",
        None => return None,
    };
    let digits = digits.trim_end_matches('0');
    let dot = if digits.is_empty() { "" } else { "." };
    Some(format!("{head}{dot}{digits}{offset}"))
}

/// JSON with object keys sorted and no insignificant white space.
pub fn canonical_json(v: &Value) -> String {
    let mut out = Vec::new();
    // Writing a `Value` to memory cannot fail, and what is written is JSON, so UTF-8.
    match write_canonical(v, &mut out) {
        Ok(()) => String::from_utf8(out).unwrap_or_default(),
        Err(_) => String::new(),
    }
}

/// Appends `v` as canonical JSON (keys sorted by their UTF-8 bytes, no white space) to `out`,
/// byte for byte what [`canonical_json`] has always produced (the content hash is stored, so
/// its input must not change): strings and numbers spelled as serde_json spells them.
///
/// Writes straight into one buffer: no intermediate `String` per key or scalar, and the keys
/// of an object are sorted on the stack when it has at most `SMALL_OBJECT` of them.
pub fn write_canonical(v: &Value, out: &mut Vec<u8>) -> Result<(), serde_json::Error> {
    match v {
        Value::Object(o) => {
            out.push(b'{');
            if o.len() <= SMALL_OBJECT {
                let mut members: [(&str, &Value); SMALL_OBJECT] = [("", &NULL); SMALL_OBJECT];
                for (slot, (k, v)) in members.iter_mut().zip(o) {
                    *slot = (k.as_str(), v);
                }
                let members = &mut members[..o.len()];
                // Keys are unique (duplicates are refused), so an unstable sort is exact.
                members.sort_unstable_by(|a, b| a.0.cmp(b.0));
                write_members(members.iter().copied(), out)?;
            } else {
                let mut members: Vec<(&str, &Value)> =
                    o.iter().map(|(k, v)| (k.as_str(), v)).collect();
                members.sort_unstable_by(|a, b| a.0.cmp(b.0));
                write_members(members.into_iter(), out)?;
            }
            out.push(b'}');
        }
        Value::Array(a) => {
            out.push(b'[');
            for (i, x) in a.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_canonical(x, out)?;
            }
            out.push(b']');
        }
        scalar => serde_json::to_writer(&mut *out, scalar)?,
    }
    Ok(())
}

/// Objects with at most this many keys are sorted without allocating.
const SMALL_OBJECT: usize = 16;
static NULL: Value = Value::Null;

fn write_members<'a>(
    members: impl Iterator<Item = (&'a str, &'a Value)>,
    out: &mut Vec<u8>,
) -> Result<(), serde_json::Error> {
    for (i, (k, v)) in members.enumerate() {
        if i > 0 {
            out.push(b',');
        }
        serde_json::to_writer(&mut *out, k)?;
        out.push(b':');
        write_canonical(v, out)?;
    }
    Ok(())
}

fn rejected_parse(e: &ParseError) -> Rejected {
    let reason = match e {
        ParseError::Empty => ReasonCode::EmptyObject,
        ParseError::TooLarge { .. } | ParseError::TooManyValues { .. } => ReasonCode::TooLarge,
        ParseError::InvalidUtf8 { .. } | ParseError::ByteOrderMark => ReasonCode::InvalidEncoding,
        ParseError::DuplicateKey { .. }
        | ParseError::TooDeep { .. }
        | ParseError::Syntax { .. } => ReasonCode::InvalidJson,
    };
    Rejected {
        reason,
        message: capitalized(&e.to_string()),
        errors: vec![EventError {
            event_id: None,
            index: None,
            keyword: e.check().into(),
            message: e.to_string(),
            pointer: e.pointer().into(),
        }],
        error_count: 1,
        event_count: None,
    }
}

fn rejected_schema(e: SchemaErrors, max_events: Option<usize>) -> Rejected {
    let too_many = e
        .errors
        .iter()
        .any(|x| x.pointer.is_empty() && x.keyword == "maxItems");
    let (reason, message) = if too_many {
        (
            ReasonCode::TooManyEvents,
            format!(
                "The object holds {} events; the limit is {} per object: split it.",
                e.event_count,
                max_events.map_or_else(|| "the schema's".to_string(), |n| n.to_string())
            ),
        )
    } else {
        let events: std::collections::BTreeSet<_> =
            e.errors.iter().filter_map(|x| x.index).collect();
        (
            ReasonCode::SchemaViolation,
            format!(
                "{} schema violation{} in {} of {} event{}; nothing from this object was stored.",
                e.total,
                plural(e.total),
                events.len().max(1),
                e.event_count,
                plural(e.event_count)
            ),
        )
    };
    Rejected {
        reason,
        message,
        error_count: e.total as u64,
        event_count: Some(e.event_count as u64),
        errors: e
            .errors
            .into_iter()
            .map(|x| EventError {
                event_id: x.event_id.map(|id| id.chars().take(128).collect()),
                index: x.index.map(|i| i as u64),
                keyword: x.keyword,
                message: x.message,
                pointer: x.pointer,
            })
            .collect(),
    }
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

fn capitalized(s: &str) -> String {
    let mut c = s.chars();
    match c.next() {
        Some(f) => f.to_uppercase().collect::<String>() + c.as_str() + ".",
        None => String::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn intake() -> Intake {
        Intake::new(eventpulse_contract_rt::json::DEFAULT_MAX_BYTES, 100).unwrap()
    }

    fn view(id: &str) -> Value {
        json!({"eventId": id, "type": "page.view", "occurredAt": "2026-11-27T10:00:00+01:00",
               "source": "web", "data": {"url": "https://example.com/a"}})
    }

    fn reason(bytes: &[u8]) -> ReasonCode {
        match intake().check(bytes) {
            Verdict::Rejected(r) => r.reason,
            Verdict::Accepted(_) => panic!("accepted {}", String::from_utf8_lossy(bytes)),
        }
    }

    #[test]
    fn accepts_a_batch_and_keeps_each_event() {
        let doc = serde_json::to_vec(&json!([view("a"), view("b")])).unwrap();
        let Verdict::Accepted(events) = intake().check(&doc) else {
            panic!()
        };
        assert_eq!(events.len(), 2);
        assert_eq!(
            (
                events[1].index,
                events[1].event_id.as_str(),
                events[1].event_type.as_str()
            ),
            (1, "b", "page.view")
        );
        assert_eq!(
            events[0].occurred_at.to_string(),
            "2026-11-27T10:00:00+01:00"
        );
        assert!(matches!(
            events[0].typed(),
            Ok(TypedEvent::PageViewEvent(_))
        ));
    }

    #[test]
    fn content_hash_ignores_formatting_and_key_order() {
        let a = br#"{"eventId":"a","type":"page.view","occurredAt":"2026-11-27T10:00:00Z","source":"w","data":{"url":"https://e.com/"}}"#;
        let b = br#"{ "source": "w", "data": {"url": "https://e.com/"}, "type": "page.view", "occurredAt": "2026-11-27T10:00:00Z", "eventId": "a" }"#;
        let hash = |d: &[u8]| match intake().check(d) {
            Verdict::Accepted(e) => e[0].content_hash.clone(),
            Verdict::Rejected(r) => panic!("{r:?}"),
        };
        assert_eq!(hash(a), hash(b));
        let c = String::from_utf8_lossy(a).replace("e.com/", "e.com/x");
        assert_ne!(hash(a), hash(c.as_bytes()));
    }

    #[test]
    fn reason_codes() {
        assert_eq!(reason(b""), ReasonCode::EmptyObject);
        assert_eq!(reason(b"\xff"), ReasonCode::InvalidEncoding);
        assert_eq!(reason(b"{"), ReasonCode::InvalidJson);
        assert_eq!(reason(br#"{"a":1,"a":2}"#), ReasonCode::InvalidJson);
        assert_eq!(reason(br#"{"eventId":"x"}"#), ReasonCode::SchemaViolation);
        let many: Vec<Value> = (0..1001).map(|i| view(&format!("e{i}"))).collect();
        assert_eq!(
            reason(&serde_json::to_vec(&many).unwrap()),
            ReasonCode::TooManyEvents
        );
        let small = Intake::new(10, 100).unwrap();
        assert!(matches!(
            small.check(&[b' '; 11]),
            Verdict::Rejected(Rejected {
                reason: ReasonCode::TooLarge,
                ..
            })
        ));
        assert_eq!(
            small.check_size(11).map(|r| r.reason),
            Some(ReasonCode::TooLarge)
        );
        assert_eq!(small.check_size(10), None);
    }

    #[test]
    fn events_larger_than_the_item_limit_are_refused_by_pointer() {
        let small = intake().with_max_event_bytes(150);
        let mut big = view("big");
        big["data"]["url"] = json!(format!("https://example.com/{}", "a".repeat(100)));
        let doc = serde_json::to_vec(&json!([view("a"), big])).unwrap();
        let Verdict::Rejected(r) = small.check(&doc) else {
            panic!("a 2nd event over the limit was accepted")
        };
        assert_eq!(r.reason, ReasonCode::TooLarge);
        assert_eq!(r.error_count, 1);
        assert_eq!(r.errors[0].pointer, "/1");
        assert_eq!(r.errors[0].keyword, "maxEventBytes");
        assert!(matches!(
            small.check(&serde_json::to_vec(&view("a")).unwrap()),
            Verdict::Accepted(_)
        ));
        // A document holding too many values is refused as too large, whatever its size.
        let nested = format!(
            "[{}]",
            vec!["[".repeat(120) + &"]".repeat(120); 20_000].join(",")
        );
        assert_eq!(reason(nested.as_bytes()), ReasonCode::TooLarge);
    }

    #[test]
    fn schema_report_names_event_and_field() {
        let mut bad = view("b-1");
        bad["data"]["url"] = json!("not a url");
        let doc = serde_json::to_vec(&json!([view("a"), bad])).unwrap();
        let Verdict::Rejected(r) = intake().check(&doc) else {
            panic!()
        };
        assert_eq!(r.error_count, 1);
        assert_eq!(r.event_count, Some(2));
        let e = &r.errors[0];
        assert_eq!(
            (e.index, e.event_id.as_deref(), e.pointer.as_str()),
            (Some(1), Some("b-1"), "/1/data/url")
        );
        assert!(
            r.message.contains("1 schema violation in 1 of 2 events"),
            "{}",
            r.message
        );
    }

    #[test]
    fn integral_floats_are_accepted_where_the_schema_says_integer() {
        let doc = br#"{"eventId":"o","type":"order.placed","occurredAt":"2026-11-27T10:00:00Z","source":"s",
            "data":{"orderId":"A","currency":"EUR","amountMinor":100.0,"items":[{"sku":"X","quantity":2.0}]}}"#;
        let Verdict::Accepted(events) = intake().check(doc) else {
            panic!("refused 2.0 as an integer")
        };
        // Stored as uploaded...
        assert_eq!(
            events[0].body.to_value().unwrap()["data"]["amountMinor"],
            json!(100.0)
        );
        // ...typed as the integer it is.
        let Ok(TypedEvent::OrderPlacedEvent(o)) = &events[0].typed() else {
            panic!()
        };
        assert_eq!(o.data.amount_minor, 100);
        let too_big = String::from_utf8_lossy(doc).replace("100.0", "9007199254740992");
        assert!(matches!(
            intake().check(too_big.as_bytes()),
            Verdict::Rejected(_)
        ));
    }

    #[test]
    fn instants_outside_years_0000_to_9999_in_utc_are_refused() {
        let mut early = view("early");
        early["occurredAt"] = json!("0000-01-01T00:00:00+01:00");
        let mut late = view("late");
        late["occurredAt"] = json!("9999-12-31T23:30:00-01:00");
        let doc = serde_json::to_vec(&json!([view("ok"), early, late])).unwrap();
        let Verdict::Rejected(r) = intake().check(&doc) else {
            panic!("accepted")
        };
        assert_eq!(r.reason, ReasonCode::SchemaViolation);
        let pointers: Vec<_> = r.errors.iter().map(|e| e.pointer.as_str()).collect();
        assert_eq!(pointers, ["/1/occurredAt", "/2/occurredAt"]);
        let mut edge = view("edge");
        edge["occurredAt"] = json!("0000-01-01T00:00:00Z");
        assert!(matches!(
            intake().check(&serde_json::to_vec(&edge).unwrap()),
            Verdict::Accepted(_)
        ));
    }

    /// The canonical JSON as it was first written (one `String` per key and scalar): the
    /// stored content hashes were computed on it, so the fast writer must match it exactly.
    fn canonical_reference(v: &Value) -> String {
        match v {
            Value::Object(o) => {
                let mut keys: Vec<&String> = o.keys().collect();
                keys.sort();
                let members: Vec<String> = keys
                    .into_iter()
                    .map(|k| {
                        format!(
                            "{}:{}",
                            Value::String(k.clone()),
                            canonical_reference(&o[k])
                        )
                    })
                    .collect();
                format!("{{{}}}", members.join(","))
            }
            Value::Array(a) => format!(
                "[{}]",
                a.iter()
                    .map(canonical_reference)
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            scalar => scalar.to_string(),
        }
    }

    #[test]
    fn canonical_json_is_byte_for_byte_the_stored_format() {
        let many: serde_json::Map<String, Value> = (0..40)
            .rev()
            .map(|i| (format!("k{i}"), json!(i as f64 / 7.0)))
            .collect();
        let doc = json!({
            "z": "quote \" backslash \\ control \u{1} tab \t newline \n",
            "é": "non-ASCII ü 日本 😀 \u{7f} \u{2028}",
            "A": [1, -2, 2.0, 1e300, 0.1, -0.0, 9007199254740991u64, 1.5e-7, true, false, null],
            "a/b~c": {"": {}, " ": []},
            "many": Value::Object(many),
            "Z": [[{"b": 1, "a": 2}]],
        });
        assert_eq!(canonical_json(&doc), canonical_reference(&doc));
        for dir in ["valid", "invalid"] {
            let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("../examples/events")
                .join(dir);
            for f in std::fs::read_dir(root).unwrap() {
                let text = std::fs::read(f.unwrap().path()).unwrap();
                if let Ok(v) = serde_json::from_slice::<Value>(&text) {
                    assert_eq!(canonical_json(&v), canonical_reference(&v));
                }
            }
        }
        // The hash of a stored event does not move across versions.
        let Verdict::Accepted(e) = intake().check(
            br#"{"eventId":"a","type":"page.view","occurredAt":"2026-11-27T10:00:00Z","source":"w","data":{"url":"https://e.com/"}}"#,
        ) else {
            panic!()
        };
        assert_eq!(
            e[0].content_hash,
            hex::encode(Sha256::digest(
                canonical_reference(&e[0].body.to_value().unwrap()).as_bytes()
            ))
        );
    }

    #[test]
    fn content_hashes_are_spelled_as_before() {
        for bytes in [&b""[..], b"\x00\x0f\xf0\xff", &Sha256::digest(b"x")[..]] {
            assert_eq!(lower_hex(bytes), hex::encode(bytes));
        }
    }

    #[test]
    fn occurred_at_is_canonical_for_the_hash() {
        for (text, want) in [
            ("2026-11-27T10:15:00Z", "2026-11-27T10:15:00Z"),
            ("2026-11-27T10:15:00+00:00", "2026-11-27T10:15:00Z"),
            ("2026-11-27T10:15:00.000+00:00", "2026-11-27T10:15:00Z"),
            ("2026-11-27T10:15:00.0Z", "2026-11-27T10:15:00Z"),
            ("2026-11-27T10:15:00.500000000Z", "2026-11-27T10:15:00.5Z"),
            (
                "2026-11-27T10:15:00.123456789+01:00",
                "2026-11-27T10:15:00.123456789+01:00",
            ),
            (
                "2026-11-27T10:15:00.120-05:30",
                "2026-11-27T10:15:00.12-05:30",
            ),
            ("2026-11-27T10:15:00-00:00", "2026-11-27T10:15:00-00:00"),
        ] {
            assert_eq!(canonical_occurred_at(text).as_deref(), Some(want), "{text}");
        }
        for bad in [
            "",
            "2026-11-27",
            "2026-11-27T10:15:00.Z",
            "2026-11-27T10:15:00x00:00",
        ] {
            assert_eq!(canonical_occurred_at(bad), None, "{bad}");
        }
    }

    #[test]
    fn the_same_instant_and_offset_spelled_differently_is_the_same_event() {
        let event = |at: &str| {
            json!({"eventId": "e-1", "type": "page.view", "occurredAt": at, "source": "web",
                   "data": {"url": "https://example.com/"}})
        };
        let hash = |at: &str| hashed_form(&event(at));
        // An occurredAt already canonical hashes as the plain canonical JSON did before, so
        // the hashes of events stored with one are unchanged.
        assert_eq!(
            hash("2026-11-27T10:15:00Z"),
            canonical_json(&event("2026-11-27T10:15:00Z"))
        );
        assert_eq!(
            hash("2026-11-27T10:15:00.5+01:00"),
            canonical_json(&event("2026-11-27T10:15:00.5+01:00"))
        );
        assert_eq!(
            hash("2026-11-27T10:15:00Z"),
            hash("2026-11-27T10:15:00+00:00")
        );
        assert_eq!(
            hash("2026-11-27T10:15:00.5Z"),
            hash("2026-11-27T10:15:00.500000000+00:00")
        );
        // Another offset, or another instant, is other content.
        assert_ne!(
            hash("2026-11-27T10:15:00Z"),
            hash("2026-11-27T11:15:00+01:00")
        );
        assert_ne!(
            hash("2026-11-27T10:15:00Z"),
            hash("2026-11-27T10:15:00-00:00")
        );
        assert_ne!(
            hash("2026-11-27T10:15:00Z"),
            hash("2026-11-27T10:15:00.000000001Z")
        );
    }

    #[test]
    fn the_hash_of_an_accepted_event_is_that_of_its_canonical_occurred_at() {
        let body = |at: &str| {
            format!(
                r#"{{"eventId": "e-1", "type": "page.view", "occurredAt": "{at}", "source": "web", "data": {{"url": "https://example.com/"}}}}"#
            )
        };
        let hash = |at: &str| match intake().check(body(at).as_bytes()) {
            Verdict::Accepted(events) => events[0].content_hash.clone(),
            Verdict::Rejected(r) => panic!("{at} was refused: {}", r.message),
        };
        assert_eq!(
            hash("2026-11-27T10:15:00Z"),
            hash("2026-11-27T10:15:00.000+00:00")
        );
        assert_ne!(
            hash("2026-11-27T10:15:00Z"),
            hash("2026-11-27T11:15:00+01:00")
        );
    }

    #[test]
    fn canonical_json_sorts_keys_recursively() {
        assert_eq!(
            canonical_json(&json!({"b": [{"d": 1, "c": "x"}], "a": null})),
            r#"{"a":null,"b":[{"c":"x","d":1}]}"#
        );
    }
}
