use super::*;
use crate::encode::validity::is_valid;
use crate::layout::CONTENT_SIZE;
use proptest::prelude::*;

/// An owned value, as a test remembers what it pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Owned {
    Null,
    Int(i64),
    Bytes(Vec<u8>),
}

impl Owned {
    fn as_value(&self) -> Value<'_> {
        match self {
            Owned::Null => Value::Null,
            Owned::Int(v) => Value::Int(*v),
            Owned::Bytes(b) => Value::Bytes(b),
        }
    }
}

/// Columns of values → the stream of a group holding them as rows.
fn build(kinds: &[ColumnKind], columns: &[Vec<Owned>]) -> Vec<u8> {
    fill(GroupBuilder::new(kinds.to_vec()), columns)
}

fn fill(mut builder: GroupBuilder, columns: &[Vec<Owned>]) -> Vec<u8> {
    let rows = columns.first().map_or(0, Vec::len);
    for row in 0..rows {
        let values: Vec<Value> = columns.iter().map(|column| column[row].as_value()).collect();
        builder.push_row(&values).unwrap();
    }
    builder.finish()
}

/// The zone of some values, computed the obvious way.
fn true_zone(values: &[Owned]) -> Option<Zone> {
    let ints: Vec<i64> =
        values.iter().filter_map(|v| if let Owned::Int(i) = v { Some(*i) } else { None }).collect();
    let bytes: Vec<&[u8]> =
        values.iter().filter_map(|v| if let Owned::Bytes(b) = v { Some(&b[..]) } else { None }).collect();
    if !ints.is_empty() {
        return Some(Zone::Int { min: *ints.iter().min().unwrap(), max: *ints.iter().max().unwrap() });
    }
    if !bytes.is_empty() {
        let (min, max) = (bytes.iter().min().unwrap(), bytes.iter().max().unwrap());
        return Some(Zone::Bytes { min: BytesBound::of(min), max: BytesBound::of(max) });
    }
    None
}

/// Checks every value, null count and zone of `stream` against `columns`, through every reader.
fn check(stream: &[u8], kinds: &[ColumnKind], columns: &[Vec<Owned>]) {
    let rows = columns.first().map_or(0, Vec::len);
    let reader = GroupReader::open(stream).unwrap();
    assert_eq!((reader.rows(), reader.columns()), (rows, kinds.len()));
    // The directory alone, from just its bytes, says the same.
    let dir_len = directory_len(&stream[..HEADER_LEN]).unwrap();
    assert_eq!(&Directory::parse(&stream[..dir_len]).unwrap(), reader.directory());
    let vectors = rows.div_ceil(VECTOR_SIZE);
    for (c, (kind, values)) in kinds.iter().zip(columns).enumerate() {
        let meta = reader.column(c);
        assert_eq!(meta.kind, *kind);
        assert_eq!(meta.nulls, values.iter().filter(|v| **v == Owned::Null).count());
        assert_eq!(meta.zone, true_zone(values));
        assert_eq!(meta.vectors.len(), vectors);
        for v in 0..vectors {
            let expected = &values[v * VECTOR_SIZE..((v + 1) * VECTOR_SIZE).min(rows)];
            let vmeta = &meta.vectors[v];
            assert_eq!(vmeta.rows, expected.len());
            assert_eq!(vmeta.nulls, expected.iter().filter(|v| **v == Owned::Null).count());
            assert_eq!(vmeta.zone, true_zone(expected));
            // The vector's bytes, gathered from the pages the range touches.
            let range = reader.vector_range(c, v);
            let mut gathered = Vec::new();
            for (page, within) in StreamPages::new(range.clone()) {
                gathered.extend_from_slice(&page_slice(stream, page)[within]);
            }
            assert_eq!(gathered, &stream[range]);
            let decoded: Vec<Owned> = match kind {
                ColumnKind::Int => {
                    let vector = reader.decode_int_vector(c, v).unwrap();
                    assert_eq!(reader.directory().decode_int_vector(c, v, &gathered).unwrap(), vector);
                    (0..vector.values.len())
                        .map(|i| match &vector.validity {
                            Some(bitmap) if !is_valid(bitmap, i) => Owned::Null,
                            _ => Owned::Int(vector.values[i]),
                        })
                        .collect()
                }
                ColumnKind::Bytes => {
                    let vector = reader.decode_bytes_vector(c, v).unwrap();
                    (0..vector.rows())
                        .map(|i| vector.value(i).map_or(Owned::Null, |b| Owned::Bytes(b.to_vec())))
                        .collect()
                }
                ColumnKind::Numeric => {
                    let vector = reader.decode_numeric_vector(c, v).unwrap();
                    let vector = vector.to_varlena();
                    (0..vector.rows())
                        .map(|i| vector.value(i).map_or(Owned::Null, |b| Owned::Bytes(b.to_vec())))
                        .collect()
                }
            };
            assert_eq!(decoded, expected);
        }
        for (row, value) in values.iter().enumerate() {
            assert_eq!(reader.value(c, row).unwrap().as_value(), value.as_value(), "column {c} row {row}");
        }
        assert!(reader.value(c, rows).is_err());
    }
    assert!(reader.value(kinds.len(), 0).is_err());
}

