//! Drives the generated `router` (`eventpulse-generated-router`, on this runtime) with an
//! in-memory fake of `EventPulseApi`: authentication, parameter and body validation, problem
//! rendering, routing errors and request ids.

use axum::Router;
use axum::body::{Body, Bytes};
use eventpulse_contract_rt::{ApiError, Authenticator, Principal, RequestContext};
use eventpulse_generated::api::*;
use eventpulse_generated::types;
use eventpulse_generated_router::router;
use http::{HeaderMap, Request, StatusCode, header};
use serde_json::{Value, json};
use std::sync::{Arc, Mutex};
use tower::ServiceExt;

/// Records what reached it; answers a few operations with canned responses.
#[derive(Default)]
struct Fake {
    events: Mutex<Vec<(String, String, ListEventsRequest)>>,
    exports: Mutex<Vec<CreateExportRequest>>,
    uploads: Mutex<Vec<CreateUploadRequest>>,
}

fn typed<T: serde::de::DeserializeOwned>(v: Value) -> T {
    serde_json::from_value(v).expect("canned value matches its type")
}

fn missing(what: &str) -> ApiError {
    ApiError::not_found(format!("the fake has no {what}"))
}

impl EventPulseApi for Fake {
    async fn create_upload(
        &self,
        _: &RequestContext,
        _: &Principal,
        req: CreateUploadRequest,
    ) -> Result<CreateUploadResponse, ApiError> {
        self.uploads.lock().unwrap().push(req);
        Err(ApiError::too_many_requests("slow down", 7))
    }
    async fn get_upload(
        &self,
        _: &RequestContext,
        _: &Principal,
        req: GetUploadRequest,
    ) -> Result<GetUploadResponse, ApiError> {
        match req.upload_id.as_str() {
            "u-1" => Ok(GetUploadResponse::Ok(typed(
                json!({"uploadId": "u-1", "status": "stored", "eventCount": 2}),
            ))),
            _ => Err(missing("such upload")),
        }
    }
    async fn list_events(
        &self,
        ctx: &RequestContext,
        principal: &Principal,
        req: ListEventsRequest,
    ) -> Result<ListEventsResponse, ApiError> {
        let seen = (principal.user_id.clone(), ctx.request_id.clone(), req);
        self.events.lock().unwrap().push(seen);
        Ok(ListEventsResponse::Ok(typed(json!({"items": []}))))
    }
    async fn get_event(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: GetEventRequest,
    ) -> Result<GetEventResponse, ApiError> {
        Err(missing("events"))
    }
    async fn list_quarantine(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: ListQuarantineRequest,
    ) -> Result<ListQuarantineResponse, ApiError> {
        Err(missing("quarantine"))
    }
    async fn get_quarantine(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: GetQuarantineRequest,
    ) -> Result<GetQuarantineResponse, ApiError> {
        Err(missing("quarantine"))
    }
    async fn delete_quarantine(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: DeleteQuarantineRequest,
    ) -> Result<DeleteQuarantineResponse, ApiError> {
        Ok(DeleteQuarantineResponse::NoContent)
    }
    async fn get_quarantine_object(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: GetQuarantineObjectRequest,
    ) -> Result<GetQuarantineObjectResponse, ApiError> {
        Ok(GetQuarantineObjectResponse::Ok(Bytes::from_static(
            b"{not json",
        )))
    }
    async fn reprocess_quarantine(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: ReprocessQuarantineRequest,
    ) -> Result<ReprocessQuarantineResponse, ApiError> {
        Err(ApiError::conflict("already processing"))
    }
    async fn list_notifications(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: ListNotificationsRequest,
    ) -> Result<ListNotificationsResponse, ApiError> {
        Err(missing("notifications"))
    }
    async fn list_subscriptions(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: ListSubscriptionsRequest,
    ) -> Result<ListSubscriptionsResponse, ApiError> {
        Ok(ListSubscriptionsResponse::Ok(typed(json!({"items": []}))))
    }
    async fn create_subscription(
        &self,
        _: &RequestContext,
        _: &Principal,
        req: CreateSubscriptionRequest,
    ) -> Result<CreateSubscriptionResponse, ApiError> {
        Ok(CreateSubscriptionResponse::Created(typed(json!({
            "subscriptionId": "s-1", "protocol": req.body.protocol, "endpoint": *req.body.endpoint,
            "kinds": req.body.kinds.unwrap_or_default(), "status": "pending",
            "createdAt": "2026-12-02T10:00:00Z", "secret": "whsec_x"
        }))))
    }
    async fn get_subscription(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: GetSubscriptionRequest,
    ) -> Result<GetSubscriptionResponse, ApiError> {
        Err(missing("subscription"))
    }
    async fn delete_subscription(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: DeleteSubscriptionRequest,
    ) -> Result<DeleteSubscriptionResponse, ApiError> {
        Ok(DeleteSubscriptionResponse::NoContent)
    }
    async fn confirm_subscription(
        &self,
        _: &RequestContext,
        req: ConfirmSubscriptionRequest,
    ) -> Result<ConfirmSubscriptionResponse, ApiError> {
        match req.token.as_str() {
            "t-1" => Ok(ConfirmSubscriptionResponse::Ok(typed(json!({
                "subscriptionId": "s-1", "protocol": "https", "endpoint": "https://h.example.com/",
                "kinds": ["export_done"], "status": "confirmed", "createdAt": "2026-12-02T10:00:00Z"
            })))),
            _ => Err(missing("subscription waiting for this token")),
        }
    }
    async fn create_export(
        &self,
        _: &RequestContext,
        _: &Principal,
        req: CreateExportRequest,
    ) -> Result<CreateExportResponse, ApiError> {
        self.exports.lock().unwrap().push(req);
        Ok(CreateExportResponse::Accepted(typed(
            json!({"exportId": "x-1", "status": "running"}),
        )))
    }
    async fn get_export(
        &self,
        _: &RequestContext,
        _: &Principal,
        _: GetExportRequest,
    ) -> Result<GetExportResponse, ApiError> {
        Err(ApiError::internal("the fake export store is down"))
    }
    async fn get_event_schema(
        &self,
        _: &RequestContext,
        _: GetEventSchemaRequest,
    ) -> Result<GetEventSchemaResponse, ApiError> {
        Ok(GetEventSchemaResponse::Ok(typed(json!({"type": "object"}))))
    }
    async fn get_released_event_schema(
        &self,
        _: &RequestContext,
        req: GetReleasedEventSchemaRequest,
    ) -> Result<GetReleasedEventSchemaResponse, ApiError> {
        match req.version.as_str() {
            "1" => Ok(GetReleasedEventSchemaResponse::Ok(typed(
                json!({"type": "object"}),
            ))),
            v => Err(ApiError::not_found(format!("no version {v}"))),
        }
    }
    async fn get_openapi(
        &self,
        _: &RequestContext,
        _: GetOpenapiRequest,
    ) -> Result<GetOpenapiResponse, ApiError> {
        Ok(GetOpenapiResponse::Ok(
            eventpulse_generated::OPENAPI_YAML.to_string(),
        ))
    }
    async fn get_openapi_json(
        &self,
        _: &RequestContext,
        _: GetOpenapiJsonRequest,
    ) -> Result<GetOpenapiJsonResponse, ApiError> {
        let doc: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(eventpulse_generated::OPENAPI_JSON)
                .map_err(|e| ApiError::internal(e.to_string()))?;
        Ok(GetOpenapiJsonResponse::Ok(doc.into()))
    }
    async fn get_docs(
        &self,
        _: &RequestContext,
        _: GetDocsRequest,
    ) -> Result<GetDocsResponse, ApiError> {
        Ok(GetDocsResponse::Ok(
            "<!doctype html><title>docs</title>".into(),
        ))
    }
}

