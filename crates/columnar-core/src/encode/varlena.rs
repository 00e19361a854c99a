//! The varlena family: values as bytes (text, bytea, or any datum's bytes), encoded as a
//! dictionary (distinct values once, codes bit-packed) or as their lengths followed by their
//! bytes, raw or lz4-compressed.

use std::borrow::Cow;
use std::collections::HashMap;

use super::bitpack::{Packed, width_of};
use super::bytes::{Header, Reader, packed_size, read_header, write_header, write_packed};
use super::validity::{is_valid, non_null_values};
use super::{
    DICT_MAX_DISTINCT, DecodeError, LZ4_MIN_SAVING_PERCENT, TAG_NONE, TAG_VARLENA_DICT, TAG_VARLENA_LZ4,
    TAG_VARLENA_PLAIN, corrupt,
};

/// An lz4 block never expands its input more than about 255 times; a larger claimed size is
/// corrupt and must not be allocated.
const LZ4_MAX_EXPANSION: u64 = 256;

/// A decoded varlena vector, arrow-style: row `i`'s value is `bytes[offsets[i]..offsets[i + 1]]`
/// (empty for NULL rows), and the validity bitmap is None when no row is NULL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VarlenaVector {
    pub offsets: Vec<u32>,
    pub bytes: Vec<u8>,
    pub validity: Option<Vec<u8>>,
}

impl VarlenaVector {
    pub fn rows(&self) -> usize {
        self.offsets.len().saturating_sub(1)
    }

    /// The value of row `row`, None when it is NULL or past the end.
    pub fn value(&self, row: usize) -> Option<&[u8]> {
        if row >= self.rows() || self.validity.as_deref().is_some_and(|bitmap| !is_valid(bitmap, row)) {
            return None;
        }
        self.bytes.get(self.offsets[row] as usize..self.offsets[row + 1] as usize)
    }
}

/// A dictionary of the non-NULL values: distinct values sorted by bytes, and a code per value.
struct Dictionary<'a> {
    entries: Vec<&'a [u8]>,
    codes: Vec<u64>,
}

impl<'a> Dictionary<'a> {
    /// None when there are more than [`DICT_MAX_DISTINCT`] distinct values.
    fn build(values: &[&'a [u8]]) -> Option<Self> {
        let mut first_seen: HashMap<&[u8], u64, foldhash::fast::FixedState> = HashMap::default();
        let mut entries = Vec::new();
        let mut codes = Vec::with_capacity(values.len());
        for &value in values {
            let code = *first_seen.entry(value).or_insert_with(|| {
                entries.push(value);
                entries.len() as u64 - 1
            });
            if entries.len() > DICT_MAX_DISTINCT {
                return None;
            }
            codes.push(code);
        }
        // Sorted by bytes, so that codes compare as the bytes do.
        let mut order: Vec<usize> = (0..entries.len()).collect();
        order.sort_unstable_by_key(|&i| entries[i]);
        let mut sorted_code = vec![0u64; entries.len()];
        for (position, &i) in order.iter().enumerate() {
            sorted_code[i] = position as u64;
        }
        codes.iter_mut().for_each(|code| *code = sorted_code[*code as usize]);
        let entries = order.into_iter().map(|i| entries[i]).collect();
        Some(Dictionary { entries, codes })
    }

    fn entry_bytes(&self) -> usize {
        self.entries.iter().map(|entry| entry.len()).sum()
    }

    fn payload_size(&self) -> usize {
        let entries = self.entries.len();
        2 + packed_size(entries + 1, width_of(self.entry_bytes() as u64))
            + self.entry_bytes()
            + packed_size(self.codes.len(), width_of(entries as u64 - 1))
    }

    fn write(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&(self.entries.len() as u16).to_le_bytes());
        let offsets = std::iter::once(0).chain(self.entries.iter().scan(0u64, |end, entry| {
            *end += entry.len() as u64;
            Some(*end)
        }));
        write_packed(out, offsets, width_of(self.entry_bytes() as u64));
        self.entries.iter().for_each(|entry| out.extend_from_slice(entry));
        write_packed(out, self.codes.iter().copied(), width_of(self.entries.len() as u64 - 1));
    }
}

