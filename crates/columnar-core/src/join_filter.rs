//! A filter of integer join keys: the keys a hash join's inner side holds, tested against each
//! outer row's key before the row is formed. A Bloom filter with one hash: it may pass a key
//! the inner side does not hold (the join then finds no match), never refuses one it holds.

/// Bits per key the filter is sized for, and the most bits it takes (32 MB): past the size it
/// was made for, it passes more keys, still never refusing one it holds.
const BITS_PER_KEY: usize = 16;
const MAX_BITS_LOG2: u32 = 28;
/// The share of bits set past which the filter would pass most keys: not worth testing.
const MAX_FILL: f64 = 0.5;

pub struct KeyFilter {
    bits: Vec<u64>,
    /// 64 minus log2 of the number of bits: a key's bit is the top bits of its hash.
    shift: u32,
    set: usize,
}

impl KeyFilter {
    /// An empty filter sized for about `keys` keys.
    pub fn with_capacity(keys: usize) -> KeyFilter {
        let log2 = (keys.max(64) * BITS_PER_KEY).next_power_of_two().trailing_zeros().min(MAX_BITS_LOG2);
        KeyFilter { bits: vec![0; (1usize << log2) / 64], shift: 64 - log2, set: 0 }
    }

    fn bit(&self, key: i64) -> usize {
        // Fibonacci hashing: the multiplication mixes every bit of the key into the top ones.
        ((key as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) >> self.shift) as usize
    }

    pub fn insert(&mut self, key: i64) {
        let b = self.bit(key);
        let word = &mut self.bits[b / 64];
        self.set += (*word >> (b % 64) & 1 == 0) as usize;
        *word |= 1 << (b % 64);
    }

    /// False only if `key` was never inserted.
    pub fn may_contain(&self, key: i64) -> bool {
        let b = self.bit(key);
        self.bits[b / 64] >> (b % 64) & 1 == 1
    }

    /// Whether testing keys against the filter refuses enough of them to pay.
    pub fn is_selective(&self) -> bool {
        (self.set as f64) < MAX_FILL * (self.bits.len() * 64) as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        /// Every key inserted passes, however many more than the filter was sized for.
        #[test]
        fn never_refuses_an_inserted_key(keys in proptest::collection::vec(any::<i64>(), 0..3000), capacity in 0usize..5000) {
            let mut f = KeyFilter::with_capacity(capacity);
            for &k in &keys {
                f.insert(k);
            }
            for &k in &keys {
                prop_assert!(f.may_contain(k));
            }
        }
    }

    #[test]
    fn refuses_most_other_keys() {
        let mut f = KeyFilter::with_capacity(10_000);
        for k in (0..10_000).map(|i| i * 7) {
            f.insert(k);
        }
        assert!(f.is_selective());
        let passed = (0..100_000).map(|i| i * 7 + 3).filter(|&k| f.may_contain(k)).count();
        // One hash at 16 bits per key passes about 6% of keys it does not hold.
        assert!(passed < 10_000, "{passed} of 100000 passed");
    }

    #[test]
    fn saturated_filter_is_not_selective() {
        let mut f = KeyFilter::with_capacity(0);
        for k in 0..100_000 {
            f.insert(k);
        }
        assert!(!f.is_selective());
        assert!(f.may_contain(99_999));
    }
}
