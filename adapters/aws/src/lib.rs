//! EventPulse's AWS adapters: the ports of `eventpulse-handlers` on S3, DynamoDB, SNS and SQS.
//!
//! - [`config`]: the SDK clients, built once (rustls on ring; path-style S3 addressing
//!   whenever an endpoint URL is set, as moto and other emulators need).
//! - [`compose`]: [`Aws`], the composition root every AWS entry point starts from, and
//!   [`Settings`], the deployment's configuration from the environment.
//! - [`s3`]: [`S3ObjectStore`], the object store on three buckets.
//! - [`presign`]: [`S3Presigner`], presigned upload (conditional, create-only) and download URLs.
//! - [`dynamo`]: [`dynamo::DynamoTable`], the event table and the subscriptions on one
//!   DynamoDB table.
//! - [`sns`]: [`SnsNotifier`], notifications published with filterable attributes.
//! - [`subscribe`]: [`SnsSubscriber`], the owners' subscriptions as SNS subscriptions
//!   filtered on those attributes.
//! - [`queue`]: [`queue::SqsExportRunner`], exports handed to the processor function.
//! - [`provision`]: [`provision::provision`], a deployment's resources created where missing
//!   (`eventpulse provision`).
//! - `error`: SDK errors → transient or permanent port errors, in one place.
//!
//! Every code path is tested against moto server (`adapters/aws/tests/`), never against
//! mocks of the SDK.

pub mod compose;
pub mod config;
pub mod dynamo;
mod error;
pub mod iam;
pub mod presign;
pub mod provision;
pub mod queue;
pub mod s3;
pub mod sns;
pub mod subscribe;

pub use compose::{Aws, Settings};
pub use config::{Clients, Endpoint};
pub use presign::S3Presigner;
pub use s3::{S3Buckets, S3ObjectStore};
pub use sns::SnsNotifier;
pub use subscribe::SnsSubscriber;
