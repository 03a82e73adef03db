//! EventPulse's domain, free of any SDK or storage engine (ARCHITECTURE.md, "Invariants").
//!
//! - [`intake`]: bytes of an uploaded object → its events, or the reason it is refused.
//! - [`keys`]: the object key layout, which says who owns an object.
//! - [`ports`]: the traits adapters implement (object store, table, notifier, …).
//! - [`api`]: the generated `EventPulseApi` trait, implemented on the ports.
//! - [`cursor`]: signed pagination cursors.
//! - [`exports`]: asynchronous NDJSON exports.
//! - [`entry`]: the S3 "Object Created" event (via EventBridge) that starts processing.
//! - [`commit`]: the commit rule, how an object's events become stored in small steps.
//! - [`processor`]: one uploaded object → stored or quarantined, exactly once.
//! - [`wiring`]: [`wiring::Ports`], what a backend's composition root hands the domain.
//! - `conformance` (feature `conformance`): the checks every adapter set must pass.

pub mod api;
pub mod commit;
#[cfg(feature = "conformance")]
pub mod conformance;
pub mod cursor;
pub mod entry;
pub mod exports;
#[cfg(any(test, feature = "fuzz"))]
#[doc(hidden)]
pub mod fuzz_props;
pub mod intake;
pub mod keys;
pub mod ports;
pub mod processor;
pub mod subscriptions;
pub mod wiring;
