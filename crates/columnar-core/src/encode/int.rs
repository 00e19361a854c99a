//! The integer family: `i64` values (the caller maps int2, int4, int8, date, timestamp, bool...
//! to `i64`), encoded as constant, frame of reference + bit-packing, run-length or delta.
//!
//! All arithmetic on values is wrapping: `max - min` of `i64::MIN` and `i64::MAX` is `u64::MAX`
//! as a `u64`, which needs 64 bits and decodes back exactly.

use super::bitpack::{Packed, width_of};
use std::ops::Range;
use super::bytes::{Header, packed_size, read_header, write_header, write_packed};
use super::validity::non_null_values;
use super::{
    DecodeError, TAG_INT_CONSTANT, TAG_INT_DELTA, TAG_INT_FOR_BITPACKED, TAG_INT_RLE, TAG_NONE, corrupt,
};

/// A decoded integer vector, arrow-style: one value per row (0 for NULL rows) and the validity
/// bitmap, None when no row is NULL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct IntVector {
    pub values: Vec<i64>,
    pub validity: Option<Vec<u8>>,
}

/// The candidates, cheapest to decode first: a tie in size goes to the earlier one.
const CANDIDATES: [u8; 4] = [TAG_INT_CONSTANT, TAG_INT_FOR_BITPACKED, TAG_INT_RLE, TAG_INT_DELTA];

/// What the encoders need to know about the non-NULL values, gathered in one pass.
struct Stats {
    count: usize,
    min: i64,
    max: i64,
    runs: usize,
    min_delta: i64,
    max_delta: i64,
}

impl Stats {
    fn of(values: &[i64]) -> Stats {
        let first = values.first().copied().unwrap_or(0);
        let mut stats =
            Stats { count: values.len(), min: first, max: first, runs: 1, min_delta: 0, max_delta: 0 };
        if let Some(&second) = values.get(1) {
            stats.min_delta = second.wrapping_sub(first);
            stats.max_delta = stats.min_delta;
        }
        for pair in values.windows(2) {
            let (previous, value) = (pair[0], pair[1]);
            stats.min = stats.min.min(value);
            stats.max = stats.max.max(value);
            stats.runs += (value != previous) as usize;
            let delta = value.wrapping_sub(previous);
            stats.min_delta = stats.min_delta.min(delta);
            stats.max_delta = stats.max_delta.max(delta);
        }
        stats
    }

    fn value_width(&self) -> u32 {
        width_of(range(self.min, self.max))
    }

    fn delta_width(&self) -> u32 {
        width_of(range(self.min_delta, self.max_delta))
    }

    /// The payload size of encoding `tag`, None when it cannot hold these values.
    fn payload_size(&self, tag: u8) -> Option<usize> {
        match tag {
            TAG_INT_CONSTANT => (self.min == self.max).then_some(8),
            TAG_INT_FOR_BITPACKED => Some(8 + packed_size(self.count, self.value_width())),
            TAG_INT_RLE => Some(
                2 + 8
                    + packed_size(self.runs, self.value_width())
                    + packed_size(self.runs, width_of(self.count as u64)),
            ),
            TAG_INT_DELTA => (self.count >= 2).then(|| 16 + packed_size(self.count - 1, self.delta_width())),
            _ => None,
        }
    }
}

/// `high - low` as an unsigned distance, exact for any `low <= high`.
fn range(low: i64, high: i64) -> u64 {
    (high as u64).wrapping_sub(low as u64)
}

/// Encodes one vector: `values` has one entry per row (those of NULL rows are ignored), and
/// `validity` is a bitmap of the non-NULL rows (None: no NULL). The smallest candidate wins.
///
/// # Panics
/// When `values.len() > VECTOR_SIZE` or `validity` is shorter than `values.len()` bits.
pub fn encode_ints(values: &[i64], validity: Option<&[u8]>) -> Vec<u8> {
    let non_null = non_null_values(values, validity);
    let stats = Stats::of(&non_null);
    let tag = if stats.count == 0 {
        TAG_NONE
    } else {
        CANDIDATES
            .into_iter()
            .filter_map(|tag| Some((stats.payload_size(tag)?, tag)))
            .min_by_key(|&(size, _)| size)
            .map_or(TAG_INT_FOR_BITPACKED, |(_, tag)| tag)
    };
    write(tag, values.len(), validity, &non_null, &stats)
}