fn ints(values: impl IntoIterator<Item = Option<i64>>) -> Vec<Owned> {
    values.into_iter().map(|v| v.map_or(Owned::Null, Owned::Int)).collect()
}

fn texts(values: impl IntoIterator<Item = Option<Vec<u8>>>) -> Vec<Owned> {
    values.into_iter().map(|v| v.map_or(Owned::Null, Owned::Bytes)).collect()
}

fn round_trip(kinds: &[ColumnKind], columns: &[Vec<Owned>]) -> Vec<u8> {
    let stream = build(kinds, columns);
    check(&stream, kinds, columns);
    // Encoding on a thread changes nothing in the stream.
    assert_eq!(fill(GroupBuilder::with_encoder_thread(kinds.to_vec()), columns), stream);
    stream
}

#[test]
fn concat_refuses_a_partial_first_vector_or_other_columns() {
    let a = build(&[ColumnKind::Int], &[ints((0..10).map(Some))]);
    let b = build(&[ColumnKind::Int], &[ints((0..10).map(Some))]);
    assert_eq!(concat(&a, &b), Ok(None), "10 rows end in the middle of a vector");
    let whole = build(&[ColumnKind::Int], &[ints((0..VECTOR_SIZE as i64).map(Some))]);
    let other = build(&[ColumnKind::Bytes], &[texts((0..10).map(|i| Some(vec![i as u8])))]);
    assert_eq!(concat(&whole, &other), Ok(None), "other column kinds");
    assert!(concat(&whole, &b[..b.len() - 1]).is_err(), "a damaged stream is an error");
}

#[test]
fn a_builder_dropped_unfinished_stops_its_thread() {
    let mut builder = GroupBuilder::with_encoder_thread(vec![ColumnKind::Int, ColumnKind::Bytes]);
    for i in 0..(VECTOR_SIZE * 5 + 7) as i64 {
        builder.push_row(&[Value::Int(i), Value::Bytes(b"abc")]).unwrap();
    }
    drop(builder);
}

#[test]
fn zero_rows_is_a_valid_empty_group() {
    let kinds = [ColumnKind::Int, ColumnKind::Bytes];
    let stream = round_trip(&kinds, &[vec![], vec![]]);
    let reader = GroupReader::open(&stream).unwrap();
    assert_eq!(reader.directory().vectors(), 0);
    assert_eq!(reader.directory().directory_len(), stream.len());
    for c in 0..2 {
        let meta = reader.column(c);
        assert_eq!((meta.nulls, &meta.zone, meta.chunk.len()), (0, &None, 0));
    }
    assert!(reader.decode_int_vector(0, 0).is_err());
}

