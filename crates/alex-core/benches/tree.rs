//! Criterion benchmarks of whole-tree lookups (root to data page, then the page's search) in an
//! in-memory index built by a bulk load, per key distribution, against std's BTreeMap; and of the
//! bulk load itself.
//! Run with `cargo bench -p alex-core --bench tree`.

mod common;

use alex_core::entry::{Entry, pack_tid};
use alex_core::policy::DENSITY_DEFAULT;
use alex_core::tree::{MemTree, lookup};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;

const KEYS: usize = 1_000_000;

/// `KEYS` sorted distinct codes of one distribution (xorshift: deterministic, dependency-free).
fn keys(dist: &str) -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut v: Vec<u64> = match dist {
        "uniform" => (0..KEYS).map(|_| next()).collect(),
        "sequential" => (0..KEYS as u64).map(|i| 1_000_000 + i).collect(),
        "clustered" => (0..KEYS).map(|_| ((next() % 64) << 40) | (next() % 1_000_000)).collect(),
        _ => unreachable!(),
    };
    v.sort_unstable();
    v.dedup();
    v
}

fn bench(c: &mut Criterion) {
    for dist in ["uniform", "sequential", "clustered"] {
        let codes = keys(dist);
        let entries = codes.iter().enumerate().map(|(i, &c)| Entry::new(c, pack_tid(i as u32 / 100, 1 + (i % 100) as u16)));
        let tree = MemTree::bulk_load(entries, DENSITY_DEFAULT, usize::MAX);
        let meta = tree.meta();
        let map: BTreeMap<u64, usize> = codes.iter().enumerate().map(|(i, &c)| (c, i)).collect();
        let mut x = 42u64;
        let probes: Vec<u64> = (0..1024)
            .map(|_| {
                x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
                codes[(x >> 33) as usize % codes.len()]
            })
            .collect();
        let mut g = c.benchmark_group(format!("tree_lookup/{dist}"));
        g.bench_function(BenchmarkId::new("alex_tree", codes.len()), |b| {
            b.iter(|| probes.iter().map(|&k| lookup(&tree, &meta, Entry::first_of(k), common::CpuPrefetch).slot).sum::<usize>())
        });
        g.bench_function(BenchmarkId::new("btreemap", codes.len()), |b| b.iter(|| probes.iter().filter_map(|k| map.get(k)).sum::<usize>()));
        g.finish();

        // CREATE INDEX's writer without the buffers: cutting the sorted entries into pages and
        // laying them out (the part a parallel build leaves to the leader).
        let mut g = c.benchmark_group(format!("bulk_load/{dist}"));
        g.sample_size(10);
        let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, &c)| Entry::new(c, pack_tid(i as u32 / 100, 1 + (i % 100) as u16))).collect();
        g.bench_function(BenchmarkId::new("alex_tree", codes.len()), |b| {
            b.iter(|| MemTree::bulk_load(entries.iter().copied(), DENSITY_DEFAULT, usize::MAX).meta())
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