/// Encodes with the given encoding, even when it is not the smallest (tests and benches).
#[cfg(test)]
pub(crate) fn encode_as(tag: u8, values: &[i64], validity: Option<&[u8]>) -> Vec<u8> {
    let non_null = non_null_values(values, validity);
    write(tag, values.len(), validity, &non_null, &Stats::of(&non_null))
}

/// Writes a vector in encoding `tag`, which must be able to hold the values (constant: all
/// equal; none: no non-NULL value).
fn write(tag: u8, rows: usize, validity: Option<&[u8]>, non_null: &[i64], stats: &Stats) -> Vec<u8> {
    let mut out = Vec::new();
    write_header(&mut out, tag, rows, validity);
    match tag {
        TAG_NONE => assert_eq!(stats.count, 0, "none holds no value"),
        TAG_INT_CONSTANT => {
            assert!(stats.count > 0 && stats.min == stats.max, "constant holds one distinct value");
            out.extend_from_slice(&stats.min.to_le_bytes());
        }
        TAG_INT_FOR_BITPACKED => {
            out.extend_from_slice(&stats.min.to_le_bytes());
            write_packed(&mut out, non_null.iter().map(|&v| range(stats.min, v)), stats.value_width());
        }
        TAG_INT_RLE => {
            let mut run_values = Vec::with_capacity(stats.runs);
            let mut run_ends = Vec::with_capacity(stats.runs);
            for (i, &value) in non_null.iter().enumerate() {
                if run_values.last() != Some(&value) {
                    if i > 0 {
                        run_ends.push(i as u64);
                    }
                    run_values.push(value);
                }
            }
            run_ends.push(stats.count as u64);
            out.extend_from_slice(&(stats.runs as u16).to_le_bytes());
            out.extend_from_slice(&stats.min.to_le_bytes());
            write_packed(&mut out, run_values.iter().map(|&v| range(stats.min, v)), stats.value_width());
            write_packed(&mut out, run_ends, width_of(stats.count as u64));
        }
        TAG_INT_DELTA => {
            out.extend_from_slice(&non_null[0].to_le_bytes());
            out.extend_from_slice(&stats.min_delta.to_le_bytes());
            let deltas =
                non_null.windows(2).map(|pair| range(stats.min_delta, pair[1].wrapping_sub(pair[0])));
            write_packed(&mut out, deltas, stats.delta_width());
        }
        _ => panic!("not an integer encoding: {tag:#x}"),
    }
    out
}

