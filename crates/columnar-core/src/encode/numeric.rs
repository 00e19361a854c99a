//! The numeric family: PostgreSQL numerics (each value a datum's bytes, header included) kept
//! as integers scaled to the vector's one display scale when every value allows it, which
//! takes the integer encodings' space and lets aggregates and filters work on the integers;
//! otherwise (NaN, infinities, mixed scales, more than 64 bits, any other stored form) as a
//! varlena vector. Either way a value reads back as exactly the bytes that were stored.

use std::borrow::Cow;
use std::ops::Range;

use super::bytes::{read_header, write_header};
use super::int::{decode_ints, encode_ints, int_value_at, spread_over_rows};
use super::validity::non_null_values;
use super::{
    DecodeError, IntVector, TAG_NUMERIC_SCALED, VarlenaVector, corrupt, decode_varlena, encode_varlena,
    encoding_of, varlena_value_at,
};
use crate::numeric::{as_scaled, write_short};

/// The most display scale a scaled vector holds: the short form's limit.
const MAX_SCALE: u8 = 63;

/// A decoded numeric vector.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NumericVector {
    /// Row `i` is `values.values[i] / 10^scale` (0 for NULL rows).
    Scaled { values: IntVector, scale: u16 },
    Bytes(VarlenaVector),
}

/// Encodes one vector of numeric datums (`values` one per row, NULL rows ignored).
pub fn encode_numeric(values: &[&[u8]], validity: Option<&[u8]>) -> Vec<u8> {
    let non_null = non_null_values(values, validity);
    let scaled: Option<Vec<(i64, u16)>> = non_null.iter().map(|v| as_scaled(v)).collect();
    match scaled {
        Some(scaled) if !scaled.is_empty() && scaled.iter().all(|&(_, s)| s == scaled[0].1) => {
            let mut out = Vec::new();
            write_header(&mut out, TAG_NUMERIC_SCALED, values.len(), validity);
            out.push(scaled[0].1 as u8);
            let ints: Vec<i64> = scaled.iter().map(|&(v, _)| v).collect();
            out.extend_from_slice(&encode_ints(&ints, None));
            out
        }
        _ => encode_varlena(values, validity),
    }
}

/// A scaled vector's parts: its header's validity, its scale and its integer vector's bytes.
fn parse_scaled(bytes: &[u8]) -> Result<(usize, Option<&[u8]>, u16, &[u8]), DecodeError> {
    let (header, mut reader) = read_header(bytes)?;
    let scale = reader.u8("scale")?;
    if scale > MAX_SCALE {
        corrupt!("numeric scale {scale} > {MAX_SCALE}");
    }
    if header.non_null == 0 {
        corrupt!("a scaled numeric vector with no value");
    }
    Ok((header.rows, header.validity, scale as u16, reader.rest()))
}

/// Decodes a whole vector.
pub fn decode_numeric(bytes: &[u8]) -> Result<NumericVector, DecodeError> {
    if encoding_of(bytes)? != TAG_NUMERIC_SCALED {
        return decode_varlena(bytes).map(NumericVector::Bytes);
    }
    let (rows, validity, scale, ints) = parse_scaled(bytes)?;
    let mut values = decode_ints(ints)?;
    let non_null = validity.map_or(rows, |bitmap| super::validity::count_valid(bitmap, rows));
    if values.validity.is_some() || values.values.len() != non_null {
        corrupt!("{} scaled values for {non_null} non-NULL rows", values.values.len());
    }
    if let Some(bitmap) = validity {
        spread_over_rows(&mut values.values, rows, bitmap);
        values.validity = Some(bitmap.to_vec());
    }
    Ok(NumericVector::Scaled { values, scale })
}

