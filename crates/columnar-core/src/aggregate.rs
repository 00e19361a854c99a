//! The arithmetic of aggregates computed over column vectors, with PostgreSQL's results to the
//! bit: the same order of float operations and the same overflow rules as `float.c`, integer
//! sums as `int8.c` keeps them, and numeric sums exact in 128-bit scaled integers, where a
//! value that does not fit is left to the caller to add with PostgreSQL's own numeric code.

use crate::numeric::{Numeric, pow10};

/// `value / 10^scale` in numeric's text form, with exactly `scale` fractional digits (what
/// `numeric_in` reads back with display scale `scale`).
pub fn format_scaled(value: i128, scale: u16) -> String {
    let digits = value.unsigned_abs().to_string();
    let scale = scale as usize;
    let (int, frac) = if digits.len() > scale {
        let (i, f) = digits.split_at(digits.len() - scale);
        (i.to_string(), f.to_string())
    } else {
        ("0".to_string(), format!("{digits:0>scale$}"))
    };
    let sign = if value < 0 { "-" } else { "" };
    if scale == 0 { format!("{sign}{int}") } else { format!("{sign}{int}.{frac}") }
}

/// An exact sum of numerics: the finite values that fit in 128 bits at the largest display
/// scale seen, and counts of the special values. `numeric.c` gives the sum the largest display
/// scale of its inputs, NaN if any input is NaN or both infinities occur, else the infinity.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct DecimalSum {
    pub value: i128,
    pub scale: u16,
    /// Finite inputs added (PostgreSQL's N, which avg divides by).
    pub count: i64,
    pub nan: i64,
    pub pos_inf: i64,
    pub neg_inf: i64,
}

/// What a numeric sum ends as.
#[derive(Debug, PartialEq, Eq)]
pub enum SumResult {
    Null,
    NaN,
    PosInf,
    NegInf,
    Finite,
}

impl DecimalSum {
    /// Adds a finite value; false (and nothing added) if the sum would leave 128 bits, when
    /// the caller adds it with PostgreSQL's code instead.
    pub fn add(&mut self, value: i128, scale: u16) -> bool {
        let (mut sum, mut value) = (self.value, value);
        if scale > self.scale {
            match pow10((scale - self.scale) as u32).and_then(|p| sum.checked_mul(p)) {
                Some(s) => sum = s,
                None => return false,
            }
        } else if scale < self.scale {
            match pow10((self.scale - scale) as u32).and_then(|p| value.checked_mul(p)) {
                Some(v) => value = v,
                None => return false,
            }
        }
        let Some(sum) = sum.checked_add(value) else { return false };
        self.value = sum;
        self.scale = self.scale.max(scale);
        self.count += 1;
        true
    }

    /// Adds `count` finite values of one scale whose sum is `total`; false (and nothing added)
    /// as for [`add`](Self::add).
    pub fn add_many(&mut self, total: i128, count: i64, scale: u16) -> bool {
        let added = self.add(total, scale);
        if added {
            self.count += count - 1;
        }
        added
    }

    pub fn add_special(&mut self, n: Numeric) {
        match n {
            Numeric::NaN => self.nan += 1,
            Numeric::PosInf => self.pos_inf += 1,
            Numeric::NegInf => self.neg_inf += 1,
            Numeric::Finite { .. } | Numeric::TooBig => {}
        }
    }

    /// The result, given how many finite inputs the caller added itself.
    pub fn result(&self, added_elsewhere: i64) -> SumResult {
        if self.count + added_elsewhere + self.nan + self.pos_inf + self.neg_inf == 0 {
            SumResult::Null
        } else if self.nan > 0 || (self.pos_inf > 0 && self.neg_inf > 0) {
            SumResult::NaN
        } else if self.pos_inf > 0 {
            SumResult::PosInf
        } else if self.neg_inf > 0 {
            SumResult::NegInf
        } else {
            SumResult::Finite
        }
    }
}

