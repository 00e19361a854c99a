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

    /// Narrows the range by `column <strategy> arg`, where `arg_lo..=arg_hi` are the codes equal
    /// to the argument.
    pub fn restrict(&mut self, strategy: Strategy, arg_lo: u64, arg_hi: u64) {
        if self.empty {
            return;
        }
        match strategy {
            Strategy::Less => {
                if arg_lo == 0 {
                    *self = CodeRange::EMPTY;
                    return;
                }
                self.hi = self.hi.min(arg_lo - 1);
            }
            Strategy::LessEqual => self.hi = self.hi.min(arg_hi),
            Strategy::Equal => {
                self.lo = self.lo.max(arg_lo);
                self.hi = self.hi.min(arg_hi);
            }
            Strategy::GreaterEqual => self.lo = self.lo.max(arg_lo),
            Strategy::Greater => {
                if arg_hi == u64::MAX {
                    *self = CodeRange::EMPTY;
                    return;
                }
                self.lo = self.lo.max(arg_hi + 1);
            }
        }
        if self.lo > self.hi {
            *self = CodeRange::EMPTY;
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
            r.restrict(strategy, c, c);
            for v in vals {
                let expect = match strategy {
                    Strategy::Less => v < arg, Strategy::LessEqual => v <= arg, Strategy::Equal => v == arg,
                    Strategy::GreaterEqual => v >= arg, Strategy::Greater => v > arg,
                };
                prop_assert_eq!(r.contains(code_from_i64(v)), expect);
            }
        }
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
        r.restrict(Strategy::Greater, lo, hi);
        assert!(!r.contains(code_from_f64(-0.0)) && r.contains(code_from_f64(5e-324)));
        let mut r = CodeRange::ALL;
        r.restrict(Strategy::Greater, NAN_CODE, NAN_CODE);
        assert!(r.empty);
        let mut r = CodeRange::ALL;
        r.restrict(Strategy::Less, 0, 0);
        assert!(r.empty);
    }
}
