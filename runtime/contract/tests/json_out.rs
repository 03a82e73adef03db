//! The response writer on the generated response types. An integration test, not a unit
//! test: here the generated crate and this test share one copy of the runtime (a unit test's
//! copy is another crate to the generated code, with its own "writer active" flag).

use eventpulse_contract_rt::json_out::to_vec;
use eventpulse_generated::types::{EventPage, Problem};
use serde_json::json;

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
