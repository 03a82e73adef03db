//! The compatibility gate: golden cases for every breaking and every additive rule (a schema
//! or spec pair and its expected verdict), the gate on the real sources, and `release`.

use serde_json::{Value, json};
use xtask::compat::{Position, openapi_breaks, schema_breaks};

/// Asserts the verdict: no break for `expect == []`, else exactly one break per expected
/// `(pointer, reason)`, in order, each line `DIRECTION at: why` containing both.
fn verdict(case: &str, lines: Vec<String>, direction: &str, expect: &[(&str, &str)]) {
    assert_eq!(
        lines.len(),
        expect.len(),
        "{case}: expected {expect:?}, got:\n{}",
        lines.join("\n")
    );
    for (line, (at, why)) in lines.iter().zip(expect) {
        assert!(
            line.starts_with(&format!("{direction} {at}: ")) && line.contains(why),
            "{case}: expected `{direction} {at}: …{why}…`, got `{line}`"
        );
    }
}

fn schema_case(case: &str, pos: Position, old: Value, new: Value, expect: &[(&str, &str)]) {
    let lines = schema_breaks(&old, &new, pos)
        .iter()
        .map(|b| b.to_string())
        .collect();
    verdict(case, lines, pos.direction(), expect);
}

fn closed(props: Value, required: &[&str]) -> Value {
    json!({"type": "object", "additionalProperties": false, "required": required, "properties": props})
}

/// An event union in the shape the bundler writes: one variant per type in `$defs`.
fn union(types: &[&str]) -> Value {
    let mut defs = serde_json::Map::new();
    let mut variants = Vec::new();
    for t in types {
        let name = format!("{}Event", t.replace('.', "_"));
        defs.insert(
            name.clone(),
            closed(json!({"type": {"type": "string", "enum": [t]}}), &["type"]),
        );
        variants.push(json!({"$ref": format!("#/$defs/{name}")}));
    }
    json!({"oneOf": variants, "$defs": defs})
}

