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

/// Appends `s` lowercased (ASCII), eight bytes at a time in a `u64` (a header name is a
/// few words; a byte loop takes a step per byte). Read from `s`, not lowered in place after
/// a copy: a word read right after a copy's narrower stores waits for them.
pub(crate) fn extend_lowercase(out: &mut Vec<u8>, s: &[u8]) {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let lower = |at: usize| {
        let x = u64::from_le_bytes(s[at..at + 8].try_into().expect("8 bytes"));
        // Bit 7 of each byte: the byte's low seven bits are at least `A`, and over `Z`
        // (no carry crosses a byte: each sum stays below 0x100); bytes with the high bit
        // set are not ASCII and stay as they are.
        let low7 = x & !HIGH;
        let ge_a = low7 + ONES * u64::from(0x80 - b'A');
        let gt_z = low7 + ONES * u64::from(0x80 - b'Z' - 1);
        let upper = ge_a & !gt_z & !x & HIGH;
        (x | upper >> 2).to_le_bytes()
    };
    let n = s.len();
    if n < 8 {
        out.extend(s.iter().map(u8::to_ascii_lowercase));
        return;
    }
    let start = out.len();
    let mut off = 0;
    while off + 8 < n {
        out.extend_from_slice(&lower(off));
        off += 8;
    }
    // The last eight bytes, over the end of the word before (the same bytes again).
    out.truncate(start + n - 8);
    out.extend_from_slice(&lower(n - 8));
}

/// One header line as [`scan_line`] finds it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct LineScan {
    /// Index of the first LF (the end of the line), if there is one.
    pub(crate) lf: Option<usize>,
    /// Index of the first colon of the line's content.
    pub(crate) colon: Option<usize>,
    /// Bit 0: the content holds a CR (which is then bare); bit 7: it holds a byte with the
    /// high bit set.
    pub(crate) seen: u8,
}

/// Finds the end of the line that starts `data` and, in the same pass, its first colon
/// and whether it holds a bare CR or an 8-bit byte: what the header parser needs of each
/// line, sixteen bytes at a time (three searches of a short line cost more in calls than
/// in bytes). The line's content is `data` up to the first LF, or all of it without one,
/// less a CR right before that LF.
pub(crate) fn scan_line(data: &[u8]) -> LineScan {
    let n = data.len();
    let (mut colon, mut first_cr, mut high) = (None, None, 0u32);
    let mut off = 0;
    while off < n {
        let m = match data.get(off..off + 16) {
            Some(c) => line_masks(c.try_into().expect("16 bytes")),
            None => {
                // The end of the data, padded with zeros (they match nothing).
                let mut chunk = [0u8; 16];
                chunk[..n - off].copy_from_slice(&data[off..]);
                line_masks(&chunk)
            }
        };
        let before_lf = match m.lf {
            0 => u32::MAX,
            lf => (1 << lf.trailing_zeros()) - 1,
        };
        if colon.is_none() && m.colon & before_lf != 0 {
            colon = Some(off + (m.colon & before_lf).trailing_zeros() as usize);
        }
        if first_cr.is_none() && m.cr & before_lf != 0 {
            first_cr = Some(off + (m.cr & before_lf).trailing_zeros() as usize);
        }
        high |= m.high & before_lf;
        if m.lf != 0 {
            let lf = off + m.lf.trailing_zeros() as usize;
            // The first CR is in the content unless it is the one right before the LF.
            let bare_cr = first_cr.is_some_and(|c| c + 1 < lf);
            return LineScan {
                lf: Some(lf),
                colon,
                seen: u8::from(bare_cr) | if high != 0 { 0x80 } else { 0 },
            };
        }
        off += 16;
    }
    LineScan {
        lf: None,
        colon,
        seen: u8::from(first_cr.is_some()) | if high != 0 { 0x80 } else { 0 },
    }
}

/// Bit `j` of each mask: byte `j` of a 16-byte chunk is LF, a colon, CR, or has the high
/// bit set.
#[derive(Clone, Copy)]
struct LineMasks {
    lf: u32,
    colon: u32,
    cr: u32,
    high: u32,
}

#[inline(always)]
fn line_masks(chunk: &[u8; 16]) -> LineMasks {
    let [lf, colon, cr] = eq_masks(chunk, [b'\n', b':', b'\r']);
    LineMasks {
        lf,
        colon,
        cr,
        high: high_mask(chunk),
    }
}