/// The candidates for one vector, each prepared once so that sizing and writing share the work.
struct Candidates<'a> {
    values: Cow<'a, [&'a [u8]]>,
    min_length: u32,
    length_width: u32,
    raw: Vec<u8>,
    compressed: Vec<u8>,
    dictionary: Option<Dictionary<'a>>,
}

impl<'a> Candidates<'a> {
    fn prepare(values: &'a [&'a [u8]], validity: Option<&[u8]>) -> Self {
        let values = non_null_values(values, validity);
        let total: usize = values.iter().map(|value| value.len()).sum();
        assert!(total <= u32::MAX as usize, "a vector's values exceed 4 GB");
        let min_length = values.iter().map(|value| value.len()).min().unwrap_or(0) as u32;
        let max_length = values.iter().map(|value| value.len()).max().unwrap_or(0) as u32;
        let mut raw = Vec::with_capacity(total);
        values.iter().for_each(|value| raw.extend_from_slice(value));
        let compressed = lz4_flex::block::compress(&raw);
        let dictionary = Dictionary::build(&values);
        Candidates {
            min_length,
            length_width: width_of((max_length - min_length) as u64),
            raw,
            compressed,
            dictionary,
            values,
        }
    }

    fn lengths_size(&self) -> usize {
        4 + packed_size(self.values.len(), self.length_width)
    }

    /// The payload size of encoding `tag`, None when it does not apply.
    fn payload_size(&self, tag: u8) -> Option<usize> {
        match tag {
            TAG_VARLENA_PLAIN => Some(self.lengths_size() + self.raw.len()),
            TAG_VARLENA_LZ4 => {
                let saves_enough =
                    self.compressed.len() * 100 <= self.raw.len() * (100 - LZ4_MIN_SAVING_PERCENT);
                saves_enough.then(|| self.lengths_size() + 4 + self.compressed.len())
            }
            TAG_VARLENA_DICT => self.dictionary.as_ref().map(Dictionary::payload_size),
            _ => None,
        }
    }

    fn write_lengths(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.min_length.to_le_bytes());
        let lengths = self.values.iter().map(|value| (value.len() as u32 - self.min_length) as u64);
        write_packed(out, lengths, self.length_width);
    }

    fn write(&self, tag: u8, out: &mut Vec<u8>) {
        match tag {
            TAG_NONE => assert!(self.values.is_empty(), "none holds no value"),
            TAG_VARLENA_PLAIN => {
                self.write_lengths(out);
                out.extend_from_slice(&self.raw);
            }
            TAG_VARLENA_LZ4 => {
                self.write_lengths(out);
                out.extend_from_slice(&(self.compressed.len() as u32).to_le_bytes());
                out.extend_from_slice(&self.compressed);
            }
            TAG_VARLENA_DICT => self.dictionary.as_ref().expect("a dictionary within the bound").write(out),
            _ => panic!("not a varlena encoding: {tag:#x}"),
        }
    }
}

/// The candidates, cheapest to decode first: a tie in size goes to the earlier one.
const CANDIDATES: [u8; 3] = [TAG_VARLENA_PLAIN, TAG_VARLENA_DICT, TAG_VARLENA_LZ4];

/// Encodes one vector: `values` has one entry per row (those of NULL rows are ignored), and
/// `validity` is a bitmap of the non-NULL rows (None: no NULL). The smallest candidate wins.
///
/// # Panics
/// When `values.len() > VECTOR_SIZE`, `validity` is shorter than `values.len()` bits, or the
/// non-NULL values add up to more than 4 GB.
pub fn encode_varlena(values: &[&[u8]], validity: Option<&[u8]>) -> Vec<u8> {
    let candidates = Candidates::prepare(values, validity);
    let tag = if candidates.values.is_empty() {
        TAG_NONE
    } else {
        CANDIDATES
            .into_iter()
            .filter_map(|tag| Some((candidates.payload_size(tag)?, tag)))
            .min_by_key(|&(size, _)| size)
            .map_or(TAG_VARLENA_PLAIN, |(_, tag)| tag)
    };
    let mut out = Vec::new();
    write_header(&mut out, tag, values.len(), validity);
    candidates.write(tag, &mut out);
    out
}

