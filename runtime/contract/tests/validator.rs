//! The upload validator on the published bundle: dispatch by `type`, error pointers, caps,
//! formats and strict parsing.

use eventpulse_contract_rt::json::ParseError;
use eventpulse_contract_rt::validate::*;
use serde_json::Value;
use serde_json::json;

fn v() -> Validator {
    Validator::new(eventpulse_generated::UPLOAD_OBJECT_SCHEMA).expect("bundle compiles")
}

fn order(currency: &str) -> Value {
    json!({"eventId": "o-1", "type": "order.placed", "occurredAt": "2026-11-27T10:00:00Z",
           "source": "shop", "data": {"orderId": "A1", "currency": currency, "amountMinor": 100,
           "items": [{"sku": "X", "quantity": 1}]}})
}

#[test]
fn knows_the_registered_types() {
    assert_eq!(
        v().event_types().collect::<Vec<_>>(),
        ["order.placed", "page.view", "sensor.reading"]
    );
}

#[test]
fn valid_single_event_and_batch() {
    assert!(v().validate_value(&order("EUR")).is_ok());
    assert!(
        v().validate_value(&json!([order("EUR"), order("USD")]))
            .is_ok()
    );
}

#[test]
fn errors_point_at_the_field_inside_the_batch() {
    let errs = v()
        .validate_value(&json!([order("EUR"), order("eur")]))
        .unwrap_err();
    assert_eq!(errs.total, 1);
    let e = &errs.errors[0];
    assert_eq!(
        (e.index, e.pointer.as_str(), e.keyword.as_str()),
        (Some(1), "/1/data/currency", "pattern")
    );
    assert_eq!(e.event_id.as_deref(), Some("o-1"));
}

#[test]
fn unknown_type_is_reported_on_type() {
    let mut e = order("EUR");
    e["type"] = json!("order.cancelled");
    let errs = v().validate_value(&e).unwrap_err();
    assert!(
        errs.errors
            .iter()
            .any(|e| e.pointer == "/type" && e.keyword == "enum"),
        "{errs:?}"
    );
}

#[test]
fn formats_are_asserted() {
    let mut e = order("EUR");
    e["occurredAt"] = json!("2026-02-30T10:00:00Z");
    let errs = v().validate_value(&e).unwrap_err();
    assert!(
        errs.errors.iter().any(|e| e.pointer == "/occurredAt"),
        "{errs:?}"
    );
}

#[test]
fn all_errors_are_counted_but_the_list_is_capped() {
    let batch: Vec<Value> = (0..50).map(|_| order("x")).collect();
    let errs = v()
        .with_max_errors(10)
        .validate_value(&json!(batch))
        .unwrap_err();
    assert_eq!(
        (errs.errors.len(), errs.total, errs.event_count),
        (10, 50, 50)
    );
    assert!(errs.truncated());
}

#[test]
fn too_many_events_is_one_error_on_the_root() {
    let batch: Vec<Value> = (0..1001).map(|_| json!({})).collect();
    let errs = v().validate_value(&json!(batch)).unwrap_err();
    assert_eq!(errs.total, 1);
    assert_eq!(
        (
            errs.errors[0].pointer.as_str(),
            errs.errors[0].keyword.as_str()
        ),
        ("", "maxItems")
    );
    assert!(v().validate_value(&json!([])).unwrap_err().errors[0].keyword == "minItems");
}

#[test]
fn messages_quoting_huge_values_are_bounded() {
    let mut e = order("EUR");
    e["eventId"] = json!("\"".repeat(100_000));
    let errs = v().validate_value(&e).unwrap_err();
    assert!(
        errs.errors
            .iter()
            .all(|x| x.message.chars().count() <= MAX_MESSAGE_CHARS + 20),
        "{:?}",
        errs.errors
            .iter()
            .map(|x| x.message.len())
            .collect::<Vec<_>>()
    );
}

#[test]
fn non_object_roots_are_refused() {
    for doc in [json!(1), json!("x"), json!(null), json!([1])] {
        assert!(v().validate_value(&doc).is_err(), "{doc}");
    }
}

#[test]
fn bytes_are_parsed_strictly() {
    assert!(matches!(
        v().validate_bytes(b"{\"a\":1,\"a\":1}"),
        Err(Rejection::Parse(ParseError::DuplicateKey { .. }))
    ));
    assert!(matches!(
        v().with_max_bytes(4).validate_bytes(b"{   }"),
        Err(Rejection::Parse(ParseError::TooLarge { .. }))
    ));
}
