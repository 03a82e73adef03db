//! The tolerant-reader view of the component schemas: what a client reads responses with.
//!
//! The schemas in `schema/` are closed (`additionalProperties: false`, which typify turns into
//! `deny_unknown_fields`): right for validating uploads and requests, wrong for reading
//! responses, since a client built from one version would then refuse a response of the next
//! compatible one that carries a new optional property or an event of a new type. So the
//! reader view differs in exactly two ways:
//!
//! - no schema is closed: unknown properties are ignored;
//! - the event union gets a last variant, `UnknownEvent` (the envelope with `type` any
//!   string and `data` any object), which an event of a type the client does not know falls
//!   back to.
//!
//! The compatibility gate's FORWARD rules ([`crate::compat`]) assume exactly this reader.

use anyhow::{Context, Result};
use serde_json::{Map, Value, json};

/// The fallback variant of the event union in the reader view.
pub const UNKNOWN_EVENT: &str = "UnknownEvent";
/// The event union and the envelope it is made from.
const EVENT: &str = "Event";
const ENVELOPE: &str = "EventEnvelope";

fn open(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if o.get("additionalProperties") == Some(&Value::Bool(false)) {
                o.shift_remove("additionalProperties");
            }
            o.values_mut().for_each(open);
        }
        Value::Array(a) => a.iter_mut().for_each(open),
        _ => {}
    }
}

/// The reader view of `components` (the `components/schemas` of `openapi.yaml`).
pub fn view(components: &Map<String, Value>) -> Result<Map<String, Value>> {
    let mut out = components.clone();
    out.values_mut().for_each(open);
    let mut unknown = out
        .get(ENVELOPE)
        .cloned()
        .with_context(|| format!("components/schemas has no `{ENVELOPE}`"))?;
    let o = unknown
        .as_object_mut()
        .with_context(|| format!("`{ENVELOPE}` must be an object schema"))?;
    o.insert("title".into(), json!(UNKNOWN_EVENT));
    o.insert(
        "description".into(),
        json!("An event of a type this client does not know (registered after it was generated): the envelope, with `type` and `data` as sent."),
    );
    let props = o
        .get_mut("properties")
        .and_then(Value::as_object_mut)
        .with_context(|| format!("`{ENVELOPE}` needs `properties`"))?;
    props.insert("type".into(), json!({ "type": "string" }));
    props.insert("data".into(), json!({ "type": "object" }));
    out.insert(UNKNOWN_EVENT.into(), unknown);

    let event = out
        .get_mut(EVENT)
        .and_then(Value::as_object_mut)
        .with_context(|| format!("components/schemas has no `{EVENT}` union"))?;
    // The discriminator maps known types only; the fallback is tried last.
    event.shift_remove("discriminator");
    event
        .get_mut("oneOf")
        .and_then(Value::as_array_mut)
        .with_context(|| format!("`{EVENT}` must be a oneOf"))?
        .push(json!({ "$ref": format!("#/components/schemas/{UNKNOWN_EVENT}") }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn opens_every_schema_and_adds_the_fallback() {
        let c: Map<String, Value> = serde_json::from_value(json!({
            "EventEnvelope": {"type": "object", "additionalProperties": false,
                "properties": {"type": {"$ref": "#/components/schemas/EventType"}, "data": {"type": "object"}}},
            "AEvent": {"type": "object", "additionalProperties": false,
                "properties": {"x": {"type": "object", "additionalProperties": false}}},
            "Event": {"oneOf": [{"$ref": "#/components/schemas/AEvent"}],
                "discriminator": {"propertyName": "type"}},
            "Map": {"type": "object", "additionalProperties": {"type": "string"}}
        }))
        .unwrap();
        let v = view(&c).unwrap();
        assert!(
            !serde_json::to_string(&v)
                .unwrap()
                .contains("\"additionalProperties\":false")
        );
        assert_eq!(v["Map"]["additionalProperties"], json!({"type": "string"}));
        assert_eq!(
            v["Event"]["oneOf"][1],
            json!({"$ref": "#/components/schemas/UnknownEvent"})
        );
        assert!(v["Event"].get("discriminator").is_none());
        assert_eq!(
            v["UnknownEvent"]["properties"]["type"],
            json!({"type": "string"})
        );
    }
}