#[test]
fn zero_columns() {
    let mut builder = GroupBuilder::new(vec![]);
    for _ in 0..3000 {
        builder.push_row(&[]).unwrap();
    }
    let stream = builder.finish();
    let reader = GroupReader::open(&stream).unwrap();
    assert_eq!((reader.rows(), reader.columns()), (3000, 0));
}

#[test]
fn one_row() {
    let kinds = [ColumnKind::Int, ColumnKind::Bytes, ColumnKind::Int];
    round_trip(&kinds, &[ints([Some(42)]), texts([Some(b"x".to_vec())]), ints([None])]);
}

#[test]
fn vector_boundaries() {
    for rows in [VECTOR_SIZE - 1, VECTOR_SIZE, VECTOR_SIZE + 1, 3 * VECTOR_SIZE] {
        let kinds = [ColumnKind::Int, ColumnKind::Bytes];
        let columns = [
            ints((0..rows).map(|i| (i % 7 != 0).then_some(i as i64 * 3))),
            texts((0..rows).map(|i| Some(format!("v{}", i % 100).into_bytes()))),
        ];
        let stream = round_trip(&kinds, &columns);
        let reader = GroupReader::open(&stream).unwrap();
        assert_eq!(reader.directory().vectors(), rows.div_ceil(VECTOR_SIZE));
        let last = reader.column(0).vectors.last().unwrap();
        assert_eq!(last.rows, rows - (rows - 1) / VECTOR_SIZE * VECTOR_SIZE);
    }
}

#[test]
fn all_null_columns_have_no_zone() {
    let rows = VECTOR_SIZE + 5;
    let kinds = [ColumnKind::Int, ColumnKind::Bytes];
    let stream = round_trip(&kinds, &[ints((0..rows).map(|_| None)), texts((0..rows).map(|_| None))]);
    let reader = GroupReader::open(&stream).unwrap();
    for c in 0..2 {
        assert_eq!((reader.column(c).nulls, &reader.column(c).zone), (rows, &None));
        assert!(reader.column(c).vectors.iter().all(|v| v.zone.is_none() && v.nulls == v.rows));
    }
}

#[test]
fn i64_extremes() {
    let values = [i64::MIN, i64::MAX, 0, -1, 1, i64::MIN + 1, i64::MAX - 1];
    let column = ints((0..3000).map(|i| Some(values[i % values.len()])));
    let stream = round_trip(&[ColumnKind::Int], &[column]);
    let reader = GroupReader::open(&stream).unwrap();
    assert_eq!(reader.column(0).zone, Some(Zone::Int { min: i64::MIN, max: i64::MAX }));
    let constant = round_trip(&[ColumnKind::Int], &[ints([Some(i64::MIN); 10])]);
    let reader = GroupReader::open(&constant).unwrap();
    assert_eq!(reader.column(0).zone, Some(Zone::Int { min: i64::MIN, max: i64::MIN }));
}

#[test]
fn empty_strings_are_not_nulls() {
    let column = texts([Some(vec![]), None, Some(b"a".to_vec()), Some(vec![])]);
    let stream = round_trip(&[ColumnKind::Bytes], &[column]);
    let reader = GroupReader::open(&stream).unwrap();
    let empty = BytesBound { prefix: vec![], truncated: false };
    let a = BytesBound { prefix: b"a".to_vec(), truncated: false };
    assert_eq!(reader.column(0).zone, Some(Zone::Bytes { min: empty, max: a }));
    assert_eq!(reader.column(0).nulls, 1);
}