#[test]
fn backward_breaking_rules() {
    use Position::Accept as A;
    let base = || {
        closed(
            json!({"a": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10, "minLength": 1},
                   "n": {"type": "integer", "minimum": 0, "maximum": 100},
                   "kind": {"type": "string", "enum": ["x", "y"]},
                   "list": {"type": "array", "maxItems": 5, "items": {"type": "string"}}}),
            &["a"],
        )
    };
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base();
        f(&mut v);
        v
    };
    schema_case(
        "a new required property",
        A,
        base(),
        with(&|v| {
            v["properties"]["b"] = json!({"type": "string"});
            v["required"] = json!(["a", "b"]);
        }),
        &[("current#/properties/b", "new required property `b`")],
    );
    schema_case(
        "an optional property made required",
        A,
        base(),
        with(&|v| v["required"] = json!(["a", "n"])),
        &[("current#/properties/n", "new required property `n`")],
    );
    schema_case(
        "a property removed from a closed schema",
        A,
        base(),
        with(&|v| {
            v["properties"].as_object_mut().unwrap().remove("n");
        }),
        &[(
            "released#/properties/n",
            "removed while `additionalProperties` is false",
        )],
    );
    schema_case(
        "an enum narrowed",
        A,
        base(),
        with(&|v| v["properties"]["kind"]["enum"] = json!(["x"])),
        &[("current#/properties/kind", "`enum` value \"y\" removed")],
    );
    schema_case(
        "a pattern changed (undecidable: breaking)",
        A,
        base(),
        with(&|v| v["properties"]["a"]["pattern"] = json!("^[a-z0-9]+$")),
        &[(
            "current#/properties/a",
            "`pattern` changed from \"^[a-z]+$\" to \"^[a-z0-9]+$\": whether every value accepted before still is cannot be decided",
        )],
    );
    schema_case(
        "a pattern added",
        A,
        base(),
        with(&|v| v["properties"]["kind"]["pattern"] = json!("^x$")),
        &[("current#/properties/kind", "`pattern` \"^x$\" added")],
    );
    schema_case(
        "a format added",
        A,
        base(),
        with(&|v| v["properties"]["a"]["format"] = json!("email")),
        &[("current#/properties/a", "`format` \"email\" added")],
    );
    schema_case(
        "minimum raised, maximum lowered",
        A,
        base(),
        with(&|v| {
            v["properties"]["n"]["minimum"] = json!(1);
            v["properties"]["n"]["maximum"] = json!(99);
        }),
        &[
            ("current#/properties/n", "`minimum` changed from 0 to 1"),
            ("current#/properties/n", "`maximum` changed from 100 to 99"),
        ],
    );
    schema_case(
        "maxLength lowered, minLength raised",
        A,
        base(),
        with(&|v| {
            v["properties"]["a"]["maxLength"] = json!(9);
            v["properties"]["a"]["minLength"] = json!(2);
        }),
        &[
            ("current#/properties/a", "`minLength` changed from 1 to 2"),
            ("current#/properties/a", "`maxLength` changed from 10 to 9"),
        ],
    );
    schema_case(
        "maxItems lowered",
        A,
        base(),
        with(&|v| v["properties"]["list"]["maxItems"] = json!(4)),
        &[("current#/properties/list", "`maxItems` changed from 5 to 4")],
    );
    schema_case(
        "a bound added",
        A,
        base(),
        with(&|v| v["properties"]["kind"]["maxLength"] = json!(1)),
        &[("current#/properties/kind", "`maxLength` 1 added")],
    );
    schema_case(
        "items narrowed",
        A,
        base(),
        with(&|v| v["properties"]["list"]["items"]["maxLength"] = json!(3)),
        &[("current#/properties/list/items", "`maxLength` 3 added")],
    );
    schema_case(
        "a changed type",
        A,
        base(),
        with(&|v| v["properties"]["a"] = json!({"type": "integer"})),
        &[(
            "current#/properties/a",
            "`type` changed from string to integer",
        )],
    );
    schema_case(
        "number narrowed to integer",
        A,
        json!({"type": "number"}),
        json!({"type": "integer"}),
        &[("current#", "`type` changed from number to integer")],
    );
    schema_case(
        "a schema closed",
        A,
        json!({"type": "object", "properties": {"a": {"type": "string"}}}),
        json!({"type": "object", "additionalProperties": false, "properties": {"a": {"type": "string"}}}),
        &[("current#", "`additionalProperties: false` added")],
    );
    schema_case(
        "a removed event type",
        A,
        union(&["a.b", "c.d"]),
        union(&["a.b"]),
        &[("released#/oneOf/1", "event type `c.d` removed")],
    );
    schema_case(
        "a narrowed event variant, through $refs",
        A,
        union(&["a.b"]),
        {
            let mut u = union(&["a.b"]);
            u["$defs"]["a_bEvent"]["properties"]["x"] = json!({"type": "string"});
            u["$defs"]["a_bEvent"]["required"] = json!(["type", "x"]);
            u
        },
        &[(
            "current#/$defs/a_bEvent/properties/x",
            "new required property `x`",
        )],
    );
}

#[test]
fn backward_additive_rules() {
    use Position::Accept as A;
    let base = closed(
        json!({"a": {"type": "string", "pattern": "^[a-z]+$", "maxLength": 10},
               "n": {"type": "integer", "minimum": 0, "maximum": 100},
               "kind": {"type": "string", "enum": ["x"]}}),
        &["a", "n"],
    );
    let cases: Vec<(&str, Value, Value)> = vec![
        ("unchanged", base.clone(), base.clone()),
        ("a new optional property", base.clone(), {
            let mut v = base.clone();
            v["properties"]["b"] = json!({"type": "string", "maxLength": 3});
            v
        }),
        ("a required property made optional", base.clone(), {
            let mut v = base.clone();
            v["required"] = json!(["a"]);
            v
        }),
        ("wider constraints", base.clone(), {
            let mut v = base.clone();
            v["properties"]["n"] = json!({"type": "number", "minimum": -1});
            v["properties"]["a"] = json!({"type": "string", "maxLength": 11});
            v["properties"]["kind"]["enum"] = json!(["x", "y"]);
            v
        }),
        ("a schema opened", base.clone(), {
            let mut v = base.clone();
            v.as_object_mut().unwrap().remove("additionalProperties");
            v
        }),
        ("a new event type", union(&["a.b"]), union(&["a.b", "c.d"])),
    ];
    for (case, old, new) in cases {
        schema_case(case, A, old, new, &[]);
    }
}

