//! PostgreSQL's numeric in its stored form (`numeric.c`'s `NumericData`): read into a scaled
//! integer, and written back from one exactly as `make_result` would store it, so that a column
//! of numerics can be kept as integers and handed out as the bytes PostgreSQL wrote.

/// A numeric value read from its stored bytes (`numeric.c`'s `NumericData` after the varlena
/// header): a finite value as an integer scaled by 10^scale (its display scale), one of the
/// special values, or a finite value too large for 128 bits.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Numeric {
    Finite { value: i128, scale: u16 },
    NaN,
    PosInf,
    NegInf,
    TooBig,
}

const NBASE: i128 = 10_000;
const DIGITS_PER_NBASE: i32 = 4;
const SIGN_MASK: u16 = 0xC000;
const NEG: u16 = 0x4000;
const SHORT: u16 = 0x8000;
const SPECIAL: u16 = 0xC000;
const EXT_SIGN_MASK: u16 = 0xF000;
const NAN: u16 = 0xC000;
const PINF: u16 = 0xD000;
const NINF: u16 = 0xF000;
const SHORT_SIGN: u16 = 0x2000;
const SHORT_DSCALE_MASK: u16 = 0x1F80;
const SHORT_DSCALE_SHIFT: u16 = 7;
const SHORT_WEIGHT_SIGN: u16 = 0x0040;
const SHORT_WEIGHT_MASK: u16 = 0x003F;
const DSCALE_MASK: u16 = 0x3FFF;

/// 10^0 to 10^38, the powers of ten within i128.
const POW10: [i128; 39] = {
    let mut t = [1i128; 39];
    let mut i = 1;
    while i < 39 {
        t[i] = t[i - 1] * 10;
        i += 1;
    }
    t
};
pub(crate) fn pow10(n: u32) -> Option<i128> {
    POW10.get(n as usize).copied()
}

