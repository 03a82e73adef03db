//! Validate + map throughput of ~1 KB events on one core: the processor's CPU cost per
//! event (strict parse, schema validation by type, typed mapping, content hash), for objects
//! of 1, 100 and 1000 events (the per-event cost should not depend on the object's size).
//!
//! cargo bench -p eventpulse-handlers --bench intake

//! The system allocator (glibc here), as the processor Lambda runs; `intake_mimalloc` is the
//! same benchmark on mimalloc, as the `eventpulse` binary (validate, local) runs.

include!("common/intake.rs");
