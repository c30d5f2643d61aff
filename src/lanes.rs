//! Byte checks in fixed-size lanes, which the compiler turns into vector operations (a
//! plain fold over a slice stays one byte per step).

/// The OR of `flag(b)` over every byte of `data`, sixteen bytes at a time.
#[inline]
pub(crate) fn or_lanes(data: &[u8], flag: impl Fn(u8) -> u8) -> u8 {
    let mut lanes = [0u8; 16];
    let mut chunks = data.chunks_exact(16);
    for chunk in &mut chunks {
        for (acc, &b) in lanes.iter_mut().zip(chunk) {
            *acc |= flag(b);
        }
    }
    let tail = chunks.remainder().iter().fold(0, |acc, &b| acc | flag(b));
    lanes.iter().fold(tail, |acc, &b| acc | b)
}

#[cfg(test)]
mod tests {
    use super::*;

    proptest::proptest! {
        /// The same answer as a plain fold, at every length around the lane width.
        #[test]
        fn agrees_with_a_plain_fold(data in proptest::collection::vec(proptest::num::u8::ANY, 0..70)) {
            let flag = |b: u8| (b & 0x80) | u8::from(b == b'\r');
            let plain = data.iter().fold(0, |acc, &b| acc | flag(b));
            proptest::prop_assert_eq!(or_lanes(&data, flag), plain);
        }
    }
}
