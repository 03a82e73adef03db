//! Bundles the hand-written JSON Schemas in `schema/` into self-contained documents.
//!
//! Source layout (see ARCHITECTURE.md):
//! - `schema/event.schema.json`: the envelope; `$defs/EventType.enum` is the registry of
//!   event types.
//! - `schema/events/{type}.json`: the `data` schema of each registered type, titled
//!   `{Pascal}Data`.
//! - every other `schema/*.schema.json`: a root schema named by its `title`.
//!
//! Every root and every `$defs` entry becomes one flat definition, named by title or key;
//! `$ref`s are rewritten to `#/$defs/Name`. A `$ref` to the envelope becomes a `$ref` to the
//! synthesized `Event` union: one `{Pascal}Event` variant per registered type, whose `type`
//! is that one name and whose `data` is that type's schema. This is what lets the published
//! schema, the generated Rust enum and the OpenAPI `Event` component all say which `data`
//! goes with which `type`, without anybody writing it twice.

use anyhow::{Context, Result, bail, ensure};
use serde_json::{Map, Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

pub const ENVELOPE_FILE: &str = "event.schema.json";
pub const UPLOAD_OBJECT_FILE: &str = "upload-object.schema.json";
pub const EVENTS_DIR: &str = "events";
/// The `$id` of the published bundle of major version `major`.
pub fn bundle_id(major: u64) -> String {
    format!("https://eventpulse.dev/schemas/v{major}/upload-object.bundle.json")
}
const DIALECT: &str = "https://json-schema.org/draft/2020-12/schema";

/// All definitions, flat and named, with `$ref`s of the form `#/$defs/Name`.
pub struct SchemaSet {
    pub defs: BTreeMap<String, Value>,
    /// Registered event types in registry order, with their Pascal-case names.
    pub event_types: Vec<(String, String)>,
}

/// Loads `schema/` (relative paths with `/` separators → parsed JSON).
pub fn load_dir(schema_dir: &Path) -> Result<BTreeMap<String, Value>> {
    let mut files = BTreeMap::new();
    load_rec(schema_dir, schema_dir, &mut files)?;
    Ok(files)
}

fn load_rec(base: &Path, dir: &Path, out: &mut BTreeMap<String, Value>) -> Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.path());
    for entry in entries {
        let path = entry.path();
        if path.is_dir() {
            load_rec(base, &path, out)?;
        } else if path.extension().is_some_and(|e| e == "json") {
            let rel = path
                .strip_prefix(base)?
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            let text = std::fs::read_to_string(&path)?;
            let value: Value = serde_json::from_str(&text)
                .with_context(|| format!("{} is not valid JSON", path.display()))?;
            out.insert(rel, value);
        }
    }
    Ok(())
}

/// "page.view" → "PageView".
pub fn pascal(type_name: &str) -> String {
    type_name
        .split(['.', '_', '-'])
        .filter(|s| !s.is_empty())
        .map(|s| {
            let mut c = s.chars();
            match c.next() {
                Some(f) => f.to_ascii_uppercase().to_string() + c.as_str(),
                None => String::new(),
            }
        })
        .collect()
}

/// Where a definition came from: a file's root, or one of its `$defs`.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Debug)]
struct Origin {
    file: String,
    def: Option<String>,
}

