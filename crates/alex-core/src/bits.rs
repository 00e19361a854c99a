//! Fixed-width bit-packed integer arrays, little-endian, as stored in data pages.
//!
//! A value of `width` bits (0..=64) at index `i` occupies bits `[i*width, (i+1)*width)` of the
//! region. Reads and writes touch a 16-byte window, so a region must be followed by
//! [`PADDING`] spare bytes.

/// Spare bytes that must follow every bit-packed region.
pub const PADDING: usize = 16;

/// Bytes needed to store `count` values of `width` bits, without padding.
#[inline]
pub fn region_bytes(count: usize, width: u32) -> usize {
    (count * width as usize).div_ceil(8)
}

#[inline]
fn mask(width: u32) -> u128 {
    if width == 0 { 0 } else { (1u128 << width) - 1 }
}

#[inline]
fn window(buf: &[u8], byte: usize) -> u128 {
    let bytes: [u8; 16] = buf[byte..byte + 16].try_into().unwrap();
    u128::from_le_bytes(bytes)
}

/// Reads value `index` of width `width` from `buf`.
#[inline]
pub fn get(buf: &[u8], index: usize, width: u32) -> u64 {
    if width == 0 {
        return 0;
    }
    let bit = index * width as usize;
    ((window(buf, bit / 8) >> (bit % 8)) & mask(width)) as u64
}

/// Writes value `index` of width `width` into `buf`. `value` must fit in `width` bits.
#[inline]
pub fn set(buf: &mut [u8], index: usize, width: u32, value: u64) {
    if width == 0 {
        return;
    }
    debug_assert!(width == 64 || value < (1u64 << width), "value {value} exceeds {width} bits");
    let bit = index * width as usize;
    let byte = bit / 8;
    let shift = bit % 8;
    let w = window(buf, byte);
    let w = (w & !(mask(width) << shift)) | ((value as u128) << shift);
    buf[byte..byte + 16].copy_from_slice(&w.to_le_bytes());
}

/// Writes `values` at indexes 0, 1, ... of a zeroed region, as [`set`] would one by one, but a
/// word at a time (a page layout writes every slot).
pub fn pack(buf: &mut [u8], width: u32, values: impl IntoIterator<Item = u64>) {
    if width == 0 {
        return;
    }
    let (mut acc, mut pending, mut at) = (0u128, 0u32, 0usize);
    for v in values {
        debug_assert!(width == 64 || v < (1u64 << width), "value {v} exceeds {width} bits");
        acc |= (v as u128) << pending;
        pending += width;
        if pending >= 64 {
            buf[at..at + 8].copy_from_slice(&(acc as u64).to_le_bytes());
            (acc, pending, at) = (acc >> 64, pending - 64, at + 8);
        }
    }
    let tail = pending.div_ceil(8) as usize;
    buf[at..at + tail].copy_from_slice(&acc.to_le_bytes()[..tail]);
}

/// Bits needed to represent `value` (0 for 0).
#[inline]
pub fn width_of(value: u64) -> u32 {
    64 - value.leading_zeros()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn pack_writes_what_set_writes(width in 0u32..=64, values in prop::collection::vec(any::<u64>(), 0..200)) {
            let m = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = values.into_iter().map(|v| v & m).collect();
            let len = region_bytes(values.len(), width) + PADDING;
            let (mut one_by_one, mut packed) = (vec![0u8; len], vec![0u8; len]);
            for (i, v) in values.iter().enumerate() { set(&mut one_by_one, i, width, *v); }
            pack(&mut packed, width, values.iter().copied());
            prop_assert_eq!(one_by_one, packed);
        }

        #[test]
        fn set_then_get_roundtrips(width in 0u32..=64, values in prop::collection::vec(any::<u64>(), 1..200)) {
            let m = if width == 64 { u64::MAX } else { (1u64 << width) - 1 };
            let values: Vec<u64> = values.into_iter().map(|v| v & m).collect();
            let mut buf = vec![0u8; region_bytes(values.len(), width) + PADDING];
            for (i, v) in values.iter().enumerate() { set(&mut buf, i, width, *v); }
            for (i, v) in values.iter().enumerate() { prop_assert_eq!(get(&buf, i, width), *v); }
            // Overwrite in reverse order: neighbours must be untouched.
            for (i, v) in values.iter().enumerate().rev() { set(&mut buf, i, width, !*v & m); }
            for (i, v) in values.iter().enumerate() { prop_assert_eq!(get(&buf, i, width), !*v & m); }
        }
    }

    #[test]
    fn widths() {
        assert_eq!(width_of(0), 0);
        assert_eq!(width_of(1), 1);
        assert_eq!(width_of(255), 8);
        assert_eq!(width_of(256), 9);
        assert_eq!(width_of(u64::MAX), 64);
    }
}
