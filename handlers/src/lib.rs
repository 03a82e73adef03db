//! EventPulse's domain, free of any SDK or storage engine (ARCHITECTURE.md, "Invariants").
//!
//! - [`intake`]: bytes of an uploaded object → its events, or the reason it is refused.

pub mod intake;
