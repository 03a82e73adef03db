//! The response writer against serde_json, byte for byte, on the generated response types
//! and on every serde data model shape. An integration test, not a unit
//! test: here the generated crate and this test share one copy of the runtime (a unit test's
//! copy is another crate to the generated code, with its own "writer active" flag).

use eventpulse_contract_rt::json_out::to_vec;
use eventpulse_generated::types::{EventPage, Problem};
use serde::Serialize;
use serde_json::json;
use std::collections::BTreeMap;

fn same_as_serde_json<T: serde::Serialize>(value: &T) {
    let ours = to_vec(value).expect("ours");
    let theirs = serde_json::to_vec(value).expect("serde_json");
    assert_eq!(
        String::from_utf8_lossy(&ours),
        String::from_utf8_lossy(&theirs)
    );
}

#[test]
fn writes_a_page_as_serde_json_would_with_the_stored_text() {
    let page: EventPage = serde_json::from_value(json!({
        "items": [{
            "event": {"type": "page.view", "eventId": "e1", "x": [1.0, "\u{7}"]},
            "receivedAt": "2026-12-07T21:00:00.123456789Z",
            "uploadId": "0193a5f2-7c1e-7d3a-9b4e-123456789abc",
        }],
        "nextCursor": "abc",
    }))
    .expect("a page");
    same_as_serde_json(&page);
    let problem: Problem = serde_json::from_value(json!({
        "type": "https://eventpulse.dev/problems/validation", "title": "Invalid",
        "status": 400, "detail": "limit: \"x\" is not an integer",
        "errors": [{"pointer": "/query/limit", "message": "m", "keyword": "type"}],
    }))
    .expect("a problem");
    same_as_serde_json(&problem);
}

/// Bytes serialised as bytes (`serialize_bytes`), not as a sequence of `u8`.
struct Bytes<'a>(&'a [u8]);
impl Serialize for Bytes<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_bytes(self.0)
    }
}

fn serde_bytes_like(b: &[u8]) -> Bytes<'_> {
    Bytes(b)
}

#[test]
fn writes_what_serde_json_writes() {
    let every_control: String = (0u8..0x20).map(char::from).collect();
    same_as_serde_json(&json!({
        "s": format!("{every_control}\"\\/\u{7f}é😀 end"),
        "n": [0, -1, i64::MIN, u64::MAX, 1.5, -0.0, 1e300, 2.5e-8, 0.1],
        "nested": {"a": [[], {}, [null, true, false]], "": ""},
        "keys in order": {"b": 1, "a": 2},
    }));
    same_as_serde_json(&f64::NAN);
    same_as_serde_json(&Some(f32::INFINITY));
    same_as_serde_json(&'\u{1}');
    same_as_serde_json(&serde_bytes_like(&[b'a', 0, 255]));
    let mut ints = BTreeMap::new();
    ints.insert(-3i64, "x");
    ints.insert(7, "y");
    same_as_serde_json(&ints);
    same_as_serde_json(&chrono::DateTime::<chrono::Utc>::MIN_UTC);

    #[derive(Serialize)]
    enum E {
        Unit,
        New(u8),
        Tuple(u8, &'static str),
        Struct { a: Option<u8> },
    }
    same_as_serde_json(&[E::Unit, E::New(1), E::Tuple(2, "t"), E::Struct { a: None }]);
    #[derive(Serialize)]
    struct Unit;
    #[derive(Serialize)]
    struct Pair(u8, u8);
    same_as_serde_json(&(Unit, Pair(1, 2), (), "t"));
}
