//! The intake benchmark (`intake.rs`) on mimalloc, the global allocator of the `eventpulse`
//! binary: glibc's free of a 1000-event object's tree costs about as much as intake itself.
//!
//! cargo bench -p eventpulse-handlers --bench intake_mimalloc

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

include!("common/intake.rs");
