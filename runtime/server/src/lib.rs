//! The axum runtime of the generated server interface (`eventpulse_generated::api` and the
//! router in `eventpulse-generated-router`).
//!
//! The generated code holds everything that differs per operation (typed requests and
//! responses, the trait, the route table, and a table describing each operation's parameters
//! and body). This crate holds what is the same for every operation, driven by that table:
//! request ids, authentication, turning path/query/body into a validated JSON "request
//! document", and rendering errors as `application/problem+json`. Keeping it hand-written
//! keeps the generator small; keeping it table-driven keeps per-operation code out of it.
//! The types the domain sees (`ApiError`, `Principal`, `RequestContext`, the tables) are in
//! the axum-free `eventpulse-contract-rt`.

use axum::body::Body;
use axum::extract::{FromRequestParts, RawPathParams, Request};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use eventpulse_contract_rt::json;
use eventpulse_contract_rt::{
    ApiError, AuditInfo, Authenticator, In, MAX_ERRORS, Operation, Param, Principal,
    RequestContext, Violation, Wire,
};
use eventpulse_generated::types::{Problem, ProblemError};
use http::StatusCode;
use http::header::{self, HeaderValue};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};
use std::collections::BTreeMap;
use std::sync::Arc;

pub mod limits;

/// Largest accepted request body. Request bodies are small filter/option objects; anything
/// bigger is a mistake or an attack, and refusing it before parsing bounds memory per request.
pub const MAX_BODY_BYTES: usize = 64 * 1024;
pub const REQUEST_ID_HEADER: &str = "x-request-id";

/// The problem body of `e` in the context of one request.
pub fn problem(e: &ApiError, ctx: &RequestContext) -> Problem {
    Problem {
        type_: e.type_uri(),
        title: e.title.clone(),
        status: i64::from(e.status.as_u16()),
        detail: Some(e.detail.clone()),
        instance: Some(ctx.path.clone()),
        request_id: Some(ctx.request_id.clone()),
        errors: e
            .errors
            .iter()
            .map(|v| ProblemError {
                pointer: v.pointer.clone(),
                keyword: v.keyword.clone(),
                message: v.message.clone(),
            })
            .collect(),
    }
}

/// `e` as an `application/problem+json` response. Without a request context (`None`) the
/// problem has no `instance` and no `requestId`; prefer giving one.
pub fn problem_response(e: &ApiError, ctx: Option<&RequestContext>) -> Response {
    let problem = match ctx {
        Some(ctx) => problem(e, ctx),
        None => {
            let mut p = problem(
                e,
                &RequestContext {
                    request_id: String::new(),
                    operation_id: "",
                    path: String::new(),
                    user: None,
                    resources: Vec::new(),
                },
            );
            (p.instance, p.request_id) = (None, None);
            p
        }
    };
    let body = serde_json::to_vec(&problem).unwrap_or_default();
    let mut response = (e.status, body).into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/problem+json"),
    );
    for (name, value) in &e.headers {
        headers.insert(name, value.clone());
    }
    response
}

fn problem_error(pointer: String, keyword: &str, message: impl Into<String>) -> Violation {
    Violation::new(pointer, keyword, message)
}

// ---------------------------------------------------------------------------------------------
// Request ids

/// The request id, put into the request extensions by [`request_id`].
#[derive(Debug, Clone)]
pub struct RequestId(pub String);

