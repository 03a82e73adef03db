//! `generated/src/check.rs`: a boolean check per event type, compiled from the published
//! upload-object bundle, for intake's fast path.
//!
//! Each check answers "is this event certainly valid?" over an
//! `eventpulse_contract_rt::tree::Node`. It must never say yes to an event the full
//! validator (`eventpulse_contract_rt::Validator`, jsonschema) refuses; it may say no to a
//! valid one, which then takes the full validator's path. So a keyword is either checked
//! exactly, checked conservatively (formats; integral floats such as `2.0` are declined
//! where the schema says `integer`), or, when this generator does not know it, the
//! subschema declines everything (`false`): a schema change can make intake slower, never
//! wrong. `handlers/tests/fast_path.rs` holds the checks to that against jsonschema.

use anyhow::{Result, anyhow};
use heck::ToSnakeCase;
use proc_macro2::{Ident, Span, TokenStream};
use quote::quote;
use serde_json::{Map, Value};

/// Keywords that assert nothing.
const ANNOTATIONS: &[&str] = &[
    "title",
    "description",
    "$comment",
    "examples",
    "default",
    "deprecated",
    "readOnly",
    "writeOnly",
    "$schema",
    "$id",
    "$defs",
];

pub fn generate(bundle: &Value) -> Result<String> {
    let defs = bundle
        .get("$defs")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("the bundle has no $defs"))?;
    let mut g = Gen {
        patterns: Vec::new(),
    };
    let mut fns = Vec::new();
    for (name, schema) in defs {
        let ident = def_ident(name);
        let body = g.body(schema);
        let doc = format!(" `$defs/{name}`.");
        fns.push(quote! {
            #[doc = #doc]
            pub fn #ident(n: &Node<'_>) -> bool {
                #body
            }
        });
    }
    let variants = defs
        .get("Event")
        .and_then(|e| e.get("oneOf"))
        .and_then(Value::as_array)
        .ok_or_else(|| anyhow!("$defs/Event has no oneOf"))?;
    let mut arms = Vec::new();
    for v in variants {
        let name = v
            .get("$ref")
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
            .ok_or_else(|| anyhow!("Event variants must be $refs into $defs"))?;
        let type_name = defs
            .get(name)
            .and_then(|d| d.pointer("/properties/type/enum/0"))
            .and_then(Value::as_str)
            .ok_or_else(|| anyhow!("{name} has no single `type` value"))?;
        let ident = def_ident(name);
        arms.push(quote! { #type_name => Some(#ident as fn(&Node<'_>) -> bool), });
    }
    let batch = defs
        .get("EventBatch")
        .and_then(Value::as_object)
        .ok_or_else(|| anyhow!("no $defs/EventBatch"))?;
    let batch_items = batch_bounds(batch);
    let patterns = g.patterns.iter().enumerate().map(|(i, p)| {
        let ident = pattern_ident(i);
        quote! {
            static #ident: LazyLock<Option<regress::Regex>> = LazyLock::new(|| regress::Regex::new(#p).ok());
        }
    });
    let tokens = quote! {
        //! Boolean checks of events against the published upload-object schema, one function
        //! per `$defs` entry, for intake's fast path (`eventpulse_handlers::intake`).
        //!
        //! `true` means certainly valid; `false` means "not certainly": the event then goes
        //! to the full validator, which decides and explains. Generated from
        //! `generated/schema/upload-object.bundle.json` by `xtask/src/check_gen.rs`.

        use eventpulse_contract_rt::formats;
        use eventpulse_contract_rt::tree::Node;
        use std::sync::LazyLock;

        /// The check of the event variant whose `type` is `t`; `None` for an unregistered type.
        pub fn event_of_type(t: &str) -> Option<fn(&Node<'_>) -> bool> {
            match t {
                #(#arms)*
                _ => None,
            }
        }

        /// How many events the array form may hold (`$defs/EventBatch`), when its schema
        /// constrains nothing but its length and its items are events; `None` otherwise (the
        /// fast path then leaves arrays to the full validator).
        pub const BATCH_ITEMS: Option<(usize, usize)> = #batch_items;

        #(#patterns)*

        #(#fns)*
    };
    crate::pretty(tokens)
}

fn batch_bounds(batch: &Map<String, Value>) -> TokenStream {
    let only_length = batch.iter().all(|(k, v)| match k.as_str() {
        "type" => v == "array",
        "items" => v.get("$ref").and_then(Value::as_str) == Some("#/$defs/Event"),
        "minItems" | "maxItems" => v.is_u64(),
        k => ANNOTATIONS.contains(&k),
    });
    let min = batch.get("minItems").and_then(Value::as_u64).unwrap_or(0) as usize;
    let max = batch
        .get("maxItems")
        .and_then(Value::as_u64)
        .map_or(usize::MAX, |m| m as usize);
    if only_length && batch.get("type").is_some() {
        quote! { Some((#min, #max)) }
    } else {
        quote! { None }
    }
}

fn def_ident(name: &str) -> Ident {
    Ident::new(&name.to_snake_case(), Span::call_site())
}

fn pattern_ident(i: usize) -> Ident {
    Ident::new(&format!("PATTERN_{i}"), Span::call_site())
}

struct Gen {
    patterns: Vec<String>,
}

/// Declines everything: what a subschema compiles to when it uses a keyword not known here.
fn decline(why: &str) -> TokenStream {
    let why = format!("not checked on the fast path: {why}");
    quote! { let _ = (n, #why); false }
}

impl Gen {
    /// Statements evaluating to whether `n` is certainly valid against `schema`.
    fn body(&mut self, schema: &Value) -> TokenStream {
        let o = match schema {
            Value::Bool(true) => return quote! { let _ = n; true },
            Value::Bool(false) => return quote! { let _ = n; false },
            Value::Object(o) => o,
            _ => return decline("a schema that is not an object"),
        };
        let mut checks = Vec::new();
        for (k, v) in o {
            let check = match k.as_str() {
                k if ANNOTATIONS.contains(&k) => continue,
                "properties" | "required" | "additionalProperties" => continue,
                "type" => self.type_check(v),
                "enum" => enum_check(v),
                "minLength" | "maxLength" => length_check(k, v),
                "pattern" => self.pattern_check(v),
                "format" => format_check(v),
                "minimum" | "maximum" => bound_check(k, v),
                "minItems" | "maxItems" => items_len_check(k, v),
                "items" => {
                    let item = self.call(v, quote! { n });
                    Some(quote! {
                        if let Some(items) = n.as_array() {
                            if !items.iter().all(|n| #item) { return false; }
                        }
                    })
                }
                "$ref" => v
                    .as_str()
                    .and_then(|r| r.strip_prefix("#/$defs/"))
                    .map(|name| {
                        let f = def_ident(name);
                        quote! { if !#f(n) { return false; } }
                    }),
                "allOf" | "anyOf" => v.as_array().map(|subs| {
                    let calls: Vec<TokenStream> =
                        subs.iter().map(|s| self.call(s, quote! { n })).collect();
                    if k == "allOf" {
                        quote! { if !(#(#calls)&&*) { return false; } }
                    } else {
                        // Sound: one branch certainly valid makes the whole certainly valid.
                        quote! { if !(#(#calls)||*) { return false; } }
                    }
                }),
                _ => None,
            };
            match check {
                Some(c) => checks.push(c),
                None => return decline(&format!("`{k}`")),
            }
        }
        if ["properties", "required", "additionalProperties"]
            .iter()
            .any(|k| o.contains_key(*k))
        {
            match self.object_check(o) {
                Some(c) => checks.push(c),
                None => return decline("this object's properties"),
            }
        }
        quote! { #(#checks)* true }
    }

    /// An expression: whether `var` is certainly valid against `schema`.
    fn call(&mut self, schema: &Value, var: TokenStream) -> TokenStream {
        if let Some(name) = schema
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.get("$ref"))
            .and_then(Value::as_str)
            .and_then(|r| r.strip_prefix("#/$defs/"))
        {
            let f = def_ident(name);
            return quote! { #f(#var) };
        }
        let body = self.body(schema);
        quote! { (|n: &Node<'_>| -> bool { #body })(#var) }
    }

    fn type_check(&mut self, v: &Value) -> Option<TokenStream> {
        let names: Vec<&str> = match v {
            Value::String(s) => vec![s.as_str()],
            Value::Array(a) => a.iter().map(Value::as_str).collect::<Option<_>>()?,
            _ => return None,
        };
        let conds = names
            .iter()
            .map(|t| {
                Some(match *t {
                    "object" => quote! { matches!(n, Node::Object(_)) },
                    "array" => quote! { matches!(n, Node::Array(_)) },
                    "string" => quote! { matches!(n, Node::Str(_)) },
                    // `2.0` is an integer to JSON Schema; declined here (see the module doc).
                    "integer" => quote! { n.as_integer().is_some() },
                    "number" => quote! { n.is_number() },
                    "boolean" => quote! { matches!(n, Node::Bool(_)) },
                    "null" => quote! { matches!(n, Node::Null) },
                    _ => return None,
                })
            })
            .collect::<Option<Vec<_>>>()?;
        Some(quote! { if !(#(#conds)||*) { return false; } })
    }

    fn pattern_check(&mut self, v: &Value) -> Option<TokenStream> {
        let p = v.as_str()?;
        let ident = pattern_ident(self.patterns.len());
        self.patterns.push(p.to_string());
        // A pattern that does not compile declines every string.
        Some(quote! {
            if let Some(s) = n.as_str() {
                match &*#ident {
                    Some(re) if re.find(s).is_some() => {}
                    _ => return false,
                }
            }
        })
    }

    fn object_check(&mut self, o: &Map<String, Value>) -> Option<TokenStream> {
        let empty = Map::new();
        let properties = match o.get("properties") {
            None => &empty,
            Some(p) => p.as_object()?,
        };
        let required: Vec<&str> = match o.get("required") {
            None => Vec::new(),
            Some(r) => r
                .as_array()?
                .iter()
                .map(Value::as_str)
                .collect::<Option<_>>()?,
        };
        if required.len() > 64 {
            return None;
        }
        let bit = |name: &str| {
            required
                .iter()
                .position(|r| *r == name)
                .map(|i| 1u64 << i)
                .unwrap_or(0)
        };
        let mut arms = Vec::new();
        for (name, schema) in properties {
            let mark = bit(name);
            let call = self.call(schema, quote! { v });
            arms.push(quote! { #name => { seen |= #mark; if !#call { return false; } } });
        }
        for name in required.iter().filter(|r| !properties.contains_key(**r)) {
            let mark = bit(name);
            arms.push(quote! { #name => { seen |= #mark; } });
        }
        let other = match o.get("additionalProperties") {
            None | Some(Value::Bool(true)) => quote! {},
            Some(Value::Bool(false)) => quote! { return false; },
            Some(schema) => {
                let call = self.call(schema, quote! { v });
                quote! { if !#call { return false; } }
            }
        };
        let all: u64 = if required.is_empty() {
            0
        } else {
            u64::MAX >> (64 - required.len())
        };
        Some(quote! {
            if let Some(members) = n.as_object() {
                let mut seen: u64 = 0;
                for (k, v) in members {
                    match &**k {
                        #(#arms)*
                        _ => { let _ = v; #other }
                    }
                }
                if seen != #all { return false; }
            }
        })
    }
}

fn enum_check(v: &Value) -> Option<TokenStream> {
    let options: Vec<&str> = v
        .as_array()?
        .iter()
        .map(Value::as_str)
        .collect::<Option<_>>()?;
    Some(quote! { if !matches!(n.as_str(), Some(#(#options)|*)) { return false; } })
}

fn length_check(k: &str, v: &Value) -> Option<TokenStream> {
    let limit = v.as_u64()? as usize;
    Some(if k == "minLength" {
        quote! { if let Some(s) = n.as_str() { if formats::char_count(s) < #limit { return false; } } }
    } else {
        quote! { if let Some(s) = n.as_str() { if formats::char_count(s) > #limit { return false; } } }
    })
}

fn items_len_check(k: &str, v: &Value) -> Option<TokenStream> {
    let limit = v.as_u64()? as usize;
    Some(if k == "minItems" {
        quote! { if let Some(a) = n.as_array() { if a.len() < #limit { return false; } } }
    } else {
        quote! { if let Some(a) = n.as_array() { if a.len() > #limit { return false; } } }
    })
}

fn format_check(v: &Value) -> Option<TokenStream> {
    let f = match v.as_str()? {
        "date-time" => quote! { formats::is_date_time },
        "uri" => quote! { formats::is_uri },
        _ => return None,
    };
    Some(quote! { if let Some(s) = n.as_str() { if !#f(s) { return false; } } })
}

/// Integral bounds compare exactly; a float bound, or a float value, is declined.
fn bound_check(k: &str, v: &Value) -> Option<TokenStream> {
    let limit: i128 = match (v.as_u64(), v.as_i64()) {
        (Some(u), _) => u.into(),
        (None, Some(i)) => i.into(),
        _ => return None,
    };
    let cmp = if k == "minimum" {
        quote! { i < #limit }
    } else {
        quote! { i > #limit }
    };
    Some(quote! {
        if n.is_number() {
            match n.as_integer() {
                Some(i) if !(#cmp) => {}
                _ => return false,
            }
        }
    })
}
