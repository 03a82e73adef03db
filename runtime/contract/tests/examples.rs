//! Every example under `examples/events/` gets the verdict its folder promises:
//!
//! - `valid/*.json` passes [`Validator::validate_bytes`], and round-trips through the
//!   generated [`TypedEvent`] type, event by event: bytes → `TypedEvent` → `serde_json::Value` equals the
//!   validated document (numbers compared by value: see [`same_json`]).
//! - `invalid/*.json` is refused with [`Rejection::Schema`], with at least one error, and every
//!   error's pointer names a place in the document (or, for a property that is missing, its
//!   parent).
//! - `malformed/*` is refused with [`Rejection::Parse`].
//!
//! `tools/check_examples.py` (run by `scripts/test.sh`) checks the same folders with Python's
//! `jsonschema` against the published bundle and the same folder verdicts. As both sides assert
//! the verdict the folder implies, when both pass Rust and Python agree on every example; no
//! separate comparison is needed, and this test writes nothing.

use eventpulse_contract_rt::{Rejection, Validator};
use eventpulse_generated::types::TypedEvent;
use serde_json::Value;
use std::path::{Path, PathBuf};

const MIN_INVALID_EXAMPLES: usize = 30;

fn examples(folder: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/events")
        .join(folder);
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()))
        .map(|entry| entry.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|ext| ext == "json"))
        .collect();
    paths.sort();
    assert!(!paths.is_empty(), "no examples in {}", dir.display());
    paths
        .into_iter()
        .map(|p| {
            let name = format!("{folder}/{}", p.file_name().unwrap().to_string_lossy());
            let bytes = std::fs::read(&p).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
            (name, bytes)
        })
        .collect()
}

fn validator() -> Validator {
    Validator::new(eventpulse_generated::UPLOAD_OBJECT_SCHEMA)
        .expect("the published bundle compiles")
}

/// Fails listing every example that went wrong, not just the first.
fn report(what: &str, failures: Vec<String>) {
    assert!(
        failures.is_empty(),
        "{} {what}:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}

/// `a == b`, except that numbers compare by value, as JSON (and JSON Schema) define them:
/// the generated types hold `sensor.reading` `value` as an `f64`, so `45` comes back as
/// `45.0`, which is the same JSON number but a different `serde_json::Value`. Anything else
/// (a lost or renamed field, a changed string, a reordered array) still fails.
fn same_json(a: &Value, b: &Value) -> bool {
    match (a, b) {
        (Value::Number(x), Value::Number(y)) => {
            x == y || ((x.is_f64() || y.is_f64()) && x.as_f64() == y.as_f64())
        }
        (Value::Array(x), Value::Array(y)) => {
            x.len() == y.len() && x.iter().zip(y).all(|(x, y)| same_json(x, y))
        }
        (Value::Object(x), Value::Object(y)) => {
            x.len() == y.len()
                && x.iter()
                    .all(|(k, x)| y.get(k).is_some_and(|y| same_json(x, y)))
        }
        _ => a == b,
    }
}

#[test]
fn valid_examples_pass_and_round_trip_through_the_generated_types() {
    let v = validator();
    let mut failures = Vec::new();
    for (name, bytes) in examples("valid") {
        let doc = match v.validate_bytes(&bytes) {
            Ok(doc) => doc,
            Err(e) => {
                failures.push(format!("{name}: rejected: {e}: {e:?}"));
                continue;
            }
        };
        // The typed view reads integral floats (`2.0`) as the integers they are. Each event
        // goes through the typed union (`TypedEvent`: the server's types pass events as
        // text, so the union is generated under that name) and must come back unchanged.
        let normalised = eventpulse_contract_rt::json::integral_numbers(doc.clone());
        let events: Vec<Value> = match normalised {
            Value::Array(events) => events,
            one => vec![one],
        };
        let typed: Result<Vec<TypedEvent>, _> =
            events.iter().cloned().map(serde_json::from_value).collect();
        let typed = match typed {
            Ok(t) => t,
            Err(e) => {
                failures.push(format!("{name}: does not deserialize into TypedEvent: {e}"));
                continue;
            }
        };
        let back = match (&doc, serde_json::to_value(&typed)) {
            (Value::Array(_), Ok(all)) => Ok(all),
            (_, Ok(Value::Array(mut one))) if one.len() == 1 => Ok(one.remove(0)),
            (_, other) => other,
        };
        match back {
            Ok(back) if same_json(&back, &doc) => {}
            Ok(back) => failures.push(format!(
                "{name}: round trip changed the document:\n    before {doc}\n    after  {back}"
            )),
            Err(e) => failures.push(format!("{name}: does not serialize back: {e}")),
        }
    }
    report("valid examples failed", failures);
}

#[test]
fn invalid_examples_are_refused_by_the_schema_with_pointers_into_the_document() {
    let v = validator();
    let all = examples("invalid");
    assert!(
        all.len() >= MIN_INVALID_EXAMPLES,
        "only {} invalid examples; at least {MIN_INVALID_EXAMPLES} are required",
        all.len()
    );
    let mut failures = Vec::new();
    for (name, bytes) in all {
        let errs = match v.validate_bytes(&bytes) {
            Err(Rejection::Schema(errs)) => errs,
            Err(Rejection::Parse(e)) => {
                failures.push(format!(
                    "{name}: refused by the parser ({e}), not the schema: move it to malformed/"
                ));
                continue;
            }
            Ok(_) => {
                failures.push(format!("{name}: accepted"));
                continue;
            }
        };
        if errs.errors.is_empty() || errs.total < errs.errors.len() {
            failures.push(format!(
                "{name}: rejected without a usable error list: {errs:?}"
            ));
            continue;
        }
        // Invalid examples are well-formed JSON, so plain serde_json reads them too.
        let doc: Value = serde_json::from_slice(&bytes).expect("invalid/ examples parse");
        for e in &errs.errors {
            let parent = e.pointer.rsplit_once('/').map_or("", |(p, _)| p);
            let points_in = (e.pointer.is_empty() || e.pointer.starts_with('/'))
                && (doc.pointer(&e.pointer).is_some() || doc.pointer(parent).is_some());
            if !points_in {
                failures.push(format!(
                    "{name}: pointer {:?} ({} error: {}) is not in the document",
                    e.pointer, e.keyword, e.message
                ));
            }
            if e.keyword.is_empty() || e.message.is_empty() {
                failures.push(format!("{name}: error without keyword or message: {e:?}"));
            }
        }
    }
    report("invalid examples were not refused as expected", failures);
}

#[test]
fn malformed_examples_are_refused_by_the_parser() {
    let v = validator();
    let mut failures = Vec::new();
    for (name, bytes) in examples("malformed") {
        match v.validate_bytes(&bytes) {
            Err(Rejection::Parse(_)) => {}
            Err(Rejection::Schema(errs)) => failures.push(format!(
                "{name}: parsed, then refused by the schema ({} errors): move it to invalid/",
                errs.total
            )),
            Ok(_) => failures.push(format!("{name}: accepted")),
        }
    }
    report(
        "malformed examples were not refused by the parser",
        failures,
    );
}