#[test]
fn forward_rules_for_response_schemas() {
    use Position::Read as R;
    let base = closed(
        json!({"id": {"type": "string", "maxLength": 10},
               "state": {"type": "string", "enum": ["a", "b"]},
               "count": {"type": "integer", "minimum": 0}}),
        &["id", "state"],
    );
    let with = |f: &dyn Fn(&mut Value)| {
        let mut v = base.clone();
        f(&mut v);
        v
    };
    schema_case(
        "a removed response property",
        R,
        base.clone(),
        with(&|v| {
            v["properties"].as_object_mut().unwrap().remove("count");
        }),
        &[(
            "released#/properties/count",
            "response property `count` removed",
        )],
    );
    schema_case(
        "a property no longer required",
        R,
        base.clone(),
        with(&|v| v["required"] = json!(["id"])),
        &[("current#/properties/state", "`state` is no longer required")],
    );
    schema_case(
        "a new enum value in a response",
        R,
        base.clone(),
        with(&|v| v["properties"]["state"]["enum"] = json!(["a", "b", "c"])),
        &[("current#/properties/state", "`enum` value \"c\" added")],
    );
    schema_case(
        "a wider response bound",
        R,
        base.clone(),
        with(&|v| v["properties"]["id"]["maxLength"] = json!(11)),
        &[(
            "current#/properties/id",
            "`maxLength` changed from 10 to 11",
        )],
    );
    schema_case(
        "a changed response type",
        R,
        base.clone(),
        with(&|v| v["properties"]["count"]["type"] = json!("string")),
        &[(
            "current#/properties/count",
            "`type` changed from integer to string",
        )],
    );
    schema_case(
        "a new variant of a union readers do not tolerate",
        R,
        union(&["a.b"]),
        union(&["a.b", "c.d"]),
        &[("current#/oneOf/1", "new variant `c_dEvent` of `oneOf`")],
    );
    // Additive for readers: tolerant readers ignore new properties; narrower is fine.
    for (case, new) in [
        (
            "a new optional response property",
            with(&|v| v["properties"]["extra"] = json!({"type": "string"})),
        ),
        (
            "a new required response property",
            with(&|v| {
                v["properties"]["extra"] = json!({"type": "string"});
                v["required"] = json!(["id", "state", "extra"]);
            }),
        ),
        (
            "narrower response constraints",
            with(&|v| {
                v["properties"]["state"]["enum"] = json!(["a"]);
                v["properties"]["id"]["maxLength"] = json!(5);
            }),
        ),
    ] {
        schema_case(case, R, base.clone(), new, &[]);
    }
}

