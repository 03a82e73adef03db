//! The upload-object validator, compiled once from the published bundle
//! (`generated/schema/upload-object.bundle.json`, which `eventpulse-generated` exports as
//! `UPLOAD_OBJECT_SCHEMA`; this crate takes the text as an argument and reads no file).
//!
//! It checks exactly what the published schema says, with formats asserted, but reports
//! better than validating the root `oneOf` would: it dispatches on each event's `type` and
//! validates the event against that type's variant, so every error names the real field
//! (`/1/data/currency`, not "oneOf failed at /1"). Events whose `type` is missing or unknown
//! are validated against the generic envelope, which reports the bad `type` and anything else
//! wrong with the envelope.

use crate::json::{self, ParseError, Top};
use serde_json::Value;
use std::collections::BTreeMap;

/// How many errors a report lists by default; the total is always counted.
pub const DEFAULT_MAX_ERRORS: usize = 100;

/// One constraint an uploaded document breaks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SchemaError {
    /// Position of the event in the document (0 for a single event); `None` for errors about
    /// the document as a whole.
    pub index: Option<usize>,
    /// The event's `eventId`, when it has a string one.
    pub event_id: Option<String>,
    /// RFC 6901 pointer into the uploaded document, e.g. `/1/data/currency`.
    pub pointer: String,
    /// The JSON Schema keyword that failed, e.g. `pattern`.
    pub keyword: String,
    pub message: String,
}

/// Every error found (up to the cap) and how many there were in all.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SchemaErrors {
    pub errors: Vec<SchemaError>,
    pub total: usize,
    /// Number of events in the document (1 for a single event, the array length otherwise).
    pub event_count: usize,
}

impl SchemaErrors {
    pub fn truncated(&self) -> bool {
        self.errors.len() < self.total
    }
    fn push(&mut self, cap: usize, e: SchemaError) {
        self.total += 1;
        if self.errors.len() < cap {
            self.errors.push(e);
        }
    }
}

/// What [`Validator::validate_bytes_map`] made of a valid document's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mapped<T> {
    /// One per event, in document order.
    pub items: Vec<T>,
    /// The document is a single event object (not an array of events).
    pub single: bool,
}

/// Why a document is not a valid upload object.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Rejection {
    #[error(transparent)]
    Parse(#[from] ParseError),
    #[error("{} schema violation(s)", .0.total)]
    Schema(SchemaErrors),
}

#[derive(Debug, thiserror::Error)]
#[error("the bundled schema does not compile: {0}")]
pub struct CompileError(String);

pub struct Validator {
    /// Variant validators by event type name, e.g. "page.view" → PageViewEvent.
    by_type: BTreeMap<String, jsonschema::Validator>,
    /// The generic envelope, for events whose type is missing or unknown.
    envelope: jsonschema::Validator,
    /// The array form's own constraints (length), without its items.
    batch: jsonschema::Validator,
    batch_max_items: Option<usize>,
    max_errors: usize,
    max_bytes: usize,
}

impl std::fmt::Debug for Validator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Validator")
            .field("types", &self.by_type.keys().collect::<Vec<_>>())
            .field("max_errors", &self.max_errors)
            .field("max_bytes", &self.max_bytes)
            .finish()
    }
}

impl Validator {
    /// Compiles the bundle's text (the published one is `eventpulse_generated::UPLOAD_OBJECT_SCHEMA`).
    /// Cheap enough to do once per process.
    pub fn new(schema_json: &str) -> Result<Self, CompileError> {
        let bundle: Value =
            serde_json::from_str(schema_json).map_err(|e| CompileError(e.to_string()))?;
        Self::from_bundle(&bundle)
    }

