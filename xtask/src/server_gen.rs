//! The server interface of `openapi.yaml`, in two generated files:
//!
//! - `generated/src/api.rs` (crate `eventpulse-generated`, no HTTP server): for every operation
//!   a typed request struct, a typed response enum, a trait method, and a small table
//!   (`eventpulse_contract_rt::Operation`) describing the operation's parameters and body with
//!   their schemas.
//! - `generated/router/src/lib.rs` (crate `eventpulse-generated-router`): the axum side, one
//!   handler per operation, the mapping of each response enum to an HTTP response, and
//!   `router()`.
//!
//! All behaviour that is the same for every operation (authentication, coercion, validation,
//! problems) lives in the hand-written `runtime/server` (`eventpulse-server-rt`) and is driven
//! by those tables, so this generator only translates the spec and never encodes
//! per-operation logic.
//!
//! Rust types come from the same typify type space as `types.rs` (with `type_mod = "types"`,
//! so a `$ref` becomes `types::Name` and an inline `format: date-time` becomes the same
//! chrono type a component field gets). An inline schema that would need a named type of its
//! own is refused: it belongs in `components/schemas`.

use crate::types_gen;
use anyhow::{Context, Result, anyhow, bail, ensure};
use heck::{ToShoutySnakeCase, ToSnakeCase, ToUpperCamelCase};
use proc_macro2::{Literal, TokenStream};
use quote::{format_ident, quote};
use serde_json::{Map, Value, json};
use std::collections::BTreeSet;
use typify::{TypeDetails, TypeSpace};

const METHODS: &[&str] = &[
    "get", "put", "post", "delete", "options", "head", "patch", "trace",
];

/// Success statuses we name: (code, enum variant, `http::StatusCode` constant).
const STATUSES: &[(u16, &str, &str)] = &[
    (200, "Ok", "OK"),
    (201, "Created", "CREATED"),
    (202, "Accepted", "ACCEPTED"),
    (
        203,
        "NonAuthoritativeInformation",
        "NON_AUTHORITATIVE_INFORMATION",
    ),
    (204, "NoContent", "NO_CONTENT"),
    (205, "ResetContent", "RESET_CONTENT"),
    (206, "PartialContent", "PARTIAL_CONTENT"),
];

struct Operation {
    id: String,
    method: String,
    path: String,
    doc: String,
    secured: bool,
    params: Vec<Param>,
    body: Option<Body>,
    responses: Vec<Response>,
}

struct Param {
    name: String,
    path: bool,
    required: bool,
    doc: Option<String>,
    schema: Value,
    default: Option<Value>,
    wire: &'static str,
}

struct Body {
    required: bool,
    doc: Option<String>,
    schema: Value,
}

struct Response {
    status: u16,
    doc: String,
    /// Media type and schema; `None` for a response without content.
    content: Option<(String, Value)>,
}

/// The two generated files of the server interface.
pub struct Server {
    /// `generated/src/api.rs`: the trait, requests, responses and operation tables.
    pub api: String,
    /// `generated/router/src/lib.rs`: the axum handlers and `router()`.
    pub router: String,
}