/// A small spec: one operation with a query parameter, a body and a response holding events.
fn spec(f: impl FnOnce(&mut Value)) -> Value {
    let mut s = json!({
        "openapi": "3.0.3",
        "info": {"title": "t", "version": "1.0.0"},
        "paths": {
            "/v1/things": {
                "post": {
                    "operationId": "create_thing",
                    "parameters": [
                        {"name": "limit", "in": "query", "required": false,
                         "schema": {"type": "integer", "minimum": 1, "maximum": 100}},
                        {"$ref": "#/components/parameters/Tag"}
                    ],
                    "requestBody": {"required": false, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/ThingRequest"}}}},
                    "responses": {
                        "201": {"description": "ok", "content": {"application/json": {
                            "schema": {"$ref": "#/components/schemas/Thing"}}}},
                        "409": {"$ref": "#/components/responses/Conflict"}
                    }
                }
            }
        },
        "components": {
            "parameters": {"Tag": {"name": "tag", "in": "query", "schema": {"type": "string"}}},
            "responses": {"Conflict": {"description": "c", "content": {"application/problem+json": {
                "schema": {"type": "object", "properties": {"title": {"type": "string"}}}}}}},
            "schemas": {
                "ThingRequest": closed(json!({"name": {"type": "string", "maxLength": 64}}), &[]),
                "Thing": closed(json!({"id": {"type": "string"}, "events": {"type": "array",
                    "items": {"$ref": "#/components/schemas/Event"}}}), &["id", "events"]),
                "Event": {"oneOf": [{"$ref": "#/components/schemas/ABEvent"}]},
                "ABEvent": closed(json!({"type": {"type": "string", "enum": ["a.b"]},
                    "n": {"type": "integer"}}), &["type"])
            }
        }
    });
    f(&mut s);
    s
}

fn spec_case(case: &str, new: Value, expect: &[(&str, &str, &str)]) {
    let old = spec(|_| {});
    let breaks = openapi_breaks(&old, "v1.yaml", &new, "openapi.yaml");
    let lines: Vec<String> = breaks.iter().map(|b| b.to_string()).collect();
    assert_eq!(
        lines.len(),
        expect.len(),
        "{case}: expected {expect:?}, got:\n{}",
        lines.join("\n")
    );
    for (line, (direction, at, why)) in lines.iter().zip(expect) {
        assert!(
            line.starts_with(&format!("{direction} {at}: ")) && line.contains(why),
            "{case}: expected `{direction} {at}: …{why}…`, got `{line}`"
        );
    }
}

const OP: &str = "/paths/~1v1~1things/post";

#[test]
fn api_breaking_rules() {
    spec_case(
        "a removed operation",
        spec(|s| {
            s["paths"]["/v1/things"]
                .as_object_mut()
                .unwrap()
                .remove("post");
        }),
        &[(
            "FORWARD",
            "v1.yaml#/paths/~1v1~1things/post",
            "operation `create_thing` (POST /v1/things) removed",
        )],
    );
    spec_case(
        "a renamed operation",
        spec(|s| s["paths"]["/v1/things"]["post"]["operationId"] = json!("make_thing")),
        &[(
            "FORWARD",
            &format!("openapi.yaml#{OP}/operationId"),
            "renamed to `make_thing`",
        )],
    );
    spec_case(
        "a removed parameter",
        spec(|s| {
            s["paths"]["/v1/things"]["post"]["parameters"]
                .as_array_mut()
                .unwrap()
                .remove(0);
        }),
        &[(
            "BACKWARD",
            &format!("v1.yaml#{OP}/parameters/0"),
            "parameter `query:limit` removed",
        )],
    );
    spec_case(
        "a renamed parameter (through its $ref)",
        spec(|s| s["components"]["parameters"]["Tag"]["name"] = json!("label")),
        &[(
            "BACKWARD",
            "v1.yaml#/components/parameters/Tag",
            "parameter `query:tag` removed",
        )],
    );
    spec_case(
        "a new required parameter",
        spec(|s| {
            s["paths"]["/v1/things"]["post"]["parameters"]
                .as_array_mut()
                .unwrap()
                .push(json!({"name": "x", "in": "header", "required": true, "schema": {"type": "string"}}));
        }),
        &[(
            "BACKWARD",
            &format!("openapi.yaml#{OP}/parameters/2"),
            "new required parameter `header:x`",
        )],
    );
    spec_case(
        "a parameter made required",
        spec(|s| s["paths"]["/v1/things"]["post"]["parameters"][0]["required"] = json!(true)),
        &[(
            "BACKWARD",
            &format!("openapi.yaml#{OP}/parameters/0"),
            "parameter `query:limit` became required",
        )],
    );
    spec_case(
        "a narrowed parameter",
        spec(|s| {
            s["paths"]["/v1/things"]["post"]["parameters"][0]["schema"]["maximum"] = json!(50)
        }),
        &[(
            "BACKWARD",
            &format!("openapi.yaml#{OP}/parameters/0/schema"),
            "`maximum` changed from 100 to 50",
        )],
    );
    spec_case(
        "a new required body property",
        spec(|s| {
            let r = &mut s["components"]["schemas"]["ThingRequest"];
            r["properties"]["owner"] = json!({"type": "string"});
            r["required"] = json!(["owner"]);
        }),
        &[(
            "BACKWARD",
            "openapi.yaml#/components/schemas/ThingRequest/properties/owner",
            "new required property `owner`",
        )],
    );
    spec_case(
        "a narrowed request body",
        spec(|s| {
            s["components"]["schemas"]["ThingRequest"]["properties"]["name"]["maxLength"] =
                json!(32)
        }),
        &[(
            "BACKWARD",
            "openapi.yaml#/components/schemas/ThingRequest/properties/name",
            "`maxLength` changed from 64 to 32",
        )],
    );
    spec_case(
        "a request body made required",
        spec(|s| s["paths"]["/v1/things"]["post"]["requestBody"]["required"] = json!(true)),
        &[(
            "BACKWARD",
            &format!("openapi.yaml#{OP}/requestBody"),
            "the request body became required",
        )],
    );
    spec_case(
        "a removed response status",
        spec(|s| {
            s["paths"]["/v1/things"]["post"]["responses"]
                .as_object_mut()
                .unwrap()
                .remove("409");
        }),
        &[(
            "FORWARD",
            &format!("v1.yaml#{OP}/responses/409"),
            "response status 409 removed",
        )],
    );
    spec_case(
        "a removed response property",
        spec(|s| {
            s["components"]["schemas"]["ABEvent"]["properties"]
                .as_object_mut()
                .unwrap()
                .remove("n");
        }),
        &[(
            "FORWARD",
            "v1.yaml#/components/schemas/ABEvent/properties/n",
            "response property `n` removed",
        )],
    );
    spec_case(
        "a response property of a shared $ref'd response removed",
        spec(|s| {
            s["components"]["responses"]["Conflict"]["content"]["application/problem+json"]["schema"]["properties"]
                .as_object_mut().unwrap().remove("title");
        }),
        &[(
            "FORWARD",
            "v1.yaml#/components/responses/Conflict/content/application~1problem+json/schema/properties/title",
            "response property `title` removed",
        )],
    );
}

#[test]
fn api_additive_rules() {
    let cases = [
        ("unchanged", spec(|_| {})),
        (
            "a new operation",
            spec(|s| {
                s["paths"]["/v1/other"] = json!({"get": {"operationId": "get_other",
                    "responses": {"200": {"description": "ok"}}}});
            }),
        ),
        (
            "a new optional parameter",
            spec(|s| {
                s["paths"]["/v1/things"]["post"]["parameters"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"name": "y", "in": "query", "schema": {"type": "string"}}));
            }),
        ),
        (
            "a new optional body property, a wider request constraint",
            spec(|s| {
                let r = &mut s["components"]["schemas"]["ThingRequest"];
                r["properties"]["note"] = json!({"type": "string"});
                r["properties"]["name"]["maxLength"] = json!(128);
            }),
        ),
        (
            "a new response status",
            spec(|s| {
                s["paths"]["/v1/things"]["post"]["responses"]["429"] =
                    json!({"description": "slow down"});
            }),
        ),
        (
            "a new optional event property, a new event type (tolerant readers)",
            spec(|s| {
                let c = &mut s["components"]["schemas"];
                c["ABEvent"]["properties"]["extra"] = json!({"type": "string"});
                c["CDEvent"] = closed(
                    json!({"type": {"type": "string", "enum": ["c.d"]}}),
                    &["type"],
                );
                c["Event"]["oneOf"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"$ref": "#/components/schemas/CDEvent"}));
            }),
        ),
    ];
    for (case, new) in cases {
        spec_case(case, new, &[]);
    }
}

