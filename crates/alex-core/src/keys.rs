//! Order-preserving key codes.
//!
//! Every supported SQL type maps into `u64` so that unsigned order of the codes is the SQL order
//! (btree's order) and comparisons on the hot path are plain integer compares.
//! - Integers (int2, int4, int8, date, timestamp, timestamptz): `v as i64` with the sign bit
//!   flipped. int2/int4/int8 share one code space, so cross-type comparisons need no conversion.
//! - Floats (float4, float8): the IEEE bits made monotone: `-Infinity < ... < -0 < 0 < ... <
//!   Infinity < NaN`. float4 values are widened to f64 first (exact), so float4 and float8 share one
//!   code space, as PostgreSQL's float48 comparisons do. `-0` and `0` get adjacent codes: SQL says
//!   they are equal, so equality maps to a two-code range; index-only scans still return the sign.
//!   Every NaN gets the one code `u64::MAX`: SQL treats all NaNs as equal and greater than anything.

const SIGN: u64 = 1 << 63;

#[inline]
pub fn code_from_i64(v: i64) -> u64 {
    (v as u64) ^ SIGN
}

#[inline]
pub fn i64_from_code(code: u64) -> i64 {
    (code ^ SIGN) as i64
}

/// The code of NaN: the greatest code of all.
pub const NAN_CODE: u64 = u64::MAX;

#[inline]
pub fn code_from_f64(v: f64) -> u64 {
    if v.is_nan() {
        return NAN_CODE;
    }
    let bits = v.to_bits();
    if bits & SIGN != 0 { !bits } else { bits | SIGN }
}

#[inline]
pub fn f64_from_code(code: u64) -> f64 {
    if code == NAN_CODE {
        f64::NAN
    } else if code & SIGN != 0 {
        f64::from_bits(code & !SIGN)
    } else {
        f64::from_bits(!code)
    }
}

/// The inclusive code range of all values SQL considers equal to `v` (only zero has two codes).
#[inline]
pub fn f64_equal_codes(v: f64) -> (u64, u64) {
    if v == 0.0 {
        (code_from_f64(-0.0), code_from_f64(0.0))
    } else {
        let c = code_from_f64(v);
        (c, c)
    }
}

/// btree strategy numbers, as used by the operator classes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Strategy {
    Less = 1,
    LessEqual = 2,
    Equal = 3,
    GreaterEqual = 4,
    Greater = 5,
}

impl Strategy {
    pub fn from_number(n: u16) -> Option<Strategy> {
        Some(match n {
            1 => Strategy::Less,
            2 => Strategy::LessEqual,
            3 => Strategy::Equal,
            4 => Strategy::GreaterEqual,
            5 => Strategy::Greater,
            _ => return None,
        })
    }
}

/// Where a comparison argument falls among the codes of a column: codes below `start` are less
/// than it, codes in `start..end` equal it (none when `start == end`: a `date` column has no
/// value equal to a timestamp with a time of day), codes from `end` on are greater. Bounds go up
/// to 2^64, past the largest code.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct EqualCodes {
    pub start: u128,
    pub end: u128,
}

impl EqualCodes {
    /// The codes `lo..=hi`.
    pub fn inclusive(lo: u64, hi: u64) -> EqualCodes {
        EqualCodes { start: lo as u128, end: hi as u128 + 1 }
    }

    pub fn is_empty(&self) -> bool {
        self.start >= self.end
    }

    /// The non-empty overlaps of two sorted lists of disjoint ranges (the codes equal to an
    /// element of each of two `= ANY` arrays).
    pub fn intersect_sorted(a: &[EqualCodes], b: &[EqualCodes]) -> Vec<EqualCodes> {
        let (mut i, mut j, mut out) = (0, 0, Vec::new());
        while i < a.len() && j < b.len() {
            let both = EqualCodes { start: a[i].start.max(b[j].start), end: a[i].end.min(b[j].end) };
            if !both.is_empty() {
                out.push(both);
            }
            if a[i].end <= b[j].end { i += 1 } else { j += 1 }
        }
        out
    }
}

/// An inclusive range of codes, or empty. The conjunction of a scan's keys narrows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CodeRange {
    pub lo: u64,
    pub hi: u64,
    pub empty: bool,
}

impl Default for CodeRange {
    fn default() -> Self {
        CodeRange::ALL
    }
}

impl CodeRange {
    pub const ALL: CodeRange = CodeRange { lo: 0, hi: u64::MAX, empty: false };
    pub const EMPTY: CodeRange = CodeRange { lo: 1, hi: 0, empty: true };

    /// Narrows the range by `column <strategy> arg`, where `arg` is described by the codes equal
    /// to it.
    pub fn restrict(&mut self, strategy: Strategy, arg: EqualCodes) {
        match strategy {
            Strategy::Less => self.below(arg.start),
            Strategy::LessEqual => self.below(arg.end),
            Strategy::Equal => {
                self.at_or_above(arg.start);
                self.below(arg.end);
            }
            Strategy::GreaterEqual => self.at_or_above(arg.start),
            Strategy::Greater => self.at_or_above(arg.end),
        }
    }

    /// Keeps the codes below `end` (at most 2^64).
    fn below(&mut self, end: u128) {
        match end.checked_sub(1) {
            Some(last) if !self.empty => {
                self.hi = self.hi.min(u64::try_from(last).unwrap_or(u64::MAX));
                self.empty = self.lo > self.hi;
            }
            _ => *self = CodeRange::EMPTY,
        }
    }

    /// Keeps the codes from `start` (at most 2^64) on.
    fn at_or_above(&mut self, start: u128) {
        match u64::try_from(start) {
            Ok(first) if !self.empty => {
                self.lo = self.lo.max(first);
                self.empty = self.lo > self.hi;
            }
            _ => *self = CodeRange::EMPTY,
        }
    }