/// Numeric arithmetic over columns and constants, exact as `numeric_add`, `numeric_sub` and
/// `numeric_mul` are (a sum or difference at the larger display scale, a product at the sum
/// of the scales).
#[derive(Clone, Debug, PartialEq)]
pub enum Calc {
    /// The value of a column (by the caller's numbering).
    Column(usize),
    Const(i128, u16),
    Add(Box<Calc>, Box<Calc>),
    Sub(Box<Calc>, Box<Calc>),
    Mul(Box<Calc>, Box<Calc>),
}

/// Why 64-bit arithmetic stopped.
enum Stop {
    Fallback,
    Wide,
}

/// 10^0 to 10^18, the powers of ten within i64.
const POW10_I64: [i64; 19] = {
    let mut t = [1i64; 19];
    let mut i = 1;
    while i < 19 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};

/// A value `Calc` cannot compute exactly in 128 bits (a special value, a value too big, an
/// overflow): the caller asks PostgreSQL.
#[derive(Debug, PartialEq, Eq)]
pub struct Fallback;

impl Calc {
    /// The value (value, scale), None for NULL (the operators are strict), given each
    /// column's value.
    pub fn eval(&self, column: &impl Fn(usize) -> Option<Numeric>) -> Result<Option<(i128, u16)>, Fallback> {
        // In 64 bits first (prices, quantities and their products fit), then in 128.
        match self.eval_narrow(column) {
            Ok(v) => Ok(v.map(|(v, s)| (v as i128, s))),
            Err(Stop::Fallback) => Err(Fallback),
            Err(Stop::Wide) => self.eval_wide(column),
        }
    }

    fn eval_narrow(&self, column: &impl Fn(usize) -> Option<Numeric>) -> Result<Option<(i64, u16)>, Stop> {
        let both = |a: &Calc, b: &Calc| -> Result<Option<((i64, u16), (i64, u16))>, Stop> {
            match (a.eval_narrow(column)?, b.eval_narrow(column)?) {
                (Some(x), Some(y)) => Ok(Some((x, y))),
                _ => Ok(None),
            }
        };
        let narrow = |v: i128| i64::try_from(v).map_err(|_| Stop::Wide);
        let rescale = |(v, s): (i64, u16), to: u16| POW10_I64.get((to - s) as usize).and_then(|p| v.checked_mul(*p)).ok_or(Stop::Wide);
        Ok(match self {
            Calc::Column(k) => match column(*k) {
                None => None,
                Some(Numeric::Finite { value, scale }) => Some((narrow(value)?, scale)),
                Some(_) => return Err(Stop::Fallback),
            },
            Calc::Const(v, s) => Some((narrow(*v)?, *s)),
            Calc::Add(a, b) | Calc::Sub(a, b) => {
                let Some((x, y)) = both(a, b)? else { return Ok(None) };
                let scale = x.1.max(y.1);
                let (x, y) = (rescale(x, scale)?, rescale(y, scale)?);
                let v = if matches!(self, Calc::Add(..)) { x.checked_add(y) } else { x.checked_sub(y) };
                Some((v.ok_or(Stop::Wide)?, scale))
            }
            Calc::Mul(a, b) => {
                let Some((x, y)) = both(a, b)? else { return Ok(None) };
                Some((x.0.checked_mul(y.0).ok_or(Stop::Wide)?, x.1 + y.1))
            }
        })
    }

