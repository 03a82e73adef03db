//! Keeps the schema-derived components of `openapi.yaml` in step with `schema/`.
//!
//! `openapi.yaml` is hand-written except for one block under `components/schemas`, between
//! the `BEGIN GENERATED` and `END GENERATED` marker lines: there the definitions of `schema/`
//! appear translated to OpenAPI 3.0.3 Schema Objects. The whole file stays self-contained, so
//! external linters, progenitor, API Gateway and third-party readers all see one document.

use crate::bundle::SchemaSet;
use anyhow::{Context, Result, bail, ensure};
use serde_json::{Value, json};

pub const BEGIN: &str =
    "    # BEGIN GENERATED from schema/ by `cargo xtask codegen`; do not edit by hand";
pub const END: &str = "    # END GENERATED";

/// Keywords an OpenAPI 3.0.3 Schema Object understands.
const OAS30_KEYWORDS: &[&str] = &[
    "title",
    "multipleOf",
    "maximum",
    "exclusiveMaximum",
    "minimum",
    "exclusiveMinimum",
    "maxLength",
    "minLength",
    "pattern",
    "maxItems",
    "minItems",
    "uniqueItems",
    "maxProperties",
    "minProperties",
    "required",
    "enum",
    "type",
    "allOf",
    "oneOf",
    "anyOf",
    "not",
    "items",
    "properties",
    "additionalProperties",
    "description",
    "format",
    "default",
    "nullable",
    "discriminator",
    "readOnly",
    "writeOnly",
    "example",
    "deprecated",
    "$ref",
];

/// Translates one JSON Schema 2020-12 definition to an OpenAPI 3.0.3 Schema Object.
///
/// The schemas in `schema/` stick to the common subset on purpose, so this is mostly a
/// `$ref` rewrite; anything outside the subset is an error naming the keyword, rather than a
/// silently different contract.
pub fn to_oas30(name: &str, path: &str, v: &Value) -> Result<Value> {
    Ok(match v {
        Value::Object(o) => {
            let mut out = serde_json::Map::new();
            for (k, child) in o {
                match k.as_str() {
                    "$ref" => {
                        let r = child.as_str().context("$ref must be a string")?;
                        let target = r
                            .strip_prefix("#/$defs/")
                            .with_context(|| format!("{name}{path}: unexpected $ref {r}"))?;
                        ensure!(
                            o.len() == 1,
                            "{name}{path}: OpenAPI 3.0 ignores keywords beside $ref; move them into the referenced schema"
                        );
                        out.insert(k.clone(), json!(format!("#/components/schemas/{target}")));
                    }
                    "examples" => {
                        if let Some(first) = child.as_array().and_then(|a| a.first()) {
                            out.insert("example".into(), first.clone());
                        }
                    }
                    "properties" => {
                        let props = child.as_object().context("properties must be an object")?;
                        let mut p = serde_json::Map::new();
                        for (pk, pv) in props {
                            p.insert(
                                pk.clone(),
                                to_oas30(name, &format!("{path}/properties/{pk}"), pv)?,
                            );
                        }
                        out.insert(k.clone(), Value::Object(p));
                    }
                    "type" if !child.is_string() => {
                        bail!("{name}{path}: OpenAPI 3.0 allows one `type` string, not {child}")
                    }
                    // A string with a full `pattern` keeps its text in generated clients:
                    // with `format: date-time` beside it, generators would read it into a
                    // native date type and write it back changed (offset, precision). The
                    // JSON Schema under `schema/`, which uploads are validated against, keeps
                    // the format (real dates), the OpenAPI document gives only the pattern.
                    "format" if o.contains_key("pattern") => {}
                    k if OAS30_KEYWORDS.contains(&k) => {
                        let sub = match child {
                            Value::Object(_) => to_oas30(name, &format!("{path}/{k}"), child)?,
                            Value::Array(a) if matches!(k, "allOf" | "oneOf" | "anyOf") => {
                                Value::Array(
                                    a.iter()
                                        .enumerate()
                                        .map(|(i, s)| to_oas30(name, &format!("{path}/{k}/{i}"), s))
                                        .collect::<Result<_>>()?,
                                )
                            }
                            other => other.clone(),
                        };
                        out.insert(k.to_string(), sub);
                    }
                    other => bail!(
                        "{name}{path}: keyword `{other}` has no OpenAPI 3.0.3 equivalent; express it with the common subset (see ARCHITECTURE.md)"
                    ),
                }
            }
            Value::Object(out)
        }
        other => other.clone(),
    })
}

