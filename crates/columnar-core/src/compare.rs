//! Comparisons of stored values with a constant, ordered as PostgreSQL's btree operators order
//! them, for clauses evaluated over column vectors: integers and the types stored as integers
//! (dates, times, timestamps), dates against timestamps, and numerics; and equality of text
//! values under a deterministic collation (their bytes).

use crate::numeric::Numeric;
use std::cmp::Ordering;

/// A btree strategy: the comparison a clause makes, column on the left.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    Lt,
    Le,
    Eq,
    Ge,
    Gt,
}

impl Op {
    /// From a btree strategy number (1 to 5).
    pub fn from_strategy(strategy: i32) -> Option<Op> {
        Some(match strategy {
            1 => Op::Lt,
            2 => Op::Le,
            3 => Op::Eq,
            4 => Op::Ge,
            5 => Op::Gt,
            _ => return None,
        })
    }

    /// The same comparison with its operands swapped (`c < x` is `x > c`).
    pub fn commuted(self) -> Op {
        match self {
            Op::Lt => Op::Gt,
            Op::Le => Op::Ge,
            Op::Eq => Op::Eq,
            Op::Ge => Op::Le,
            Op::Gt => Op::Lt,
        }
    }

    pub fn holds(self, o: Ordering) -> bool {
        match self {
            Op::Lt => o.is_lt(),
            Op::Le => o.is_le(),
            Op::Eq => o.is_eq(),
            Op::Ge => o.is_ge(),
            Op::Gt => o.is_gt(),
        }
    }

    /// Whether no value from `min` to `max` (a zone map's bounds) is `op constant`.
    pub fn refuted_by_zone(self, min: i128, max: i128, constant: i128) -> bool {
        match self {
            Op::Lt => min >= constant,
            Op::Le => min > constant,
            Op::Eq => constant < min || constant > max,
            Op::Ge => max < constant,
            Op::Gt => max <= constant,
        }
    }
}

const USECS_PER_DAY: i128 = 86_400_000_000;
/// Timestamps' valid range (`MIN_TIMESTAMP`, `END_TIMESTAMP`), and dates' infinities.
const MIN_TIMESTAMP: i128 = -211_813_488_000_000_000;
const END_TIMESTAMP: i128 = 9_223_371_331_200_000_000;
const DATE_NOBEGIN: i64 = i32::MIN as i64;
const DATE_NOEND: i64 = i32::MAX as i64;

/// A date (days since 2000-01-01) as PostgreSQL compares it with a timestamp: the same instant
/// at midnight, the infinities as the timestamp infinities, and a date beyond the timestamps'
/// range beyond every timestamp (`date_cmp_timestamp_internal`'s overflow rule).
pub fn date_as_timestamp(days: i64) -> i128 {
    match days {
        DATE_NOBEGIN => i64::MIN as i128,
        DATE_NOEND => i64::MAX as i128,
        d => match d as i128 * USECS_PER_DAY {
            t if t < MIN_TIMESTAMP => i128::MIN,
            t if t >= END_TIMESTAMP => i128::MAX,
            t => t,
        },
    }
}

/// `numeric_cmp`'s order: NaN above everything (and equal to NaN), then +Infinity, the finite
/// values, -Infinity. None when two finite values cannot be compared in 128 bits (a value too
/// big, or the rescaling overflows): the caller asks PostgreSQL.
pub fn numeric_cmp(a: Numeric, b: Numeric) -> Option<Ordering> {
    let rank = |n: Numeric| match n {
        Numeric::NegInf => 0,
        Numeric::Finite { .. } | Numeric::TooBig => 1,
        Numeric::PosInf => 2,
        Numeric::NaN => 3,
    };
    match (a, b) {
        (Numeric::Finite { value: x, scale: sx }, Numeric::Finite { value: y, scale: sy }) => {
            let up = |v: i128, by: u16| crate::numeric::pow10(by as u32).and_then(|p| v.checked_mul(p));
            let (x, y) = if sx < sy { (up(x, sy - sx)?, y) } else { (x, up(y, sx - sy)?) };
            Some(x.cmp(&y))
        }
        (Numeric::TooBig, _) | (_, Numeric::TooBig) if rank(a) == rank(b) => None,
        _ => Some(rank(a).cmp(&rank(b))),
    }
}