/// Whether `words` has no tab, CR or LF and no two spaces in a row (relaxed
/// canonicalization leaves such a value as it is), sixteen bytes at a time; the last
/// sixteen are read where they are (overlapping the chunk before), not copied into a padded
/// chunk, whose read would wait for the copy's stores.
pub(crate) fn is_plain_words(words: &[u8]) -> bool {
    let n = words.len();
    if n < 16 {
        let special = |b: u8| u8::from(matches!(b, b'\t' | b'\r' | b'\n'));
        let pairs = words.windows(2).fold(0u8, |acc, w| {
            acc | special(w[0]) | u8::from((w[0] == b' ') & (w[1] == b' '))
        });
        return pairs | words.last().map_or(0, |&b| special(b)) == 0;
    }
    let bad = |chunk: &[u8], sp_before: u32| {
        let [sp, tab, cr, lf] = eq_masks(
            chunk.try_into().expect("16 bytes"),
            [b' ', b'\t', b'\r', b'\n'],
        );
        (
            tab | cr | lf != 0 || sp & (sp << 1 | sp_before) != 0,
            sp >> 15,
        )
    };
    // The last byte of the chunk before was a space.
    let mut sp_before = 0;
    let mut off = 0;
    while off + 16 < n {
        let (b, last) = bad(&words[off..off + 16], sp_before);
        if b {
            return false;
        }
        sp_before = last;
        off += 16;
    }
    // The last sixteen bytes: they hold the pair across the boundary with the chunk
    // before unless they start right after it.
    let last = n - 16;
    !bad(&words[last..], if last == off { sp_before } else { 0 }).0
}

/// Bit `j` of mask `k`: byte `j` of the chunk is `bytes[k]`. SSE2 (every x86-64 CPU has
/// it), through `safe_arch`'s safe wrappers.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
pub(crate) fn eq_masks<const K: usize>(chunk: &[u8; 16], bytes: [u8; K]) -> [u32; K] {
    use safe_arch::{cmp_eq_mask_i8_m128i, m128i, move_mask_i8_m128i, set_splat_i8_m128i};
    let v = m128i::from(*chunk);
    // The mask is in the low 16 bits.
    bytes.map(|b| {
        let x = set_splat_i8_m128i(i8::from_ne_bytes([b]));
        move_mask_i8_m128i(cmp_eq_mask_i8_m128i(v, x)) as u32 & 0xffff
    })
}

/// Bit `j`: byte `j` of the chunk has the high bit set.
#[cfg(target_arch = "x86_64")]
#[inline(always)]
fn high_mask(chunk: &[u8; 16]) -> u32 {
    safe_arch::move_mask_i8_m128i(safe_arch::m128i::from(*chunk)) as u32 & 0xffff
}

/// [`eq_masks`] without target-specific instructions: on other targets, and in the tests
/// that hold the two to the same answers.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn eq_masks_portable<const K: usize>(chunk: &[u8; 16], bytes: [u8; K]) -> [u32; K] {
    bytes.map(|x| {
        chunk
            .iter()
            .enumerate()
            .fold(0, |m, (j, &b)| m | u32::from(b == x) << j)
    })
}