/// Encodes with the given encoding, even when it is not the smallest (tests and benches).
#[cfg(test)]
pub(crate) fn encode_as(tag: u8, values: &[&[u8]], validity: Option<&[u8]>) -> Vec<u8> {
    let candidates = Candidates::prepare(values, validity);
    let mut out = Vec::new();
    write_header(&mut out, tag, values.len(), validity);
    candidates.write(tag, &mut out);
    out
}

/// The lengths of the non-NULL values, with their sum checked to fit the `u32` offsets.
struct Lengths<'a> {
    min: u32,
    packed: Packed<'a>,
    total: usize,
}

impl<'a> Lengths<'a> {
    fn read(reader: &mut Reader<'a>, count: usize) -> Result<Self, DecodeError> {
        let min = reader.u32("minimum length")?;
        let packed = reader.packed(count, "lengths")?;
        // Within u32 the sum bounds every length, so no later sum of lengths overflows.
        let mut total = (min as u64).saturating_mul(count as u64);
        packed.for_each(|_, length| total = total.saturating_add(length));
        if total > u32::MAX as u64 {
            corrupt!("values add up to {total} bytes, more than 4 GB");
        }
        Ok(Lengths { min, packed, total: total as usize })
    }

    /// Length `i`, already known not to overflow.
    fn get(&self, i: usize) -> usize {
        (self.min as u64 + self.packed.get(i)) as usize
    }
}

/// A vector's payload, parsed and length-checked.
enum Layout<'a> {
    None,
    Plain { lengths: Lengths<'a>, bytes: &'a [u8] },
    Lz4 { lengths: Lengths<'a>, compressed: &'a [u8] },
    Dict { offsets: Packed<'a>, entry_bytes: &'a [u8], codes: Packed<'a> },
}

fn parse(bytes: &[u8]) -> Result<(Header<'_>, Layout<'_>), DecodeError> {
    let (header, mut reader) = read_header(bytes)?;
    let count = header.non_null;
    if (header.tag == TAG_NONE) != (count == 0) {
        corrupt!("encoding {:#x} for {count} non-NULL values", header.tag);
    }
    let layout = match header.tag {
        TAG_NONE => Layout::None,
        TAG_VARLENA_PLAIN => {
            let lengths = Lengths::read(&mut reader, count)?;
            let bytes = reader.take(lengths.total, "value bytes")?;
            Layout::Plain { lengths, bytes }
        }
        TAG_VARLENA_LZ4 => {
            let lengths = Lengths::read(&mut reader, count)?;
            let compressed_len = reader.u32("compressed length")? as usize;
            let compressed = reader.take(compressed_len, "compressed bytes")?;
            if lengths.total as u64 > compressed.len() as u64 * LZ4_MAX_EXPANSION + 64 {
                corrupt!("{} compressed bytes cannot hold {} bytes", compressed.len(), lengths.total);
            }
            Layout::Lz4 { lengths, compressed }
        }
        TAG_VARLENA_DICT => {
            let entries = reader.u16("dictionary size")? as usize;
            if entries == 0 || entries > count {
                corrupt!("{entries} dictionary entries for {count} values");
            }
            let offsets = reader.packed(entries + 1, "dictionary offsets")?;
            if offsets.get(0) != 0 {
                corrupt!("dictionary offsets start at {}", offsets.get(0));
            }
            let entry_bytes_len = usize::try_from(offsets.get(entries)).unwrap_or(usize::MAX);
            let entry_bytes = reader.take(entry_bytes_len, "dictionary bytes")?;
            Layout::Dict { offsets, entry_bytes, codes: reader.packed(count, "dictionary codes")? }
        }
        tag => corrupt!("unknown varlena encoding {tag:#x}"),
    };
    reader.finish()?;
    Ok((header, layout))
}