pub fn build(files: &BTreeMap<String, Value>) -> Result<SchemaSet> {
    let envelope = files
        .get(ENVELOPE_FILE)
        .with_context(|| format!("schema/{ENVELOPE_FILE} is missing"))?;
    let registry = envelope
        .pointer("/$defs/EventType/enum")
        .and_then(Value::as_array)
        .context(
            "schema/event.schema.json must define $defs/EventType/enum: the event type registry",
        )?;
    let mut event_types = Vec::new();
    for t in registry {
        let t = t
            .as_str()
            .context("EventType enum entries must be strings")?;
        let file = format!("{EVENTS_DIR}/{t}.json");
        ensure!(
            files.contains_key(&file),
            "event type `{t}` is registered in schema/{ENVELOPE_FILE} but schema/{file} does not exist"
        );
        event_types.push((t.to_string(), pascal(t)));
    }
    for file in files.keys() {
        if let Some(name) = file.strip_prefix(&format!("{EVENTS_DIR}/")) {
            let t = name.trim_end_matches(".json");
            ensure!(
                event_types.iter().any(|(r, _)| r == t),
                "schema/{file} exists but `{t}` is not registered in $defs/EventType/enum of schema/{ENVELOPE_FILE}"
            );
        }
    }

    // Name every root and every $defs entry.
    let mut names: BTreeMap<Origin, String> = BTreeMap::new();
    let mut taken: BTreeMap<String, Origin> = BTreeMap::new();
    let mut claim = |origin: Origin, name: String| -> Result<()> {
        if let Some(prev) = taken.get(&name) {
            bail!("schema name `{name}` is used twice: {prev:?} and {origin:?}; rename one");
        }
        taken.insert(name.clone(), origin.clone());
        names.insert(origin, name);
        Ok(())
    };
    for (file, doc) in files {
        let title = doc.get("title").and_then(Value::as_str).with_context(|| {
            format!("schema/{file} needs a `title`: it names the generated type")
        })?;
        if let Some(t) = file
            .strip_prefix(&format!("{EVENTS_DIR}/"))
            .map(|n| n.trim_end_matches(".json"))
        {
            let want = format!("{}Data", pascal(t));
            ensure!(
                title == want,
                "schema/{file} must be titled `{want}`, not `{title}`"
            );
        }
        claim(
            Origin {
                file: file.clone(),
                def: None,
            },
            title.to_string(),
        )?;
        if let Some(defs) = doc.get("$defs").and_then(Value::as_object) {
            for key in defs.keys() {
                claim(
                    Origin {
                        file: file.clone(),
                        def: Some(key.clone()),
                    },
                    key.clone(),
                )?;
            }
        }
    }
    for (_, p) in &event_types {
        claim(
            Origin {
                file: format!("<synthesized {p}Event>"),
                def: None,
            },
            format!("{p}Event"),
        )?;
    }
    claim(
        Origin {
            file: "<synthesized Event>".into(),
            def: None,
        },
        "Event".into(),
    )?;

    let envelope_origin = Origin {
        file: ENVELOPE_FILE.into(),
        def: None,
    };
    let resolve = |from: &str, reference: &str| -> Result<String> {
        let (path, fragment) = reference.split_once('#').unwrap_or((reference, ""));
        let file = if path.is_empty() {
            from.to_string()
        } else {
            join(from, path)?
        };
        ensure!(
            files.contains_key(&file),
            "schema/{from}: $ref `{reference}` points to a missing file"
        );
        let def = match fragment {
            "" | "/" => None,
            f => Some(
                f.strip_prefix("/$defs/")
                    .filter(|d| !d.contains('/'))
                    .with_context(|| {
                        format!("schema/{from}: $ref `{reference}`: only `file.json` and `file.json#/$defs/Name` are supported")
                    })?
                    .to_string(),
            ),
        };
        let origin = Origin { file, def };
        if origin == envelope_origin {
            // Anything that holds "an event" holds one of the typed variants.
            return Ok("Event".into());
        }
        names
            .get(&origin)
            .cloned()
            .with_context(|| format!("schema/{from}: $ref `{reference}` points to nothing"))
    };

    let mut defs = BTreeMap::new();
    for (file, doc) in files {
        let mut root = doc.clone();
        let nested = root.as_object_mut().and_then(|o| o.shift_remove("$defs"));
        for key in ["$schema", "$id"] {
            if let Some(o) = root.as_object_mut() {
                o.shift_remove(key);
            }
        }
        rewrite_refs(&mut root, &|r| resolve(file, r))?;
        defs.insert(
            names[&Origin {
                file: file.clone(),
                def: None,
            }]
                .clone(),
            root,
        );
        if let Some(Value::Object(nested)) = nested {
            for (key, mut schema) in nested {
                rewrite_refs(&mut schema, &|r| resolve(file, r))?;
                defs.insert(key, schema);
            }
        }
    }

    // Synthesize one variant per registered type, and the union.
    let envelope_def = defs[&names[&envelope_origin]].clone();
    let mut variants = Vec::new();
    for (t, p) in &event_types {
        let mut v = envelope_def.clone();
        let o = v
            .as_object_mut()
            .context("the envelope must be an object schema")?;
        o.insert("title".into(), json!(format!("{p}Event")));
        o.insert(
            "description".into(),
            json!(format!(
                "A `{t}` event: the envelope with `data` as defined by events/{t}.json."
            )),
        );
        let props = o
            .get_mut("properties")
            .and_then(Value::as_object_mut)
            .context("the envelope needs `properties`")?;
        ensure!(
            props.contains_key("type") && props.contains_key("data"),
            "the envelope needs `type` and `data` properties"
        );
        props.insert("type".into(), json!({ "type": "string", "enum": [t] }));
        props.insert("data".into(), json!({ "$ref": format!("#/$defs/{p}Data") }));
        defs.insert(format!("{p}Event"), v);
        variants.push(json!({ "$ref": format!("#/$defs/{p}Event") }));
    }
    defs.insert(
        "Event".into(),
        json!({
            "title": "Event",
            "description": "One event of a registered type. `type` selects the variant, and so the schema of `data`.",
            "oneOf": variants,
        }),
    );
    Ok(SchemaSet { defs, event_types })
}

fn join(from: &str, rel: &str) -> Result<String> {
    let mut parts: Vec<&str> = from.split('/').collect();
    parts.pop();
    for seg in rel.split('/') {
        match seg {
            "." | "" => {}
            ".." => {
                ensure!(
                    parts.pop().is_some(),
                    "$ref `{rel}` in schema/{from} leaves schema/"
                );
            }
            s => parts.push(s),
        }
    }
    Ok(parts.join("/"))
}

