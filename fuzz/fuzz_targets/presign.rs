#![no_main]
//! Property: `fuzz_property` in `cli/src/local/presign.rs` (its doc comment says what is
//! checked). The module is compiled in here from the cli's sources: the cli is a binary.

#[path = "../../cli/src/local/presign.rs"]
#[allow(dead_code)]
mod presign;

libfuzzer_sys::fuzz_target!(|data: &[u8]| presign::fuzz_property(data));
