//! Linear models: the "learned" part of ALEX. A model maps a key code (relative to a base) to a
//! fractional position; callers clamp and round.

#[derive(Clone, Copy, Debug, PartialEq, Default)]
pub struct LinearModel {
    pub slope: f64,
    pub intercept: f64,
}

impl LinearModel {
    #[inline]
    pub fn predict(&self, x: u64) -> f64 {
        self.slope.mul_add(x as f64, self.intercept)
    }

    /// The predicted position clamped to `0..n` (`n > 0`).
    #[inline]
    pub fn predict_index(&self, x: u64, n: usize) -> usize {
        let p = self.predict(x);
        if p.is_nan() || p <= 0.0 {
            0
        } else if p >= (n - 1) as f64 {
            n - 1
        } else {
            p as usize
        }
    }

    /// Least-squares fit of `y` against `x`. With fewer than two distinct `x`, the model is flat at
    /// the mean `y`. The result is monotone non-decreasing (slope >= 0) because callers fit sorted
    /// keys against increasing positions.
    pub fn fit(points: impl Iterator<Item = (u64, f64)> + Clone) -> LinearModel {
        let mut n = 0f64;
        let (mut sx, mut sy) = (0f64, 0f64);
        for (x, y) in points.clone() {
            n += 1.0;
            sx += x as f64;
            sy += y;
        }
        if n == 0.0 {
            return LinearModel::default();
        }
        let (mx, my) = (sx / n, sy / n);
        let (mut sxx, mut sxy) = (0f64, 0f64);
        for (x, y) in points {
            let dx = x as f64 - mx;
            sxx += dx * dx;
            sxy += dx * (y - my);
        }
        if sxx <= 0.0 || !sxx.is_finite() || !sxy.is_finite() {
            return LinearModel { slope: 0.0, intercept: my };
        }
        let slope = (sxy / sxx).max(0.0);
        LinearModel { slope, intercept: my - slope * mx }
    }
}

/// The first index in `0..n` where the monotone predicate `is_after` holds (`n` if none),
/// found by exponential search outward from `hint` (a model's prediction), then binary search:
/// `O(log |answer - hint|)` probes.
pub fn search_from(n: usize, hint: usize, is_after: impl Fn(usize) -> bool) -> usize {
    if n == 0 {
        return 0;
    }
    let p = hint.min(n - 1);
    // The answer lies in lo..=hi.
    let (mut lo, mut hi);
    if is_after(p) {
        hi = p;
        let mut step = 1;
        loop {
            if hi < step {
                lo = 0;
                break;
            }
            let c = hi - step;
            if !is_after(c) {
                lo = c + 1;
                break;
            }
            hi = c;
            step *= 2;
        }
    } else {
        lo = p + 1;
        let mut step = 1;
        loop {
            let c = p + step;
            if c >= n {
                hi = n;
                break;
            }
            if is_after(c) {
                hi = c;
                break;
            }
            lo = c + 1;
            step *= 2;
        }
    }
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if is_after(mid) { hi = mid } else { lo = mid + 1 }
    }
    lo
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn search_from_any_hint_finds_the_boundary() {
        for n in 0..40usize {
            for answer in 0..=n {
                for hint in 0..n.max(1) + 3 {
                    assert_eq!(search_from(n, hint, |i| i >= answer), answer, "n {n} answer {answer} hint {hint}");
                }
            }
        }
    }

    #[test]
    fn fits_a_line_exactly() {
        let m = LinearModel::fit((0..100u64).map(|i| (i * 10, i as f64)));
        for i in 0..100u64 {
            assert_eq!(m.predict_index(i * 10, 100), i as usize);
        }
    }

    #[test]
    fn degenerate_inputs_give_flat_models() {
        let m = LinearModel::fit([(7u64, 1.0), (7, 3.0)].into_iter());
        assert_eq!(m.slope, 0.0);
        assert_eq!(m.predict_index(7, 10), 2);
        assert_eq!(LinearModel::fit(std::iter::empty()).predict_index(1, 4), 0);
        let huge = LinearModel::fit([(0u64, 0.0), (u64::MAX, 100.0)].into_iter());
        assert_eq!(huge.predict_index(u64::MAX, 101), 100);
    }
}
