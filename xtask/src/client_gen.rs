//! The typed Rust client, by progenitor, from `openapi.yaml`.
//!
//! Every component type is replaced by the one in `eventpulse_generated::reader`: the
//! tolerant-reader view of the same schemas ([`crate::reader`]), so a client built today
//! still reads responses of a later compatible version (new properties, new event types).

use anyhow::{Context, Result, anyhow};
use progenitor_impl::{GenerationSettings, Generator, InterfaceStyle, TagStyle};
use serde_json::Value;

/// progenitor decodes only `application/json` bodies; our errors are
/// `application/problem+json` (JSON all the same). Without this, every error would reach
/// users as an untyped byte stream instead of a `types::Problem`.
fn problem_json_as_json(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(problem) = o.shift_remove("application/problem+json") {
                o.insert("application/json".into(), problem);
            }
            o.values_mut().for_each(problem_json_as_json);
        }
        Value::Array(a) => a.iter_mut().for_each(problem_json_as_json),
        _ => {}
    }
}

/// `components` are the reader view's (see [`crate::reader::view`]).
pub fn generate(spec: &Value, components: &serde_json::Map<String, Value>) -> Result<String> {
    let mut spec = spec.clone();
    spec["components"]["schemas"] = Value::Object(components.clone());
    problem_json_as_json(&mut spec);
    let spec: openapiv3::OpenAPI =
        serde_json::from_value(spec).context("openapi.yaml does not parse as OpenAPI 3.0")?;
    let mut settings = GenerationSettings::new();
    settings
        .with_interface(InterfaceStyle::Builder)
        .with_tag(TagStyle::Merged)
        .with_derive("PartialEq");
    for name in components.keys() {
        settings.with_replacement(
            name,
            format!("eventpulse_generated::reader::{name}"),
            std::iter::empty(),
        );
    }
    let tokens = crate::types_gen::guard("the client", || {
        Generator::new(&settings)
            .generate_tokens(&spec)
            .map_err(|e| anyhow!("progenitor: {e}"))
    })?;
    crate::pretty(tokens)
}