/// Middleware: adopts the caller's `x-request-id` when it is a sane token (so a request can be
/// followed across systems), otherwise makes a new one, and echoes it on every response.
pub async fn request_id(mut req: Request, next: Next) -> Response {
    let id = req
        .headers()
        .get(REQUEST_ID_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| is_sane_request_id(s))
        .map_or_else(new_request_id, str::to_string);
    req.extensions_mut().insert(RequestId(id.clone()));
    let started = std::time::Instant::now();
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let mut response = next.run(req).await;
    // One audit line per request: who did what to which resource, and how it ended.
    let audit = response.extensions().get::<AuditInfo>();
    let resources = audit
        .map(|a| {
            a.resources
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(",")
        })
        .unwrap_or_default();
    tracing::info!(
        target: "eventpulse::audit",
        kind = "request",
        request_id = %id,
        method = %method,
        path = %path,
        operation = audit.map_or("none", |a| a.operation_id),
        user = audit.and_then(|a| a.user.as_deref()).unwrap_or("-"),
        resources = %resources,
        status = response.status().as_u16(),
        latency_ms = started.elapsed().as_secs_f64() * 1000.0,
    );
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// 1 to 128 characters of `[A-Za-z0-9._:-]`: safe to log and to echo in a header.
pub fn is_sane_request_id(s: &str) -> bool {
    (1..=128).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

fn new_request_id() -> String {
    uuid::Uuid::new_v4().to_string()
}

fn context(parts: &http::request::Parts, operation_id: &'static str) -> RequestContext {
    RequestContext {
        request_id: parts
            .extensions
            .get::<RequestId>()
            .map_or_else(new_request_id, |r| r.0.clone()),
        operation_id,
        path: parts.uri.path().to_string(),
        user: None,
        resources: Vec::new(),
    }
}

/// Router fallback: no operation has this path.
pub async fn not_found(req: Request) -> Response {
    let (parts, _) = req.into_parts();
    let detail = format!(
        "no operation at {}; the operations are listed in /openapi.yaml",
        parts.uri.path()
    );
    problem_response(
        &ApiError::not_found(detail),
        Some(&context(&parts, "not_found")),
    )
}

/// Method fallback of a known path; `allow` lists the methods it has.
pub async fn method_not_allowed(req: Request, allow: &'static str) -> Response {
    let (parts, _) = req.into_parts();
    let detail = format!(
        "{} does not accept {}; use one of: {allow}",
        parts.uri.path(),
        parts.method
    );
    problem_response(
        &ApiError::method_not_allowed(detail, allow),
        Some(&context(&parts, "method_not_allowed")),
    )
}

// ---------------------------------------------------------------------------------------------
// Operation tables (`eventpulse_contract_rt::operation`, emitted by the generator) compiled

#[derive(Debug, thiserror::Error)]
#[error(
    "the server's embedded schemas do not compile ({0}); regenerate with `cargo xtask codegen`"
)]
pub struct SpecError(String);

/// The document every `$ref` of the embedded schemas resolves against: `{"components": {"schemas": ...}}`.
pub struct SchemaDocument(Value);

impl SchemaDocument {
    pub fn parse(json: &str) -> Result<Self, SpecError> {
        serde_json::from_str(json)
            .map(Self)
            .map_err(|e| SpecError(e.to_string()))
    }

    /// Compiles one schema. OpenAPI 3.0 schemas are JSON Schema draft-04-like (boolean
    /// `exclusiveMinimum`, keywords beside `$ref` ignored), so validate with draft 4.
    /// The schema sits under `allOf` of a copy of the document so that its `#/components/...`
    /// references resolve.
    fn compile(&self, schema_json: &str) -> Result<jsonschema::Validator, SpecError> {
        let schema: Value =
            serde_json::from_str(schema_json).map_err(|e| SpecError(e.to_string()))?;
        let mut root = self.0.clone();
        if let Some(o) = root.as_object_mut() {
            o.insert("allOf".into(), Value::Array(vec![schema]));
        }
        jsonschema::options()
            .with_draft(jsonschema::Draft::Draft4)
            .should_validate_formats(true)
            .build(&root)
            .map_err(|e| SpecError(format!("{schema_json}: {e}")))
    }
}