/// The value of row `row` (None for NULL) as the datum's bytes, without decoding the vector.
pub fn numeric_value_at(bytes: &[u8], row: usize) -> Result<Option<Cow<'_, [u8]>>, DecodeError> {
    if encoding_of(bytes)? != TAG_NUMERIC_SCALED {
        return varlena_value_at(bytes, row);
    }
    let (header, _) = read_header(bytes)?;
    let Some(index) = header.value_index(row)? else { return Ok(None) };
    let (_, _, scale, ints) = parse_scaled(bytes)?;
    let Some(value) = int_value_at(ints, index)? else { corrupt!("a NULL among the scaled values") };
    let mut out = Vec::with_capacity(16);
    write_short(&mut out, value, scale).expect("the scale was checked");
    Ok(Some(Cow::Owned(out)))
}

/// As [`super::int_value_ranges`], for `numeric_value_at`: a scaled vector's header and
/// scale, and what its integers need. None for numerics stored as bytes.
pub fn numeric_value_ranges(head: &[u8], len: usize, row: usize) -> Option<[Range<usize>; 2]> {
    if encoding_of(head).ok()? != TAG_NUMERIC_SCALED {
        return None;
    }
    let (header, mut reader) = read_header(head).ok()?;
    reader.u8("scale").ok()?;
    let ints = reader.position();
    let Some(index) = header.value_index(row).ok()? else { return Some([0..ints, ints..ints]) };
    let [fixed, value] = super::int_value_ranges(head.get(ints..)?, len.checked_sub(ints)?, index)?;
    Some([0..ints + fixed.end, ints + value.start..ints + value.end])
}

impl NumericVector {
    pub fn rows(&self) -> usize {
        match self {
            NumericVector::Scaled { values, .. } => values.values.len(),
            NumericVector::Bytes(v) => v.rows(),
        }
    }

    /// The values as datum bytes, in a varlena vector (what a row formed from it points into).
    pub fn to_varlena(&self) -> Cow<'_, VarlenaVector> {
        match self {
            NumericVector::Bytes(v) => Cow::Borrowed(v),
            NumericVector::Scaled { values, scale } => Cow::Owned(scaled_datums(values, *scale)),
        }
    }
}