    /// Compiles a bundle shaped like the published one (root `oneOf` of `Event` and
    /// `EventBatch`; `Event` a `oneOf` of per-type variants; an `EventEnvelope`).
    pub fn from_bundle(bundle: &Value) -> Result<Self, CompileError> {
        let defs = bundle
            .get("$defs")
            .and_then(Value::as_object)
            .ok_or_else(|| CompileError("no $defs".into()))?;
        let compile_def = |def: &str| -> Result<jsonschema::Validator, CompileError> {
            let mut root = serde_json::Map::new();
            root.insert("$schema".into(), bundle["$schema"].clone());
            root.insert("$ref".into(), Value::String(format!("#/$defs/{def}")));
            root.insert("$defs".into(), Value::Object(defs.clone()));
            compile(&Value::Object(root))
        };
        let variants = defs
            .get("Event")
            .and_then(|e| e.get("oneOf"))
            .and_then(Value::as_array)
            .ok_or_else(|| CompileError("$defs/Event has no oneOf".into()))?;
        let mut by_type = BTreeMap::new();
        for v in variants {
            let name = v
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .ok_or_else(|| CompileError("Event variants must be $refs into $defs".into()))?;
            let type_name = defs
                .get(name)
                .and_then(|d| d.pointer("/properties/type/enum/0"))
                .and_then(Value::as_str)
                .ok_or_else(|| CompileError(format!("{name} has no single `type` value")))?;
            by_type.insert(type_name.to_string(), compile_def(name)?);
        }
        let mut batch_schema = defs
            .get("EventBatch")
            .cloned()
            .ok_or_else(|| CompileError("no $defs/EventBatch".into()))?;
        let batch_max_items = batch_schema
            .get("maxItems")
            .and_then(Value::as_u64)
            .map(|n| n as usize);
        if let Some(o) = batch_schema.as_object_mut() {
            o.shift_remove("items");
            // `validate_bytes_map` checks the array's own constraints on a stand-in of the
            // same length, which is exact only for these keywords.
            if let Some(k) = o.keys().find(|k| !BATCH_KEYWORDS.contains(&k.as_str())) {
                return Err(CompileError(format!(
                    "$defs/EventBatch: `{k}` is not supported; an upload's array may constrain only its length"
                )));
            }
        }
        Ok(Self {
            by_type,
            envelope: compile_def("EventEnvelope")?,
            batch: compile(&batch_schema)?,
            batch_max_items,
            max_errors: DEFAULT_MAX_ERRORS,
            max_bytes: json::DEFAULT_MAX_BYTES,
        })
    }

    /// Lists at most `n` errors (all are still counted).
    pub fn with_max_errors(mut self, n: usize) -> Self {
        self.max_errors = n;
        self
    }

    /// Refuses documents larger than `n` bytes before parsing them.
    pub fn with_max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    pub fn max_bytes(&self) -> usize {
        self.max_bytes
    }

    /// The most events an upload object may hold (`EventBatch.maxItems` of the schema).
    pub fn max_events(&self) -> Option<usize> {
        self.batch_max_items
    }

    /// The registered event types.
    pub fn event_types(&self) -> impl Iterator<Item = &str> {
        self.by_type.keys().map(String::as_str)
    }

    /// Strictly parses and validates an uploaded document.
    pub fn validate_bytes(&self, bytes: &[u8]) -> Result<Value, Rejection> {
        let doc = json::parse(bytes, self.max_bytes)?;
        self.validate_value(&doc).map_err(Rejection::Schema)?;
        Ok(doc)
    }

    /// Strictly parses and validates an uploaded document, like [`Self::validate_bytes`], and
    /// hands each event to `map` (with its index) right after validating it, while it is still
    /// in cache, as long as no event before it broke the schema: one pass over the events
    /// instead of one to validate and another to map, and no event is mapped once the
    /// document is known to be refused. The errors, their order and the verdict are those of
    /// [`Self::validate_value`].
    pub fn validate_bytes_map<T>(
        &self,
        bytes: &[u8],
        mut map: impl FnMut(usize, Value) -> T,
    ) -> Result<Mapped<T>, Rejection> {
        let mut out = SchemaErrors::default();
        let mut mapped = Vec::new();
        let mut prefix = String::new();
        // Events are validated and mapped as the parser hands them over, so each is still in
        // cache; none is once the batch is over its length limit (as in `validate_value`).
        let each = |i: usize, event: Value| {
            if self.batch_max_items.is_some_and(|max| i >= max) {
                return;
            }
            prefix.clear();
            let _ = std::fmt::Write::write_fmt(&mut prefix, format_args!("/{i}"));
            self.validate_event(Some(i), &prefix, &event, &mut out);
            if out.total == 0 {
                mapped.push(map(i, event));
            }
        };
        let single = match json::parse_each(bytes, self.max_bytes, each)? {
            Top::Array(n) => {
                // The array's own constraints (its length) need the array, which was never
                // built: they are checked on a stand-in of the same length (`from_bundle`
                // makes sure the batch schema constrains nothing else), and only when they
                // fail is the document parsed again whole, so that the report is exactly
                // `validate_value`'s.
                if !self.batch.is_valid(&Value::Array(vec![Value::Null; n])) {
                    let doc = json::parse(bytes, self.max_bytes)?;
                    return Err(Rejection::Schema(
                        self.validate_value(&doc).err().unwrap_or_default(),
                    ));
                }
                out.event_count = n;
                false
            }
            Top::Other(doc) => {
                if !doc.is_object() {
                    return Err(Rejection::Schema(
                        self.validate_value(&doc).err().unwrap_or_default(),
                    ));
                }
                out.event_count = 1;
                self.validate_event(None, "", &doc, &mut out);
                if out.total == 0 {
                    mapped.push(map(0, doc));
                }
                true
            }
        };
        if out.total == 0 {
            Ok(Mapped {
                items: mapped,
                single,
            })
        } else {
            Err(Rejection::Schema(out))
        }
    }