/// One operation, ready to take requests: its table with compiled validators.
pub struct Endpoint {
    op: &'static Operation,
    params: Vec<(&'static Param, jsonschema::Validator, Option<Value>)>,
    body: Option<(bool, jsonschema::Validator)>,
    auth: Arc<dyn Authenticator>,
}

impl Endpoint {
    pub fn compile(
        op: &'static Operation,
        doc: &SchemaDocument,
        auth: Arc<dyn Authenticator>,
    ) -> Result<Self, SpecError> {
        let params = op
            .params
            .iter()
            .map(|p| {
                let default = p
                    .default
                    .map(serde_json::from_str)
                    .transpose()
                    .map_err(|e| SpecError(format!("default of {}: {e}", p.name)))?;
                Ok((p, doc.compile(p.schema)?, default))
            })
            .collect::<Result<_, SpecError>>()?;
        let body = match &op.body {
            Some(b) => Some((b.required, doc.compile(b.schema)?)),
            None => None,
        };
        Ok(Self {
            op,
            params,
            body,
            auth,
        })
    }

    /// Everything before the handler: context, authentication, parameters and body.
    /// Never fails outright: the context is needed to render the error too.
    pub async fn intake(&self, req: Request) -> (RequestContext, Result<Input, ApiError>) {
        let (mut parts, body) = req.into_parts();
        let mut ctx = context(&parts, self.op.id);
        let input = self.intake_parts(&mut parts, body).await;
        if let Ok(input) = &input {
            ctx.user = input.principal.as_ref().map(|p| p.user_id.clone());
            ctx.resources = input
                .path
                .iter()
                .map(|(k, v)| {
                    (
                        k.clone(),
                        v.as_str().map_or_else(|| v.to_string(), str::to_string),
                    )
                })
                .collect();
        }
        (ctx, input)
    }

    async fn intake_parts(
        &self,
        parts: &mut http::request::Parts,
        body: Body,
    ) -> Result<Input, ApiError> {
        // Authenticate first: an anonymous caller learns nothing about the inputs.
        let principal = if self.op.secured {
            Some(self.auth.authenticate(parts)?)
        } else {
            None
        };
        let mut input = Input {
            principal,
            path: Map::new(),
            query: Map::new(),
            body: None,
        };
        let mut errors = Vec::new();
        self.read_params(parts, &mut input, &mut errors).await?;
        if let Some((required, validator)) = &self.body {
            input.body = read_body(parts, body, *required, validator, &mut errors).await?;
        }
        if errors.is_empty() {
            Ok(input)
        } else {
            let detail = format!(
                "the request breaks {} constraint(s) of the API; see errors[] and /openapi.yaml",
                errors.len()
            );
            Err(ApiError::validation(detail, errors))
        }
    }