#[test]
fn a_text_body_described_as_its_parsed_document_is_still_text() {
    let with_doc = |media: &str, schema: Value| {
        spec(|s| {
            s["paths"]["/v1/doc"] = json!({"get": {"operationId": "get_doc", "responses": {
                "200": {"description": "ok", "content": {media: {"schema": schema}}}}}});
        })
    };
    let old = with_doc("application/yaml", json!({"type": "string"}));
    let object = json!({"type": "object", "additionalProperties": true});
    let breaks = openapi_breaks(
        &old,
        "v1.yaml",
        &with_doc("application/yaml", object.clone()),
        "openapi.yaml",
    );
    assert!(breaks.is_empty(), "{breaks:?}");
    // JSON bodies are compared as ever, and so are non-JSON ones that were not plain text.
    let old = with_doc("application/json", json!({"type": "string"}));
    let breaks = openapi_breaks(
        &old,
        "v1.yaml",
        &with_doc("application/json", object.clone()),
        "openapi.yaml",
    );
    assert_eq!(breaks.len(), 1, "{breaks:?}");
    let old = with_doc(
        "application/octet-stream",
        json!({"type": "string", "format": "binary"}),
    );
    let breaks = openapi_breaks(
        &old,
        "v1.yaml",
        &with_doc("application/octet-stream", object),
        "openapi.yaml",
    );
    assert!(!breaks.is_empty(), "{breaks:?}");
}

