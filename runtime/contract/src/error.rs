//! [`ApiError`]: the one error an API operation ends with, rendered by the server runtime as
//! an RFC 9457 `application/problem+json` body (the generated `types::Problem`).

use http::StatusCode;
use http::header::{self, HeaderName, HeaderValue};

/// How many validation errors a problem lists (the schema allows 1000; 100 is plenty to act on).
pub const MAX_ERRORS: usize = 100;
/// Base of the stable `type` URIs of our problems.
pub const PROBLEM_BASE: &str = "https://eventpulse.dev/problems/";

/// One failed constraint of a request: an entry of the problem's `errors[]`
/// (`types::ProblemError` on the wire).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    /// RFC 6901 pointer into the request document (`/path/NAME`, `/query/NAME`, `/body/...`).
    pub pointer: String,
    /// The constraint that failed, e.g. `pattern` or `required`.
    pub keyword: String,
    pub message: String,
}

impl Violation {
    pub fn new(
        pointer: impl Into<String>,
        keyword: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self {
            pointer: pointer.into(),
            keyword: keyword.into(),
            message: message.into(),
        }
    }
}

/// An error a request ends with, rendered as an RFC 9457 problem.
#[derive(Debug, Clone, thiserror::Error)]
#[error("{title} ({status}): {detail}")]
pub struct ApiError {
    pub status: StatusCode,
    /// Last segment of the problem `type` URI, e.g. `validation`.
    pub slug: &'static str,
    pub title: String,
    pub detail: String,
    /// One entry per failed constraint, pointing into the request document
    /// (`/path/NAME`, `/query/NAME`, `/body/...`).
    pub errors: Vec<Violation>,
    /// Headers the status calls for: `WWW-Authenticate`, `Retry-After`, `Allow`. A `Vec`, not
    /// a `HeaderMap`, to keep the error small: it travels in every `Result` of a request.
    pub headers: Vec<(HeaderName, HeaderValue)>,
}

impl ApiError {
    pub fn new(
        status: StatusCode,
        slug: &'static str,
        title: impl Into<String>,
        detail: impl Into<String>,
    ) -> Self {
        Self {
            status,
            slug,
            title: title.into(),
            detail: detail.into(),
            errors: Vec::new(),
            headers: Vec::new(),
        }
    }
    pub fn bad_request(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            "bad-request",
            "Bad request",
            detail,
        )
    }
    pub fn validation(detail: impl Into<String>, errors: Vec<Violation>) -> Self {
        let mut e = Self::new(
            StatusCode::BAD_REQUEST,
            "validation",
            "Invalid request",
            detail,
        );
        e.errors = errors;
        e.errors.truncate(MAX_ERRORS);
        e
    }
    pub fn unauthorized(detail: impl Into<String>) -> Self {
        Self::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "Unauthorized",
            detail,
        )
        .with_header(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"))
    }
    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not-found", "Not found", detail)
    }
    /// `allow` is the value of the `Allow` header, e.g. `GET, HEAD`.
    pub fn method_not_allowed(detail: impl Into<String>, allow: &'static str) -> Self {
        let title = "Method not allowed";
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method-not-allowed",
            title,
            detail,
        )
        .with_header(header::ALLOW, HeaderValue::from_static(allow))
    }
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::new(StatusCode::CONFLICT, "conflict", "Conflict", detail)
    }
    pub fn payload_too_large(detail: impl Into<String>) -> Self {
        let status = StatusCode::PAYLOAD_TOO_LARGE;
        Self::new(status, "payload-too-large", "Payload too large", detail)
    }
    /// The client stopped sending the request body (see `eventpulse local --body-timeout`).
    pub fn request_timeout(detail: impl Into<String>) -> Self {
        let status = StatusCode::REQUEST_TIMEOUT;
        Self::new(status, "request-timeout", "Request timeout", detail)
    }
    pub fn too_many_requests(detail: impl Into<String>, retry_after_secs: u64) -> Self {
        let status = StatusCode::TOO_MANY_REQUESTS;
        Self::new(status, "too-many-requests", "Too many requests", detail)
            .with_header(header::RETRY_AFTER, HeaderValue::from(retry_after_secs))
    }
    pub fn internal(detail: impl Into<String>) -> Self {
        let status = StatusCode::INTERNAL_SERVER_ERROR;
        Self::new(status, "internal", "Internal error", detail)
    }
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Self {
        self.headers.retain(|(n, _)| *n != name);
        self.headers.push((name, value));
        self
    }

    /// The problem's `type` URI.
    pub fn type_uri(&self) -> String {
        format!("{PROBLEM_BASE}{}", self.slug)
    }
}