/// Token "good-<user>" is user <user>; anything else is refused.
struct FakeAuth;

impl Authenticator for FakeAuth {
    fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, ApiError> {
        let token = parts
            .headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.strip_prefix("Bearer "))
            .ok_or_else(|| ApiError::unauthorized("send a bearer token"))?;
        match token.strip_prefix("good-") {
            Some(user) => Ok(Principal {
                user_id: user.to_string(),
            }),
            None => Err(ApiError::unauthorized("the token is not valid")),
        }
    }
}

struct Harness {
    fake: Arc<Fake>,
    app: Router,
}

struct Reply {
    status: StatusCode,
    headers: HeaderMap,
    body: Bytes,
}

impl Reply {
    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
    }

    /// Asserts the reply is a well-formed problem for `path` and returns it.
    fn problem(&self, status: StatusCode, path: &str) -> types::Problem {
        assert_eq!(
            self.status,
            status,
            "{}",
            String::from_utf8_lossy(&self.body)
        );
        assert_eq!(self.header("content-type"), "application/problem+json");
        let p: types::Problem = serde_json::from_slice(&self.body).expect("body is a Problem");
        assert_eq!(p.status, i64::from(status.as_u16()));
        assert_eq!(p.instance.as_deref(), Some(path));
        assert_eq!(p.request_id.as_deref(), Some(self.header("x-request-id")));
        assert!(
            p.type_.starts_with("https://eventpulse.dev/problems/"),
            "{}",
            p.type_
        );
        p
    }

    /// Asserts a 400 whose first error points at `pointer`.
    fn invalid_at(&self, path: &str, pointer: &str) -> types::Problem {
        let p = self.problem(StatusCode::BAD_REQUEST, path);
        assert_eq!(
            p.errors.first().map(|e| e.pointer.as_str()),
            Some(pointer),
            "{p:#?}"
        );
        p
    }

    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("JSON body")
    }
}