pub fn generate(spec: &Value, components: &Map<String, Value>) -> Result<Server> {
    let ops = operations(spec)?;
    let mut types = Types::new(components)?;
    let schemas = schema_document(&ops, components)?;

    let mut api_items = Vec::new();
    let mut router_items = Vec::new();
    let mut methods = Vec::new();
    for op in &ops {
        let items = operation_items(op, &mut types)
            .with_context(|| format!("operation `{}` ({} {})", op.id, op.method, op.path))?;
        api_items.push(items.api);
        router_items.push(items.router);
        methods.push(items.method);
    }
    let routes = routes(&ops);
    let tables: Vec<_> = ops.iter().map(|op| table_ident(&op.id)).collect();
    let schemas = raw_literal(&serde_json::to_string_pretty(&schemas)?)?;

    let api = crate::pretty(quote! {
        //! The server interface of `openapi.yaml`: typed requests and responses per operation,
        //! the [`EventPulseApi`] trait to implement, and the operation tables the server
        //! runtime validates requests with. No HTTP server here: `eventpulse_generated_router::router`
        //! serves an implementation.
        use ::eventpulse_contract_rt::{self as rt, ApiError, Principal, RequestContext};
        use crate::types;

        /// The component schemas the parameters and bodies refer to (OpenAPI 3.0 dialect).
        pub const SCHEMAS: &str = #schemas;

        /// Every operation of the API, as the runtime sees it.
        pub static OPERATIONS: &[&rt::Operation] = &[#(&#tables),*];

        #(#api_items)*

        /// The operations of the EventPulse API. Implement it once;
        /// `eventpulse_generated_router::router` serves it.
        pub trait EventPulseApi: Send + Sync + 'static {
            #(#methods)*
        }
    })?;

    let router = crate::pretty(quote! {
        //! The axum router of the EventPulse API (`openapi.yaml`): one handler per operation of
        //! `eventpulse_generated::api`, each response enum mapped to its HTTP response, and
        //! [`router`], on the hand-written runtime `eventpulse_server_rt`.

        #[rustfmt::skip]
        #[allow(clippy::all, clippy::pedantic, missing_docs, unused)]
        mod handlers {
            use ::eventpulse_contract_rt::{self as contract, ApiError, Authenticator};
            use ::eventpulse_generated::api::*;
            use ::eventpulse_server_rt as rt;
            use ::std::sync::Arc;

            /// A response enum as an HTTP response (a local trait: the enums live in
            /// `eventpulse-generated`, which knows no HTTP server).
            trait IntoHttp {
                fn into_http(self) -> ::axum::response::Response;
            }

            #(#router_items)*

            /// Serves `api`: routes every operation, assigns request ids, authenticates secured
            /// operations with `auth`, validates parameters and bodies against the spec, and renders
            /// every error as `application/problem+json`.
            ///
            /// # Panics
            /// If the embedded schemas do not compile, which the server runtime's tests rule out.
            pub fn router<A: EventPulseApi>(api: Arc<A>, auth: Arc<dyn Authenticator>) -> ::axum::Router {
                let doc = rt::SchemaDocument::parse(SCHEMAS).unwrap_or_else(|e| panic!("{e}"));
                let endpoint = |op: &'static contract::Operation| {
                    Arc::new(rt::Endpoint::compile(op, &doc, auth.clone()).unwrap_or_else(|e| panic!("{e}")))
                };
                ::axum::Router::new()
                    #routes
                    .fallback(rt::not_found)
                    .layer(::axum::middleware::from_fn(rt::request_id))
            }
        }

        pub use handlers::router;
    })?;
    Ok(Server { api, router })
}

// ---------------------------------------------------------------------------------------------
// Reading the spec

fn operations(spec: &Value) -> Result<Vec<Operation>> {
    let paths = spec
        .get("paths")
        .and_then(Value::as_object)
        .context("openapi.yaml has no paths")?;
    let default_security = spec.get("security");
    let mut ops = Vec::new();
    let mut ids = BTreeSet::new();
    for (path, item) in paths {
        let item = resolve(spec, item)?;
        for method in METHODS {
            let Some(op) = item.get(*method) else {
                continue;
            };
            let id = op
                .get("operationId")
                .and_then(Value::as_str)
                .with_context(|| format!("{method} {path} has no operationId"))?;
            ensure!(
                ids.insert(id.to_string()),
                "operationId `{id}` is used twice"
            );
            let op = operation(spec, path, method, item, op, default_security)
                .with_context(|| format!("operation `{id}` ({method} {path})"))?;
            ops.push(op);
        }
    }
    Ok(ops)
}

