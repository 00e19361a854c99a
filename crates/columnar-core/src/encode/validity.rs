//! Validity bitmaps, arrow-style: bit `i` (LSB first within each byte) is 1 when row `i` is not
//! NULL. A bitmap for `rows` rows has `bitmap_len(rows)` bytes; bits past `rows` are 0.

use std::borrow::Cow;

/// The bytes of a bitmap for `rows` rows.
pub fn bitmap_len(rows: usize) -> usize {
    rows.div_ceil(8)
}

/// Whether row `row` is not NULL; false past the bitmap's end.
pub fn is_valid(bitmap: &[u8], row: usize) -> bool {
    bitmap.get(row / 8).is_some_and(|byte| byte & (1 << (row % 8)) != 0)
}

/// A bitmap with a bit per item of `valid`.
pub fn from_bools(valid: impl IntoIterator<Item = bool>) -> Vec<u8> {
    let mut bitmap = Vec::new();
    for (row, valid) in valid.into_iter().enumerate() {
        if row % 8 == 0 {
            bitmap.push(0);
        }
        if valid {
            bitmap[row / 8] |= 1 << (row % 8);
        }
    }
    bitmap
}

/// The number of rows before `row` that are not NULL (rows past the bitmap count as NULL).
pub fn rank(bitmap: &[u8], row: usize) -> usize {
    let whole = (row / 8).min(bitmap.len());
    let mut count = count_ones(&bitmap[..whole]);
    if !row.is_multiple_of(8)
        && let Some(byte) = bitmap.get(row / 8)
    {
        count += (byte & ((1u8 << (row % 8)) - 1)).count_ones() as usize;
    }
    count
}

/// The number of rows among the first `rows` that are not NULL.
pub fn count_valid(bitmap: &[u8], rows: usize) -> usize {
    rank(bitmap, rows)
}

/// Whether any of the first `rows` rows is NULL (rows past the bitmap's end are NULL).
pub fn has_null(bitmap: &[u8], rows: usize) -> bool {
    count_valid(bitmap, rows) != rows
}

/// Whether the bits past `rows` in the last byte are 0.
pub(crate) fn padding_is_clear(bitmap: &[u8], rows: usize) -> bool {
    rows.is_multiple_of(8) || bitmap.get(rows / 8).is_none_or(|byte| byte >> (rows % 8) == 0)
}

pub(crate) fn clear_padding(bitmap: &mut [u8], rows: usize) {
    if !rows.is_multiple_of(8)
        && let Some(byte) = bitmap.get_mut(rows / 8)
    {
        *byte &= (1u8 << (rows % 8)) - 1;
    }
}

/// The values of the non-NULL rows among `values` (one per row); borrowed when no row is NULL.
pub(crate) fn non_null_values<'a, T: Clone>(values: &'a [T], validity: Option<&[u8]>) -> Cow<'a, [T]> {
    match validity {
        Some(bitmap) if has_null(bitmap, values.len()) => Cow::Owned(
            values
                .iter()
                .enumerate()
                .filter(|&(row, _)| is_valid(bitmap, row))
                .map(|(_, v)| v.clone())
                .collect(),
        ),
        _ => Cow::Borrowed(values),
    }
}

fn count_ones(bytes: &[u8]) -> usize {
    let mut words = bytes.chunks_exact(8);
    let mut count: usize = words
        .by_ref()
        .map(|word| u64::from_le_bytes(word.try_into().unwrap_or([0; 8])).count_ones() as usize)
        .sum();
    count += words.remainder().iter().map(|byte| byte.count_ones() as usize).sum::<usize>();
    count
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bits() {
        let bitmap = from_bools([true, false, true, true, false, false, false, false, true]);
        assert_eq!(bitmap, vec![0b0000_1101, 0b1]);
        assert!(is_valid(&bitmap, 0) && !is_valid(&bitmap, 1) && is_valid(&bitmap, 8));
        assert!(!is_valid(&bitmap, 100));
        assert_eq!(rank(&bitmap, 0), 0);
        assert_eq!(rank(&bitmap, 3), 2);
        assert_eq!(rank(&bitmap, 9), 4);
        assert_eq!(count_valid(&bitmap, 9), 4);
        assert!(has_null(&bitmap, 9));
        assert!(!has_null(&[0xff, 0x01], 9));
        assert!(has_null(&[0xff], 9), "rows past the bitmap are NULL");
        assert!(padding_is_clear(&[0xff, 0x01], 9));
        assert!(!padding_is_clear(&[0xff, 0x03], 9));
        let mut padded = [0xff, 0xff];
        clear_padding(&mut padded, 9);
        assert_eq!(padded, [0xff, 0x01]);
    }

    #[test]
    fn rank_over_words() {
        let bitmap = vec![0xffu8; 256];
        assert_eq!(rank(&bitmap, 2048), 2048);
        assert_eq!(rank(&bitmap, 1000), 1000);
        assert_eq!(rank(&bitmap, 5000), 2048);
    }
}