#[test]
fn the_real_sources_pass_the_gate() {
    let root = xtask::workspace_root();
    let v = xtask::compat::check(&root).expect("the gate runs");
    let lines: Vec<String> = v.breaks.iter().map(|b| b.to_string()).collect();
    assert!(v.released.is_some(), "nothing under released/");
    assert!(v.problems.is_empty(), "{:?}", v.problems);
    assert!(lines.is_empty(), "{}", lines.join("\n"));
}

#[test]
fn every_released_schema_is_served_and_names_its_version() {
    let root = xtask::workspace_root();
    let versions = xtask::compat::released_versions(&root).unwrap();
    let served: Vec<u64> = eventpulse_generated::RELEASED_SCHEMAS
        .iter()
        .map(|(n, _)| *n)
        .collect();
    assert_eq!(versions, served);
    for (n, text) in eventpulse_generated::RELEASED_SCHEMAS {
        let bundle: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            bundle["$id"],
            format!("https://eventpulse.dev/schemas/v{n}/upload-object.bundle.json")
        );
        let spec: Value = serde_yaml::from_str(
            &std::fs::read_to_string(root.join(format!("released/openapi.v{n}.yaml"))).unwrap(),
        )
        .unwrap();
        let version = spec["info"]["version"].as_str().unwrap();
        assert!(version.starts_with(&format!("{n}.")), "{version}");
    }
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let path = entry.unwrap().path();
        let dest = to.join(path.file_name().unwrap());
        if path.is_dir() {
            copy_dir(&path, &dest);
        } else {
            std::fs::copy(&path, &dest).unwrap();
        }
    }
}

fn edit_json(path: &std::path::Path, f: impl FnOnce(&mut Value)) {
    let mut v: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    f(&mut v);
    std::fs::write(path, serde_json::to_string_pretty(&v).unwrap()).unwrap();
}