    fn eval_wide(&self, column: &impl Fn(usize) -> Option<Numeric>) -> Result<Option<(i128, u16)>, Fallback> {
        let both = |a: &Calc, b: &Calc| -> Result<Option<((i128, u16), (i128, u16))>, Fallback> {
            match (a.eval_wide(column)?, b.eval_wide(column)?) {
                (Some(x), Some(y)) => Ok(Some((x, y))),
                _ => Ok(None),
            }
        };
        let rescale = |(v, s): (i128, u16), to: u16| pow10((to - s) as u32).and_then(|p| v.checked_mul(p)).ok_or(Fallback);
        Ok(match self {
            Calc::Column(k) => match column(*k) {
                None => None,
                Some(Numeric::Finite { value, scale }) => Some((value, scale)),
                Some(_) => return Err(Fallback),
            },
            Calc::Const(v, s) => Some((*v, *s)),
            Calc::Add(a, b) | Calc::Sub(a, b) => {
                let Some((x, y)) = both(a, b)? else { return Ok(None) };
                let scale = x.1.max(y.1);
                let (x, y) = (rescale(x, scale)?, rescale(y, scale)?);
                let v = if matches!(self, Calc::Add(..)) { x.checked_add(y) } else { x.checked_sub(y) };
                Some((v.ok_or(Fallback)?, scale))
            }
            Calc::Mul(a, b) => {
                let Some((x, y)) = both(a, b)? else { return Ok(None) };
                Some((x.0.checked_mul(y.0).ok_or(Fallback)?, x.1 + y.1))
            }
        })
    }
}

/// A numeric column of one vector as [`Calc::eval_rows`] reads it: the values times 10^scale,
/// and the validity bitmap (None: no NULL).
#[derive(Clone, Copy, Debug)]
pub struct ScaledColumn<'a> {
    pub values: &'a [i64],
    pub scale: u16,
    pub validity: Option<&'a [u8]>,
}

/// One row's result of [`Calc::eval_rows`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    Null,
    /// The result times 10^scale (the scale `eval_rows` returns).
    Value(i64),
    /// Past 64 bits: the caller evaluates this row with [`Calc::eval`].
    Redo,
}

impl Calc {
    /// Evaluates the arithmetic over rows `rows` (indexes into the columns' vectors), a column
    /// at a time, when `column` gives every column it reads as scaled integers and its
    /// constants fit in 64 bits: one result per row in `out`, all at the returned scale.
    pub fn eval_rows<'a>(&self, column: &impl Fn(usize) -> Option<ScaledColumn<'a>>, rows: &[usize], out: &mut Vec<Lane>) -> Option<u16> {
        out.clear();
        out.resize(rows.len(), Lane::Null);
        self.lanes(column, rows, out)
    }

    fn lanes<'a>(&self, column: &impl Fn(usize) -> Option<ScaledColumn<'a>>, rows: &[usize], out: &mut [Lane]) -> Option<u16> {
        match self {
            Calc::Column(k) => {
                let c = column(*k)?;
                for (lane, &i) in out.iter_mut().zip(rows) {
                    let valid = c.validity.is_none_or(|b| crate::encode::validity::is_valid(b, i));
                    *lane = if valid { Lane::Value(c.values[i]) } else { Lane::Null };
                }
                Some(c.scale)
            }
            Calc::Const(v, s) => {
                let v = i64::try_from(*v).ok()?;
                out.fill(Lane::Value(v));
                Some(*s)
            }
            Calc::Add(a, b) | Calc::Sub(a, b) | Calc::Mul(a, b) => {
                let sa = a.lanes(column, rows, out)?;
                let mut right = vec![Lane::Null; rows.len()];
                let sb = b.lanes(column, rows, &mut right)?;
                let (scale, op): (u16, fn(i64, i64) -> Option<i64>) = match self {
                    Calc::Add(..) => (sa.max(sb), i64::checked_add),
                    Calc::Sub(..) => (sa.max(sb), i64::checked_sub),
                    _ => (sa + sb, i64::checked_mul),
                };
                // Addition and subtraction first bring both sides to the larger scale.
                let (pa, pb) = if matches!(self, Calc::Mul(..)) {
                    (1, 1)
                } else {
                    (*POW10_I64.get((scale - sa) as usize)?, *POW10_I64.get((scale - sb) as usize)?)
                };
                for (x, y) in out.iter_mut().zip(&right) {
                    *x = match (*x, *y) {
                        (Lane::Null, _) | (_, Lane::Null) => Lane::Null,
                        (Lane::Value(x), Lane::Value(y)) => {
                            match x.checked_mul(pa).zip(y.checked_mul(pb)).and_then(|(x, y)| op(x, y)) {
                                Some(v) => Lane::Value(v),
                                None => Lane::Redo,
                            }
                        }
                        _ => Lane::Redo,
                    };
                }
                Some(scale)
            }
        }
    }
}