#[test]
fn long_strings_truncate_zone_maps() {
    let long_a = b"aaaaaaaaaaaaaaaaaaaaaaaa".to_vec(); // 24 bytes
    let short_a = b"aaaaaaaaaaaaaaaa".to_vec(); // exactly 16: not truncated
    let long_z = b"zzzzzzzzzzzzzzzzzz-and-more".to_vec();
    let mut column = texts([Some(long_a.clone()), Some(long_z.clone())]);
    column.extend(texts((0..VECTOR_SIZE).map(|_| Some(b"m".to_vec()))));
    column.extend(texts([Some(short_a.clone())]));
    let stream = round_trip(&[ColumnKind::Bytes], &[column]);
    let reader = GroupReader::open(&stream).unwrap();
    let meta = reader.column(0);
    // Vector 0: the smallest is 24 bytes of 'a', kept as a truncated 16-byte prefix.
    assert_eq!(
        meta.vectors[0].zone,
        Some(Zone::Bytes { min: BytesBound::of(&long_a), max: BytesBound::of(&long_z) })
    );
    assert!(BytesBound::of(&long_a).truncated && BytesBound::of(&long_a).prefix == short_a);
    // Column: 16 'a's is smaller than 24, with the same prefix: untruncated wins the min.
    let min = BytesBound { prefix: short_a.clone(), truncated: false };
    let max = BytesBound { prefix: long_z[..ZONE_PREFIX_LEN].to_vec(), truncated: true };
    assert_eq!(meta.zone, Some(Zone::Bytes { min, max }));
}

#[test]
fn push_row_checks_arity_kind_and_capacity() {
    let mut builder = GroupBuilder::new(vec![ColumnKind::Int, ColumnKind::Bytes]);
    assert!(builder.push_row(&[Value::Int(1)]).is_err());
    assert!(builder.push_row(&[Value::Bytes(b"x"), Value::Bytes(b"x")]).is_err());
    assert!(builder.push_row(&[Value::Int(1), Value::Int(2)]).is_err());
    assert_eq!(builder.rows(), 0);
    builder.push_row(&[Value::Null, Value::Null]).unwrap();
    let mut full = GroupBuilder::new(vec![ColumnKind::Int]);
    for i in 0..MAX_ROWS {
        full.push_row(&[Value::Int(i as i64)]).unwrap();
    }
    assert!(full.is_full());
    assert!(full.push_row(&[Value::Int(0)]).is_err());
    let stream = full.finish();
    let reader = GroupReader::open(&stream).unwrap();
    assert_eq!((reader.rows(), reader.directory().vectors()), (MAX_ROWS, MAX_VECTORS));
    assert_eq!(reader.value(0, MAX_ROWS - 1).unwrap(), CellValue::Int(MAX_ROWS as i64 - 1));
    // Sequential integers: delta-encoded, a few bytes per vector.
    assert!(stream.len() < 16 * 1024, "{} bytes", stream.len());
}

#[test]
fn wrong_kind_and_bad_indexes_are_errors() {
    let stream =
        build(&[ColumnKind::Int, ColumnKind::Bytes], &[ints([Some(1)]), texts([Some(b"a".to_vec())])]);
    let reader = GroupReader::open(&stream).unwrap();
    assert!(reader.decode_bytes_vector(0, 0).is_err());
    assert!(reader.decode_int_vector(1, 0).is_err());
    assert!(reader.decode_int_vector(0, 1).is_err());
    assert!(reader.decode_int_vector(2, 0).is_err());
}

#[test]
fn stream_must_end_where_the_chunks_end() {
    let stream = build(&[ColumnKind::Int], &[ints((0..10).map(Some))]);
    assert!(GroupReader::open(&stream[..stream.len() - 1]).is_err());
    let mut longer = stream.clone();
    longer.push(0);
    assert!(GroupReader::open(&longer).is_err());
    let mut version = stream.clone();
    version[2] = FORMAT_VERSION + 1;
    assert!(directory_len(&version).unwrap_err().message().contains("format version"));
    assert!(directory_len(&stream[..HEADER_LEN - 1]).is_err());
    let dir_len = directory_len(&stream).unwrap();
    assert!(Directory::parse(&stream[..dir_len - 1]).is_err());
}