/// The generated components, as the YAML lines that go between the markers.
pub fn components_block(set: &SchemaSet) -> Result<String> {
    let mut map = serde_yaml::Mapping::new();
    for (name, def) in &set.defs {
        let mut oas = to_oas30(name, "", def)?;
        if name == "Event" {
            let mapping: serde_json::Map<String, Value> = set
                .event_types
                .iter()
                .map(|(t, p)| (t.clone(), json!(format!("#/components/schemas/{p}Event"))))
                .collect();
            oas["discriminator"] = json!({ "propertyName": "type", "mapping": mapping });
        }
        let yaml: serde_yaml::Value = serde_json::from_value(oas)?;
        map.insert(serde_yaml::Value::String(name.clone()), yaml);
    }
    let text = serde_yaml::to_string(&map)?;
    Ok(text.lines().map(|l| format!("    {l}\n")).collect())
}

/// `openapi.yaml` with the generated block replaced.
pub fn splice(source: &str, block: &str) -> Result<String> {
    let begin = source
        .find(BEGIN)
        .with_context(|| format!("openapi.yaml lacks the marker line `{BEGIN}`"))?;
    let after_begin = begin + BEGIN.len() + 1;
    let end = source[after_begin..]
        .find(END)
        .map(|i| i + after_begin)
        .with_context(|| format!("openapi.yaml lacks the marker line `{END}`"))?;
    Ok(format!(
        "{}{}{}",
        &source[..after_begin],
        block,
        &source[end..]
    ))
}

/// The `components/schemas` of a spec as JSON values, for typify and the server generator.
pub fn component_schemas(spec: &Value) -> Result<serde_json::Map<String, Value>> {
    spec.pointer("/components/schemas")
        .and_then(Value::as_object)
        .cloned()
        .context("openapi.yaml has no components/schemas")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refs_point_at_components() {
        let v = to_oas30("X", "", &json!({"items": {"$ref": "#/$defs/Y"}})).unwrap();
        assert_eq!(v, json!({"items": {"$ref": "#/components/schemas/Y"}}));
    }

    #[test]
    fn a_format_beside_a_pattern_is_left_to_the_pattern() {
        let v = to_oas30(
            "X",
            "",
            &json!({"type": "string", "format": "date-time", "pattern": "^x$"}),
        )
        .unwrap();
        assert_eq!(v, json!({"type": "string", "pattern": "^x$"}));
        let v = to_oas30("X", "", &json!({"type": "string", "format": "uri"})).unwrap();
        assert_eq!(v, json!({"type": "string", "format": "uri"}));
    }

    #[test]
    fn keywords_outside_the_subset_are_refused() {
        let err = to_oas30("X", "", &json!({"properties": {"a": {"const": 1}}})).unwrap_err();
        assert!(err.to_string().contains("`const`"), "{err}");
        assert!(to_oas30("X", "", &json!({"type": ["string", "null"]})).is_err());
        assert!(to_oas30("X", "", &json!({"$ref": "#/$defs/Y", "description": "d"})).is_err());
    }

    #[test]
    fn splice_replaces_only_the_block() {
        let src = format!("a\n{BEGIN}\nold\n{END}\nb\n");
        let out = splice(&src, "    new\n").unwrap();
        assert_eq!(out, format!("a\n{BEGIN}\n    new\n{END}\nb\n"));
    }
}
