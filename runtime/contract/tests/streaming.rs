//! The streaming path (`Validator::validate_bytes_map`, which intake runs: parse, validate and
//! map each event as the parser hands it over) against the reference path
//! (`Validator::validate_bytes`: parse the whole document, then validate it): the same verdict
//! and the same report, error for error, on the whole example corpus and on documents derived
//! from it (every value of every valid example replaced by values of other types and
//! lengths, batches of 0, 1, 2, 1000 and 1001 events, caps, duplicate keys, trailing data,
//! truncation), so the two cannot drift apart.

use eventpulse_contract_rt::{Mapped, Rejection, Validator};
use serde_json::{Value, json};
use std::path::Path;

fn validator() -> Validator {
    Validator::new(eventpulse_generated::UPLOAD_OBJECT_SCHEMA).expect("the bundle compiles")
}

fn corpus() -> Vec<(String, Vec<u8>)> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/events");
    let mut out = Vec::new();
    for folder in ["valid", "invalid", "malformed"] {
        let mut paths: Vec<_> = std::fs::read_dir(root.join(folder))
            .expect("examples folder")
            .map(|e| e.expect("directory entry").path())
            .collect();
        paths.sort();
        for p in paths {
            let name = format!("{folder}/{}", p.file_name().unwrap().to_string_lossy());
            out.push((name, std::fs::read(&p).expect("example")));
        }
    }
    out
}

/// Checks one document both ways; returns a description of any difference.
fn compare(v: &Validator, name: &str, bytes: &[u8]) -> Option<String> {
    let reference = v.validate_bytes(bytes);
    let streamed = v.validate_bytes_map(bytes, |i, event| (i, event));
    match (reference, streamed) {
        (Err(a), Err(b)) if a == b => None,
        (Ok(doc), Ok(Mapped { items, single })) => {
            let single_expected = !doc.is_array();
            let expected: Vec<(usize, Value)> = match doc {
                Value::Array(events) => events.into_iter().enumerate().collect(),
                one => vec![(0, one)],
            };
            (items != expected || single != single_expected)
                .then(|| format!("{name}: accepted both ways, but mapped differently"))
        }
        (a, b) => Some(format!(
            "{name}: reference {:?}, streamed {:?}",
            a.map(|_| "accepted").map_err(short),
            b.map(|_| "accepted").map_err(short)
        )),
    }
}

fn short(r: Rejection) -> String {
    match r {
        Rejection::Parse(e) => format!("parse: {e}"),
        Rejection::Schema(e) => format!("schema: {} errors, first {:?}", e.total, e.errors.first()),
    }
}

/// Every position (pointer) of a document.
fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                pointers(
                    x,
                    format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                    out,
                );
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                pointers(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(true),
        json!(-1),
        json!(0),
        json!(2.5),
        json!(1e300),
        json!(""),
        json!("x"),
        json!("X".repeat(300)),
        json!("2026-02-30T10:00:00Z"),
        json!("not a uri"),
        json!([]),
        json!([1]),
        json!({}),
        json!({"k": 1}),
    ]
}

#[test]
fn the_corpus_gets_the_same_reports_both_ways() {
    let v = validator();
    let failures: Vec<String> = corpus()
        .iter()
        .filter_map(|(name, bytes)| compare(&v, name, bytes))
        .collect();
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn mutated_documents_get_the_same_reports_both_ways() {
    let v = validator();
    let small = validator().with_max_errors(3);
    let mut failures = Vec::new();
    let mut checked = 0;
    for (name, bytes) in corpus() {
        if !name.starts_with("valid/") || bytes.len() > 20_000 {
            continue;
        }
        let doc: Value = serde_json::from_slice(&bytes).expect("valid examples parse");
        let mut at = Vec::new();
        pointers(&doc, String::new(), &mut at);
        for p in &at {
            for r in replacements() {
                let mut m = doc.clone();
                if p.is_empty() {
                    m = r;
                } else if let Some(slot) = m.pointer_mut(p) {
                    *slot = r;
                }
                let text = serde_json::to_vec(&m).expect("serializes");
                for v in [&v, &small] {
                    checked += 1;
                    failures.extend(compare(v, &format!("{name} with {p} replaced"), &text));
                }
            }
            // The key removed (a missing required property, or one fewer item).
            let mut m = doc.clone();
            if let Some((parent, last)) = p.rsplit_once('/') {
                match m.pointer_mut(parent) {
                    Some(Value::Object(o)) => {
                        o.shift_remove(last);
                    }
                    Some(Value::Array(a)) => {
                        if let Ok(i) = last.parse::<usize>() {
                            a.remove(i);
                        }
                    }
                    _ => {}
                }
                checked += 1;
                failures.extend(compare(
                    &v,
                    &format!("{name} without {p}"),
                    &serde_json::to_vec(&m).expect("serializes"),
                ));
            }
        }
        // Batches of every interesting length, of this example's events.
        let events: Vec<Value> = match &doc {
            Value::Array(a) => a.clone(),
            one => vec![one.clone()],
        };
        for n in [0, 1, 2, 1000, 1001] {
            let batch: Vec<Value> = events.iter().cycle().take(n).cloned().collect();
            let mut bad = batch.clone();
            if let Some(first) = bad.first_mut() {
                first["eventId"] = json!("");
            }
            for b in [batch, bad] {
                let text = serde_json::to_vec(&b).expect("serializes");
                checked += 2;
                failures.extend(compare(&v, &format!("{name} x{n}"), &text));
                failures.extend(compare(&small, &format!("{name} x{n} (cap 3)"), &text));
            }
        }
        // Parse errors after (or among) valid events: the parse error wins both ways.
        let text = String::from_utf8(bytes.clone()).expect("UTF-8");
        let with_dup = text.replacen("\"eventId\"", "\"eventId\": \"a\", \"eventId\"", 1);
        let trimmed = text.trim_end();
        for (what, m) in [
            ("trailing data", format!("{text} x")),
            ("a second document", format!("{text} {text}")),
            ("truncated", trimmed[..trimmed.len() - 1].to_string()),
            ("a duplicate key", with_dup),
            (
                "in a batch with a bad last element",
                format!("[{text}, {{\"a\": 1, \"a\": 2}}]"),
            ),
            ("in a batch with a number", format!("[{text}, 1]")),
        ] {
            checked += 1;
            failures.extend(compare(&v, &format!("{name} with {what}"), m.as_bytes()));
        }
    }
    assert!(checked > 5_000, "only {checked} documents checked");
    assert!(
        failures.is_empty(),
        "{} differences:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