#[test]
fn page_helpers() {
    assert_eq!([0, 1, CONTENT_SIZE, CONTENT_SIZE + 1].map(pages_for), [0, 1, 1, 2]);
    let stream: Vec<u8> = (0..2 * CONTENT_SIZE + 10).map(|i| i as u8).collect();
    assert_eq!(pages_for(stream.len()), 3);
    assert_eq!(page_slice(&stream, 0), &stream[..CONTENT_SIZE]);
    assert_eq!(page_slice(&stream, 2), &stream[2 * CONTENT_SIZE..]);
    assert!(page_slice(&stream, 3).is_empty() && page_slice(&stream, usize::MAX).is_empty());
    let parts: Vec<_> = StreamPages::new(CONTENT_SIZE - 2..2 * CONTENT_SIZE + 1).collect();
    assert_eq!(parts, [(0, CONTENT_SIZE - 2..CONTENT_SIZE), (1, 0..CONTENT_SIZE), (2, 0..1)]);
    assert_eq!(StreamPages::new(CONTENT_SIZE - 2..2 * CONTENT_SIZE + 1).pages(), 0..3);
    assert_eq!(StreamPages::new(CONTENT_SIZE..2 * CONTENT_SIZE).pages(), 1..2);
    assert_eq!(StreamPages::new(5..5).count(), 0);
    assert_eq!(StreamPages::new(5..5).pages(), 0..0);
}

#[test]
fn present_set_rank_select_and_serialization() {
    let dense = PresentSet::dense(MAX_ROWS as u32).unwrap();
    assert_eq!(dense.len(), MAX_ROWS);
    // One run per 65,536 rows: a few bytes each.
    assert!(dense.serialize().len() < 256, "{} bytes", dense.serialize().len());
    assert_eq!(PresentSet::deserialize(&dense.serialize()).unwrap().len(), MAX_ROWS);
    assert!(PresentSet::dense(MAX_ROWS as u32 + 1).is_err());

    let offsets = [3u32, 7, 8, 9, 100, 70_000, 5];
    let set = PresentSet::from_offsets(offsets).unwrap();
    assert_eq!(set.positions_in(6..101).collect::<Vec<_>>(), [(7, 2), (8, 3), (9, 4), (100, 5)]);
    assert_eq!(set.positions_in(0..4).collect::<Vec<_>>(), [(3, 0)]);
    assert_eq!(set.positions_in(101..70_000).count(), 0);
    assert_eq!(set.len(), 7);
    assert_eq!(set.iter().collect::<Vec<_>>(), [3, 5, 7, 8, 9, 100, 70_000]);
    assert_eq!(set.position_of(3), Some(0));
    assert_eq!(set.position_of(70_000), Some(6));
    assert_eq!(set.position_of(4), None);
    assert_eq!(set.offset_at(2), Some(7));
    assert_eq!(set.offset_at(7), None);
    assert_eq!(set.max_offset(), Some(70_000));
    let back = PresentSet::deserialize(&set.serialize()).unwrap();
    assert_eq!(back.iter().collect::<Vec<_>>(), set.iter().collect::<Vec<_>>());

    assert!(PresentSet::from_offsets(0..MAX_ROWS as u32 + 1).is_err());
    assert_eq!(PresentSet::from_offsets((0..MAX_ROWS as u32).chain(0..10)).unwrap().len(), MAX_ROWS);
    // A valid bitmap of too many rows, and one with trailing bytes.
    let mut too_many = roaring::RoaringBitmap::new();
    too_many.insert_range(0..MAX_ROWS as u32 + 1);
    let mut bytes = Vec::new();
    too_many.serialize_into(&mut bytes).unwrap();
    assert!(PresentSet::deserialize(&bytes).is_err());
    let mut trailing = set.serialize();
    trailing.push(0);
    assert!(PresentSet::deserialize(&trailing).is_err());
    assert!(PresentSet::deserialize(&[]).is_err());
    let empty = PresentSet::from_offsets([]).unwrap();
    assert!(PresentSet::deserialize(&empty.serialize()).unwrap().is_empty());
}

/// xorshift64*: the proptests draw a seed and a shape, and this draws the values, which keeps
/// thousands of rows cheap to generate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A column's shape: kind, NULL rate in percent, value distribution.
#[derive(Clone, Copy, Debug)]
struct Shape {
    kind: ColumnKind,
    null_percent: u64,
    distribution: u8,
}