    async fn read_params(
        &self,
        parts: &mut http::request::Parts,
        input: &mut Input,
        errors: &mut Vec<Violation>,
    ) -> Result<(), ApiError> {
        let path_params = if self.op.params.iter().any(|p| p.location == In::Path) {
            RawPathParams::from_request_parts(parts, &())
                .await
                .map_err(|e| ApiError::bad_request(e.body_text()))?
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        } else {
            BTreeMap::new()
        };
        // Only the declared query parameters are collected; unknown ones are ignored so that
        // clients can add tracking or cache-busting parameters.
        let mut query: BTreeMap<&str, Vec<String>> = BTreeMap::new();
        for (k, v) in form_urlencoded::parse(parts.uri.query().unwrap_or("").as_bytes()) {
            if let Some(p) = self
                .op
                .params
                .iter()
                .find(|p| p.location == In::Query && p.name == k)
            {
                query.entry(p.name).or_default().push(v.into_owned());
            }
        }
        for (p, validator, default) in &self.params {
            let pointer = format!("/{}/{}", p.location.segment(), json::escape_token(p.name));
            let values = match p.location {
                In::Path => path_params.get(p.name).cloned().into_iter().collect(),
                In::Query => query.remove(p.name).unwrap_or_default(),
            };
            let value = match values.as_slice() {
                [] => match default {
                    Some(d) => d.clone(),
                    None if p.required => {
                        let msg = format!(
                            "the {} parameter `{}` is required",
                            p.location.segment(),
                            p.name
                        );
                        errors.push(problem_error(pointer, "required", msg));
                        continue;
                    }
                    None => continue,
                },
                [one] => coerce(one, p.wire),
                [..] => {
                    let msg = format!("give the parameter `{}` at most once", p.name);
                    errors.push(problem_error(pointer, "repeated", msg));
                    continue;
                }
            };
            push_schema_errors(validator, &value, &pointer, errors);
            let map = match p.location {
                In::Path => &mut input.path,
                In::Query => &mut input.query,
            };
            map.insert(p.name.to_string(), value);
        }
        Ok(())
    }
}

/// Parameters arrive as strings; their schema says integer/number/boolean. Anything that does
/// not convert stays a string, so the schema's `type` check reports it with the usual message.
fn coerce(raw: &str, wire: Wire) -> Value {
    let converted = match wire {
        Wire::String => None,
        Wire::Integer => raw
            .parse::<i64>()
            .map(Value::from)
            .or_else(|_| raw.parse::<u64>().map(Value::from))
            .ok(),
        Wire::Number => raw
            .parse::<f64>()
            .ok()
            .and_then(serde_json::Number::from_f64)
            .map(Value::Number),
        Wire::Boolean => match raw {
            "true" => Some(Value::Bool(true)),
            "false" => Some(Value::Bool(false)),
            _ => None,
        },
    };
    converted.unwrap_or_else(|| Value::String(raw.to_string()))
}

fn push_schema_errors(
    validator: &jsonschema::Validator,
    value: &Value,
    pointer: &str,
    errors: &mut Vec<Violation>,
) {
    for e in validator.iter_errors(value).take(MAX_ERRORS) {
        errors.push(problem_error(
            format!("{pointer}{}", e.instance_path().as_str()),
            e.kind().keyword(),
            e.to_string(),
        ));
    }
}

/// Reads, parses and validates a JSON body. `Ok(None)` when there is none (allowed only if
/// it is optional); hard failures (too large, not JSON) end the request at once.
async fn read_body(
    parts: &http::request::Parts,
    body: Body,
    required: bool,
    validator: &jsonschema::Validator,
    errors: &mut Vec<Violation>,
) -> Result<Option<Value>, ApiError> {
    let too_large = || {
        ApiError::payload_too_large(format!(
            "the request body is larger than {MAX_BODY_BYTES} bytes"
        ))
    };
    let announced = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_BODY_BYTES as u64) {
        return Err(too_large());
    }
    let bytes = match axum::body::to_bytes(body, MAX_BODY_BYTES).await {
        Ok(b) => b,
        Err(e) => {
            let over_limit = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return Err(if over_limit {
                too_large()
            } else if limits::is_body_timeout(&e) {
                ApiError::request_timeout(format!("the request body stopped arriving: {e}"))
            } else {
                ApiError::bad_request(format!("the request body could not be read: {e}"))
            });
        }
    };
    if bytes.is_empty() {
        if required {
            let msg = "this operation needs a JSON body";
            errors.push(problem_error("/body".into(), "required", msg));
        }
        return Ok(None);
    }
    let is_json = parts
        .headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|essence| essence.trim().eq_ignore_ascii_case("application/json"));
    if !is_json {
        let msg = "send the body as JSON with `Content-Type: application/json`";
        return Err(ApiError::validation(
            msg,
            vec![problem_error("/body".into(), "contentType", msg)],
        ));
    }
    let value = json::parse(&bytes, MAX_BODY_BYTES).map_err(|e| {
        // The parser points at the object holding a duplicate key with "/" for the root.
        let inner = match e.pointer() {
            "/" => "",
            p => p,
        };
        let msg = format!("the body is not acceptable JSON: {e}");
        ApiError::validation(
            msg,
            vec![problem_error(
                format!("/body{inner}"),
                e.check(),
                e.to_string(),
            )],
        )
    })?;
    push_schema_errors(validator, &value, "/body", errors);
    Ok(Some(value))
}

/// The validated request document of one call, taken apart by the generated code into the
/// typed request struct.
#[derive(Debug)]
pub struct Input {
    principal: Option<Principal>,
    path: Map<String, Value>,
    query: Map<String, Value>,
    body: Option<Value>,
}

