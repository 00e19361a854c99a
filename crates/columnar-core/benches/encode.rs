//! Criterion benchmarks of the vector encodings: encode, decode and single-value reads of one
//! full vector (2048 values), per distribution. Throughput is in values (elements) per second;
//! `value_at` reads one value (row 1500) straight from the encoded vector.
//! Run with `cargo bench -p columnar-core --bench encode -j1 -- --quick`.

use columnar_core::encode::{
    VECTOR_SIZE, decode_ints, decode_varlena, encode_ints, encode_varlena, encoding_of, int_value_at,
    varlena_value_at,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

mod common;
use common::Rng;

fn ints(distribution: &str) -> Vec<i64> {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    match distribution {
        "sequential" => (0..VECTOR_SIZE as i64).map(|i| 1_000_000 + i).collect(),
        "random_0_1000" => (0..VECTOR_SIZE).map(|_| (rng.next() % 1000) as i64).collect(),
        "random_full" => (0..VECTOR_SIZE).map(|_| rng.next() as i64).collect(),
        "runs_of_100" => (0..VECTOR_SIZE).map(|i| (i / 100) as i64 * 7).collect(),
        _ => unreachable!(),
    }
}

fn strings(distribution: &str) -> Vec<Vec<u8>> {
    let mut rng = Rng(0x2545_F491_4F6C_DD1D);
    match distribution {
        "low_cardinality" => {
            let words = ["AIR", "FOB", "MAIL", "RAIL", "REG AIR", "SHIP", "TRUCK"];
            (0..VECTOR_SIZE).map(|_| words[(rng.next() % 7) as usize].as_bytes().to_vec()).collect()
        }
        "random" => (0..VECTOR_SIZE)
            .map(|_| {
                let len = 5 + rng.next() % 20;
                (0..len).map(|_| b'a' + (rng.next() % 26) as u8).collect()
            })
            .collect(),
        "customer_names" => {
            (0..VECTOR_SIZE).map(|i| format!("Customer#{:09}", 100_000 + i * 3).into_bytes()).collect()
        }
        _ => unreachable!(),
    }
}

fn bench(c: &mut Criterion) {
    for distribution in ["sequential", "random_0_1000", "random_full", "runs_of_100"] {
        let values = ints(distribution);
        let encoded = encode_ints(&values, None);
        eprintln!(
            "ints/{distribution}: encoding {:#x}, {} bytes ({:.2} bits/value)",
            encoding_of(&encoded).unwrap(),
            encoded.len(),
            encoded.len() as f64 * 8.0 / VECTOR_SIZE as f64
        );
        let mut group = c.benchmark_group(format!("ints/{distribution}"));
        group.throughput(Throughput::Elements(VECTOR_SIZE as u64));
        group.bench_function("encode", |b| b.iter(|| encode_ints(black_box(&values), None)));
        group.bench_function("decode", |b| b.iter(|| decode_ints(black_box(&encoded)).unwrap()));
        group.throughput(Throughput::Elements(1));
        group.bench_function("value_at", |b| {
            b.iter(|| int_value_at(black_box(&encoded), black_box(1500)).unwrap())
        });
        group.finish();
    }
    for distribution in ["low_cardinality", "random", "customer_names"] {
        let owned = strings(distribution);
        let values: Vec<&[u8]> = owned.iter().map(Vec::as_slice).collect();
        let raw: usize = values.iter().map(|v| v.len()).sum();
        let encoded = encode_varlena(&values, None);
        eprintln!(
            "strings/{distribution}: encoding {:#x}, {} bytes of {raw} raw",
            encoding_of(&encoded).unwrap(),
            encoded.len()
        );
        let mut group = c.benchmark_group(format!("strings/{distribution}"));
        group.throughput(Throughput::Elements(VECTOR_SIZE as u64));
        group.bench_function("encode", |b| b.iter(|| encode_varlena(black_box(&values), None)));
        group.bench_function("decode", |b| b.iter(|| decode_varlena(black_box(&encoded)).unwrap()));
        group.throughput(Throughput::Elements(1));
        group.bench_function("value_at", |b| {
            b.iter(|| varlena_value_at(black_box(&encoded), black_box(1500)).unwrap().map(|v| v.len()))
        });
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
