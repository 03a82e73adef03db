//! The hand-written runtime of EventPulse's contract: what generated code (`eventpulse-generated`)
//! refers to and what the domain calls, with no I/O and no HTTP server.
//!
//! - [`rt`]: the few types generated code refers to instead of typify's (`OccurredAt`), and
//!   [`EventJson`], an event as stored JSON text.
//! - [`json`]: strict JSON intake; [`json_out`]: the compact writer of responses, which copies
//!   an [`EventJson`] as its text.
//! - [`tree`]: intake's fast path: a borrowed JSON tree, read by the same parser, and the
//!   writers of its compact and canonical JSON; [`formats`]: the formats its generated checks
//!   assert (conservatively).
//! - [`validate`]: the upload-object validator, compiled from the bundle text it is given
//!   (the published one is `eventpulse_generated::UPLOAD_OBJECT_SCHEMA`).
//! - [`error`]: [`ApiError`], the one error an API operation ends with.
//! - [`request`]: who is calling and what is known about the request ([`Principal`],
//!   [`RequestContext`], [`Authenticator`]).
//! - [`operation`]: the operation tables the generated API describes itself with.
//!
//! The HTTP runtime that serves these (axum) is `eventpulse-server-rt`.

pub mod error;
pub mod formats;
pub mod json;
pub mod json_out;
pub mod operation;
pub mod request;
pub mod rt;
pub mod tree;
pub mod validate;

pub use error::{ApiError, MAX_ERRORS, PROBLEM_BASE, Violation};
pub use operation::{BodySpec, In, Operation, Param, Wire};
pub use request::{AuditInfo, Authenticator, Principal, RequestContext};
pub use rt::{EventJson, InvalidTimestamp, OccurredAt};
pub use validate::{CompileError, Mapped, Rejection, SchemaError, SchemaErrors, Validator};