fn operation(
    spec: &Value,
    path: &str,
    method: &str,
    item: &Value,
    op: &Value,
    default_security: Option<&Value>,
) -> Result<Operation> {
    let text = |v: &Value, k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .map(|s| s.trim().to_string())
    };
    let doc = [text(op, "summary"), text(op, "description")]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join("\n\n");

    // Path-item parameters apply unless the operation redefines the same (name, in).
    let mut params: Vec<Param> = Vec::new();
    let declared = [item.get("parameters"), op.get("parameters")];
    for p in declared
        .into_iter()
        .flatten()
        .flat_map(|ps| ps.as_array().into_iter().flatten())
    {
        let p = parameter(spec, p)?;
        params.retain(|q| (q.name.as_str(), q.path) != (p.name.as_str(), p.path));
        params.push(p);
    }
    let in_template: BTreeSet<&str> = path
        .split('/')
        .filter_map(|s| s.strip_prefix('{')?.strip_suffix('}'))
        .collect();
    let declared: BTreeSet<&str> = params
        .iter()
        .filter(|p| p.path)
        .map(|p| p.name.as_str())
        .collect();
    ensure!(
        in_template == declared,
        "path parameters {declared:?} do not match the template's {in_template:?}"
    );

    let body = match op.get("requestBody") {
        None => None,
        Some(b) => {
            let b = resolve(spec, b)?;
            let content = b
                .get("content")
                .and_then(Value::as_object)
                .context("requestBody has no content")?;
            let schema = match (content.len(), content.get("application/json")) {
                (1, Some(media)) => media.get("schema").cloned().unwrap_or(json!({})),
                _ => bail!("the server generator supports request bodies of application/json only"),
            };
            Some(Body {
                required: b.get("required").and_then(Value::as_bool).unwrap_or(false),
                doc: text(b, "description"),
                schema,
            })
        }
    };

    let mut responses = Vec::new();
    let declared = op
        .get("responses")
        .and_then(Value::as_object)
        .context("no responses")?;
    for (code, r) in declared {
        if !code.starts_with('2') {
            continue; // errors are `ApiError`s, rendered as problems
        }
        let status = code
            .parse()
            .with_context(|| format!("response code `{code}` is not a number"))?;
        let r = resolve(spec, r)?;
        // `x-request-id` is set on every response by the runtime (`request_id` middleware of
        // eventpulse-server-rt), not by handlers; no other header can be set yet.
        if let Some(headers) = r.get("headers").and_then(Value::as_object) {
            for name in headers.keys() {
                ensure!(
                    name.eq_ignore_ascii_case("x-request-id"),
                    "response {code} declares header {name}; the server generator cannot let handlers set headers yet (only the runtime's x-request-id)"
                );
            }
        }
        let content = match r.get("content").and_then(Value::as_object) {
            None => None,
            Some(c) if c.len() == 1 => c
                .iter()
                .next()
                .map(|(media, m)| (media.clone(), m.get("schema").cloned().unwrap_or(json!({})))),
            Some(_) => bail!(
                "response {code} offers several media types; the server generator supports one"
            ),
        };
        responses.push(Response {
            status,
            doc: text(r, "description").unwrap_or_default(),
            content,
        });
    }
    ensure!(!responses.is_empty(), "no 2xx response");

    Ok(Operation {
        id: op
            .get("operationId")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string(),
        method: method.to_string(),
        path: path.to_string(),
        doc,
        secured: op
            .get("security")
            .or(default_security)
            .is_some_and(is_secured),
        params,
        body,
        responses,
    })
}

/// `security: []` (or a requirement `{}`) means anonymous callers are allowed.
fn is_secured(requirements: &Value) -> bool {
    requirements.as_array().is_some_and(|a| {
        !a.is_empty()
            && a.iter()
                .all(|r| r.as_object().is_some_and(|o| !o.is_empty()))
    })
}

fn parameter(spec: &Value, p: &Value) -> Result<Param> {
    let p = resolve(spec, p)?;
    let name = p
        .get("name")
        .and_then(Value::as_str)
        .context("a parameter has no name")?;
    let path = match p.get("in").and_then(Value::as_str) {
        Some("path") => true,
        Some("query") => false,
        other => bail!(
            "parameter `{name}` is in {other:?}; the server generator supports path and query"
        ),
    };
    ensure!(
        p.get("content").is_none(),
        "parameter `{name}`: use `schema`, not `content`"
    );
    let schema = p
        .get("schema")
        .cloned()
        .with_context(|| format!("parameter `{name}` has no schema"))?;
    let resolved = resolve(spec, &schema)?;
    let wire = match resolved.get("type").and_then(Value::as_str) {
        Some("integer") => "Integer",
        Some("number") => "Number",
        Some("boolean") => "Boolean",
        Some("string") | None => "String",
        Some(other) => {
            bail!("parameter `{name}` is of type {other}; only scalar parameters are supported")
        }
    };
    Ok(Param {
        name: name.to_string(),
        path,
        required: path || p.get("required").and_then(Value::as_bool).unwrap_or(false),
        doc: p
            .get("description")
            .and_then(Value::as_str)
            .map(str::to_string),
        default: resolved.get("default").cloned(),
        schema,
        wire,
    })
}

