//! The API function: API Gateway (REST API, proxy integration, payload v1) in front of the
//! same generated router `eventpulse local` serves.
//!
//! Two things differ from the local server, and only these live here:
//! - **Who is calling** comes from the Cognito user-pool authorizer, which API Gateway has
//!   run before invoking us: `requestContext.authorizer.claims.sub`. Nothing the client
//!   sends (headers, body) can name another user.
//! - **The path**: `lambda_http` prefixes the stage (`/prod/v1/uploads`) so the URI looks
//!   like the public URL; the router must see `/v1/uploads` whatever the stage is called.

use eventpulse_contract_rt::{ApiError, Authenticator, Principal};
use eventpulse_handlers::keys;
use lambda_http::RequestExt;
use lambda_http::request::RequestContext;

/// The caller as API Gateway's Cognito authorizer verified it.
#[derive(Debug, Clone, Copy, Default)]
pub struct CognitoClaims;

impl CognitoClaims {
    /// The `sub` claim of the authorizer, if the request came through one.
    pub fn sub(extensions: &http::Extensions) -> Option<&str> {
        match extensions.get::<RequestContext>()? {
            RequestContext::ApiGatewayV1(ctx) => {
                ctx.authorizer.fields.get("claims")?.get("sub")?.as_str()
            }
            _ => None,
        }
    }
}

impl Authenticator for CognitoClaims {
    fn authenticate(&self, parts: &http::request::Parts) -> Result<Principal, ApiError> {
        // API Gateway refuses unauthenticated requests before they reach us, so a missing
        // claim means a misconfigured deployment (a method without the authorizer): refuse.
        let sub = Self::sub(&parts.extensions).ok_or_else(|| {
            ApiError::unauthorized("The request carries no verified identity (authorizer claims).")
        })?;
        if !keys::is_valid_owner(sub) {
            return Err(ApiError::unauthorized(
                "The verified identity is not a valid user id.",
            ));
        }
        Ok(Principal {
            user_id: sub.to_string(),
        })
    }
}

/// The request with the path API Gateway matched (`/v1/...`), not the stage-prefixed one
/// `lambda_http` builds for the public URL. The query string is kept.
pub fn without_stage<B>(mut req: http::Request<B>) -> http::Request<B> {
    let raw = req.raw_http_path();
    if raw.is_empty() || raw == req.uri().path() {
        return req;
    }
    let path_and_query = match req.uri().query() {
        Some(q) => format!("{raw}?{q}"),
        None => raw.to_string(),
    };
    let mut parts = req.uri().clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        // A path API Gateway accepted but `http` cannot hold is left as it was; the router
        // answers it with a problem like any unknown path.
        Err(_) => return req,
    }
    if let Ok(uri) = http::Uri::from_parts(parts) {
        *req.uri_mut() = uri;
    }
    req
}

/// Serves `app` to the Lambda runtime until it stops, each request first rid of the stage.
pub async fn serve(app: axum::Router) -> Result<(), lambda_http::Error> {
    use tower::ServiceExt;
    let service = tower::service_fn(move |req: lambda_http::Request| {
        let app = app.clone();
        async move { app.oneshot(without_stage(req)).await }
    });
    lambda_http::run(service).await
}