fn shape() -> impl Strategy<Value = Shape> {
    (
        prop_oneof![Just(ColumnKind::Int), Just(ColumnKind::Bytes), Just(ColumnKind::Numeric)],
        prop_oneof![Just(0u64), Just(10), Just(50), Just(100)],
        0u8..4,
    )
        .prop_map(|(kind, null_percent, distribution)| Shape { kind, null_percent, distribution })
}

fn generate(seed: u64, rows: usize, shapes: &[Shape]) -> (Vec<ColumnKind>, Vec<Vec<Owned>>) {
    let mut rng = Rng(seed | 1);
    let columns = shapes
        .iter()
        .map(|shape| {
            (0..rows)
                .map(|row| {
                    if rng.below(100) < shape.null_percent {
                        return Owned::Null;
                    }
                    match (shape.kind, shape.distribution) {
                        (ColumnKind::Int, 0) => Owned::Int(row as i64 * 5 - 1000),
                        (ColumnKind::Int, 1) => Owned::Int(rng.below(100) as i64),
                        (ColumnKind::Int, 2) => Owned::Int(rng.next() as i64),
                        (ColumnKind::Int, _) => Owned::Int([i64::MIN, i64::MAX, 0][rng.below(3) as usize]),
                        (ColumnKind::Bytes, 0) => Owned::Bytes(format!("k{}", rng.below(5)).into_bytes()),
                        (ColumnKind::Bytes, 1) => {
                            let len = rng.below(40);
                            Owned::Bytes((0..len).map(|_| b'a' + rng.below(3) as u8).collect())
                        }
                        (ColumnKind::Bytes, 2) => {
                            Owned::Bytes((0..rng.below(8)).map(|_| rng.next() as u8).collect())
                        }
                        (ColumnKind::Bytes, _) => {
                            Owned::Bytes(format!("a-long-shared-prefix-{row:06}").into_bytes())
                        }
                        // Numerics of one scale (stored scaled), of a few scales, or one
                        // special value among them (stored as bytes).
                        (ColumnKind::Numeric, d) => {
                            let scale = if d == 1 { rng.below(3) as u16 } else { 2 };
                            if d == 2 && rng.below(50) == 0 {
                                Owned::Bytes(vec![(3 << 1) | 1, 0x00, 0xC0])
                            } else {
                                let mut out = Vec::new();
                                crate::numeric::write_short(&mut out, rng.next() as i64 >> rng.below(64), scale).unwrap();
                                Owned::Bytes(out)
                            }
                        }
                    }
                })
                .collect()
        })
        .collect();
    (shapes.iter().map(|s| s.kind).collect(), columns)
}

/// Runs every reader on `stream`; a panic fails the test. When the stream opens, decoding and
/// single values must agree.
fn read_everything(stream: &[u8]) {
    let _ = directory_len(stream);
    let _ = Directory::parse(stream);
    let Ok(reader) = GroupReader::open(stream) else { return };
    for c in 0..reader.columns() {
        let meta = reader.column(c);
        for v in 0..meta.vectors.len() {
            let _ = reader.vector_range(c, v);
            let _ = reader.decode_int_vector(c, v);
            let _ = reader.decode_bytes_vector(c, v);
            let _ = reader.decode_numeric_vector(c, v);
        }
        for row in [0, 1, 2047, 2048, 2049, reader.rows().saturating_sub(1), reader.rows(), usize::MAX] {
            let _ = reader.value(c, row);
        }
    }
}