fn harness() -> Harness {
    let fake = Arc::new(Fake::default());
    let app = router(fake.clone(), Arc::new(FakeAuth));
    Harness { fake, app }
}

impl Harness {
    async fn send(&self, req: Request<Body>) -> Reply {
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let (parts, body) = res.into_parts();
        let body = axum::body::to_bytes(body, usize::MAX).await.expect("body");
        Reply {
            status: parts.status,
            headers: parts.headers,
            body,
        }
    }

    async fn get(&self, uri: &str) -> Reply {
        self.send(authed("GET", uri).body(Body::empty()).unwrap())
            .await
    }

    async fn post_json(&self, uri: &str, body: impl Into<Body>) -> Reply {
        let req = authed("POST", uri)
            .header(header::CONTENT_TYPE, "application/json")
            .body(body.into())
            .unwrap();
        self.send(req).await
    }
}

fn authed(method: &str, uri: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(uri)
        .header(header::AUTHORIZATION, "Bearer good-alice")
}

#[tokio::test]
async fn secured_operations_need_a_valid_token() {
    let h = harness();
    let none = Request::get("/v1/events").body(Body::empty()).unwrap();
    let r = h.send(none).await;
    let p = r.problem(StatusCode::UNAUTHORIZED, "/v1/events");
    assert_eq!(r.header("www-authenticate"), "Bearer");
    assert_eq!(p.type_, "https://eventpulse.dev/problems/unauthorized");

    let bad = Request::get("/v1/events?limit=0")
        .header(header::AUTHORIZATION, "Bearer forged")
        .body(Body::empty())
        .unwrap();
    let r = h.send(bad).await;
    // Authentication comes first: the bad limit is not even looked at.
    r.problem(StatusCode::UNAUTHORIZED, "/v1/events");
    assert_eq!(r.header("www-authenticate"), "Bearer");
    assert!(h.fake.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn public_operations_need_no_token() {
    let h = harness();
    for (uri, content_type) in [
        ("/openapi.yaml", "application/yaml"),
        ("/openapi.json", "application/json"),
        ("/docs", "text/html"),
        ("/v1/schemas/event", "application/schema+json"),
        ("/v1/schemas/event/1", "application/schema+json"),
    ] {
        let r = h.send(Request::get(uri).body(Body::empty()).unwrap()).await;
        assert_eq!(r.status, StatusCode::OK, "{uri}");
        assert_eq!(r.header("content-type"), content_type, "{uri}");
    }
    let r = h
        .send(Request::get("/openapi.yaml").body(Body::empty()).unwrap())
        .await;
    assert!(r.body.starts_with(b"openapi: 3.0.3"));
    // The JSON document (codegen writes it from the YAML one; xtask/tests/fresh.rs checks).
    let r = h
        .send(Request::get("/openapi.json").body(Body::empty()).unwrap())
        .await;
    let doc = r.json();
    assert_eq!(doc["openapi"], "3.0.3");
    assert!(doc["paths"]["/openapi.json"]["get"].is_object(), "{doc}");
}

#[tokio::test]
async fn query_defaults_and_types_reach_the_handler() {
    let h = harness();
    let r = h.get("/v1/events").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/json");
    assert_eq!(r.json(), json!({"items": []}));

    let r = h
        .get("/v1/events?type=page.view&from=2026-11-27T10:00:00%2B01:00&limit=7&utm_source=x")
        .await;
    assert_eq!(r.status, StatusCode::OK);

    let seen = h.fake.events.lock().unwrap();
    let (user, _, first) = &seen[0];
    assert_eq!(user, "alice");
    assert_eq!(first.limit.get(), 50);
    assert_eq!(
        (&first.type_, &first.from, &first.cursor),
        (&None, &None, &None)
    );
    let (_, _, second) = &seen[1];
    assert_eq!(second.limit.get(), 7);
    assert_eq!(second.type_, Some(types::EventType::PageView));
    let from = second.from.expect("from").to_rfc3339();
    assert_eq!(from, "2026-11-27T09:00:00+00:00");
}

#[tokio::test]
async fn bad_query_values_are_400_at_their_pointer() {
    let h = harness();
    for query in [
        "limit=0",
        "limit=abc",
        "limit=101",
        "limit=1.5",
        "limit=",
        "limit=1&limit=2",
    ] {
        let r = h.get(&format!("/v1/events?{query}")).await;
        let p = r.invalid_at("/v1/events", "/query/limit");
        assert_eq!(
            p.type_, "https://eventpulse.dev/problems/validation",
            "{query}"
        );
    }
    let r = h.get("/v1/events?limit=1&limit=2").await;
    assert_eq!(
        r.invalid_at("/v1/events", "/query/limit").errors[0].keyword,
        "repeated"
    );

    h.get("/v1/events?type=page.viewed")
        .await
        .invalid_at("/v1/events", "/query/type");
    h.get("/v1/events?from=yesterday")
        .await
        .invalid_at("/v1/events", "/query/from");

    // Every broken constraint is listed, not just the first.
    let r = h.get("/v1/events?limit=0&from=yesterday").await;
    let pointers: Vec<String> = r
        .problem(StatusCode::BAD_REQUEST, "/v1/events")
        .errors
        .into_iter()
        .map(|e| e.pointer)
        .collect();
    assert_eq!(pointers, ["/query/from", "/query/limit"]);
    assert!(h.fake.events.lock().unwrap().is_empty());
}

#[tokio::test]
async fn path_parameters_are_validated_and_typed() {
    let h = harness();
    let r = h.get("/v1/uploads/u-1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "stored");

    let r = h.get("/v1/uploads/bad%20id%21").await;
    let p = r.invalid_at("/v1/uploads/bad%20id%21", "/path/uploadId");
    assert_eq!(p.errors[0].keyword, "pattern");

    let long = "a".repeat(65);
    let path = format!("/v1/uploads/{long}");
    h.get(&path).await.invalid_at(&path, "/path/uploadId");

    // Valid but unknown: the handler's own error comes through as a problem.
    let r = h.get("/v1/uploads/u-2").await;
    let p = r.problem(StatusCode::NOT_FOUND, "/v1/uploads/u-2");
    assert_eq!(p.detail.as_deref(), Some("the fake has no such upload"));
}

#[tokio::test]
async fn a_valid_body_reaches_the_handler_typed() {
    let h = harness();
    let body = json!({"type": "order.placed", "from": "2026-01-01T00:00:00Z"}).to_string();
    let r = h.post_json("/v1/exports", body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED);
    assert_eq!(r.json(), json!({"exportId": "x-1", "status": "running"}));
    let seen = h.fake.exports.lock().unwrap();
    assert_eq!(seen[0].body.type_, Some(types::EventType::OrderPlaced));
    assert_eq!(
        seen[0].body.from.map(|t| t.to_rfc3339()).as_deref(),
        Some("2026-01-01T00:00:00+00:00")
    );
    assert_eq!(seen[0].body.to, None);
}

#[tokio::test]
async fn bad_bodies_are_refused() {
    let h = harness();
    let path = "/v1/exports";
    let cases: [(&str, &str, &str); 6] = [
        (r#"{"colour": "red"}"#, "", "additionalProperties"),
        (r#"{"from": 5}"#, "/body/from", "type"),
        (r#"{"from": "soon"}"#, "/body/from", "format"),
        (r#"{"type": "page.view""#, "/body", "syntax"),
        (
            r#"{"type": "page.view", "type": "order.placed"}"#,
            "/body",
            "duplicateKey",
        ),
        ("[]", "/body", "type"),
    ];
    for (body, pointer, keyword) in cases {
        let r = h.post_json(path, body).await;
        let p = r.problem(StatusCode::BAD_REQUEST, path);
        let e = p.errors.first().expect("an error");
        // additionalProperties errors point at the object itself.
        let pointer = if pointer.is_empty() { "/body" } else { pointer };
        assert_eq!(
            (e.pointer.as_str(), e.keyword.as_str()),
            (pointer, keyword),
            "{body}"
        );
    }

    // Required body missing.
    let r = h.post_json(path, "").await;
    assert_eq!(r.invalid_at(path, "/body").errors[0].keyword, "required");

    // Not declared as JSON.
    let req = authed("POST", path)
        .header(header::CONTENT_TYPE, "text/plain")
        .body(Body::from("{}"))
        .unwrap();
    h.send(req).await.invalid_at(path, "/body");

    // Larger than 64 KiB, with and without an honest Content-Length.
    let big = format!(
        r#"{{"type": "page.view", "pad": "{}"}}"#,
        "x".repeat(70_000)
    );
    let p = h
        .post_json(path, big.clone())
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, path);
    assert_eq!(p.type_, "https://eventpulse.dev/problems/payload-too-large");
    let req = authed("POST", path)
        .header(header::CONTENT_TYPE, "application/json")
        .header(header::CONTENT_LENGTH, big.len())
        .body(Body::from(big))
        .unwrap();
    h.send(req)
        .await
        .problem(StatusCode::PAYLOAD_TOO_LARGE, path);

    assert!(h.fake.exports.lock().unwrap().is_empty());
}

#[tokio::test]
async fn an_optional_body_may_be_left_out() {
    let h = harness();
    let r = h
        .send(authed("POST", "/v1/uploads").body(Body::empty()).unwrap())
        .await;
    // The fake refuses with 429, which must carry Retry-After.
    r.problem(StatusCode::TOO_MANY_REQUESTS, "/v1/uploads");
    assert_eq!(r.header("retry-after"), "7");

    let r = h.post_json("/v1/uploads", r#"{"contentLength": 10}"#).await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS);
    let r = h.post_json("/v1/uploads", r#"{"contentLength": 0}"#).await;
    r.invalid_at("/v1/uploads", "/body/contentLength");

    let seen = h.fake.uploads.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert_eq!(seen[0].body, None);
    let length = seen[1].body.as_ref().and_then(|b| b.content_length);
    assert_eq!(length.map(|n| n.get()), Some(10));
}

#[tokio::test]
async fn other_success_shapes() {
    let h = harness();
    let r = h
        .send(
            authed("DELETE", "/v1/quarantine/u-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert!(r.body.is_empty());

    let r = h.get("/v1/quarantine/u-1/object").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.header("content-type"), "application/octet-stream");
    assert_eq!(&r.body[..], b"{not json");

    let r = h
        .send(
            authed("POST", "/v1/quarantine/u-1/reprocess")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.problem(StatusCode::CONFLICT, "/v1/quarantine/u-1/reprocess");
    h.get("/v1/exports/x-1")
        .await
        .problem(StatusCode::INTERNAL_SERVER_ERROR, "/v1/exports/x-1");
}

#[tokio::test]
async fn unknown_paths_and_methods_are_problems() {
    let h = harness();
    let r = h.get("/v1/nothing-here").await;
    r.problem(StatusCode::NOT_FOUND, "/v1/nothing-here");

    let r = h
        .send(authed("DELETE", "/v1/events").body(Body::empty()).unwrap())
        .await;
    r.problem(StatusCode::METHOD_NOT_ALLOWED, "/v1/events");
    assert_eq!(r.header("allow"), "GET, HEAD");

    let r = h
        .send(
            authed("PUT", "/v1/quarantine/u-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.problem(StatusCode::METHOD_NOT_ALLOWED, "/v1/quarantine/u-1");
    assert_eq!(r.header("allow"), "GET, DELETE, HEAD");
}

#[tokio::test]
async fn request_ids_are_adopted_when_sane_and_always_echoed() {
    let h = harness();
    let req = authed("GET", "/v1/events")
        .header("x-request-id", "trace-42.a:b_c")
        .body(Body::empty())
        .unwrap();
    let r = h.send(req).await;
    assert_eq!(r.header("x-request-id"), "trace-42.a:b_c");
    assert_eq!(h.fake.events.lock().unwrap()[0].1, "trace-42.a:b_c");

    for insane in ["has space".to_string(), "x".repeat(129), String::new()] {
        let req = Request::get("/v1/nothing")
            .header("x-request-id", insane.as_str())
            .body(Body::empty())
            .unwrap();
        let r = h.send(req).await;
        let id = r.header("x-request-id");
        assert_ne!(id, insane);
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
        r.problem(StatusCode::NOT_FOUND, "/v1/nothing");
    }
}

#[test]
fn every_operation_is_in_the_table() {
    let ids: Vec<&str> = OPERATIONS.iter().map(|op| op.id).collect();
    for id in [
        "list_events",
        "create_export",
        "get_docs",
        "delete_quarantine",
    ] {
        assert!(ids.contains(&id), "{id}");
    }
    let public: Vec<&str> = OPERATIONS
        .iter()
        .filter(|op| !op.secured)
        .map(|op| op.id)
        .collect();
    assert_eq!(
        public,
        [
            "confirm_subscription",
            "get_event_schema",
            "get_released_event_schema",
            "get_openapi",
            "get_openapi_json",
            "get_docs"
        ]
    );
}

#[tokio::test]
async fn subscription_confirmations_need_no_token_and_subscribing_does() {
    let h = harness();
    // The confirmation link is fetched by the endpoint, which has no token: the token in
    // the path is the proof.
    let r = h
        .send(
            Request::get("/v1/subscription-confirmations/t-1")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json()["status"], "confirmed");
    let r = h
        .send(
            Request::get("/v1/subscription-confirmations/not%20a%20token")
                .body(Body::empty())
                .unwrap(),
        )
        .await;
    r.problem(
        StatusCode::BAD_REQUEST,
        "/v1/subscription-confirmations/not%20a%20token",
    );
    let create = |auth: bool| {
        let b = if auth {
            authed("POST", "/v1/subscriptions")
        } else {
            Request::post("/v1/subscriptions")
        };
        b.header(header::CONTENT_TYPE, "application/json")
            .body(Body::from(
                r#"{"protocol":"https","endpoint":"https://h.example.com/"}"#,
            ))
            .unwrap()
    };
    h.send(create(false))
        .await
        .problem(StatusCode::UNAUTHORIZED, "/v1/subscriptions");
    let r = h.send(create(true)).await;
    assert_eq!(r.status, StatusCode::CREATED);
    assert_eq!(r.json()["secret"], "whsec_x");
    // The body schema: an unknown protocol, a missing endpoint, an empty kinds list.
    for body in [
        r#"{"protocol":"gopher","endpoint":"x"}"#,
        r#"{"protocol":"https"}"#,
        r#"{"protocol":"https","endpoint":"https://h.example.com/","kinds":[]}"#,
        r#"{"protocol":"https","endpoint":"https://h.example.com/","kinds":["export_done","export_done"]}"#,
    ] {
        let r = h
            .send(
                authed("POST", "/v1/subscriptions")
                    .header(header::CONTENT_TYPE, "application/json")
                    .body(Body::from(body))
                    .unwrap(),
            )
            .await;
        r.problem(StatusCode::BAD_REQUEST, "/v1/subscriptions");
    }
}

#[tokio::test]
async fn released_schema_version_is_a_validated_path_parameter() {
    let h = harness();
    let r = h.get("/v1/schemas/event/1").await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.json(), json!({"type": "object"}));
    // Not a major version: refused before the handler, naming the parameter.
    let p = h
        .get("/v1/schemas/event/v1")
        .await
        .invalid_at("/v1/schemas/event/v1", "/path/version");
    assert_eq!(p.errors[0].keyword, "pattern");
    // A version the handler does not know: its 404 comes through as a problem.
    h.get("/v1/schemas/event/7")
        .await
        .problem(StatusCode::NOT_FOUND, "/v1/schemas/event/7");
}
