//! Intake's fast path (borrowed tree + the checks generated from the schema) against the full
//! path (serde_json + jsonschema): over the example corpus and thousands of mutations of its
//! valid events, whatever the fast path accepts, the full path accepts with the same events
//! (text, hash, sizes, ids); and the valid examples do take the fast path.

use eventpulse_handlers::intake::{Intake, Verdict};
use serde_json::{Value, json};
use std::path::{Path, PathBuf};

fn intake() -> Intake {
    Intake::new(5 * 1024 * 1024, 100).expect("the published schema compiles")
}

fn examples(folder: &str) -> Vec<(PathBuf, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../examples/events")
        .join(folder);
    let mut out: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "json"))
        .map(|p| {
            let bytes = std::fs::read(&p).unwrap_or_default();
            (p, bytes)
        })
        .collect();
    out.sort();
    out
}

/// The one property: the fast path never accepts what the full one judges otherwise.
/// Returns whether the fast path took the document.
fn agree(intake: &Intake, bytes: &[u8], what: &str) -> bool {
    match intake.check_fast(bytes) {
        Some(events) => {
            // The fast path makes no typed copy; every event it accepts must read as its type.
            for e in &events {
                if let Err(err) = e.typed() {
                    panic!("{what}: event {} does not read as its type: {err}", e.index);
                }
            }
            assert_eq!(
                intake.check_full(bytes),
                Verdict::Accepted(events),
                "{what}: the fast path accepted it differently:\n{}",
                String::from_utf8_lossy(bytes)
            );
            true
        }
        None => false,
    }
}

#[test]
fn the_corpus_agrees_and_valid_examples_take_the_fast_path() {
    let intake = intake();
    for folder in ["invalid", "malformed"] {
        for (path, bytes) in examples(folder) {
            assert!(
                !agree(&intake, &bytes, &path.display().to_string()),
                "{}: the fast path accepted an example that must be refused",
                path.display()
            );
        }
    }
    for (path, bytes) in examples("valid") {
        let fast = agree(&intake, &bytes, &path.display().to_string());
        // Integers spelled as floats (`2.0`) are valid, and left to the full path.
        let expected = !path.ends_with("order-placed-integral-floats.json");
        assert_eq!(
            fast,
            expected,
            "{}: fast path taken: {fast}",
            path.display()
        );
    }
}

/// Values to put in place of any value of an event.
fn replacements() -> Vec<Value> {
    let mut v = vec![
        json!(null),
        json!(true),
        json!(0),
        json!(-1),
        json!(1),
        json!(10000),
        json!(10001),
        json!(9007199254740991u64),
        json!(9007199254740992u64),
        json!(1.5),
        json!(2.0),
        json!(-0.0),
        json!(1e300),
        json!(""),
        json!("x"),
        json!("EUR"),
        json!("eur"),
        json!("EURO"),
        json!("é"),
        json!("a\"b\\c\n\u{1}"),
        json!("x".repeat(64)),
        json!("x".repeat(65)),
        json!("x".repeat(129)),
        json!("x".repeat(257)),
        json!("a/b"),
        json!("a b"),
        json!("page.view"),
        json!("order.placed"),
        json!("sensor.reading"),
        json!("nope"),
        json!([]),
        json!([1]),
        json!([{"sku": "A", "quantity": 1}]),
        json!({}),
        json!({"a": 1}),
    ];
    for t in [
        "2026-11-27T10:15:00Z",
        "2026-11-27T10:15:00.5+01:00",
        "2026-11-27T10:15:00.1234567890Z",
        "2026-11-27t10:15:00Z",
        "2026-11-27T10:15:00z",
        "2026-02-29T10:15:00Z",
        "2024-02-29T10:15:00Z",
        "2026-04-31T10:15:00Z",
        "2026-11-27T23:59:60Z",
        "2026-11-27T10:15:00+24:00",
        "2026-11-27T10:15:00-00:00",
        "0000-01-01T00:00:00+01:00",
        "9999-12-31T23:59:59-01:00",
        "2026-11-27",
    ] {
        v.push(json!(t));
    }
    for u in [
        "https://example.com/",
        "https://example.com/a%20b?q=1#f",
        "http://user@example.com:8080/x",
        "mailto:someone@example.com",
        "urn:isbn:0451450523",
        "https://exa mple.com/",
        "https://example.com/%zz",
        "https://[::1]/",
        "https://ex%41mple.com/",
        "example.com",
        "/relative/path",
        "https://example.com/ü",
        "http://a:b/",
        "http:",
        "file:///etc/hosts",
    ] {
        v.push(json!(u));
    }
    v.push(json!(format!("https://example.com/{}", "a".repeat(2030))));
    v.push(json!(format!("https://example.com/{}", "a".repeat(2040))));
    v
}