impl Input {
    /// The caller of a secured operation.
    pub fn principal(&self) -> Result<&Principal, ApiError> {
        self.principal
            .as_ref()
            .ok_or_else(|| ApiError::internal("a secured operation ran without a principal"))
    }

    /// Moves one parameter out as its Rust type; absent → JSON null (so `None` for options).
    pub fn take<T: DeserializeOwned>(&mut self, location: In, name: &str) -> Result<T, ApiError> {
        let map = match location {
            In::Path => &mut self.path,
            In::Query => &mut self.query,
        };
        let value = map.remove(name).unwrap_or(Value::Null);
        let pointer = format!("/{}/{}", location.segment(), json::escape_token(name));
        typed(value, pointer)
    }

    /// Moves the body out as its Rust type; absent → JSON null (so `None` for optional bodies).
    pub fn take_body<T: DeserializeOwned>(&mut self) -> Result<T, ApiError> {
        typed(self.body.take().unwrap_or(Value::Null), "/body".into())
    }
}

/// After schema validation this only fails where the Rust type is stricter than the schema;
/// it is still the request's fault, so it is a 400 naming the field.
fn typed<T: DeserializeOwned>(value: Value, pointer: String) -> Result<T, ApiError> {
    serde_json::from_value(value).map_err(|e| {
        let msg = e.to_string();
        ApiError::validation(
            format!("{pointer}: {msg}"),
            vec![problem_error(pointer, "type", msg)],
        )
    })
}

/// Ends a request: the handler's response, or its error as a problem (server errors logged).
pub fn respond<R: IntoResponse>(ctx: &RequestContext, result: Result<R, ApiError>) -> Response {
    let mut response = match result {
        Ok(r) => r.into_response(),
        Err(e) => {
            if e.status.is_server_error() {
                tracing::error!(request_id = %ctx.request_id, operation = ctx.operation_id, error = %e, "request failed");
            }
            problem_response(&e, Some(ctx))
        }
    };
    response.extensions_mut().insert(AuditInfo {
        operation_id: ctx.operation_id,
        user: ctx.user.clone(),
        resources: ctx.resources.clone(),
    });
    response
}

// ---------------------------------------------------------------------------------------------
// Response helpers for the generated router's responses

pub fn json_response<T: serde::Serialize>(
    status: StatusCode,
    content_type: &'static str,
    body: &T,
) -> Response {
    match to_json(body) {
        Ok(bytes) => body_response(status, content_type, bytes),
        // Only maps with non-string keys fail to serialize; none of our types has one.
        Err(e) => {
            tracing::error!(error = %e, "response body does not serialize");
            problem_response(
                &ApiError::internal("the response could not be serialized"),
                None,
            )
        }
    }
}

thread_local! {
    /// What responses are serialised into before being copied out at their exact size. A page
    /// of events is ~50 KB: written into a new vector it went through a dozen reallocations,
    /// each a copy, and glibc consolidated its free lists on the larger ones (perf of the
    /// `local` bench's queries, 2026-12-07: allocator and copies ~30% of the server's time).
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// The largest buffer a thread keeps between responses; a larger response still works, its
/// buffer is freed after it.
const SCRATCH_KEPT: usize = 1 << 20;

fn to_json<T: serde::Serialize>(
    body: &T,
) -> Result<Vec<u8>, eventpulse_contract_rt::json_out::Error> {
    SCRATCH.with_borrow_mut(|buf| {
        buf.clear();
        // Not serde_json: this writer copies stored events as their text (json_out's docs).
        let written = eventpulse_contract_rt::json_out::write(&mut *buf, body)
            .map(|()| buf.as_slice().to_vec());
        if buf.capacity() > SCRATCH_KEPT {
            *buf = Vec::new();
        }
        written
    })
}

pub fn body_response(
    status: StatusCode,
    content_type: &'static str,
    body: impl Into<Body>,
) -> Response {
    let mut response = (status, body.into()).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    response
}

pub fn empty_response(status: StatusCode) -> Response {
    status.into_response()
}
