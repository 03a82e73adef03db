//! Rust types for every component schema of `openapi.yaml`, by typify.
//!
//! One type space serves the server interface, the validators' callers and (through
//! progenitor's `with_replacement`) the client, so a type means the same thing everywhere.

use anyhow::{Context, Result, anyhow};
use serde_json::Value;
use typify::{TypeSpace, TypeSpaceImpl, TypeSpaceSettings};

/// Component types replaced by hand-written runtime types, and why.
///
/// `OccurredAt` keeps the uploader's exact text (offset and precision) next to the parsed
/// instant: typify would map `format: date-time` to `DateTime<Utc>`, which drops the offset
/// and so would not round-trip what users uploaded.
pub const REPLACEMENTS: &[(&str, &str)] = &[("OccurredAt", "::eventpulse_contract_rt::OccurredAt")];

/// Replaced in the server's types only (`generated/src/types.rs`, what the domain and the
/// router use), not in the reader types the client reads responses with.
///
/// `Event` is `EventJson` there: the server never looks inside a stored event, it passes the
/// text the table holds into responses (validated at intake, against the closed schema). The
/// typed union stays generated as [`TYPED_EVENT`], which intake maps each event to as a check.
pub const SERVER_REPLACEMENTS: &[(&str, &str)] =
    &[("Event", "::eventpulse_contract_rt::EventJson")];

/// The server types' name of the typed event union (a copy of the `Event` component).
pub const TYPED_EVENT: &str = "TypedEvent";

/// Typify's settings for EventPulse: the derives every generated type gets.
pub fn settings() -> TypeSpaceSettings {
    let mut s = TypeSpaceSettings::default();
    s.with_derive("PartialEq".to_string());
    for (name, rust) in REPLACEMENTS {
        s.with_replacement(
            *name,
            *rust,
            [TypeSpaceImpl::Display, TypeSpaceImpl::FromStr].into_iter(),
        );
    }
    s
}

/// [`settings`] plus [`SERVER_REPLACEMENTS`].
pub fn server_settings() -> TypeSpaceSettings {
    let mut s = settings();
    for (name, rust) in SERVER_REPLACEMENTS {
        s.with_replacement(*name, *rust, std::iter::empty());
    }
    s
}

/// The components as the server's type space sees them: with [`TYPED_EVENT`], a copy of the
/// `Event` union (which [`SERVER_REPLACEMENTS`] replaces).
pub fn server_view(
    components: &serde_json::Map<String, Value>,
) -> Result<serde_json::Map<String, Value>> {
    let mut out = components.clone();
    let event = components
        .get("Event")
        .ok_or_else(|| anyhow!("components/schemas has no Event union"))?;
    let mut typed = event.clone();
    if let Some(o) = typed.as_object_mut() {
        o.insert(
            "description".into(),
            Value::String(
                "One event as the generated type of its variant (a copy of `Event`, which the server's types pass through as JSON text)."
                    .into(),
            ),
        );
    }
    out.insert(TYPED_EVENT.into(), typed);
    Ok(out)
}

/// Converts component schemas to schemars' model, which is what typify 0.8 reads.
pub fn to_schemars(
    components: &serde_json::Map<String, Value>,
) -> Result<Vec<(String, schemars::schema::Schema)>> {
    components
        .iter()
        .map(|(name, schema)| {
            let s = serde_json::from_value(schema.clone()).with_context(|| {
                format!("components/schemas/{name} is not a schema typify can read")
            })?;
            Ok((name.clone(), s))
        })
        .collect()
}

/// Typify panics on some constructs (if/then/else, external $ref); turn that into an error
/// that names what was being generated.
pub fn guard<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let prev = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    std::panic::set_hook(prev);
    match r {
        Ok(r) => r,
        Err(p) => {
            let msg = p
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(anyhow!(
                "the code generator panicked while generating {what}: {msg}\n\
                 hint: typify 0.8 cannot handle if/then/else or external $ref; keep schema/ to the subset in ARCHITECTURE.md"
            ))
        }
    }
}

