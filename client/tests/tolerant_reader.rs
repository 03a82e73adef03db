//! The client reads responses as a tolerant reader: what a later compatible version of the
//! API may add (an optional property anywhere, an event of a newly registered type) does not
//! stop a client generated today. The server's own types stay closed, as the contract is.

use eventpulse_client::types::{Event, EventPage, StoredEvent, UnknownEvent};
use serde_json::{Value, json};

fn stored(event: Value) -> Value {
    json!({
        "event": event,
        "receivedAt": "2026-12-02T03:00:00Z",
        "uploadId": "u-1",
        "processedBy": "a property added by a later version"
    })
}

fn order_with_extra_property() -> Value {
    json!({
        "eventId": "ord-1", "type": "order.placed", "occurredAt": "2026-11-27T10:15:00+01:00",
        "source": "shop", "channel": "web",
        "data": {"orderId": "1", "currency": "EUR", "amountMinor": 4599, "giftWrap": true,
                 "items": [{"sku": "TSHIRT-M", "quantity": 1, "colour": "red"}]}
    })
}

fn unregistered_type() -> Value {
    json!({
        "eventId": "ret-1", "type": "order.returned", "occurredAt": "2026-11-28T09:00:00Z",
        "source": "shop", "data": {"orderId": "1", "reason": "size"}
    })
}

#[test]
fn an_extra_property_is_ignored_and_the_known_variant_kept() {
    let s: StoredEvent = serde_json::from_value(stored(order_with_extra_property())).unwrap();
    match s.event {
        Event::OrderPlacedEvent(e) => {
            assert_eq!(e.event_id.as_str(), "ord-1");
            assert_eq!(e.data.amount_minor, 4599);
            assert_eq!(e.data.items[0].sku.as_str(), "TSHIRT-M");
        }
        other => panic!("read as {other:?}"),
    }
}

#[test]
fn an_event_of_an_unregistered_type_is_read_as_unknown() {
    let page: EventPage = serde_json::from_value(json!({
        "items": [stored(unregistered_type()), stored(order_with_extra_property())],
        "nextCursor": "c"
    }))
    .unwrap();
    assert_eq!(page.items.len(), 2);
    match &page.items[0].event {
        Event::UnknownEvent(UnknownEvent {
            type_,
            event_id,
            data,
            ..
        }) => {
            assert_eq!(type_, "order.returned");
            assert_eq!(event_id.as_str(), "ret-1");
            assert_eq!(data["reason"], "size");
        }
        other => panic!("read as {other:?}"),
    }
    assert!(matches!(page.items[1].event, Event::OrderPlacedEvent(_)));
}

#[test]
fn the_server_types_stay_closed() {
    use eventpulse_generated::types as server;
    // What the reader tolerates, the server's types (and so the published contract) refuse.
    for v in [
        stored(order_with_extra_property()),
        stored(unregistered_type()),
    ] {
        assert!(serde_json::from_value::<server::StoredEvent>(v).is_err());
    }
    let mut plain = stored(order_with_extra_property());
    plain.as_object_mut().unwrap().remove("processedBy");
    let e = plain["event"].as_object_mut().unwrap();
    e.remove("channel");
    let d = e["data"].as_object_mut().unwrap();
    d.remove("giftWrap");
    d["items"][0].as_object_mut().unwrap().remove("colour");
    serde_json::from_value::<server::StoredEvent>(plain).unwrap();
}