/// A vector's payload, parsed and length-checked (but not its values).
enum Layout<'a> {
    None,
    Constant(i64),
    ForBitpacked { min: i64, offsets: Packed<'a> },
    Rle { min: i64, values: Packed<'a>, ends: Packed<'a> },
    Delta { first: i64, min_delta: i64, deltas: Packed<'a> },
}

fn parse(bytes: &[u8]) -> Result<(Header<'_>, Layout<'_>), DecodeError> {
    let (header, mut reader) = read_header(bytes)?;
    let count = header.non_null;
    if (header.tag == TAG_NONE) != (count == 0) {
        corrupt!("encoding {:#x} for {count} non-NULL values", header.tag);
    }
    let layout = match header.tag {
        TAG_NONE => Layout::None,
        TAG_INT_CONSTANT => Layout::Constant(reader.i64("constant")?),
        TAG_INT_FOR_BITPACKED => {
            let min = reader.i64("minimum")?;
            Layout::ForBitpacked { min, offsets: reader.packed(count, "bit-packed values")? }
        }
        TAG_INT_RLE => {
            let runs = reader.u16("run count")? as usize;
            if runs == 0 || runs > count {
                corrupt!("{runs} runs for {count} values");
            }
            let min = reader.i64("minimum")?;
            let values = reader.packed(runs, "run values")?;
            Layout::Rle { min, values, ends: reader.packed(runs, "run ends")? }
        }
        TAG_INT_DELTA => {
            let first = reader.i64("first value")?;
            let min_delta = reader.i64("minimum delta")?;
            Layout::Delta { first, min_delta, deltas: reader.packed(count - 1, "deltas")? }
        }
        tag => corrupt!("unknown integer encoding {tag:#x}"),
    };
    reader.finish()?;
    Ok((header, layout))
}

/// Reads the run ends in order, checking that they ascend strictly to `count`.
fn for_each_run(
    ends: &Packed<'_>,
    count: usize,
    mut f: impl FnMut(usize, usize, usize),
) -> Result<(), DecodeError> {
    let mut start = 0;
    for run in 0..ends.len() {
        let end = ends.get(run);
        if end <= start as u64 || end > count as u64 {
            corrupt!("run {run} ends at {end}, after {start}, with {count} values");
        }
        f(run, start, end as usize);
        start = end as usize;
    }
    if start != count {
        corrupt!("runs end at {start}, not at {count}");
    }
    Ok(())
}

/// Decodes a whole vector.
pub fn decode_ints(bytes: &[u8]) -> Result<IntVector, DecodeError> {
    let (header, layout) = parse(bytes)?;
    let count = header.non_null;
    let mut values = Vec::with_capacity(header.rows);
    match layout {
        Layout::None => {}
        Layout::Constant(value) => values.resize(count, value),
        Layout::ForBitpacked { min, offsets } => {
            offsets.for_each(|_, offset| values.push(min.wrapping_add(offset as i64)))
        }
        Layout::Rle { min, values: run_values, ends } => {
            for_each_run(&ends, count, |run, start, end| {
                values.resize(values.len() + (end - start), min.wrapping_add(run_values.get(run) as i64));
            })?;
        }
        Layout::Delta { first, min_delta, deltas } => {
            let mut value = first;
            values.push(value);
            deltas.for_each(|_, delta| {
                value = value.wrapping_add(min_delta.wrapping_add(delta as i64));
                values.push(value);
            });
        }
    }
    let validity = header.validity.map(|bitmap| {
        spread_over_rows(&mut values, header.rows, bitmap);
        bitmap.to_vec()
    });
    Ok(IntVector { values, validity })
}

/// Moves the non-NULL values (in order at the front of `values`) to their rows, zeroing the
/// NULL rows.
pub(super) fn spread_over_rows(values: &mut Vec<i64>, rows: usize, bitmap: &[u8]) {
    let mut next = values.len();
    values.resize(rows, 0);
    // From the back, so that no value is overwritten before it moves.
    for row in (0..rows).rev() {
        if super::validity::is_valid(bitmap, row) {
            next -= 1;
            values[row] = values[next];
        } else {
            values[row] = 0;
        }
    }
}

/// The value of row `row` (None for NULL) without decoding the vector: O(1) for constant and
/// bit-packed vectors (after a popcount of the validity bitmap), a binary search of the run ends
/// for run-length, a sum of the deltas before it for delta.
pub fn int_value_at(bytes: &[u8], row: usize) -> Result<Option<i64>, DecodeError> {
    let (header, layout) = parse(bytes)?;
    let Some(index) = header.value_index(row)? else { return Ok(None) };
    let value = match layout {
        Layout::None => corrupt!("no values for a non-NULL row"),
        Layout::Constant(value) => value,
        Layout::ForBitpacked { min, offsets } => min.wrapping_add(offsets.get(index) as i64),
        Layout::Rle { min, values, ends } => {
            // The first run whose end is past `index`.
            let (mut low, mut high) = (0, ends.len());
            while low < high {
                let middle = low + (high - low) / 2;
                if ends.get(middle) <= index as u64 {
                    low = middle + 1;
                } else {
                    high = middle;
                }
            }
            if low == ends.len() {
                corrupt!("value {index} is past the last run");
            }
            min.wrapping_add(values.get(low) as i64)
        }
        Layout::Delta { first, min_delta, deltas } => (0..index)
            .fold(first, |value, i| value.wrapping_add(min_delta.wrapping_add(deltas.get(i) as i64))),
    };
    Ok(Some(value))
}

/// The bytes of an integer vector of `len` bytes that `int_value_at(.., row)` reads, when
/// they are few: its header and the one packed value (the second range, empty for a NULL
/// row or a constant). With every other byte zero, `int_value_at` gives the same answer: a
/// reader of a vector split over pages copies these alone. `head` is the vector's first
/// bytes ([`super::HEAD_BYTES`], or all of them). None for the run-length and delta layouts
/// (which read more), or when `head` does not hold the header.
pub fn int_value_ranges(head: &[u8], len: usize, row: usize) -> Option<[Range<usize>; 2]> {
    let (header, mut reader) = read_header(head).ok()?;
    let index = header.value_index(row).ok()?;
    let fixed = match header.tag {
        TAG_NONE => reader.position(),
        TAG_INT_CONSTANT => reader.position() + 8,
        TAG_INT_FOR_BITPACKED => {
            reader.i64("minimum").ok()?;
            let width = reader.u8("bit width").ok()? as usize;
            let data = reader.position();
            // Packed::get reads from the value's first byte; a value spans at most 9 bytes.
            let value = index.map_or(data..data, |i| {
                let start = data + i * width / 8;
                start.min(len)..(start + 9).min(len)
            });
            return (data <= len).then_some([0..data, value]);
        }
        _ => return None,
    };
    (fixed <= len).then_some([0..fixed, fixed..fixed])
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::encode::validity::from_bools;
    use crate::encode::{VECTOR_SIZE, encoding_of};
    use proptest::prelude::*;

    fn round_trip(values: &[i64], validity: Option<&[u8]>) -> Vec<u8> {
        let bytes = encode_ints(values, validity);
        check_decodes(&bytes, values, validity);
        bytes
    }

    /// `bytes` decodes (whole and value by value) to `values` at the non-NULL rows.
    fn check_decodes(bytes: &[u8], values: &[i64], validity: Option<&[u8]>) {
        let decoded = decode_ints(bytes).unwrap();
        assert_eq!(decoded.values.len(), values.len());
        let has_null = validity.is_some_and(|bitmap| crate::encode::validity::has_null(bitmap, values.len()));
        assert_eq!(decoded.validity.is_some(), has_null);
        for (row, &value) in values.iter().enumerate() {
            let valid = validity.is_none_or(|bitmap| crate::encode::validity::is_valid(bitmap, row));
            let expected = valid.then_some(value);
            let from_vector =
                decoded.validity.as_deref().is_none_or(|b| crate::encode::validity::is_valid(b, row));
            assert_eq!(from_vector.then_some(decoded.values[row]), expected, "row {row}");
            if !valid {
                assert_eq!(decoded.values[row], 0, "NULL rows decode to 0");
            }
            // value_at reparses the vector: a sample of rows keeps the tests fast.
            if row % 7 == 0 || row + 1 == values.len() {
                assert_eq!(int_value_at(bytes, row).unwrap(), expected, "value_at row {row}");
            }
        }
        assert!(int_value_at(bytes, values.len()).is_err());
    }

    #[test]
    fn empty_vector() {
        let bytes = round_trip(&[], None);
        assert_eq!(bytes, vec![TAG_NONE, 0, 0]);
        assert_eq!(decode_ints(&bytes).unwrap(), IntVector::default());
    }

    #[test]
    fn all_null() {
        let values = vec![7; 100];
        let validity = from_bools([false; 100]);
        let bytes = round_trip(&values, Some(&validity));
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_NONE);
        assert_eq!(bytes.len(), 3 + 13);
    }

    #[test]
    fn one_value() {
        let bytes = round_trip(&[42], None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_INT_CONSTANT);
        assert_eq!(bytes.len(), 3 + 8);
    }

    #[test]
    fn constant_with_nulls() {
        let values = vec![-5; VECTOR_SIZE];
        let validity = from_bools((0..VECTOR_SIZE).map(|i| i % 3 != 0));
        let bytes = round_trip(&values, Some(&validity));
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_INT_CONSTANT);
        assert_eq!(bytes.len(), 3 + 256 + 8);
    }

    #[test]
    fn extremes_use_64_bits() {
        let values = [i64::MIN, i64::MAX, 0, -1, i64::MIN, 1, i64::MAX];
        round_trip(&values, None);
        let bytes = encode_as(TAG_INT_FOR_BITPACKED, &values, None);
        check_decodes(&bytes, &values, None);
        for tag in [TAG_INT_RLE, TAG_INT_DELTA] {
            check_decodes(&encode_as(tag, &values, None), &values, None);
        }
    }

    #[test]
    fn full_sequential_vector_is_delta() {
        let values: Vec<i64> = (1_000_000..1_000_000 + VECTOR_SIZE as i64).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_INT_DELTA);
        // Every delta is 1: width 0.
        assert_eq!(bytes.len(), 3 + 8 + 8 + 1);
    }

    #[test]
    fn small_range_is_bitpacked() {
        let values: Vec<i64> = (0..VECTOR_SIZE as i64).map(|i| 1000 + (i * 7919) % 16).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_INT_FOR_BITPACKED);
        assert_eq!(bytes.len(), 3 + 8 + 1 + VECTOR_SIZE * 4 / 8);
    }

    #[test]
    fn long_runs_are_rle() {
        let values: Vec<i64> =
            (0..VECTOR_SIZE as i64).map(|i| [3, -9, 1 << 40][(i / 500) as usize % 3]).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_INT_RLE);
        // 5 runs: header 3, count 2, min 8, values 1 + 5 x 41 bits, ends 1 + 5 x 12 bits.
        assert_eq!(bytes.len(), 3 + 2 + 8 + 1 + 26 + 1 + 8);
    }

    #[test]
    fn booleans_with_nulls() {
        let values: Vec<i64> = (0..VECTOR_SIZE as i64).map(|i| (i / 100) % 2).collect();
        let validity = from_bools((0..VECTOR_SIZE).map(|i| i % 17 != 5));
        round_trip(&values, Some(&validity));
    }

    #[test]
    fn ties_go_to_the_cheaper_decode() {
        // Two distinct values in two runs: FoR (8 + 1 + 1 bytes) beats RLE (2 + 8 + 2 + 2).
        let bytes = round_trip(&[1, 1, 2, 2], None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_INT_FOR_BITPACKED);
    }

    #[test]
    fn rejects_non_integer_and_bad_runs() {
        let mut bytes = encode_as(TAG_INT_RLE, &[1, 1, 2, 2, 2], None);
        // Last run end (3 bits at bits 3..6 of the final byte) 5 -> 4.
        let last = bytes.len() - 1;
        bytes[last] = (bytes[last] & !0b111000) | (4 << 3);
        assert!(decode_ints(&bytes).is_err());
        assert!(decode_ints(&[0x13, 1, 0]).is_err());
        assert!(decode_ints(&[0x7f, 0, 0]).is_err());
        assert!(decode_ints(&[TAG_INT_CONSTANT, 0x01, 0x08]).is_err(), "2049 rows");
    }

    fn arb_vector() -> impl Strategy<Value = (Vec<i64>, Option<Vec<u8>>)> {
        let values = prop_oneof![
            proptest::collection::vec(any::<i64>(), 0..=VECTOR_SIZE),
            proptest::collection::vec(-3i64..3, 0..=VECTOR_SIZE),
            (any::<i64>(), proptest::collection::vec(0i64..1000, 0..=VECTOR_SIZE)).prop_map(
                |(start, steps)| steps
                    .iter()
                    .scan(start, |v, s| {
                        *v = v.wrapping_add(*s);
                        Some(*v)
                    })
                    .collect()
            ),
            (any::<i64>(), 0..=VECTOR_SIZE).prop_map(|(v, n)| vec![v; n]),
        ];
        values.prop_flat_map(|values| {
            let rows = values.len();
            let validity = prop_oneof![
                Just(None),
                proptest::collection::vec(any::<bool>(), rows).prop_map(|b| Some(from_bools(b))),
                proptest::collection::vec(prop::bool::weighted(0.05), rows).prop_map(|b| Some(from_bools(b))),
            ];
            (Just(values), validity)
        })
    }

    /// A copy of `bytes` holding only `ranges` (and the rest zero).
    pub(crate) fn sparse(bytes: &[u8], ranges: &[Range<usize>]) -> Vec<u8> {
        let mut out = vec![0u8; bytes.len()];
        for r in ranges {
            out[r.clone()].copy_from_slice(&bytes[r.clone()]);
        }
        out
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]

        #[test]
        fn value_ranges_suffice((values, validity) in arb_vector()) {
            for tag in CANDIDATES.iter().copied().chain([TAG_NONE]) {
                let non_null = non_null_values(&values, validity.as_deref());
                if (tag == TAG_NONE) != non_null.is_empty() || (tag != TAG_NONE && Stats::of(&non_null).payload_size(tag).is_none()) {
                    continue;
                }
                let bytes = encode_as(tag, &values, validity.as_deref());
                let head = &bytes[..bytes.len().min(crate::encode::HEAD_BYTES)];
                for row in 0..values.len() {
                    match int_value_ranges(head, bytes.len(), row) {
                        Some(ranges) => prop_assert_eq!(int_value_at(&sparse(&bytes, &ranges), row).unwrap(), int_value_at(&bytes, row).unwrap()),
                        None => prop_assert!(matches!(tag, TAG_INT_RLE | TAG_INT_DELTA), "tag {tag:#x} row {row} len {}", bytes.len()),
                    }
                }
            }
        }

        #[test]
        fn round_trips((values, validity) in arb_vector()) {
            let bytes = encode_ints(&values, validity.as_deref());
            check_decodes(&bytes, &values, validity.as_deref());
            // The choice is the smallest: no other applicable encoding is smaller.
            let non_null = non_null_values(&values, validity.as_deref());
            if !non_null.is_empty() {
                for tag in CANDIDATES {
                    if Stats::of(&non_null).payload_size(tag).is_some() {
                        let other = encode_as(tag, &values, validity.as_deref());
                        prop_assert!(other.len() >= bytes.len());
                        check_decodes(&other, &values, validity.as_deref());
                    }
                }
            }
        }
    }
}
