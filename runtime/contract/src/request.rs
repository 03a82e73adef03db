//! Who is calling and what a handler knows about the request besides its typed inputs.

use crate::error::ApiError;

/// The authenticated caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user_id: String,
}

/// What a handler knows about the request besides its typed inputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestContext {
    pub request_id: String,
    pub operation_id: &'static str,
    /// The request path (not the route template); the `instance` of problems.
    pub path: String,
    /// The authenticated caller, once known (for the audit line).
    pub user: Option<String>,
    /// Path parameters (resource ids), for the audit line.
    pub resources: Vec<(String, String)>,
}

/// What the audit line of a request records besides method, status and latency; the
/// server runtime leaves it in the response extensions for its request-id middleware to log.
#[derive(Debug, Clone)]
pub struct AuditInfo {
    pub operation_id: &'static str,
    pub user: Option<String>,
    pub resources: Vec<(String, String)>,
}

/// Decides who is calling. It sees the whole request head because the deployments differ:
/// locally it verifies a bearer JWT from `Authorization`; on Lambda, API Gateway has already
/// verified it and the authorizer's claims arrive in the request extensions.
pub trait Authenticator: Send + Sync {
    fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, ApiError>;
}