/// The datums' bytes of the numerics `values / 10^scale` (a scaled vector's parts).
pub fn scaled_datums(values: &IntVector, scale: u16) -> VarlenaVector {
    let valid = |i: usize| values.validity.as_deref().is_none_or(|b| super::validity::is_valid(b, i));
    let mut offsets = Vec::with_capacity(values.values.len() + 1);
    let mut bytes = Vec::with_capacity(values.values.len() * 8);
    offsets.push(0);
    for (i, &v) in values.values.iter().enumerate() {
        if valid(i) {
            write_short(&mut bytes, v, scale).expect("a scale a vector holds");
        }
        offsets.push(bytes.len() as u32);
    }
    VarlenaVector { offsets, bytes, validity: values.validity.clone() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::validity::from_bools;
    use proptest::prelude::*;

    fn datum(value: i64, scale: u16) -> Vec<u8> {
        let mut out = Vec::new();
        write_short(&mut out, value, scale).unwrap();
        out
    }

    /// Encodes, then checks the whole decode and every single value give back the bytes.
    fn round_trip(values: &[Vec<u8>], validity: Option<&[u8]>) -> Vec<u8> {
        let slices: Vec<&[u8]> = values.iter().map(|v| &v[..]).collect();
        let bytes = encode_numeric(&slices, validity);
        let decoded = decode_numeric(&bytes).unwrap();
        assert_eq!(decoded.rows(), values.len());
        let as_bytes = decoded.to_varlena();
        for (row, value) in values.iter().enumerate() {
            let valid = validity.is_none_or(|b| crate::encode::validity::is_valid(b, row));
            let expected = valid.then_some(&value[..]);
            assert_eq!(as_bytes.value(row), expected, "row {row}");
            assert_eq!(numeric_value_at(&bytes, row).unwrap().as_deref(), expected, "value_at row {row}");
        }
        bytes
    }

    #[test]
    fn one_scale_is_stored_scaled() {
        let values: Vec<Vec<u8>> = [12345, -5, 0, 100_000_000, i64::MIN, i64::MAX].iter().map(|&v| datum(v, 2)).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_NUMERIC_SCALED);
        let NumericVector::Scaled { values: ints, scale } = decode_numeric(&bytes).unwrap() else { panic!("scaled") };
        assert_eq!((ints.values, scale), (vec![12345, -5, 0, 100_000_000, i64::MIN, i64::MAX], 2));
        // With NULLs: the integers are spread over the rows, 0 at NULL rows.
        let validity = from_bools([true, false, true, false, true, true]);
        let bytes = round_trip(&values, Some(&validity));
        let NumericVector::Scaled { values: ints, .. } = decode_numeric(&bytes).unwrap() else { panic!("scaled") };
        assert_eq!(ints.values, vec![12345, 0, 0, 0, i64::MIN, i64::MAX]);
        assert_eq!(ints.validity.as_deref(), Some(&validity[..]));
    }

    #[test]
    fn anything_else_is_stored_as_bytes() {
        // Mixed scales; NaN (short header, special); a four-byte header; all NULL.
        let mixed = vec![datum(15, 1), datum(15, 2)];
        assert_ne!(encoding_of(&round_trip(&mixed, None)).unwrap(), TAG_NUMERIC_SCALED);
        let nan = vec![datum(1, 0), vec![(3 << 1) | 1, 0x00, 0xC0]];
        assert_ne!(encoding_of(&round_trip(&nan, None)).unwrap(), TAG_NUMERIC_SCALED);
        let mut four = ((4 + 4u32) << 2).to_le_bytes().to_vec();
        four.extend_from_slice(&datum(7, 0)[1..]);
        assert_ne!(encoding_of(&round_trip(&[datum(7, 0), four], None)).unwrap(), TAG_NUMERIC_SCALED);
        let none = from_bools([false, false]);
        assert_ne!(encoding_of(&round_trip(&[datum(1, 0), datum(2, 0)], Some(&none))).unwrap(), TAG_NUMERIC_SCALED);
    }

    #[test]
    fn damage_is_reported() {
        let values: Vec<Vec<u8>> = (0..10).map(|v| datum(v * 7, 3)).collect();
        let bytes = round_trip(&values, None);
        let mut bad_scale = bytes.clone();
        bad_scale[3] = 64;
        assert!(decode_numeric(&bad_scale).is_err() && numeric_value_at(&bad_scale, 0).is_err());
        // The integer vector holding fewer values than the header's rows.
        let mut short = bytes[..4].to_vec();
        short.extend_from_slice(&encode_ints(&[1, 2, 3], None));
        assert!(decode_numeric(&short).is_err());
        assert!(decode_numeric(&bytes[..bytes.len() - 1]).is_err());
    }

    proptest! {
        #[test]
        fn value_ranges_suffice(values in proptest::collection::vec((-100_000i64..100_000, any::<bool>()), 1..=crate::encode::VECTOR_SIZE), scale in 0u16..6, nulls in any::<bool>()) {
            let data: Vec<Vec<u8>> = values.iter().map(|&(v, _)| datum(v, scale)).collect();
            let validity = from_bools(values.iter().map(|&(_, valid)| valid || !nulls));
            let slices: Vec<&[u8]> = data.iter().map(|v| &v[..]).collect();
            let bytes = encode_numeric(&slices, Some(&validity));
            let head = &bytes[..bytes.len().min(crate::encode::HEAD_BYTES)];
            for row in 0..values.len() {
                if let Some(ranges) = numeric_value_ranges(head, bytes.len(), row) {
                    let sparse = crate::encode::int::tests::sparse(&bytes, &ranges);
                    prop_assert_eq!(numeric_value_at(&sparse, row).unwrap(), numeric_value_at(&bytes, row).unwrap());
                }
            }
        }

        #[test]
        fn round_trips(values in proptest::collection::vec((any::<i64>(), any::<bool>()), 1..300), scale in 0u16..20, mixed in any::<bool>()) {
            let data: Vec<Vec<u8>> = values.iter().enumerate().map(|(i, &(v, _))| datum(v, if mixed && i == 0 { scale + 1 } else { scale })).collect();
            let validity = from_bools(values.iter().map(|&(_, valid)| valid));
            round_trip(&data, Some(&validity));
            round_trip(&data, None);
        }
    }
}