fn small_stream(seed: u64, rows: usize, shapes: &[Shape]) -> Vec<u8> {
    let (kinds, columns) = generate(seed, rows, shapes);
    build(&kinds, &columns)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    #[test]
    fn round_trips(seed: u64, rows in prop_oneof![0usize..10, 0usize..5000], shapes in prop::collection::vec(shape(), 0..5)) {
        let (kinds, columns) = generate(seed, rows, &shapes);
        round_trip(&kinds, &columns);
    }

    #[test]
    fn concat_is_building_the_rows_of_both(seed: u64, vectors_a in 0usize..3, rows_b in prop_oneof![0usize..10, 0usize..5000], shapes in prop::collection::vec(shape(), 0..5)) {
        let rows_a = vectors_a * VECTOR_SIZE;
        let (kinds, columns) = generate(seed, rows_a + rows_b, &shapes);
        let (a, b): (Vec<Vec<Owned>>, Vec<Vec<Owned>>) = columns.iter().map(|c| (c[..rows_a].to_vec(), c[rows_a..].to_vec())).unzip();
        let both = concat(&build(&kinds, &a), &build(&kinds, &b)).unwrap().expect("a fills whole vectors");
        prop_assert_eq!(both, build(&kinds, &columns));
    }

    #[test]
    fn random_bytes_never_panic(mut bytes in prop::collection::vec(any::<u8>(), 0..300), header: bool) {
        if header && bytes.len() >= HEADER_LEN {
            // Past the magic and version, so the directory parser sees the bytes.
            bytes[..3].copy_from_slice(&[MAGIC[0], MAGIC[1], FORMAT_VERSION]);
            let len = (bytes[3] as usize % bytes.len()).max(HEADER_LEN) as u32;
            bytes[3..7].copy_from_slice(&len.to_le_bytes());
        }
        read_everything(&bytes);
        let _ = PresentSet::deserialize(&bytes);
    }

    #[test]
    fn mutated_streams_never_panic(
        seed: u64,
        rows in 0usize..2200,
        shapes in prop::collection::vec(shape(), 1..3),
        edits in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
        cut in any::<prop::sample::Index>(),
    ) {
        let stream = small_stream(seed, rows, &shapes);
        let mut mutated = stream.clone();
        for (at, byte) in &edits {
            let i = at.index(mutated.len());
            mutated[i] = *byte;
        }
        read_everything(&mutated);
        // Mutations within the directory only.
        let dir_len = directory_len(&stream).unwrap();
        let mut in_directory = stream.clone();
        for (at, byte) in &edits {
            in_directory[at.index(dir_len)] ^= byte | 1;
        }
        read_everything(&in_directory);
        read_everything(&stream[..cut.index(stream.len() + 1)]);
    }

    #[test]
    fn present_sets_round_trip_and_survive_mutation(
        offsets in prop::collection::vec(0u32..300_000, 0..3000),
        runs in prop::collection::vec((0u32..200_000, 0u32..5000), 0..4),
        edit in (any::<prop::sample::Index>(), any::<u8>()),
        cut in any::<prop::sample::Index>(),
    ) {
        let all: Vec<u32> = offsets.iter().copied().chain(runs.iter().flat_map(|&(s, n)| s..s + n)).collect();
        let set = PresentSet::from_offsets(all.iter().copied()).unwrap();
        let mut sorted = all.clone();
        sorted.sort_unstable();
        sorted.dedup();
        prop_assert_eq!(set.len(), sorted.len());
        for (position, &offset) in sorted.iter().enumerate() {
            prop_assert_eq!(set.position_of(offset), Some(position as u32));
            prop_assert_eq!(set.offset_at(position as u32), Some(offset));
        }
        let bytes = set.serialize();
        let back = PresentSet::deserialize(&bytes).unwrap();
        prop_assert_eq!(back.iter().collect::<Vec<_>>(), sorted);
        let mut mutated = bytes.clone();
        if !mutated.is_empty() {
            let i = edit.0.index(mutated.len());
            mutated[i] = edit.1;
        }
        if let Ok(set) = PresentSet::deserialize(&mutated) {
            prop_assert!(set.len() <= MAX_ROWS);
            let _ = (set.position_of(7), set.offset_at(3));
        }
        let _ = PresentSet::deserialize(&bytes[..cut.index(bytes.len() + 1)]);
    }
}
