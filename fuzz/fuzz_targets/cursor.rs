#![no_main]
//! Property: `eventpulse_handlers::fuzz_props::cursor` (its doc comment says what is checked).

libfuzzer_sys::fuzz_target!(|data: &[u8]| eventpulse_handlers::fuzz_props::cursor(data));