/// `release` on a copy of the sources: a break is refused without `--major`, a major release
/// keeps the old version published, a minor release freezes additive changes so that taking
/// them back is caught.
#[test]
fn release_freezes_majors_and_minors() {
    let real = xtask::workspace_root();
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    copy_dir(&real.join("schema"), &root.join("schema"));
    copy_dir(&real.join("released"), &root.join("released"));
    std::fs::copy(real.join("openapi.yaml"), root.join("openapi.yaml")).unwrap();
    let v1_bundle = std::fs::read(root.join("released/upload-object.v1.bundle.json")).unwrap();
    let v1_spec = std::fs::read(root.join("released/openapi.v1.yaml")).unwrap();

    // A removed event type: breaking.
    edit_json(&root.join("schema/event.schema.json"), |v| {
        v["$defs"]["EventType"]["enum"] = json!(["page.view", "order.placed"]);
    });
    std::fs::remove_file(root.join("schema/events/sensor.reading.json")).unwrap();
    let err = format!("{:#}", xtask::release::release(root, false).unwrap_err());
    assert!(err.contains("event type `sensor.reading` removed"), "{err}");
    assert!(err.contains("release --major"), "{err}");
    assert!(!root.join("released/openapi.v2.yaml").exists());

    let done = xtask::release::release(root, true).unwrap();
    assert!(done.contains("major version 2"), "{done}");
    assert_eq!(xtask::compat::released_versions(root).unwrap(), vec![1, 2]);
    assert_eq!(
        std::fs::read(root.join("released/upload-object.v1.bundle.json")).unwrap(),
        v1_bundle
    );
    assert_eq!(
        std::fs::read(root.join("released/openapi.v1.yaml")).unwrap(),
        v1_spec
    );
    let v2: Value = serde_json::from_str(
        &std::fs::read_to_string(root.join("released/upload-object.v2.bundle.json")).unwrap(),
    )
    .unwrap();
    assert_eq!(
        v2["$id"],
        "https://eventpulse.dev/schemas/v2/upload-object.bundle.json"
    );
    let source = std::fs::read_to_string(root.join("openapi.yaml")).unwrap();
    assert!(source.contains("\n  version: 2.0.0\n"));
    assert!(
        std::fs::read_to_string(root.join("schema/event.schema.json"))
            .unwrap()
            .contains("/schemas/v2/event.schema.json")
    );
    let lib = std::fs::read_to_string(root.join("generated/src/lib.rs")).unwrap();
    assert!(lib.contains("released/upload-object.v1.bundle.json"));
    assert!(lib.contains("released/upload-object.v2.bundle.json"));
    let v = xtask::compat::check(root).unwrap();
    assert!(v.breaks.is_empty() && v.problems.is_empty() && v.unchanged);
    let err = format!("{:#}", xtask::release::release(root, false).unwrap_err());
    assert!(err.contains("nothing to release"), "{err}");

    // An optional property: compatible, a minor release of version 2.
    let page_view = root.join("schema/events/page.view.json");
    edit_json(&page_view, |v| {
        v["properties"]["campaign"] = json!({"type": "string", "maxLength": 64});
    });
    let v = xtask::compat::check(root).unwrap();
    assert!(v.breaks.is_empty() && !v.unchanged);
    let done = xtask::release::release(root, false).unwrap();
    assert!(done.contains("released 2.1.0"), "{done}");
    let spec = std::fs::read_to_string(root.join("released/openapi.v2.yaml")).unwrap();
    assert!(spec.contains("\n  version: 2.1.0\n"));

    // Taking it back now breaks both directions.
    edit_json(&page_view, |v| {
        v["properties"].as_object_mut().unwrap().remove("campaign");
    });
    let lines: Vec<String> = xtask::compat::check(root)
        .unwrap()
        .breaks
        .iter()
        .map(|b| b.to_string())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].starts_with(
        "BACKWARD released/upload-object.v2.bundle.json#/$defs/PageViewData/properties/campaign: property `campaign` removed"
    ), "{lines:?}");
    assert!(lines[1].starts_with(
        "FORWARD released/openapi.v2.yaml#/components/schemas/PageViewData/properties/campaign: response property `campaign` removed"
    ), "{lines:?}");
}