/// A finite numeric constant `c / 10^cs` made ready for comparing with it the values
/// `v / 10^s` of a vector of one scale `s`, each in one 128-bit comparison of `v`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScaledConstant {
    bound: i128,
    /// `v == bound` means `v` is below the constant (which has digits past scale `s`).
    below_when_equal: bool,
}

impl ScaledConstant {
    /// None when the scales are too far apart for 128 bits (the caller compares each value).
    pub fn new(c: i128, cs: u16, s: u16) -> Option<ScaledConstant> {
        if s >= cs {
            // A constant beyond 128 bits at scale s is beyond every 64-bit v: saturating keeps
            // the order (no v equals i128::MAX or MIN).
            let bound = match crate::numeric::pow10((s - cs) as u32) {
                Some(p) => c.saturating_mul(p),
                None if c == 0 => 0,
                None => if c > 0 { i128::MAX } else { i128::MIN },
            };
            return Some(ScaledConstant { bound, below_when_equal: false });
        }
        // v * d against c = q * d + r (0 <= r < d): v < q gives less, v > q greater, and v = q
        // equal only when r = 0.
        let d = crate::numeric::pow10((cs - s) as u32)?;
        Some(ScaledConstant { bound: c.div_euclid(d), below_when_equal: c.rem_euclid(d) != 0 })
    }

    /// `v / 10^s` against the constant.
    pub fn cmp(&self, v: i64) -> Ordering {
        match (v as i128).cmp(&self.bound) {
            Ordering::Equal if self.below_when_equal => Ordering::Less,
            o => o,
        }
    }
}

/// The bytes of a stored varlena datum after its header: None when it is compressed or a TOAST
/// pointer (its value is not in these bytes), or malformed.
pub fn varlena_payload(datum: &[u8]) -> Option<&[u8]> {
    let first = *datum.first()?;
    if first & 0x01 == 0x01 {
        // A 1-byte header holds the whole length; 0x01 alone starts a TOAST pointer.
        let len = (first >> 1) as usize;
        return (first != 0x01).then(|| datum.get(1..len)).flatten();
    }
    if first & 0x03 != 0 {
        return None;
    }
    let header: [u8; 4] = datum.get(..4)?.try_into().ok()?;
    datum.get(4..(u32::from_le_bytes(header) >> 2) as usize)
}

/// A `character(n)` value as its equality sees it: without trailing spaces.
pub fn bpchar_trimmed(value: &[u8]) -> &[u8] {
    let len = value.iter().rposition(|&b| b != b' ').map_or(0, |i| i + 1);
    &value[..len]
}