fn rewrite_refs(v: &mut Value, resolve: &dyn Fn(&str) -> Result<String>) -> Result<()> {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(r)) = o.get("$ref") {
                let name = resolve(r)?;
                o.insert("$ref".into(), Value::String(format!("#/$defs/{name}")));
            }
            for (_, child) in o.iter_mut() {
                rewrite_refs(child, resolve)?;
            }
        }
        Value::Array(a) => {
            for child in a {
                rewrite_refs(child, resolve)?;
            }
        }
        _ => {}
    }
    Ok(())
}

fn collect_refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(o) => {
            if let Some(n) = o
                .get("$ref")
                .and_then(Value::as_str)
                .and_then(|r| r.strip_prefix("#/$defs/"))
            {
                out.insert(n.to_string());
            }
            o.values().for_each(|c| collect_refs(c, out));
        }
        Value::Array(a) => a.iter().for_each(|c| collect_refs(c, out)),
        _ => {}
    }
}

/// The definitions reachable from `roots`.
pub fn closure(set: &SchemaSet, roots: &[&str]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    let mut todo: Vec<String> = roots.iter().map(|s| s.to_string()).collect();
    while let Some(name) = todo.pop() {
        if out.contains_key(&name) {
            continue;
        }
        if let Some(def) = set.defs.get(&name) {
            let mut refs = BTreeSet::new();
            collect_refs(def, &mut refs);
            todo.extend(refs);
            out.insert(name, def.clone());
        }
    }
    out
}

/// The published upload-object schema: self-contained JSON Schema 2020-12.
///
/// Its root is the upload object; `$defs` holds everything the root reaches plus
/// `EventEnvelope`, which the validator uses to report on events whose `type` is unknown.
pub fn upload_bundle(set: &SchemaSet, files: &BTreeMap<String, Value>, id: &str) -> Result<Value> {
    let source = &files[UPLOAD_OBJECT_FILE];
    let title = source["title"].as_str().unwrap_or("UploadObject");
    let mut root = set.defs[title].clone();
    let mut defs = closure(set, &[title, "EventEnvelope"]);
    defs.remove(title);
    let mut out = Map::new();
    out.insert("$schema".into(), json!(DIALECT));
    out.insert("$id".into(), json!(id));
    if let Some(o) = root.as_object_mut() {
        out.append(o);
    }
    out.insert("$defs".into(), Value::Object(defs.into_iter().collect()));
    Ok(Value::Object(out))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pascal_case() {
        assert_eq!(pascal("page.view"), "PageView");
        assert_eq!(pascal("sensor.reading"), "SensorReading");
        assert_eq!(pascal("a_b-c"), "ABC");
    }

    #[test]
    fn join_paths() {
        assert_eq!(
            join("events/x.json", "../event.schema.json").unwrap(),
            "event.schema.json"
        );
        assert_eq!(join("a.json", "events/b.json").unwrap(), "events/b.json");
        assert!(join("a.json", "../b.json").is_err());
    }

    fn tiny() -> BTreeMap<String, Value> {
        let mut f = BTreeMap::new();
        f.insert(
            ENVELOPE_FILE.into(),
            json!({"title": "EventEnvelope", "type": "object",
                   "properties": {"type": {"$ref": "#/$defs/EventType"}, "data": {"type": "object"}},
                   "$defs": {"EventType": {"type": "string", "enum": ["a.b"]}}}),
        );
        f.insert(
            "events/a.b.json".into(),
            json!({"title": "ABData", "type": "object"}),
        );
        f
    }

    #[test]
    fn unregistered_type_file_is_an_error() {
        let mut f = tiny();
        f.insert("events/c.d.json".into(), json!({"title": "CDData"}));
        let err = build(&f).err().unwrap().to_string();
        assert!(err.contains("not registered"), "{err}");
    }

    #[test]
    fn registered_type_without_file_is_an_error() {
        let mut f = tiny();
        f.remove("events/a.b.json");
        let err = build(&f).err().unwrap().to_string();
        assert!(err.contains("does not exist"), "{err}");
    }

    #[test]
    fn duplicate_names_are_an_error() {
        let mut f = tiny();
        f.insert("x.schema.json".into(), json!({"title": "EventType"}));
        let err = build(&f).err().unwrap().to_string();
        assert!(err.contains("used twice"), "{err}");
    }

    #[test]
    fn variants_bind_type_to_data() {
        let set = build(&tiny()).unwrap();
        let v = &set.defs["ABEvent"];
        assert_eq!(v["properties"]["type"]["enum"], json!(["a.b"]));
        assert_eq!(v["properties"]["data"]["$ref"], json!("#/$defs/ABData"));
        assert_eq!(
            set.defs["Event"]["oneOf"][0]["$ref"],
            json!("#/$defs/ABEvent")
        );
    }
}