/// Reads a numeric from `data`, the bytes after its varlena header (None if they are too
/// short to be one).
pub fn parse_numeric(data: &[u8]) -> Option<Numeric> {
    let u16_at = |i: usize| data.get(i..i + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let header = u16_at(0)?;
    let (negative, scale, weight, digits_at) = match header & SIGN_MASK {
        SPECIAL => {
            return Some(match header & EXT_SIGN_MASK {
                NAN => Numeric::NaN,
                PINF => Numeric::PosInf,
                NINF => Numeric::NegInf,
                _ => return None,
            });
        }
        SHORT => {
            let magnitude = (header & SHORT_WEIGHT_MASK) as i32;
            let weight = if header & SHORT_WEIGHT_SIGN != 0 { magnitude - 64 } else { magnitude };
            (header & SHORT_SIGN != 0, (header & SHORT_DSCALE_MASK) >> SHORT_DSCALE_SHIFT, weight, 2)
        }
        sign => (sign == NEG, header & DSCALE_MASK, u16_at(2)? as i16 as i32, 4),
    };
    let digits = data.get(digits_at..)?;
    if !digits.len().is_multiple_of(2) {
        return None;
    }
    // value = N * NBASE^(weight - ndigits + 1), N the digits read as one integer.
    let ndigits = digits.len() / 2;
    if ndigits == 0 {
        return Some(Numeric::Finite { value: 0, scale });
    }
    let exponent = DIGITS_PER_NBASE * (weight - ndigits as i32 + 1) + scale as i32;
    let value = if ndigits <= 4 {
        // Most stored values: N fits in 64 bits (below 10^16), and so does a division.
        let mut n: u64 = 0;
        for d in digits.chunks_exact(2) {
            let d = u16::from_le_bytes([d[0], d[1]]) as u64;
            if d >= NBASE as u64 {
                return None;
            }
            n = n * NBASE as u64 + d;
        }
        if exponent >= 0 {
            match pow10(exponent as u32).and_then(|p| (n as i128).checked_mul(p)) {
                Some(v) => v,
                None => return Some(Numeric::TooBig),
            }
        } else {
            // Digits past the display scale are zero in a stored numeric; one that is not is
            // left to PostgreSQL's code.
            // The last base-10000 digit reaches at most three places past the display scale:
            // divisions by constants, which compile to multiplications.
            let (q, r) = match exponent {
                -1 => (n / 10, n % 10),
                -2 => (n / 100, n % 100),
                -3 => (n / 1000, n % 1000),
                _ => return Some(Numeric::TooBig),
            };
            if r != 0 {
                return Some(Numeric::TooBig);
            }
            q as i128
        }
    } else {
        let mut n: i128 = 0;
        for d in digits.chunks_exact(2) {
            let d = u16::from_le_bytes([d[0], d[1]]) as i128;
            if d >= NBASE {
                return None;
            }
            n = match n.checked_mul(NBASE).and_then(|n| n.checked_add(d)) {
                Some(n) => n,
                None => return Some(Numeric::TooBig),
            };
        }
        if exponent >= 0 {
            match pow10(exponent as u32).and_then(|p| n.checked_mul(p)) {
                Some(v) => v,
                None => return Some(Numeric::TooBig),
            }
        } else {
            let Some(p) = pow10((-exponent) as u32) else { return Some(Numeric::TooBig) };
            if n % p != 0 {
                return Some(Numeric::TooBig);
            }
            n / p
        }
    };
    Some(Numeric::Finite { value: if negative { -value } else { value }, scale })
}


/// The most display scale the short form holds (`NUMERIC_SHORT_DSCALE_MAX`).
const SHORT_DSCALE_MAX: u16 = SHORT_DSCALE_MASK >> SHORT_DSCALE_SHIFT;

/// Appends `value / 10^scale` as a datum's bytes: a one-byte varlena header, then the short
/// form `make_result` gives it (base-10000 digits aligned to the decimal point, leading and
/// trailing zero digits stripped, zero with no digit and weight 0). None when the scale is too
/// large for the short form.
pub fn write_short(out: &mut Vec<u8>, value: i64, scale: u16) -> Option<()> {
    if scale > SHORT_DSCALE_MAX {
        return None;
    }
    // Pad the fraction to whole base-10000 digits: m = |value| * 10^pad holds every digit.
    let pad = (DIGITS_PER_NBASE as u16 - scale % DIGITS_PER_NBASE as u16) % DIGITS_PER_NBASE as u16;
    let wide = value.unsigned_abs() as u128 * POW10[pad as usize] as u128;
    let fraction_digits = ((scale + pad) / DIGITS_PER_NBASE as u16) as i32;
    // Base-10000 digits, least significant first; trailing zero digits are not kept. The
    // digits of a product beyond 64 bits are taken in 128 bits until the rest fits in 64.
    let mut digits = [0u16; 8];
    let (mut n, mut position) = (0, 0i32);
    let mut push = |d: u16| {
        if d != 0 || n > 0 {
            digits[n] = d;
            n += 1;
        }
        position += 1;
    };
    let mut m = wide;
    while m > u64::MAX as u128 {
        push((m % NBASE as u128) as u16);
        m /= NBASE as u128;
    }
    let mut m = m as u64;
    while m != 0 {
        push((m % NBASE as u64) as u16);
        m /= NBASE as u64;
    }
    let weight = if n == 0 { 0 } else { position - 1 - fraction_digits };
    let negative = value < 0;
    let w = if weight < 0 { SHORT_WEIGHT_SIGN | (weight + 64) as u16 } else { weight as u16 };
    let header = SHORT | if negative { SHORT_SIGN } else { 0 } | (scale << SHORT_DSCALE_SHIFT) | w;
    let len = 1 + 2 + 2 * n;
    out.push(((len as u8) << 1) | 1);
    out.extend_from_slice(&header.to_le_bytes());
    for &d in digits[..n].iter().rev() {
        out.extend_from_slice(&d.to_le_bytes());
    }
    Some(())
}

/// `value / 10^scale` when `datum` (a datum's bytes, header included) is exactly what
/// [`write_short`] writes for it: a finite numeric with a one-byte header, in 64 bits.
pub fn as_scaled(datum: &[u8]) -> Option<(i64, u16)> {
    let &first = datum.first()?;
    if first & 0x01 != 0x01 || first == 0x01 || (first >> 1) as usize != datum.len() {
        return None;
    }
    let Numeric::Finite { value, scale } = parse_numeric(&datum[1..])? else { return None };
    let value = i64::try_from(value).ok()?;
    let mut again = Vec::with_capacity(datum.len());
    write_short(&mut again, value, scale)?;
    (again == datum).then_some((value, scale))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::format_scaled;
    use proptest::prelude::*;

    /// A numeric's stored bytes in the long form, from its sign, weight, display scale and
    /// base-10000 digits.
    fn long(negative: bool, weight: i16, scale: u16, digits: &[u16]) -> Vec<u8> {
        let mut b = ((if negative { NEG } else { 0 }) | scale).to_le_bytes().to_vec();
        b.extend(weight.to_le_bytes());
        digits.iter().for_each(|d| b.extend(d.to_le_bytes()));
        b
    }

    fn short(negative: bool, weight: i8, scale: u16, digits: &[u16]) -> Vec<u8> {
        let w = if weight < 0 { SHORT_WEIGHT_SIGN | (weight as i16 + 64) as u16 } else { weight as u16 };
        let h = SHORT | if negative { SHORT_SIGN } else { 0 } | (scale << SHORT_DSCALE_SHIFT) | w;
        let mut b = h.to_le_bytes().to_vec();
        digits.iter().for_each(|d| b.extend(d.to_le_bytes()));
        b
    }

    #[test]
    fn parses_both_forms_and_special_values() {
        // 12345.67 = [1, 2345, 6700], weight 1, scale 2.
        let v = Numeric::Finite { value: 1234567, scale: 2 };
        assert_eq!(parse_numeric(&short(false, 1, 2, &[1, 2345, 6700])), Some(v));
        assert_eq!(parse_numeric(&long(false, 1, 2, &[1, 2345, 6700])), Some(v));
        // -0.05 = [500], weight -1, scale 2.
        assert_eq!(parse_numeric(&short(true, -1, 2, &[500])), Some(Numeric::Finite { value: -5, scale: 2 }));
        // 1e8 with trailing zero digits stripped: [1], weight 2, scale 0.
        assert_eq!(parse_numeric(&short(false, 2, 0, &[1])), Some(Numeric::Finite { value: 100_000_000, scale: 0 }));
        // Zero: no digits.
        assert_eq!(parse_numeric(&short(false, 0, 3, &[])), Some(Numeric::Finite { value: 0, scale: 3 }));
        assert_eq!(parse_numeric(&NAN.to_le_bytes()), Some(Numeric::NaN));
        assert_eq!(parse_numeric(&PINF.to_le_bytes()), Some(Numeric::PosInf));
        assert_eq!(parse_numeric(&NINF.to_le_bytes()), Some(Numeric::NegInf));
        // 10^40 does not fit.
        assert_eq!(parse_numeric(&long(false, 10, 0, &[1])), Some(Numeric::TooBig));
        // Damaged: odd digit bytes, a digit of 10000 or more, too short.
        assert_eq!(parse_numeric(&[0x00, 0x80, 1]), None);
        assert_eq!(parse_numeric(&short(false, 0, 0, &[10_000])), None);
        assert_eq!(parse_numeric(&[0x01]), None);
    }

    fn to_bytes(value: i128, scale: u16) -> Vec<u8> {
        // The long form of value / 10^scale, as numeric.c would store it: digits aligned to
        // NBASE around the decimal point, leading and trailing zero digits stripped.
        let text = format_scaled(value.abs(), scale);
        let (int, frac) = text.split_once('.').unwrap_or((&text, ""));
        let int_pad = format!("{}{int}", "0".repeat((4 - int.len() % 4) % 4));
        let frac_pad = format!("{frac}{}", "0".repeat((4 - frac.len() % 4) % 4));
        let mut digits: Vec<u16> = int_pad.as_bytes().chunks(4).chain(frac_pad.as_bytes().chunks(4)).map(|c| std::str::from_utf8(c).unwrap().parse().unwrap()).collect();
        let mut weight = (int_pad.len() / 4) as i16 - 1;
        while digits.first() == Some(&0) {
            digits.remove(0);
            weight -= 1;
        }
        while digits.last() == Some(&0) {
            digits.pop();
        }
        if digits.is_empty() {
            weight = 0;
        }
        long(value < 0, weight, scale, &digits)
    }

    #[test]
    fn writes_what_make_result_stores() {
        let datum = |value, scale| {
            let mut out = Vec::new();
            write_short(&mut out, value, scale).unwrap();
            out
        };
        // 12345.67: [1, 2345, 6700], weight 1.
        assert_eq!(&datum(1234567, 2)[1..], &short(false, 1, 2, &[1, 2345, 6700])[..]);
        assert_eq!(datum(1234567, 2)[0], (9 << 1) | 1);
        // -0.05: [500], weight -1.
        assert_eq!(&datum(-5, 2)[1..], &short(true, -1, 2, &[500])[..]);
        // 10^8: [1], weight 2 (trailing zero digits stripped).
        assert_eq!(&datum(100_000_000, 0)[1..], &short(false, 2, 0, &[1])[..]);
        // Zero keeps its scale, no digit, weight 0, positive.
        assert_eq!(&datum(0, 3)[1..], &short(false, 0, 3, &[])[..]);
        assert_eq!(as_scaled(&datum(i64::MIN, 5)), Some((i64::MIN, 5)));
        assert_eq!(as_scaled(&datum(i64::MAX, 0)), Some((i64::MAX, 0)));
        assert!(write_short(&mut Vec::new(), 1, 64).is_none());
        // Not the canonical form: the long form, a four-byte header, a leading zero digit,
        // special values, more than 64 bits.
        let with_header = |payload: &[u8]| [&[((payload.len() as u8 + 1) << 1) | 1][..], payload].concat();
        assert_eq!(as_scaled(&with_header(&long(false, 1, 2, &[1, 2345, 6700]))), None);
        let mut four = ((4 + 8u32) << 2).to_le_bytes().to_vec();
        four.extend(short(false, 1, 2, &[1, 2345, 6700]));
        assert_eq!(as_scaled(&four), None);
        assert_eq!(as_scaled(&with_header(&short(false, 1, 0, &[0, 5]))), None);
        assert_eq!(as_scaled(&with_header(&NAN.to_le_bytes())), None);
        assert_eq!(as_scaled(&with_header(&short(false, 5, 0, &[1]))), None);
        assert_eq!(as_scaled(&[]), None);
    }

    proptest! {
        #[test]
        fn short_form_round_trips(value in any::<i64>(), scale in 0u16..40) {
            let mut out = Vec::new();
            write_short(&mut out, value, scale).unwrap();
            prop_assert_eq!(as_scaled(&out), Some((value, scale)));
            // The same digits as the long form numeric.c would store, in the short layout.
            let long_form = to_bytes(value as i128, scale);
            prop_assert_eq!(&out[3..], &long_form[4..]);
        }

        #[test]
        fn parse_inverts_the_stored_form(value in -10i128.pow(30)..10i128.pow(30), scale in 0u16..12) {
            prop_assert_eq!(parse_numeric(&to_bytes(value, scale)), Some(Numeric::Finite { value, scale }));
        }

    }
}