/// Follows local `$ref`s (`#/components/...`) to the value they name.
fn resolve<'a>(spec: &'a Value, mut v: &'a Value) -> Result<&'a Value> {
    for _ in 0..16 {
        let Some(r) = v.get("$ref").and_then(Value::as_str) else {
            return Ok(v);
        };
        let pointer = r
            .strip_prefix('#')
            .with_context(|| format!("$ref {r} is not local"))?;
        v = spec
            .pointer(pointer)
            .with_context(|| format!("$ref {r} points nowhere"))?;
    }
    bail!("$ref chain too long (a cycle?)")
}

/// `{"components": {"schemas": ...}}` with the components the parameters and bodies reach.
fn schema_document(ops: &[Operation], components: &Map<String, Value>) -> Result<Value> {
    let mut todo: Vec<String> = Vec::new();
    for op in ops {
        for s in op
            .params
            .iter()
            .map(|p| &p.schema)
            .chain(op.body.iter().map(|b| &b.schema))
        {
            refs(s, &mut todo)?;
        }
    }
    let mut reached = BTreeSet::new();
    while let Some(name) = todo.pop() {
        if reached.insert(name.clone()) {
            let s = components
                .get(&name)
                .with_context(|| format!("no components/schemas/{name}"))?;
            refs(s, &mut todo)?;
        }
    }
    let picked: Map<String, Value> = components
        .iter()
        .filter(|(k, _)| reached.contains(*k))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    Ok(json!({ "components": { "schemas": picked } }))
}