/// Dictionary entry `code`, checked against the dictionary.
fn dict_entry<'a>(offsets: &Packed<'a>, entry_bytes: &'a [u8], code: u64) -> Result<&'a [u8], DecodeError> {
    let entries = offsets.len() - 1;
    if code >= entries as u64 {
        corrupt!("code {code} past the {entries} dictionary entries");
    }
    let (start, end) = (offsets.get(code as usize), offsets.get(code as usize + 1));
    if start > end || end > entry_bytes.len() as u64 {
        corrupt!("dictionary entry {code} at {start}..{end} of {} bytes", entry_bytes.len());
    }
    Ok(&entry_bytes[start as usize..end as usize])
}

fn decompress(lengths: &Lengths<'_>, compressed: &[u8]) -> Result<Vec<u8>, DecodeError> {
    let mut raw = vec![0u8; lengths.total];
    match lz4_flex::block::decompress_into(compressed, &mut raw) {
        Ok(written) if written == raw.len() => Ok(raw),
        Ok(written) => corrupt!("lz4 block holds {written} bytes, not {}", raw.len()),
        Err(error) => corrupt!("lz4 block: {error}"),
    }
}

/// Decodes a whole vector.
pub fn decode_varlena(bytes: &[u8]) -> Result<VarlenaVector, DecodeError> {
    let (header, layout) = parse(bytes)?;
    // The end offset of each non-NULL value, then spread over the rows.
    let mut ends = Vec::with_capacity(header.non_null);
    let values = match layout {
        Layout::None => Vec::new(),
        Layout::Plain { lengths, bytes } => {
            push_ends(&lengths, &mut ends);
            bytes.to_vec()
        }
        Layout::Lz4 { lengths, compressed } => {
            push_ends(&lengths, &mut ends);
            decompress(&lengths, compressed)?
        }
        Layout::Dict { offsets, entry_bytes, codes } => {
            // Every entry checked once, then the codes against them.
            let entries = (0..offsets.len() - 1)
                .map(|code| dict_entry(&offsets, entry_bytes, code as u64))
                .collect::<Result<Vec<_>, _>>()?;
            let mut code_values = Vec::new();
            codes.unpack_into(&mut code_values);
            // Sized first, so that a corrupt vector cannot ask for more than 4 GB.
            let mut total: u64 = 0;
            for &code in &code_values {
                let Some(entry) = entries.get(code as usize) else {
                    corrupt!("code {code} past the {} dictionary entries", entries.len());
                };
                total += entry.len() as u64;
            }
            if total > u32::MAX as u64 {
                corrupt!("dictionary values add up to {total} bytes, more than 4 GB");
            }
            let mut values = Vec::with_capacity(total as usize);
            for code in code_values {
                values.extend_from_slice(entries[code as usize]);
                ends.push(values.len() as u32);
            }
            values
        }
    };
    let mut offsets = Vec::with_capacity(header.rows + 1);
    offsets.push(0u32);
    match header.validity {
        None => offsets.extend_from_slice(&ends),
        Some(bitmap) => {
            let mut ends = ends.iter();
            let mut end = 0;
            for row in 0..header.rows {
                if is_valid(bitmap, row) {
                    end = ends.next().copied().unwrap_or(end);
                }
                offsets.push(end);
            }
        }
    }
    Ok(VarlenaVector { offsets, bytes: values, validity: header.validity.map(<[u8]>::to_vec) })
}

fn push_ends(lengths: &Lengths<'_>, ends: &mut Vec<u32>) {
    let mut end = 0u32;
    // The total was checked to fit u32, so no sum overflows.
    lengths.packed.for_each(|_, length| {
        end += lengths.min + length as u32;
        ends.push(end);
    });
}