pub fn type_space(
    components: &serde_json::Map<String, Value>,
    settings: &TypeSpaceSettings,
) -> Result<TypeSpace> {
    let defs = to_schemars(components)?;
    guard("types", || {
        let mut space = TypeSpace::new(settings);
        space
            .add_ref_types(defs)
            .map_err(|e| anyhow!("typify: {e}"))?;
        Ok(space)
    })
}

/// The reader types (`generated/src/reader.rs`): every component as typify makes it.
pub fn generate(components: &serde_json::Map<String, Value>) -> Result<String> {
    let space = type_space(components, &settings())?;
    let mut tokens = space.to_stream();
    tokens.extend(discriminated(components, &[])?);
    crate::pretty(tokens)
}

/// The server's types (`generated/src/types.rs`): [`server_view`] with
/// [`SERVER_REPLACEMENTS`].
pub fn generate_server(components: &serde_json::Map<String, Value>) -> Result<String> {
    let view = server_view(components)?;
    let space = type_space(&view, &server_settings())?;
    let mut tokens = space.to_stream();
    let replaced: Vec<&str> = SERVER_REPLACEMENTS.iter().map(|(n, _)| *n).collect();
    tokens.extend(discriminated(&view, &replaced)?);
    crate::pretty(tokens)
}

/// For every `oneOf` with a `discriminator` mapping (the `Event` union over the registered
/// types), a `deserialize_variant` that reads the one variant the discriminator names.
///
/// typify derives such a union as `#[serde(untagged)]`, which buffers the whole value and then
/// tries each variant in turn until one fits; intake knows the `type` already (the validator
/// dispatched on it), so it reads the right variant at once, with no buffer and no failed
/// attempts. The result is the same: the variants' discriminators are distinct constants.
pub fn discriminated(
    components: &serde_json::Map<String, Value>,
    replaced: &[&str],
) -> Result<proc_macro2::TokenStream> {
    let mut out = proc_macro2::TokenStream::new();
    for (name, schema) in components {
        if replaced.contains(&name.as_str()) {
            continue; // not a generated type: nothing to add to
        }
        let Some(mapping) = schema
            .pointer("/discriminator/mapping")
            .and_then(Value::as_object)
        else {
            continue;
        };
        let property = schema
            .pointer("/discriminator/propertyName")
            .and_then(Value::as_str)
            .ok_or_else(|| {
                anyhow!("components/schemas/{name}: discriminator without propertyName")
            })?;
        let union = quote::format_ident!(
            "{}",
            heck::ToUpperCamelCase::to_upper_camel_case(name.as_str())
        );
        let arms = mapping
            .iter()
            .map(|(value, target)| {
                let variant = target
                    .as_str()
                    .and_then(|t| t.strip_prefix("#/components/schemas/"))
                    .ok_or_else(|| {
                        anyhow!("components/schemas/{name}: discriminator mapping {value} is not a component $ref")
                    })?;
                let variant = quote::format_ident!("{}", heck::ToUpperCamelCase::to_upper_camel_case(variant));
                Ok(quote::quote! {
                    #value => Some(<#variant as ::serde::Deserialize>::deserialize(deserializer).map(Self::#variant)),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let doc = format!(
            " Reads the variant of `{union}` that its `{property}` names, `discriminator`, from \
             `deserializer`: one variant, not each in turn as `#[serde(untagged)]` does. `None` \
             when `discriminator` names no variant."
        );
        out.extend(quote::quote! {
            impl #union {
                #[doc = #doc]
                pub fn deserialize_variant<'de, D: ::serde::Deserializer<'de>>(
                    discriminator: &str,
                    deserializer: D,
                ) -> Option<Result<Self, D::Error>> {
                    match discriminator {
                        #(#arms)*
                        _ => None,
                    }
                }
            }
        });
    }
    Ok(out)
}