/// The components a schema refers to. Refuses `nullable`, which JSON Schema does not know
/// and the runtime would therefore not honour.
fn refs(schema: &Value, out: &mut Vec<String>) -> Result<()> {
    match schema {
        Value::Object(o) => {
            ensure!(
                o.get("nullable") != Some(&json!(true)),
                "`nullable` is not supported by the server runtime"
            );
            for (k, v) in o {
                match (k.as_str(), v) {
                    ("$ref", Value::String(r)) => {
                        let name = r.strip_prefix("#/components/schemas/").with_context(|| {
                            format!("schema $ref {r} is not into #/components/schemas")
                        })?;
                        out.push(name.to_string());
                    }
                    ("properties", Value::Object(props)) => {
                        for p in props.values() {
                            refs(p, out)?;
                        }
                    }
                    ("enum" | "default" | "example", _) => {}
                    _ => refs(v, out)?,
                }
            }
        }
        Value::Array(a) => {
            for v in a {
                refs(v, out)?;
            }
        }
        _ => {}
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Rust types

struct Types {
    space: TypeSpace,
}

impl Types {
    fn new(components: &Map<String, Value>) -> Result<Self> {
        let defs = types_gen::to_schemars(&types_gen::server_view(components)?)?;
        types_gen::guard("server types", || {
            let mut settings = types_gen::server_settings();
            settings.with_type_mod("types");
            let mut space = TypeSpace::new(&settings);
            space
                .add_ref_types(defs)
                .map_err(|e| anyhow!("typify: {e}"))?;
            Ok(Self { space })
        })
    }

    fn named_types(&self) -> usize {
        self.space
            .iter_types()
            .filter(|t| {
                matches!(
                    t.details(),
                    TypeDetails::Struct(_) | TypeDetails::Enum(_) | TypeDetails::Newtype(_)
                )
            })
            .count()
    }

    /// The Rust type of a schema: `types::X` for a `$ref`, a std/chrono/serde_json type for a
    /// simple inline schema.
    fn rust_type(&mut self, schema: &Value, what: &str) -> Result<TokenStream> {
        let parsed: schemars::schema::Schema = serde_json::from_value(schema.clone())
            .with_context(|| format!("{what}: not a schema typify can read"))?;
        let before = self.named_types();
        let space = &mut self.space;
        let id = types_gen::guard(what, || {
            space.add_type(&parsed).map_err(|e| anyhow!("typify: {e}"))
        })?;
        ensure!(
            self.named_types() == before,
            "{what}: this inline schema needs a type of its own; move it to components/schemas and $ref it"
        );
        Ok(self
            .space
            .get_type(&id)
            .map_err(|e| anyhow!("typify: {e}"))?
            .ident())
    }

    /// The Rust type of a response body of `media`: typed JSON, or raw text or bytes.
    fn response_type(
        &mut self,
        media: &str,
        schema: &Value,
        what: &str,
    ) -> Result<(TokenStream, bool)> {
        if media == "application/json" || media.ends_with("+json") {
            return Ok((self.rust_type(schema, what)?, true));
        }
        match (
            schema.get("type").and_then(Value::as_str),
            schema.get("format").and_then(Value::as_str),
        ) {
            (Some("string"), Some("binary")) => Ok((quote!(::bytes::Bytes), false)),
            (Some("string"), _) => Ok((quote!(::std::string::String), false)),
            // A YAML body whose schema describes the parsed document: handlers give its text.
            (Some("object"), _) if media.ends_with("yaml") => {
                Ok((quote!(::std::string::String), false))
            }
            _ => bail!("{what}: a {media} body must have a string schema"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Emitting code

/// What one operation contributes to each file.
struct OperationItems {
    /// Request struct, response enum and table (`api.rs`).
    api: TokenStream,
    /// The response enum's `IntoHttp` and the handler (the router).
    router: TokenStream,
    /// The trait method (`api.rs`).
    method: TokenStream,
}

fn operation_items(op: &Operation, types: &mut Types) -> Result<OperationItems> {
    let pascal = op.id.to_upper_camel_case();
    let request = format_ident!("{pascal}Request");
    let response = format_ident!("{pascal}Response");
    let method = ident(&op.id.to_snake_case());
    let handler = format_ident!("handle_{}", op.id.to_snake_case());
    let table = table_ident(&op.id);
    let route = format!("`{} {}`", op.method.to_uppercase(), op.path);

    // Request struct: one field per parameter, then the body.
    let mut fields = Vec::new();
    let mut inits = Vec::new();
    let mut entries = Vec::new();
    for p in &op.params {
        let field = field_name(&p.name);
        ensure!(field != "body", "a parameter may not be called `body`");
        let what = format!("parameter `{}`", p.name);
        let mut ty = types.rust_type(&p.schema, &what)?;
        if !p.required && p.default.is_none() {
            ty = quote!(::std::option::Option<#ty>);
        }
        let field = ident(&field);
        let docs = doc(p.doc.as_deref().unwrap_or(""));
        fields.push(quote! { #docs pub #field: #ty, });
        let (name, loc) = (&p.name, if p.path { quote!(Path) } else { quote!(Query) });
        inits.push(quote! { #field: input.take(contract::In::#loc, #name)?, });
        let (required, wire) = (p.required, format_ident!("{}", p.wire));
        let default = match &p.default {
            Some(d) => {
                let d = raw_literal(&d.to_string())?;
                quote!(Some(#d))
            }
            None => quote!(None),
        };
        let schema = raw_literal(&p.schema.to_string())?;
        entries.push(quote! {
            rt::Param { name: #name, location: rt::In::#loc, required: #required, wire: rt::Wire::#wire, default: #default, schema: #schema },
        });
    }
    let body_entry = match &op.body {
        Some(b) => {
            let mut ty = types.rust_type(&b.schema, "the request body")?;
            if !b.required {
                ty = quote!(::std::option::Option<#ty>);
            }
            let docs = doc(b.doc.as_deref().unwrap_or("The request body."));
            fields.push(quote! { #docs pub body: #ty, });
            inits.push(quote! { body: input.take_body()?, });
            let (required, schema) = (b.required, raw_literal(&b.schema.to_string())?);
            quote!(Some(rt::BodySpec { required: #required, schema: #schema }))
        }
        None => quote!(None),
    };

    // Response enum: one variant per 2xx status.
    let mut variants = Vec::new();
    let mut arms = Vec::new();
    for r in &op.responses {
        let &(_, variant, constant) = STATUSES
            .iter()
            .find(|(code, _, _)| *code == r.status)
            .with_context(|| {
                format!(
                    "status {} has no variant name; add it to STATUSES",
                    r.status
                )
            })?;
        let (variant, status) = (format_ident!("{variant}"), format_ident!("{constant}"));
        let docs = doc(&format!("{}: {}", r.status, r.doc));
        match &r.content {
            None => {
                variants.push(quote! { #docs #variant, });
                arms.push(
                    quote! { Self::#variant => rt::empty_response(::http::StatusCode::#status), },
                );
            }
            Some((media, schema)) => {
                let what = format!("the {} response", r.status);
                let (ty, json) = types.response_type(media, schema, &what)?;
                variants.push(quote! { #docs #variant(#ty), });
                arms.push(if json {
                    quote! { Self::#variant(body) => rt::json_response(::http::StatusCode::#status, #media, &body), }
                } else {
                    quote! { Self::#variant(body) => rt::body_response(::http::StatusCode::#status, #media, body), }
                });
            }
        }
    }

    let (id, http_method, path, secured) = (&op.id, op.method.to_uppercase(), &op.path, op.secured);
    let principal_param = secured.then(|| quote!(principal: &Principal,));
    let principal_arg = secured.then(|| quote!(input.principal()?,));
    let input_binding = if inits.is_empty() {
        quote!(input)
    } else {
        quote!(mut input)
    };
    let request_doc = doc(&format!("The inputs of `{id}` ({route})."));
    let response_doc = doc(&format!(
        "The outcomes of `{id}` ({route}) other than errors."
    ));
    let method_doc = doc(&format!("{}\n\n{route}", op.doc));

    let table_doc = doc(&format!("The table of `{id}` ({route})."));
    let api = quote! {
        #request_doc
        #[derive(Debug, Clone, PartialEq)]
        pub struct #request { #(#fields)* }

        #response_doc
        #[derive(Debug, Clone, PartialEq)]
        pub enum #response { #(#variants)* }

        #table_doc
        pub static #table: rt::Operation = rt::Operation {
            id: #id,
            method: #http_method,
            path: #path,
            secured: #secured,
            params: &[#(#entries)*],
            body: #body_entry,
        };
    };
    let router = quote! {
        impl IntoHttp for #response {
            fn into_http(self) -> ::axum::response::Response {
                match self { #(#arms)* }
            }
        }

        async fn #handler<A: EventPulseApi>(
            api: Arc<A>,
            endpoint: Arc<rt::Endpoint>,
            request: ::axum::extract::Request,
        ) -> ::axum::response::Response {
            let (ctx, input) = endpoint.intake(request).await;
            let result: ::std::result::Result<#response, ApiError> = async {
                let #input_binding = input?;
                let req = #request { #(#inits)* };
                api.#method(&ctx, #principal_arg req).await
            }
            .await;
            rt::respond(&ctx, result.map(IntoHttp::into_http))
        }
    };
    let trait_method = quote! {
        #method_doc
        fn #method(
            &self,
            ctx: &RequestContext,
            #principal_param
            req: #request,
        ) -> impl ::std::future::Future<Output = ::std::result::Result<#response, ApiError>> + Send;
    };
    Ok(OperationItems {
        api,
        router,
        method: trait_method,
    })
}

/// `.route(path, method router)` for every path, with a 405 fallback naming the methods.
fn routes(ops: &[Operation]) -> TokenStream {
    let mut paths: Vec<&str> = ops.iter().map(|op| op.path.as_str()).collect();
    paths.dedup();
    let mut out = TokenStream::new();
    for path in paths {
        let here: Vec<&Operation> = ops.iter().filter(|op| op.path == path).collect();
        let mut allow: Vec<String> = here.iter().map(|op| op.method.to_uppercase()).collect();
        if allow.iter().any(|m| m == "GET") && !allow.iter().any(|m| m == "HEAD") {
            allow.push("HEAD".into()); // axum answers HEAD with the GET handler
        }
        let allow = allow.join(", ");
        let handlers = here.iter().map(|op| {
            let method = format_ident!("{}", op.method);
            let handler = format_ident!("handle_{}", op.id.to_snake_case());
            let table = table_ident(&op.id);
            quote! {
                .#method({
                    let (api, endpoint) = (api.clone(), endpoint(&#table));
                    move |request: ::axum::extract::Request| #handler(api, endpoint, request)
                })
            }
        });
        out.extend(quote! {
            .route(
                #path,
                ::axum::routing::MethodRouter::new()
                    #(#handlers)*
                    .fallback(|request: ::axum::extract::Request| rt::method_not_allowed(request, #allow)),
            )
        });
    }
    out
}

// ---------------------------------------------------------------------------------------------
// Naming and literals

/// A parameter's Rust field name: snake case, with a trailing `_` for keywords (`type_`).
pub fn field_name(param: &str) -> String {
    let snake = param.to_snake_case();
    if syn::parse_str::<syn::Ident>(&snake).is_ok() {
        snake
    } else {
        format!("{snake}_")
    }
}

fn ident(name: &str) -> syn::Ident {
    format_ident!("{}", field_name(name))
}

fn table_ident(operation_id: &str) -> syn::Ident {
    format_ident!("{}", operation_id.to_shouty_snake_case())
}

/// `#[doc]` lines, so that prettyplease prints them as `///` comments.
fn doc(text: &str) -> TokenStream {
    let lines = text
        .trim_end()
        .lines()
        .map(|l| format!(" {l}").trim_end().to_string());
    quote! { #(#[doc = #lines])* }
}

/// A raw string literal holding `s`, with enough `#`s that it cannot end early.
pub fn raw_literal(s: &str) -> Result<Literal> {
    let mut hashes = String::from("#");
    while s.contains(&format!("\"{hashes}")) {
        hashes.push('#');
    }
    format!("r{hashes}\"{s}\"{hashes}")
        .parse()
        .map_err(|e| anyhow!("cannot make a string literal: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_rust_conventions() {
        assert_eq!(field_name("uploadId"), "upload_id");
        assert_eq!(field_name("type"), "type_");
        assert_eq!(field_name("limit"), "limit");
        assert_eq!("list_events".to_upper_camel_case(), "ListEvents");
        assert_eq!(
            table_ident("get_quarantine_object").to_string(),
            "GET_QUARANTINE_OBJECT"
        );
    }

    #[test]
    fn raw_literals_survive_quotes_and_hashes() {
        let s = r##"{"$ref":"#/components/schemas/X","p":"a"#b"}"##;
        let lit = raw_literal(s).unwrap().to_string();
        assert!(lit.starts_with("r##\""), "{lit}");
        let parsed: syn::LitStr = syn::parse_str(&lit).unwrap();
        assert_eq!(parsed.value(), s);
    }

    #[test]
    fn empty_security_means_public() {
        assert!(!is_secured(&json!([])));
        assert!(!is_secured(&json!([{}])));
        assert!(is_secured(&json!([{"bearerAuth": []}])));
    }

    #[test]
    fn unsupported_inputs_are_refused_with_a_reason() {
        let spec = json!({"paths": {}});
        let err = parameter(&spec, &json!({"name": "x", "in": "header", "schema": {}}))
            .err()
            .unwrap();
        assert!(err.to_string().contains("path and query"), "{err}");
        let mut out = Vec::new();
        assert!(refs(&json!({"type": "string", "nullable": true}), &mut out).is_err());
        refs(
            &json!({"properties": {"nullable": {"$ref": "#/components/schemas/A"}}}),
            &mut out,
        )
        .unwrap();
        assert_eq!(out, ["A"]);
    }
}
