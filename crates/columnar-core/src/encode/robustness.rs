//! Decoders never panic: random bytes, and real encodings truncated, extended or with bytes
//! changed, either decode or return a `DecodeError`.

use super::validity::from_bools;
use super::*;
use proptest::prelude::*;

/// Runs every decoder and accessor on `bytes`; a panic fails the test.
fn decode_everything(bytes: &[u8]) {
    let _ = encoding_of(bytes);
    let ints = decode_ints(bytes);
    let varlena = decode_varlena(bytes);
    let numeric = decode_numeric(bytes);
    // When a whole decode succeeds, single values must agree with it.
    for row in [0, 1, 2, 7, 100, 2047, 2048, usize::MAX] {
        let int = int_value_at(bytes, row);
        if let Ok(vector) = &ints
            && row < vector.values.len()
        {
            let valid = vector.validity.as_deref().is_none_or(|bitmap| validity::is_valid(bitmap, row));
            assert_eq!(int.as_ref().ok().copied(), Some(valid.then_some(vector.values[row])));
        }
        let number = numeric_value_at(bytes, row);
        if let Ok(vector) = &numeric
            && row < vector.rows()
        {
            assert_eq!(number.as_ref().ok().map(|v| v.as_deref()), Some(vector.to_varlena().value(row)));
        }
        let value = varlena_value_at(bytes, row);
        if let Ok(vector) = &varlena
            && row < vector.rows()
        {
            assert_eq!(value.as_ref().ok().map(|v| v.as_deref()), Some(vector.value(row)));
        }
    }
}

/// A few real encodings of every tag, small enough to mutate exhaustively.
fn samples() -> Vec<Vec<u8>> {
    let ints: [&[i64]; 4] =
        [&[5, 5, 5], &[i64::MIN, i64::MAX, 0, 3], &[1, 1, 1, 2, 2, 9, 9, 9], &[10, 11, 13, 12, 20]];
    let nulls = from_bools([true, false, true, true, false, true, true, true]);
    let mut samples = Vec::new();
    for values in ints {
        for validity in [None, Some(&nulls[..])] {
            for tag in [TAG_INT_FOR_BITPACKED, TAG_INT_RLE, TAG_INT_DELTA] {
                samples.push(int::encode_as(tag, values, validity));
            }
            samples.push(encode_ints(values, validity));
        }
    }
    let texts: [&[&[u8]]; 3] = [
        &[b"", b"a", b"bc", b"a"],
        &[b"same", b"same", b"same"],
        &[b"abcabcabcabcabcabcabc", b"abcabcabcabcabcabc", b"x"],
    ];
    for values in texts {
        for validity in [None, Some(&nulls[..])] {
            for tag in [TAG_VARLENA_PLAIN, TAG_VARLENA_LZ4, TAG_VARLENA_DICT] {
                samples.push(varlena::encode_as(tag, values, validity));
            }
        }
    }
    let numerics: Vec<Vec<u8>> = [5, -12345, 0, i64::MAX].iter().map(|&v| {
        let mut out = Vec::new();
        crate::numeric::write_short(&mut out, v, 2).unwrap();
        out
    }).collect();
    let numerics: Vec<&[u8]> = numerics.iter().map(|v| &v[..]).collect();
    samples.push(encode_numeric(&numerics, None));
    samples.push(encode_numeric(&numerics, Some(&nulls[..])));
    samples
}

#[test]
fn every_truncation_and_byte_change_of_small_vectors() {
    for sample in samples() {
        decode_everything(&sample);
        for len in 0..sample.len() {
            decode_everything(&sample[..len]);
        }
        for position in 0..sample.len() {
            for replacement in
                [0x00, 0x01, 0x7f, 0x80, 0xfe, 0xff, sample[position] ^ 0x01, sample[position] ^ 0x40]
            {
                let mut mutated = sample.clone();
                mutated[position] = replacement;
                decode_everything(&mutated);
            }
        }
        let mut extended = sample.clone();
        extended.push(0);
        assert!(decode_ints(&extended).is_err() && decode_varlena(&extended).is_err());
    }
}

fn arb_encoding() -> impl Strategy<Value = Vec<u8>> {
    let ints = (
        proptest::collection::vec(any::<i64>(), 0..300),
        proptest::collection::vec(0i64..4, 0..300),
        any::<bool>(),
    )
        .prop_map(|(random, small, nulls)| {
            let values = if nulls { random } else { small };
            let validity = nulls.then(|| from_bools((0..values.len()).map(|i| i % 3 != 0)));
            encode_ints(&values, validity.as_deref())
        });
    let texts = (proptest::collection::vec(proptest::collection::vec(0u8..4, 0..20), 0..200), any::<bool>())
        .prop_map(|(values, nulls)| {
            let values: Vec<&[u8]> = values.iter().map(Vec::as_slice).collect();
            let validity = nulls.then(|| from_bools((0..values.len()).map(|i| i % 4 != 1)));
            encode_varlena(&values, validity.as_deref())
        });
    prop_oneof![ints, texts]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        decode_everything(&bytes);
    }

    #[test]
    fn random_bytes_after_a_real_tag_never_panic(
        tag in prop::sample::select(vec![0u8, 1, 2, 3, 4, 0x11, 0x12, 0x13]),
        validity in any::<bool>(),
        rows in 0u16..300,
        rest in proptest::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = vec![tag | if validity { HAS_VALIDITY } else { 0 }];
        bytes.extend_from_slice(&rows.to_le_bytes());
        bytes.extend_from_slice(&rest);
        decode_everything(&bytes);
    }

    #[test]
    fn mutated_encodings_never_panic(
        encoding in arb_encoding(),
        changes in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
        truncate in any::<bool>(),
    ) {
        let mut bytes = encoding;
        for (position, value) in changes {
            if !bytes.is_empty() {
                let i = position.index(bytes.len());
                bytes[i] = value;
            }
        }
        if truncate {
            bytes.truncate(cut.index(bytes.len() + 1));
        }
        decode_everything(&bytes);
    }
}