/// The value of row `row` (None for NULL) without decoding the whole vector where the encoding
/// allows: O(1) for a dictionary (after a popcount of the validity bitmap), a sum of the
/// lengths before it for plain, a decompression of the vector for lz4 (callers reading many
/// rows of an lz4 vector should decode it once instead).
pub fn varlena_value_at(bytes: &[u8], row: usize) -> Result<Option<Cow<'_, [u8]>>, DecodeError> {
    let (header, layout) = parse(bytes)?;
    let Some(index) = header.value_index(row)? else { return Ok(None) };
    let value = match layout {
        Layout::None => corrupt!("no values for a non-NULL row"),
        Layout::Plain { lengths, bytes } => {
            let start: usize = (0..index).map(|i| lengths.get(i)).sum();
            Cow::Borrowed(&bytes[start..start + lengths.get(index)])
        }
        Layout::Lz4 { lengths, compressed } => {
            let start: usize = (0..index).map(|i| lengths.get(i)).sum();
            let raw = decompress(&lengths, compressed)?;
            Cow::Owned(raw[start..start + lengths.get(index)].to_vec())
        }
        Layout::Dict { offsets, entry_bytes, codes } => {
            Cow::Borrowed(dict_entry(&offsets, entry_bytes, codes.get(index))?)
        }
    };
    Ok(Some(value))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::encode::validity::from_bools;
    use crate::encode::{VECTOR_SIZE, encoding_of};
    use proptest::prelude::*;

    fn check_decodes(bytes: &[u8], values: &[&[u8]], validity: Option<&[u8]>) {
        let decoded = decode_varlena(bytes).unwrap();
        assert_eq!(decoded.rows(), values.len());
        assert_eq!(decoded.offsets.len(), values.len() + 1);
        for (row, &value) in values.iter().enumerate() {
            let expected = validity.is_none_or(|bitmap| is_valid(bitmap, row)).then_some(value);
            assert_eq!(decoded.value(row), expected, "row {row}");
            if expected.is_none() {
                assert_eq!(decoded.offsets[row], decoded.offsets[row + 1], "NULL rows are empty");
            }
            if row % 7 == 0 || row + 1 == values.len() {
                assert_eq!(varlena_value_at(bytes, row).unwrap().as_deref(), expected, "value_at row {row}");
            }
        }
        assert!(varlena_value_at(bytes, values.len()).is_err());
    }

    fn round_trip(values: &[&[u8]], validity: Option<&[u8]>) -> Vec<u8> {
        let bytes = encode_varlena(values, validity);
        check_decodes(&bytes, values, validity);
        bytes
    }

    #[test]
    fn empty_vector() {
        let bytes = round_trip(&[], None);
        assert_eq!(bytes, vec![TAG_NONE, 0, 0]);
        assert_eq!(decode_varlena(&bytes).unwrap().offsets, vec![0]);
    }

    #[test]
    fn all_null() {
        let values = vec![&b"x"[..]; 10];
        let bytes = round_trip(&values, Some(&from_bools([false; 10])));
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_NONE);
    }

    #[test]
    fn one_value_and_empty_strings() {
        round_trip(&[b"hello"], None);
        // One empty entry and a 0-bit code (4 bytes) beat a 0-bit length (5 bytes).
        let bytes = round_trip(&[b""], None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_VARLENA_DICT);
        round_trip(&[b"", b"a", b"", b""], Some(&from_bools([true, true, false, true])));
        for tag in CANDIDATES {
            check_decodes(&encode_as(tag, &[b"", b"", b""], None), &[b"", b"", b""], None);
        }
    }

    #[test]
    fn low_cardinality_is_a_dictionary() {
        let words: [&[u8]; 4] = [b"AIR", b"MAIL", b"RAIL", b"TRUCK"];
        let values: Vec<&[u8]> = (0..VECTOR_SIZE).map(|i| words[(i * 7919) % 4]).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_VARLENA_DICT);
        // Header 3, entries 2, offsets 1 + 5 x 5 bits, entry bytes 16, codes 1 + 2048 x 2 bits.
        assert_eq!(bytes.len(), 3 + 2 + 1 + 4 + 16 + 1 + VECTOR_SIZE / 4);
    }

    #[test]
    fn high_cardinality_text() {
        let strings: Vec<String> = (0..VECTOR_SIZE).map(|i| format!("customer#{:09}", i * 31)).collect();
        let values: Vec<&[u8]> = strings.iter().map(|s| s.as_bytes()).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_VARLENA_LZ4);
        let raw: usize = values.iter().map(|v| v.len()).sum();
        assert!(bytes.len() < raw / 2, "{} of {raw}", bytes.len());
    }

    #[test]
    fn incompressible_is_plain() {
        let mut state = 0x1234_5678_9abc_def0u64;
        let strings: Vec<Vec<u8>> = (0..VECTOR_SIZE)
            .map(|_| {
                (0..12)
                    .map(|_| {
                        state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                        (state >> 56) as u8
                    })
                    .collect()
            })
            .collect();
        let values: Vec<&[u8]> = strings.iter().map(|s| s.as_slice()).collect();
        let bytes = round_trip(&values, None);
        assert_eq!(encoding_of(&bytes).unwrap(), TAG_VARLENA_PLAIN);
        // Every length is 12: width 0.
        assert_eq!(bytes.len(), 3 + 4 + 1 + 12 * VECTOR_SIZE);
    }

    #[test]
    fn dictionary_codes_follow_byte_order() {
        let values: Vec<&[u8]> = vec![b"b", b"a", b"c", b"a", b"b"];
        let bytes = encode_as(TAG_VARLENA_DICT, &values, None);
        // Header 3, entries 2, offsets: width 2, 4 x 2 bits, entry bytes "abc", codes: width 2.
        assert_eq!(&bytes[3 + 2 + 1 + 1..3 + 2 + 1 + 1 + 3], b"abc");
        check_decodes(&bytes, &values, None);
    }

    #[test]
    fn too_many_distinct_values_for_a_dictionary() {
        let strings: Vec<String> = (0..DICT_MAX_DISTINCT + 1).map(|i| i.to_string()).collect();
        let values: Vec<&[u8]> = strings.iter().map(|s| s.as_bytes()).collect();
        assert!(Dictionary::build(&values).is_none());
        assert!(Dictionary::build(&values[1..]).is_some());
        round_trip(&values, None);
    }

    #[test]
    fn rejects_bad_codes_and_sizes() {
        let mut bytes = encode_as(TAG_VARLENA_DICT, &[b"x", b"y"], None);
        // Codes (the last byte, 1 bit each) 0b10 -> 0b11 is fine, but with one entry...
        let last = bytes.len() - 1;
        bytes[last] = 0b11;
        check_decodes(&bytes, &[b"y", b"y"], None);
        assert!(decode_varlena(&[TAG_VARLENA_LZ4, 1, 0, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0, 0]).is_err());
        assert!(decode_varlena(&[TAG_VARLENA_PLAIN, 1, 0, 5, 0, 0, 0, 0, b'a']).is_err());
        assert!(
            decode_varlena(&[TAG_VARLENA_PLAIN, 1, 0, 1, 0, 0, 0, 0, b'a', b'b']).is_err(),
            "trailing byte"
        );
    }

    fn arb_vector() -> impl Strategy<Value = (Vec<Vec<u8>>, Option<Vec<u8>>)> {
        let values = prop_oneof![
            proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..40), 0..=VECTOR_SIZE),
            proptest::collection::vec(
                prop::sample::select(vec![&b""[..], b"a", b"bb", b"R", b"N"]).prop_map(<[u8]>::to_vec),
                0..=VECTOR_SIZE
            ),
            proptest::collection::vec("[a-c]{0,12}".prop_map(String::into_bytes), 0..=VECTOR_SIZE),
        ];
        values.prop_flat_map(|values| {
            let rows = values.len();
            let validity = prop_oneof![
                Just(None),
                proptest::collection::vec(any::<bool>(), rows).prop_map(|b| Some(from_bools(b))),
            ];
            (Just(values), validity)
        })
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(100))]

        #[test]
        fn round_trips((values, validity) in arb_vector()) {
            let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let bytes = encode_varlena(&values, validity.as_deref());
            check_decodes(&bytes, &values, validity.as_deref());
            let candidates = Candidates::prepare(&values, validity.as_deref());
            if !candidates.values.is_empty() {
                for tag in CANDIDATES {
                    if tag == TAG_VARLENA_PLAIN || candidates.payload_size(tag).is_some() {
                        let other = encode_as(tag, &values, validity.as_deref());
                        prop_assert!(other.len() >= bytes.len());
                        check_decodes(&other, &values, validity.as_deref());
                    }
                }
            }
        }
    }
}