    #[inline]
    pub fn contains(&self, code: u64) -> bool {
        !self.empty && self.lo <= code && code <= self.hi
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::{prop, prop_assert, prop_assert_eq, proptest};

    fn sql_cmp_f64(a: f64, b: f64) -> std::cmp::Ordering {
        // PostgreSQL's float8 ordering: NaN equals NaN and is greater than everything.
        match (a.is_nan(), b.is_nan()) {
            (true, true) => std::cmp::Ordering::Equal,
            (true, false) => std::cmp::Ordering::Greater,
            (false, true) => std::cmp::Ordering::Less,
            _ => a.partial_cmp(&b).unwrap(),
        }
    }

    proptest! {
        #[test]
        fn integer_codes_keep_order(a: i64, b: i64) {
            prop_assert_eq!(a.cmp(&b), code_from_i64(a).cmp(&code_from_i64(b)));
            prop_assert_eq!(i64_from_code(code_from_i64(a)), a);
        }

        #[test]
        fn float_codes_keep_sql_order(a: f64, b: f64) {
            let (alo, ahi) = f64_equal_codes(a);
            let cb = code_from_f64(b);
            let in_class = alo <= cb && cb <= ahi;
            prop_assert_eq!(sql_cmp_f64(a, b) == std::cmp::Ordering::Equal, in_class);
            if !in_class {
                prop_assert_eq!(sql_cmp_f64(a, b), code_from_f64(a).cmp(&cb));
            }
            let back = f64_from_code(code_from_f64(a));
            prop_assert!(back.to_bits() == a.to_bits() || (a.is_nan() && back.is_nan()));
        }

        #[test]
        fn float4_widening_shares_the_space(a: f32, b: f64) {
            let ca = code_from_f64(a as f64);
            prop_assert_eq!((f64_from_code(ca) as f32).to_bits() == a.to_bits() || a.is_nan(), true);
            if !a.is_nan() && !b.is_nan() && (a as f64) != b {
                prop_assert_eq!((a as f64) < b, ca < code_from_f64(b));
            }
        }

        #[test]
        fn restrict_matches_predicate(vals in prop::collection::vec(-5i64..5, 1..40), arg in -6i64..6, s in 1u16..=5) {
            let strategy = Strategy::from_number(s).unwrap();
            let mut r = CodeRange::ALL;
            let c = code_from_i64(arg);
            r.restrict(strategy, EqualCodes::inclusive(c, c));
            for v in vals {
                let expect = match strategy {
                    Strategy::Less => v < arg, Strategy::LessEqual => v <= arg, Strategy::Equal => v == arg,
                    Strategy::GreaterEqual => v >= arg, Strategy::Greater => v > arg,
                };
                prop_assert_eq!(r.contains(code_from_i64(v)), expect);
            }
        }
    }

    proptest! {
        #[test]
        fn restrict_by_any_split(codes in prop::collection::vec(prop::sample::select(vec![0u64, 1, 2, 1 << 63, u64::MAX - 1, u64::MAX]), 1..20),
                                 a in prop::sample::select(vec![0u128, 1, 2, 3, 1 << 63, (1 << 64) - 1, 1 << 64]),
                                 len in prop::sample::select(vec![0u128, 1, 2]), s in 1u16..=5, prior: bool) {
            let strategy = Strategy::from_number(s).unwrap();
            let eq = EqualCodes { start: a, end: (a + len).min(1 << 64) };
            let mut r = CodeRange::ALL;
            if prior {
                r.restrict(Strategy::GreaterEqual, EqualCodes::inclusive(1, 1));
            }
            r.restrict(strategy, eq);
            for c in codes {
                let w = c as u128;
                let expect = match strategy {
                    Strategy::Less => w < eq.start, Strategy::LessEqual => w < eq.end,
                    Strategy::Equal => eq.start <= w && w < eq.end,
                    Strategy::GreaterEqual => w >= eq.start, Strategy::Greater => w >= eq.end,
                } && (!prior || c >= 1);
                prop_assert_eq!(r.contains(c), expect);
            }
        }
    }

    #[test]
    fn intersect_sorted_ranges() {
        let r = |start, end| EqualCodes { start, end };
        let a = [r(0, 2), r(5, 9), r(10, 11)];
        let b = [r(1, 6), r(8, 12)];
        assert_eq!(EqualCodes::intersect_sorted(&a, &b), vec![r(1, 2), r(5, 6), r(8, 9), r(10, 11)]);
        assert_eq!(EqualCodes::intersect_sorted(&a, &[]), vec![]);
    }

    #[test]
    fn float_special_values() {
        let order = [f64::NEG_INFINITY, -1e300, -1.0, -f64::MIN_POSITIVE, -0.0, 0.0, 5e-324, 1.0, f64::INFINITY, f64::NAN];
        for w in order.windows(2) {
            assert!(code_from_f64(w[0]) < code_from_f64(w[1]), "{} < {}", w[0], w[1]);
        }
        assert_eq!(code_from_f64(f64::NAN), code_from_f64(-f64::NAN));
        let mut r = CodeRange::ALL;
        let (lo, hi) = f64_equal_codes(0.0);
        r.restrict(Strategy::Greater, EqualCodes::inclusive(lo, hi));
        assert!(!r.contains(code_from_f64(-0.0)) && r.contains(code_from_f64(5e-324)));
        let mut r = CodeRange::ALL;
        r.restrict(Strategy::Greater, EqualCodes::inclusive(NAN_CODE, NAN_CODE));
        assert!(r.empty);
        let mut r = CodeRange::ALL;
        r.restrict(Strategy::Less, EqualCodes::inclusive(0, 0));
        assert!(r.empty);
    }
}
