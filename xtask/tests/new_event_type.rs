//! "Adding a fourth event type is: add one schema file, register it in one place, rebuild."
//! This test does exactly that in a copy of the sources and checks every derived artifact
//! picks it up, without touching any hand-written Rust.

use serde_json::{Value, json};
use std::path::Path;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn a_fourth_event_type_is_one_file_and_one_registry_entry() {
    let root = xtask::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    copy_dir(&root.join("schema"), &tmp.path().join("schema"));
    std::fs::copy(root.join("openapi.yaml"), tmp.path().join("openapi.yaml")).unwrap();
    copy_dir(&root.join("released"), &tmp.path().join("released"));

    // 1. One schema file.
    let cart = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "https://eventpulse.dev/schemas/v1/events/cart.abandoned.json",
        "title": "CartAbandonedData",
        "type": "object",
        "additionalProperties": false,
        "required": ["cartId", "itemCount"],
        "properties": {
            "cartId": {"type": "string", "minLength": 1, "maxLength": 64},
            "itemCount": {"type": "integer", "minimum": 1}
        }
    });
    std::fs::write(
        tmp.path().join("schema/events/cart.abandoned.json"),
        serde_json::to_vec_pretty(&cart).unwrap(),
    )
    .unwrap();
    // 2. One registry entry.
    let envelope_path = tmp.path().join("schema/event.schema.json");
    let mut envelope: Value =
        serde_json::from_slice(&std::fs::read(&envelope_path).unwrap()).unwrap();
    envelope["$defs"]["EventType"]["enum"]
        .as_array_mut()
        .unwrap()
        .push(json!("cart.abandoned"));
    std::fs::write(
        &envelope_path,
        serde_json::to_vec_pretty(&envelope).unwrap(),
    )
    .unwrap();

    // 3. Rebuild.
    let artifacts = xtask::generate(tmp.path()).expect("codegen with a new type");
    let get = |p: &str| {
        &artifacts
            .iter()
            .find(|a| a.path == Path::new(p))
            .unwrap()
            .contents
    };

    let types = get("generated/src/types.rs");
    assert!(
        types.contains("pub struct CartAbandonedEvent"),
        "no typed variant"
    );
    assert!(
        types.contains("CartAbandonedEvent(CartAbandonedEvent)"),
        "not in the Event enum"
    );
    assert!(
        types.contains("#[serde(rename = \"cart.abandoned\")]"),
        "not in EventType"
    );
    let spec = get("openapi.yaml");
    assert!(
        spec.contains("cart.abandoned: '#/components/schemas/CartAbandonedEvent'"),
        "no discriminator mapping"
    );
    assert!(get("client/src/generated.rs").contains("eventpulse_generated::reader::EventType"));
    let reader = get("generated/src/reader.rs");
    assert!(
        reader.contains("CartAbandonedEvent(CartAbandonedEvent),\n    UnknownEvent(UnknownEvent),"),
        "the reader's Event enum lacks the new variant before its fallback"
    );
    // Compatible in both directions: nothing for the gate to report.
    let verdict = xtask::compat::check(tmp.path()).unwrap();
    let breaks: Vec<String> = verdict.breaks.iter().map(|b| b.to_string()).collect();
    assert!(
        breaks.is_empty() && verdict.problems.is_empty(),
        "{breaks:?}"
    );
    assert!(!verdict.unchanged);
    assert!(get("infra/api/apigateway.openapi.yaml").contains("CartAbandonedData"));

    // The published bundle validates the new type, field by field.
    let bundle: Value =
        serde_json::from_str(get("generated/schema/upload-object.bundle.json")).unwrap();
    let v = eventpulse_contract_rt::Validator::from_bundle(&bundle).unwrap();
    let event = |count: i64| {
        json!({"eventId": "c1", "type": "cart.abandoned", "occurredAt": "2026-11-27T10:00:00Z",
                                    "source": "shop", "data": {"cartId": "k", "itemCount": count}})
    };
    assert!(v.validate_value(&event(3)).is_ok());
    let errs = v.validate_value(&json!([event(3), event(0)])).unwrap_err();
    assert_eq!(errs.errors[0].pointer, "/1/data/itemCount");
    // The real sources are untouched.
    assert!(xtask::stale(&root, &xtask::generate(&root).unwrap()).is_empty());
}
