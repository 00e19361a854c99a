//! Bit-packing of `u64` values into the fewest bits: an LSB-first bit stream, value `i` in bits
//! `[i * width, (i + 1) * width)`, the last byte zero-padded.
//!
//! Our own rather than a crate's: `fastlanes` (the design's choice) exposes runtime bit widths
//! only through `unsafe fn`s, which this crate forbids, and its safe API takes the width as a
//! const generic and exactly 1024 values, so a short vector (the last of a group, or one with
//! many NULLs) would be padded to 1024 values; `bitpacking` packs only `u32`. This packer is a
//! plain loop with O(1) access to any value, which single-row reads need.

/// The bits needed to store every value up to `max`: 0 for 0, 64 for values with the top bit.
pub fn width_of(max: u64) -> u32 {
    u64::BITS - max.leading_zeros()
}

/// The bytes taken by `count` values of `width` bits (without overflow for any `count` a caller
/// could hold in memory).
pub fn packed_len(count: usize, width: u32) -> usize {
    (count as u128 * width as u128).div_ceil(8).min(usize::MAX as u128) as usize
}

fn mask(width: u32) -> u64 {
    if width >= 64 { u64::MAX } else { (1u64 << width) - 1 }
}

/// Appends `values` packed in `width` bits (0..=64) to `out`; bits above `width` are dropped.
pub fn pack(values: impl IntoIterator<Item = u64>, width: u32, out: &mut Vec<u8>) {
    assert!(width <= 64, "bit width {width} > 64");
    if width == 0 {
        return;
    }
    let mask = mask(width);
    // Up to 63 pending bits plus a value of up to 64 bits fit in 128.
    let mut pending: u128 = 0;
    let mut pending_bits = 0u32;
    for value in values {
        pending |= ((value & mask) as u128) << pending_bits;
        pending_bits += width;
        if pending_bits >= 64 {
            out.extend_from_slice(&(pending as u64).to_le_bytes());
            pending >>= 64;
            pending_bits -= 64;
        }
    }
    let tail = pending_bits.div_ceil(8) as usize;
    out.extend_from_slice(&(pending as u64).to_le_bytes()[..tail]);
}

/// A bit-packed array inside a vector's bytes, its length already checked against them.
#[derive(Debug, Clone, Copy)]
pub struct Packed<'a> {
    bytes: &'a [u8],
    width: u32,
    len: usize,
}

impl<'a> Packed<'a> {
    /// `len` values of `width` bits in `bytes`; None unless `width <= 64` and `bytes` holds
    /// exactly `packed_len(len, width)` bytes.
    pub fn new(bytes: &'a [u8], width: u32, len: usize) -> Option<Self> {
        (width <= 64 && bytes.len() == packed_len(len, width)).then_some(Packed { bytes, width, len })
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    /// Value `i`; 0 past the end (callers check `i < len` first: this never panics).
    pub fn get(&self, i: usize) -> u64 {
        if self.width == 0 || i >= self.len {
            return 0;
        }
        let bit = i * self.width as usize;
        let start = bit / 8;
        // A value spans at most 9 bytes; read up to 16 into a u128 (fewer at the end).
        let mut window = [0u8; 16];
        let end = self.bytes.len().min(start + 16);
        window[..end - start].copy_from_slice(&self.bytes[start..end]);
        ((u128::from_le_bytes(window) >> (bit % 8)) as u64) & mask(self.width)
    }

    /// Every value, in order, through `f(index, value)`.
    pub fn for_each(&self, mut f: impl FnMut(usize, u64)) {
        if self.width == 0 {
            (0..self.len).for_each(|i| f(i, 0));
            return;
        }
        let width = self.width as usize;
        let mask = mask(self.width);
        // Fast path: while 16 bytes remain from the value's first byte, read them directly.
        let mut i = 0;
        while i < self.len {
            let bit = i * width;
            let start = bit / 8;
            let Some(window) = self.bytes.get(start..start + 16) else { break };
            let window = u128::from_le_bytes(window.try_into().unwrap_or([0; 16]));
            f(i, ((window >> (bit % 8)) as u64) & mask);
            i += 1;
        }
        for i in i..self.len {
            f(i, self.get(i));
        }
    }

    /// Every value, appended to `out`.
    pub fn unpack_into(&self, out: &mut Vec<u64>) {
        out.reserve(self.len);
        self.for_each(|_, v| out.push(v));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn widths() {
        assert_eq!(width_of(0), 0);
        assert_eq!(width_of(1), 1);
        assert_eq!(width_of(255), 8);
        assert_eq!(width_of(256), 9);
        assert_eq!(width_of(u64::MAX), 64);
        assert_eq!(packed_len(3, 3), 2);
        assert_eq!(packed_len(2048, 64), 16384);
        assert_eq!(packed_len(0, 64), 0);
    }

    #[test]
    fn every_width_round_trips() {
        for width in 0..=64u32 {
            let values: Vec<u64> =
                (0..100u64).map(|i| i.wrapping_mul(0x9E37_79B9_7F4A_7C15) & mask(width)).collect();
            let mut out = Vec::new();
            pack(values.iter().copied(), width, &mut out);
            assert_eq!(out.len(), packed_len(values.len(), width));
            let packed = Packed::new(&out, width, values.len()).unwrap();
            let mut back = Vec::new();
            packed.unpack_into(&mut back);
            assert_eq!(back, values, "width {width}");
            for (i, v) in values.iter().enumerate() {
                assert_eq!(packed.get(i), *v);
            }
        }
    }

    #[test]
    fn rejects_wrong_lengths() {
        assert!(Packed::new(&[0; 2], 3, 3).is_some());
        assert!(Packed::new(&[0; 1], 3, 3).is_none());
        assert!(Packed::new(&[0; 3], 3, 3).is_none());
        assert!(Packed::new(&[], 65, 0).is_none());
    }

    proptest! {
        #[test]
        fn round_trip(values in proptest::collection::vec(any::<u64>(), 0..300), width in 0u32..=64) {
            let values: Vec<u64> = values.into_iter().map(|v| v & mask(width)).collect();
            let mut out = Vec::new();
            pack(values.iter().copied(), width, &mut out);
            let packed = Packed::new(&out, width, values.len()).unwrap();
            let mut back = Vec::new();
            packed.unpack_into(&mut back);
            prop_assert_eq!(back, values);
        }
    }
}