/// Every path to a value in `v` (as JSON pointer tokens).
fn paths(v: &Value, at: &mut Vec<String>, out: &mut Vec<Vec<String>>) {
    out.push(at.clone());
    match v {
        Value::Object(o) => {
            for (k, x) in o {
                at.push(k.clone());
                paths(x, at, out);
                at.pop();
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                at.push(i.to_string());
                paths(x, at, out);
                at.pop();
            }
        }
        _ => {}
    }
}

fn pointer(path: &[String]) -> String {
    path.iter()
        .map(|p| format!("/{}", p.replace('~', "~0").replace('/', "~1")))
        .collect()
}

#[test]
fn mutations_of_valid_events_agree() {
    let intake = intake();
    let mut events: Vec<Value> = Vec::new();
    for (_, bytes) in examples("valid") {
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Array(items)) => events.extend(items.into_iter().take(3)),
            Ok(one) => events.push(one),
            Err(e) => panic!("{e}"),
        }
    }
    let replacements = replacements();
    let (mut tried, mut fast) = (0usize, 0usize);
    for event in &events {
        let mut all = Vec::new();
        paths(event, &mut Vec::new(), &mut all);
        for path in all.iter().filter(|p| !p.is_empty()) {
            let ptr = pointer(path);
            for r in &replacements {
                let mut m = event.clone();
                if let Some(slot) = m.pointer_mut(&ptr) {
                    *slot = r.clone();
                }
                let bytes = serde_json::to_vec(&m).unwrap_or_default();
                tried += 1;
                fast += usize::from(agree(&intake, &bytes, &format!("{ptr} = {r}")));
                // The same event inside a batch, after a valid one.
                let batch = serde_json::to_vec(&json!([event, m])).unwrap_or_default();
                agree(&intake, &batch, &format!("[_, {ptr} = {r}]"));
            }
            // The member removed, and an unknown one beside it.
            if let Some((last, parent)) = path.split_last() {
                let mut m = event.clone();
                let parent_ptr = pointer(parent);
                if let Some(Value::Object(o)) = m.pointer_mut(&parent_ptr) {
                    o.shift_remove(last);
                }
                agree(
                    &intake,
                    &serde_json::to_vec(&m).unwrap_or_default(),
                    &format!("without {ptr}"),
                );
                let mut m = event.clone();
                if let Some(Value::Object(o)) = m.pointer_mut(&parent_ptr) {
                    o.insert("unexpected".into(), json!(1));
                }
                agree(
                    &intake,
                    &serde_json::to_vec(&m).unwrap_or_default(),
                    &format!("extra beside {ptr}"),
                );
            }
        }
    }
    eprintln!("{fast} of {tried} single-event mutations took the fast path");
    // The mutations are worth something only if many stay valid and take the fast path.
    assert!(tried > 5_000, "{tried} mutations");
    assert!(
        fast > 200,
        "only {fast} of {tried} mutations took the fast path"
    );
}

#[test]
fn spellings_of_the_same_text_agree() {
    let intake = intake();
    let base = r#"{"eventId":"e-1","type":"sensor.reading","occurredAt":"2026-11-27T10:15:00.500+00:00","source":"s","data":{"sensorId":"t","metric":"temp","value":21.5,"unit":"C"}}"#;
    let variants = [
        base.to_string(),
        // White space, escapes where none are needed, other key order.
        r#" { "source" : "\u0073", "type":"sensor.reading", "eventId":"e\u002d1",
             "occurredAt":"2026-11-27T10:15:00.500+00:00",
             "data":{"value":2.15e1,"metric":"temp","sensorId":"t","unit":"\u0043"} } "#
            .to_string(),
        base.replace("21.5", "215E-1"),
        base.replace("21.5", "-0"),
        base.replace("21.5", "123456789012345678901234567890"),
        base.replace("\"C\"", "\"\\u00e9\\n\\t\\\"\""),
        format!("[{base},{base}]"),
        format!("[{base}]"),
    ];
    for v in &variants {
        assert!(agree(&intake, v.as_bytes(), v), "not on the fast path: {v}");
    }
    // Same event, other spelling: the same hash.
    let hash = |t: &str| {
        intake
            .check_fast(t.as_bytes())
            .map(|e| e[0].content_hash.clone())
    };
    assert_eq!(hash(&variants[0]), hash(&variants[1]));
    assert_eq!(hash(&variants[0]), hash(&variants[2]));
}