/// [`high_mask`] without target-specific instructions.
#[cfg(any(test, not(target_arch = "x86_64")))]
#[cfg_attr(target_arch = "x86_64", allow(dead_code))]
fn high_mask_portable(chunk: &[u8; 16]) -> u32 {
    chunk
        .iter()
        .enumerate()
        .fold(0, |m, (j, &b)| m | u32::from(b >> 7) << j)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
pub(crate) fn eq_masks<const K: usize>(chunk: &[u8; 16], bytes: [u8; K]) -> [u32; K] {
    eq_masks_portable(chunk, bytes)
}

#[cfg(not(target_arch = "x86_64"))]
#[inline(always)]
fn high_mask(chunk: &[u8; 16]) -> u32 {
    high_mask_portable(chunk)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// [`scan_line`] by its definition: three separate searches.
    fn scan_line_reference(data: &[u8]) -> LineScan {
        let lf = data.iter().position(|&b| b == b'\n');
        let mut end = lf.unwrap_or(data.len());
        if lf.is_some() && end > 0 && data[end - 1] == b'\r' {
            end -= 1;
        }
        let content = &data[..end];
        let cr = content.contains(&b'\r');
        let high = content.iter().any(|&b| b >= 0x80);
        LineScan {
            lf,
            colon: content.iter().position(|&b| b == b':'),
            seen: u8::from(cr) | if high { 0x80 } else { 0 },
        }
    }

    /// Lines of the bytes that matter (LF, CR, colon, 8-bit, WSP) among ordinary ones, at
    /// every length around the lane width.
    fn line_bytes() -> impl proptest::strategy::Strategy<Value = Vec<u8>> {
        use proptest::prelude::*;
        proptest::collection::vec(
            prop_oneof![
                4 => proptest::num::u8::ANY,
                4 => Just(b'a'),
                2 => Just(b'\n'),
                2 => Just(b'\r'),
                2 => Just(b':'),
                2 => Just(b' '),
                1 => Just(b'\t'),
            ],
            0..70,
        )
    }

    /// Two spaces in a row, a tab, CR or LF at every offset around the lane width (across
    /// the boundary between two chunks too) make a value not plain; single spaces do not.
    #[test]
    fn plain_words_at_every_offset() {
        for len in 1..=40 {
            for p in 0..len {
                let mut v = vec![b'a'; len];
                v[p] = b' ';
                assert!(is_plain_words(&v), "single space at {p} of {len}");
                for bad in [&b"  "[..], b"\t", b"\r", b"\n"] {
                    if p + bad.len() <= len {
                        let mut v = vec![b'a'; len];
                        v[p..p + bad.len()].copy_from_slice(bad);
                        assert!(!is_plain_words(&v), "{bad:?} at {p} of {len}");
                    }
                }
            }
        }
    }

    /// Every byte value, in a word and in the overlapping tail.
    #[test]
    fn lowercase_in_words_every_byte() {
        for b in 0..=255u8 {
            for len in [8, 11] {
                let mut v = b"x".to_vec();
                extend_lowercase(&mut v, &vec![b; len]);
                let mut want = b"x".to_vec();
                want.extend(vec![b.to_ascii_lowercase(); len]);
                assert_eq!(v, want, "byte {b:#04x}");
            }
        }
    }

    proptest::proptest! {
        /// The same answer as a plain fold, at every length around the lane width.
        #[test]
        fn agrees_with_a_plain_fold(data in proptest::collection::vec(proptest::num::u8::ANY, 0..70)) {
            let flag = |b: u8| (b & 0x80) | u8::from(b == b'\r');
            let plain = data.iter().fold(0, |acc, &b| acc | flag(b));
            proptest::prop_assert_eq!(or_lanes(&data, flag), plain);
        }

        /// One pass finds what the three searches find.
        #[test]
        fn line_scan_agrees_with_its_definition(data in line_bytes()) {
            proptest::prop_assert_eq!(scan_line(&data), scan_line_reference(&data), "{:?}", data);
        }

        /// The SSE2 masks are the portable ones.
        #[test]
        fn masks_match_the_portable_form(
            chunk in proptest::array::uniform16(proptest::num::u8::ANY),
            bytes in proptest::array::uniform4(proptest::num::u8::ANY),
        ) {
            proptest::prop_assert_eq!(eq_masks(&chunk, bytes), eq_masks_portable(&chunk, bytes));
            proptest::prop_assert_eq!(high_mask(&chunk), high_mask_portable(&chunk));
        }

        /// The same bytes as the standard library's byte loop, at every length.
        #[test]
        fn lowercase_in_words_is_the_byte_loop(data in proptest::collection::vec(proptest::num::u8::ANY, 0..40)) {
            let mut ours = b"field".to_vec();
            extend_lowercase(&mut ours, &data);
            let mut std = b"field".to_vec();
            std.extend(data.to_ascii_lowercase());
            proptest::prop_assert_eq!(ours, std);
        }

        /// By its definition: no tab, CR or LF, no two spaces in a row.
        #[test]
        fn plain_words_by_definition(data in line_bytes()) {
            let plain = !data.iter().any(|b| matches!(b, b'\t' | b'\r' | b'\n'))
                && !data.windows(2).any(|w| w == b"  ");
            proptest::prop_assert_eq!(is_plain_words(&data), plain, "{:?}", data);
        }
    }
}