/// A float overflow PostgreSQL reports as "value out of range: overflow".
#[derive(Debug, PartialEq, Eq)]
pub struct Overflow;

/// `float4pl`/`float8pl`: the sum, or an overflow when finite operands give an infinity.
pub fn float_add<F: Float>(a: F, b: F) -> Result<F, Overflow> {
    let r = a.add(b);
    if r.is_infinite() && !a.is_infinite() && !b.is_infinite() { Err(Overflow) } else { Ok(r) }
}

/// `float8_accum`'s state (`float4_accum` widens to it): count, sum and the sum of squared
/// differences, whose overflow is an error there even when the sum is finite.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct FloatAccum {
    pub n: f64,
    pub sx: f64,
    pub sxx: f64,
}

impl FloatAccum {
    pub fn add(&mut self, x: f64) -> Result<(), Overflow> {
        let (n0, sx0) = (self.n, self.sx);
        let n = n0 + 1.0;
        let sx = sx0 + x;
        let mut sxx = self.sxx;
        if n0 > 0.0 {
            let tmp = x * n - sx;
            sxx += tmp * tmp / (n * n0);
            if sx.is_infinite() || sxx.is_infinite() {
                if !sx0.is_infinite() && !x.is_infinite() {
                    return Err(Overflow);
                }
                sxx = f64::NAN;
            }
        } else if x.is_nan() || x.is_infinite() {
            sxx = f64::NAN;
        }
        *self = FloatAccum { n, sx, sxx };
        Ok(())
    }

    /// `float8_avg`: None when no value was added.
    pub fn avg(&self) -> Option<f64> {
        (self.n != 0.0).then(|| self.sx / self.n)
    }
}

/// The float operations the aggregates need, for f32 and f64.
pub trait Float: Copy {
    fn add(self, other: Self) -> Self;
    fn is_infinite(self) -> bool;
    fn is_nan(self) -> bool;
    fn less(self, other: Self) -> bool;
}

macro_rules! float {
    ($t:ty) => {
        impl Float for $t {
            fn add(self, other: Self) -> Self {
                self + other
            }
            fn is_infinite(self) -> bool {
                <$t>::is_infinite(self)
            }
            fn is_nan(self) -> bool {
                <$t>::is_nan(self)
            }
            fn less(self, other: Self) -> bool {
                self < other
            }
        }
    };
}
float!(f32);
float!(f64);

/// `float8_lt` (NaN sorts above every other value, NaNs are equal).
fn float_lt<F: Float>(a: F, b: F) -> bool {
    !a.is_nan() && (b.is_nan() || a.less(b))
}

/// `float8smaller(state, x)`: the state when it is less than x, else x (so of equal values,
/// such as -0 and 0, the later one).
pub fn float_min<F: Float>(state: F, x: F) -> F {
    if float_lt(state, x) { state } else { x }
}