/// Whether a stored text datum equals one of `values` (sorted, trimmed when `bpchar`), as
/// equality under a deterministic collation decides: by bytes. None when its value is not in
/// the datum's bytes.
pub fn text_in(datum: &[u8], values: &[Vec<u8>], bpchar: bool) -> Option<bool> {
    let payload = varlena_payload(datum)?;
    let payload = if bpchar { bpchar_trimmed(payload) } else { payload };
    Some(values.binary_search_by(|v| v.as_slice().cmp(payload)).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn f(value: i128, scale: u16) -> Numeric {
        Numeric::Finite { value, scale }
    }

    #[test]
    fn numerics_order_as_postgres() {
        assert_eq!(numeric_cmp(f(5, 2), f(5, 1)), Some(Ordering::Less)); // 0.05 < 0.5
        assert_eq!(numeric_cmp(f(50, 2), f(5, 1)), Some(Ordering::Equal)); // 0.50 = 0.5
        assert_eq!(numeric_cmp(f(-1, 0), Numeric::NegInf), Some(Ordering::Greater));
        assert_eq!(numeric_cmp(Numeric::PosInf, Numeric::NaN), Some(Ordering::Less));
        assert_eq!(numeric_cmp(Numeric::NaN, Numeric::NaN), Some(Ordering::Equal));
        assert_eq!(numeric_cmp(Numeric::TooBig, f(1, 0)), None);
        assert_eq!(numeric_cmp(Numeric::TooBig, Numeric::NaN), Some(Ordering::Less));
        assert_eq!(numeric_cmp(f(i128::MAX / 2, 0), f(1, 1)), None, "rescaling overflows");
    }

    proptest! {
        #[test]
        fn a_zone_refutes_exactly_when_no_value_in_it_holds(a in -20i128..20, b in -20i128..20, constant in -25i128..25, strategy in 1i32..=5) {
            let (min, max) = (a.min(b), a.max(b));
            let op = Op::from_strategy(strategy).unwrap();
            let none_holds = (min..=max).all(|v| !op.holds(v.cmp(&constant)));
            prop_assert_eq!(op.refuted_by_zone(min, max, constant), none_holds);
        }
    }

    #[test]
    fn dates_compare_with_timestamps() {
        assert_eq!(date_as_timestamp(1), USECS_PER_DAY);
        assert_eq!(date_as_timestamp(DATE_NOEND), i64::MAX as i128);
        assert_eq!(date_as_timestamp(DATE_NOBEGIN), i64::MIN as i128);
        // 5874897 AD is a date but beyond every timestamp, infinity included.
        assert!(date_as_timestamp(2_147_483_494 - 2_451_545) > i64::MAX as i128);
        assert!(Op::Lt.holds(Ordering::Less) && !Op::Lt.holds(Ordering::Equal));
        assert_eq!(Op::from_strategy(2).map(Op::commuted), Some(Op::Ge));
    }

    proptest! {
        #[test]
        fn scaled_constants_order_as_numeric_cmp(v in any::<i64>(), s in 0u16..24, c in any::<i128>(), cs in 0u16..24) {
            let c = c >> (c as u8 % 120);
            let expected = numeric_cmp(f(v as i128, s), f(c, cs));
            let k = ScaledConstant::new(c, cs, s).unwrap();
            if let Some(expected) = expected {
                prop_assert_eq!(k.cmp(v), expected);
            }
            // 60 places past the constant's: |v / 10^60| < 1, so the constant's sign decides.
            let far = if c != 0 { 0.cmp(&c) } else { v.cmp(&0) };
            prop_assert_eq!(ScaledConstant::new(c, 0, 60).unwrap().cmp(v), far);
        }

        #[test]
        fn finite_numerics_order_as_rationals(x in -10i64.pow(12)..10i64.pow(12), sx in 0u16..8, y in -10i64.pow(12)..10i64.pow(12), sy in 0u16..8) {
            let expected = (x as i128 * 10i128.pow(sy as u32)).cmp(&(y as i128 * 10i128.pow(sx as u32)));
            prop_assert_eq!(numeric_cmp(f(x as i128, sx), f(y as i128, sy)), Some(expected));
        }
    }

    #[test]
    fn varlena_payloads() {
        // 1-byte header: length 4 (3 bytes of payload) is 0x09.
        assert_eq!(varlena_payload(&[0x09, b'a', b'b', b'c']), Some(&b"abc"[..]));
        assert_eq!(varlena_payload(&[0x03]), Some(&b""[..]));
        // 4-byte header, uncompressed: length 6 (2 bytes) shifted left by 2.
        assert_eq!(varlena_payload(&[24, 0, 0, 0, b'x', b'y']), Some(&b"xy"[..]));
        // Compressed (low bits 10) and a TOAST pointer (0x01) hold no plain value.
        assert_eq!(varlena_payload(&[26, 0, 0, 0, 1, 2]), None);
        assert_eq!(varlena_payload(&[0x01, 18, 0, 0]), None);
        // Lengths past the bytes held are refused, not read.
        assert_eq!(varlena_payload(&[0x09, b'a']), None);
        assert_eq!(varlena_payload(&[]), None);
    }

    #[test]
    fn text_equality() {
        let values = vec![b"AIR".to_vec(), b"MAIL".to_vec()];
        assert_eq!(text_in(&[0x09, b'A', b'I', b'R'], &values, false), Some(true));
        assert_eq!(text_in(&[0x0b, b'A', b'I', b'R', b' '], &values, false), Some(false));
        assert_eq!(text_in(&[0x0b, b'A', b'I', b'R', b' '], &values, true), Some(true));
        assert_eq!(text_in(&[0x0b, b'A', b'I', b'R', b'x'], &values, true), Some(false));
        assert_eq!(text_in(&[26, 0, 0, 0, 1, 2], &values, true), None);
        assert_eq!(bpchar_trimmed(b"   "), b"");
        assert_eq!(bpchar_trimmed(b" a b  "), b" a b");
    }
}
