//! Everything EventPulse derives from `schema/` and `openapi.yaml`.
//!
//! - [`types`]: typify output for every component schema (generated, checked in).
//! - [`validate`]: the upload-object validator, compiled from the published bundle.
//! - [`json`]: strict JSON intake used by the validator.
//! - [`rt`]: the few hand-written types generated code refers to.
//! - [`server`]: the server interface of `openapi.yaml` (generated, checked in), on the
//!   hand-written runtime [`server_rt`].
//!
//! Nothing here knows about AWS or storage.

pub mod json;
pub mod rt;
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, unused)]
pub mod server;
pub mod server_rt;
#[rustfmt::skip]
#[allow(clippy::all, clippy::pedantic, missing_docs, unused)]
pub mod types;
pub mod validate;

pub use validate::{Rejection, SchemaError, SchemaErrors, Validator};

/// The published OpenAPI document, exactly as served at `GET /openapi.yaml`.
pub const OPENAPI_YAML: &str = include_str!("../../openapi.yaml");
