//! Criterion benchmarks of a full row group (122,880 rows) of 4 columns: sequential ints, random
//! ints in 0..1000, short low-cardinality strings, random strings of 5 to 24 letters. `build`
//! pushes every row and encodes the stream; `decode` opens it and decodes every vector of every
//! column; `open` parses the directory; `value` reads one value of each column. Throughput of
//! build and decode is over the raw size: 8 bytes per int plus the strings' bytes.
//! Run with `cargo bench -p columnar-core --bench rowgroup -j1 -- --quick`.

use columnar_core::rowgroup::{CellValue, ColumnKind, GroupBuilder, GroupReader, Value, pages_for};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

mod common;
use common::Rng;

/// Rows of the measured group: DuckDB's row-group size, as in earlier results (a folded
/// segment may hold up to rowgroup::ROWS).
const ROWS: usize = 122_880;

struct Rows {
    sequential: Vec<i64>,
    small_range: Vec<i64>,
    low_cardinality: Vec<&'static [u8]>,
    random: Vec<Vec<u8>>,
}

impl Rows {
    fn generate() -> Rows {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
        let words: [&[u8]; 7] = [b"AIR", b"FOB", b"MAIL", b"RAIL", b"REG AIR", b"SHIP", b"TRUCK"];
        Rows {
            sequential: (0..ROWS as i64).map(|i| 1_000_000 + i).collect(),
            small_range: (0..ROWS).map(|_| (rng.next() % 1000) as i64).collect(),
            low_cardinality: (0..ROWS).map(|_| words[(rng.next() % 7) as usize]).collect(),
            random: (0..ROWS)
                .map(|_| {
                    let len = 5 + rng.next() % 20;
                    (0..len).map(|_| b'a' + (rng.next() % 26) as u8).collect()
                })
                .collect(),
        }
    }

    fn raw_size(&self) -> usize {
        16 * ROWS
            + self.low_cardinality.iter().map(|v| v.len()).sum::<usize>()
            + self.random.iter().map(Vec::len).sum::<usize>()
    }

    fn build(&self) -> Vec<u8> {
        let kinds = vec![ColumnKind::Int, ColumnKind::Int, ColumnKind::Bytes, ColumnKind::Bytes];
        let mut builder = GroupBuilder::new(kinds);
        for row in 0..ROWS {
            let values = [
                Value::Int(self.sequential[row]),
                Value::Int(self.small_range[row]),
                Value::Bytes(self.low_cardinality[row]),
                Value::Bytes(&self.random[row]),
            ];
            builder.push_row(&values).unwrap();
        }
        builder.finish()
    }
}

/// Decodes every vector of every column; returns a checksum so nothing is optimized away.
fn decode_all(stream: &[u8]) -> usize {
    let reader = GroupReader::open(stream).unwrap();
    let mut sum = 0;
    for c in 0..reader.columns() {
        for v in 0..reader.directory().vectors() {
            sum += match reader.column(c).kind {
                ColumnKind::Int => reader.decode_int_vector(c, v).unwrap().values.len(),
                ColumnKind::Bytes => reader.decode_bytes_vector(c, v).unwrap().bytes.len(),
            };
        }
    }
    sum
}

fn bench(c: &mut Criterion) {
    let rows = Rows::generate();
    let raw = rows.raw_size();
    let stream = rows.build();
    let reader = GroupReader::open(&stream).unwrap();
    eprintln!(
        "rowgroup: {ROWS} rows, raw {raw} bytes, stream {} bytes ({:.1}% of raw, {} data pages), \
         directory {} bytes",
        stream.len(),
        stream.len() as f64 * 100.0 / raw as f64,
        pages_for(stream.len()),
        reader.directory().directory_len()
    );
    for (c, name) in
        ["int sequential", "int 0..1000", "low-cardinality strings", "random strings"].iter().enumerate()
    {
        eprintln!("  column {c} ({name}): chunk {} bytes", reader.column(c).chunk.len());
    }
    let mut group = c.benchmark_group("rowgroup");
    group.throughput(Throughput::Bytes(raw as u64));
    group.sample_size(10);
    group.bench_function("build", |b| b.iter(|| black_box(&rows).build()));
    group.bench_function("decode", |b| b.iter(|| decode_all(black_box(&stream))));
    group.throughput(Throughput::Elements(1));
    group.bench_function("open", |b| b.iter(|| GroupReader::open(black_box(&stream)).unwrap().rows()));
    group.throughput(Throughput::Elements(4));
    group.bench_function("value", |b| {
        b.iter(|| (0..4).filter(|&c| reader.value(c, black_box(100_000)).unwrap() != CellValue::Null).count())
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