    /// Validates a parsed document; `Err` lists what is wrong.
    pub fn validate_value(&self, doc: &Value) -> Result<(), SchemaErrors> {
        let mut out = SchemaErrors::default();
        match doc {
            Value::Array(events) => {
                out.event_count = events.len();
                for e in self.batch.iter_errors(doc) {
                    out.push(self.max_errors, convert(None, None, "", &e));
                }
                // Past the limit the document is refused as a whole; validating 100k events
                // would only make the report longer and the refusal slower.
                if self.batch_max_items.is_none_or(|max| events.len() <= max) {
                    for (i, event) in events.iter().enumerate() {
                        self.validate_event(Some(i), &format!("/{i}"), event, &mut out);
                    }
                }
            }
            Value::Object(_) => {
                out.event_count = 1;
                self.validate_event(None, "", doc, &mut out);
            }
            other => out.push(
                self.max_errors,
                SchemaError {
                    index: None,
                    event_id: None,
                    pointer: String::new(),
                    keyword: "type".into(),
                    message: format!(
                        "{} is not an event object or an array of events",
                        kind_of(other)
                    ),
                },
            ),
        }
        if out.total == 0 { Ok(()) } else { Err(out) }
    }

    fn validate_event(
        &self,
        index: Option<usize>,
        prefix: &str,
        event: &Value,
        out: &mut SchemaErrors,
    ) {
        let validator = event
            .get("type")
            .and_then(Value::as_str)
            .and_then(|t| self.by_type.get(t))
            .unwrap_or(&self.envelope);
        // The common case is valid: the boolean check is several times cheaper than
        // collecting errors, which only failing events pay for.
        if validator.is_valid(event) {
            return;
        }
        let event_id = event
            .get("eventId")
            .and_then(Value::as_str)
            .map(str::to_string);
        for e in validator.iter_errors(event) {
            out.push(
                self.max_errors,
                convert(Some(index.unwrap_or(0)), event_id.clone(), prefix, &e),
            );
        }
    }
}

/// What the array form of an upload may say about itself (its items are events).
const BATCH_KEYWORDS: &[&str] = &[
    "type",
    "minItems",
    "maxItems",
    "title",
    "description",
    "$comment",
];

fn compile(schema: &Value) -> Result<jsonschema::Validator, CompileError> {
    jsonschema::options()
        .with_draft(jsonschema::Draft::Draft202012)
        .should_validate_formats(true)
        .build(schema)
        .map_err(|e| CompileError(e.to_string()))
}

fn convert(
    index: Option<usize>,
    event_id: Option<String>,
    prefix: &str,
    e: &jsonschema::ValidationError<'_>,
) -> SchemaError {
    SchemaError {
        index,
        event_id,
        pointer: format!("{prefix}{}", e.instance_path().as_str()),
        keyword: e.kind().keyword().to_string(),
        message: bounded(e.to_string()),
    }
}

/// Longest message kept per error. The validator quotes the offending value, which may be
/// megabytes long; a report must stay small whatever was uploaded.
pub const MAX_MESSAGE_CHARS: usize = 512;

fn bounded(message: String) -> String {
    match message.char_indices().nth(MAX_MESSAGE_CHARS) {
        Some((cut, _)) => format!("{}… (truncated)", &message[..cut]),
        None => message,
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}
