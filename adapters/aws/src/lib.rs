//! EventPulse's AWS adapters: the ports of `eventpulse-handlers` on S3 and SNS.
//!
//! - [`config`]: the SDK clients, built once (rustls on ring; path-style S3 addressing
//!   whenever an endpoint URL is set, as moto and other emulators need).
//! - [`s3`]: [`S3ObjectStore`], the object store on three buckets.
//! - [`presign`]: [`S3Presigner`], presigned upload (conditional, create-only) and download URLs.
//! - [`sns`]: [`SnsNotifier`], notifications published with filterable attributes.
//! - `error`: SDK errors → transient or permanent port errors, in one place.
//!
//! Every code path is tested against moto server (`adapters/aws/tests/`), never against
//! mocks of the SDK.

pub mod config;
mod error;
pub mod presign;
pub mod s3;
pub mod sns;

pub use config::{Clients, Endpoint};
pub use presign::S3Presigner;
pub use s3::{S3Buckets, S3ObjectStore};
pub use sns::SnsNotifier;
