//! Validate + map throughput of ~1 KB events on one core: the processor's CPU cost per
//! event (strict parse, schema check by type, stored text, content hash), for objects
//! of 1, 100 and 1000 events (the per-event cost should not depend on the object's size).
//!
//! cargo bench -p eventpulse-handlers --bench intake

//! The system allocator (glibc here), as the processor Lambda runs; `intake_mimalloc` is the
//! same benchmark on mimalloc, for comparison (no binary of ours uses it).

include!("common/intake.rs");