/// `float8larger(state, x)`.
pub fn float_max<F: Float>(state: F, x: F) -> F {
    if float_lt(x, state) { state } else { x }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn formats_with_the_scale() {
        assert_eq!(format_scaled(1234567, 2), "12345.67");
        assert_eq!(format_scaled(-5, 2), "-0.05");
        assert_eq!(format_scaled(0, 3), "0.000");
        assert_eq!(format_scaled(42, 0), "42");
        assert_eq!(format_scaled(i128::MIN, 0), i128::MIN.to_string());
    }

    #[test]
    fn sums_rescale_and_refuse_overflow() {
        let mut s = DecimalSum::default();
        assert!(s.add(15, 1)); // 1.5
        assert!(s.add(-225, 2)); // -2.25
        assert_eq!((s.value, s.scale, s.count), (-75, 2, 2));
        assert!(!s.add(i128::MAX, 0));
        assert_eq!((s.value, s.count), (-75, 2));
        assert_eq!(s.result(0), SumResult::Finite);
        assert!(s.add_many(1000, 10, 3));
        assert_eq!((s.value, s.scale, s.count), (250, 3, 12));
        assert!(!s.add_many(i128::MAX, 10, 3));
        assert_eq!(s.count, 12);
        s.add_special(Numeric::PosInf);
        assert_eq!(s.result(0), SumResult::PosInf);
        s.add_special(Numeric::NegInf);
        assert_eq!(s.result(0), SumResult::NaN);
        assert_eq!(DecimalSum::default().result(0), SumResult::Null);
        assert_eq!(DecimalSum::default().result(1), SumResult::Finite);
    }

    #[test]
    fn calc_is_exact_and_strict() {
        // price * (1 - discount) * (1 + tax), TPC-H Q1's charge: scales 2, 2 + 2, 4 + 2.
        let col = |k| Box::new(Calc::Column(k));
        let one = || Box::new(Calc::Const(1, 0));
        let charge = Calc::Mul(Box::new(Calc::Mul(col(0), Box::new(Calc::Sub(one(), col(1))))), Box::new(Calc::Add(one(), col(2))));
        let values = |k: usize| [Some(f(2_116_823, 2)), Some(f(4, 2)), Some(f(2, 2))][k];
        assert_eq!(charge.eval(&values), Ok(Some((2_116_823 * 96 * 102, 6))));
        let null = |k: usize| [Some(f(1, 0)), None, Some(f(1, 0))][k];
        assert_eq!(charge.eval(&null), Ok(None));
        let nan = |k: usize| [Some(Numeric::NaN), Some(f(1, 0)), Some(f(1, 0))][k];
        assert_eq!(charge.eval(&nan), Err(Fallback));
        let big = |_| Some(f(i128::MAX / 3, 0));
        assert_eq!(Calc::Mul(col(0), col(1)).eval(&big), Err(Fallback));
        assert_eq!(Calc::Sub(col(0), Box::new(Calc::Const(5, 3))).eval(&|_| Some(f(15, 1))), Ok(Some((1495, 3))));
        // Beyond 64 bits, within 128: computed in 128.
        let wide = |_| Some(f(i64::MAX as i128, 0));
        assert_eq!(Calc::Mul(col(0), col(1)).eval(&wide), Ok(Some(((i64::MAX as i128) * (i64::MAX as i128), 0))));
        assert_eq!(Calc::Add(col(0), col(1)).eval(&wide), Ok(Some((2 * i64::MAX as i128, 0))));
    }

    fn f(value: i128, scale: u16) -> Numeric {
        Numeric::Finite { value, scale }
    }

    #[test]
    fn floats_follow_postgres() {
        assert_eq!(float_add(f64::MAX, f64::MAX), Err(Overflow));
        assert!(float_add(f64::INFINITY, 1.0).unwrap().is_infinite());
        assert_eq!(float_add(f32::MAX, f32::MAX), Err(Overflow));
        // -0 and 0 are equal: min and max keep the later one.
        assert!(float_min(0.0f64, -0.0).is_sign_negative());
        assert!(float_min(-0.0f64, 0.0).is_sign_positive());
        assert!(float_max(1.0f64, f64::NAN).is_nan());
        assert_eq!(float_min(f64::NAN, 1.0), 1.0);
        let mut a = FloatAccum::default();
        a.add(1e300).unwrap();
        assert_eq!(a.add(-1e300), Err(Overflow), "the squares overflow although the sum does not");
        let mut a = FloatAccum::default();
        a.add(f64::INFINITY).unwrap();
        a.add(1.0).unwrap();
        assert_eq!(a.avg(), Some(f64::INFINITY));
        assert_eq!(FloatAccum::default().avg(), None);
    }

    proptest! {
        #[test]
        fn calc_matches_wide_arithmetic(x in any::<i64>(), sx in 0u16..6, y in any::<i64>(), sy in 0u16..6) {
            let col = |k| Box::new(Calc::Column(k));
            let values = |k: usize| Some(if k == 0 { f(x as i128, sx) } else { f(y as i128, sy) });
            let (xi, yi) = (x as i128, y as i128);
            let top = sx.max(sy);
            let (xs, ys) = (xi.checked_mul(10i128.pow((top - sx) as u32)), yi.checked_mul(10i128.pow((top - sy) as u32)));
            let sum = xs.zip(ys).and_then(|(a, b)| a.checked_add(b));
            prop_assert_eq!(Calc::Add(col(0), col(1)).eval(&values), sum.map(|v| Some((v, top))).ok_or(Fallback));
            prop_assert_eq!(Calc::Mul(col(0), col(1)).eval(&values), xi.checked_mul(yi).map(|v| Some((v, sx + sy))).ok_or(Fallback));
        }

        #[test]
        fn rows_match_eval(xs in proptest::collection::vec((any::<i64>(), any::<bool>()), 1..40), sx in 0u16..6, ys in proptest::collection::vec(-10i64.pow(9)..10i64.pow(9), 40), sy in 0u16..6) {
            // (x - y * 3.5) * (y + 1): NULLs, 64-bit overflow (Redo), mixed scales.
            let col = |k| Box::new(Calc::Column(k));
            let calc = Calc::Mul(Box::new(Calc::Sub(col(0), Box::new(Calc::Mul(col(1), Box::new(Calc::Const(35, 1)))))), Box::new(Calc::Add(col(1), Box::new(Calc::Const(1, 0)))));
            let x: Vec<i64> = xs.iter().map(|v| v.0).collect();
            let validity = crate::encode::validity::from_bools(xs.iter().map(|v| v.1));
            let column = |k: usize| Some(if k == 0 {
                ScaledColumn { values: &x, scale: sx, validity: Some(&validity) }
            } else {
                ScaledColumn { values: &ys, scale: sy, validity: None }
            });
            let rows: Vec<usize> = (0..x.len()).rev().collect();
            let mut out = Vec::new();
            let scale = calc.eval_rows(&column, &rows, &mut out).unwrap();
            for (lane, &i) in out.iter().zip(&rows) {
                let values = |k: usize| if k == 0 { xs[i].1.then(|| f(x[i] as i128, sx)) } else { Some(f(ys[i] as i128, sy)) };
                let expected = calc.eval(&values);
                match lane {
                    Lane::Null => prop_assert_eq!(expected, Ok(None)),
                    Lane::Value(v) => prop_assert_eq!(expected, Ok(Some((*v as i128, scale)))),
                    // Some step left 64 bits; eval redoes it in 128.
                    Lane::Redo => prop_assert_ne!(expected, Ok(None)),
                }
            }
        }

        #[test]
        fn sums_are_exact(values in proptest::collection::vec((-10i64.pow(15)..10i64.pow(15), 0u16..6), 0..50)) {
            let mut s = DecimalSum::default();
            for &(v, sc) in &values {
                prop_assert!(s.add(v as i128, sc));
            }
            let top = values.iter().map(|v| v.1).max().unwrap_or(0);
            let expected: i128 = values.iter().map(|&(v, sc)| v as i128 * 10i128.pow((top - sc) as u32)).sum();
            prop_assert_eq!((s.value, s.scale), (expected, top));
        }
    }
}
