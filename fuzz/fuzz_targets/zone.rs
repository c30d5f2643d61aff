//! easydkim::StaticDns::from_zone on arbitrary text: never panics; an error names a line
//! that exists in the input.
#![no_main]

use easydkim::StaticDns;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let input = String::from_utf8_lossy(data);
    if let Err(e) = StaticDns::from_zone(&input) {
        assert!(e.line >= 1 && e.line <= input.lines().count().max(1), "{e}");
    }
});
