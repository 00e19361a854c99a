//! Criterion benchmarks of alex's on-page structures against the plain alternatives, per key
//! distribution: lookups (`seek` in a data page vs binary search over a sorted array vs std's
//! BTreeMap) and inserts (gapped-array insert vs sorted-array insert vs BTreeMap insert).
//! Run with `cargo bench -p alex-core`.

mod common;

use alex_core::data::{self, DataPage, DataPageMut, Encoding, InsertError};
use alex_core::entry::{Entry, pack_tid};
use alex_core::page::{CONTENT_SIZE, node::Header};
use criterion::{BatchSize, BenchmarkId, Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::hint::black_box;

struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        // xorshift64*: deterministic, dependency-free.
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Sorted distinct codes of one distribution.
fn keys(dist: &str, n: usize) -> Vec<u64> {
    let mut r = Rng(0x9E37_79B9_7F4A_7C15);
    let mut v: Vec<u64> = match dist {
        "uniform" => (0..n).map(|_| r.next()).collect(),
        "sequential" => (0..n as u64).map(|i| 1_000_000 + i).collect(),
        "lognormal" => (0..n)
            .map(|_| {
                // exp of a sum of uniforms (roughly normal), scaled.
                let s: f64 = (0..4).map(|_| (r.next() >> 11) as f64 / (1u64 << 53) as f64).sum::<f64>() - 2.0;
                ((s * 2.0).exp() * 1e6) as u64
            })
            .collect(),
        "clustered" => (0..n).map(|_| (r.next() % 8) * (1 << 40) + r.next() % 100_000).collect(),
        _ => unreachable!(),
    };
    v.sort_unstable();
    v.dedup();
    v
}

fn header() -> Header {
    Header::new(0, Entry::MIN, None)
}

/// A data page holding every other key of `all` at the build density (0.8); returns the page,
/// the keys in it and keys absent from it (for inserts).
fn page_for(all: &[u64]) -> (Vec<u8>, Vec<u64>, Vec<u64>) {
    let present: Vec<u64> = all.iter().step_by(2).copied().collect();
    let absent: Vec<u64> = all.iter().skip(1).step_by(2).copied().collect();
    let entries: Vec<Entry> = present.iter().enumerate().map(|(i, c)| Entry::new(*c, pack_tid(i as u32 / 100, (i % 100) as u16 + 1))).collect();
    let enc = Encoding::for_entries(&entries, Entry::MIN, None);
    let n = data::entries_at_density(&enc, 0.8).min(entries.len());
    let entries = &entries[..n];
    let enc = Encoding::for_entries(entries, Entry::MIN, None);
    let mut b = vec![0u8; CONTENT_SIZE];
    data::layout(&mut b, entries, enc, header());
    let last = entries.last().unwrap().code;
    let present = present[..n].to_vec();
    let absent = absent.into_iter().filter(|c| *c < last).collect();
    (b, present, absent)
}

fn bench(c: &mut Criterion) {
    for dist in ["uniform", "sequential", "lognormal", "clustered"] {
        let all = keys(dist, 4000);
        let (page, present, absent) = page_for(&all);
        let mut r = Rng(42);
        let probes: Vec<u64> = (0..1024).map(|_| present[(r.next() % present.len() as u64) as usize]).collect();
        let sorted = present.clone();
        let tree: BTreeMap<u64, u64> = present.iter().map(|k| (*k, 0)).collect();

        let mut g = c.benchmark_group(format!("lookup/{dist}"));
        g.bench_function(BenchmarkId::new("alex_page", present.len()), |b| {
            let p = DataPage::new(&page).with_prefetch(common::CpuPrefetch);
            b.iter(|| probes.iter().map(|k| p.seek(Entry::first_of(*k))).sum::<usize>())
        });
        g.bench_function(BenchmarkId::new("binary_search", present.len()), |b| {
            b.iter(|| probes.iter().map(|k| sorted.binary_search(k).unwrap_or(0)).sum::<usize>())
        });
        g.bench_function(BenchmarkId::new("btreemap", present.len()), |b| {
            b.iter(|| probes.iter().filter(|k| tree.contains_key(k)).count())
        });
        g.finish();

        // Inserts: as many absent keys as the page takes before it would split (90%).
        let cap = DataPage::new(&page).capacity();
        let room = ((cap as f64 * 0.9) as usize).saturating_sub(present.len()).min(absent.len());
        let mut inserts: Vec<u64> = absent.clone();
        let mut r = Rng(7);
        for i in (1..inserts.len()).rev() {
            inserts.swap(i, (r.next() % (i as u64 + 1)) as usize);
        }
        inserts.truncate(room.max(1));
        let mut g = c.benchmark_group(format!("insert/{dist}"));
        g.bench_function(BenchmarkId::new("alex_page", inserts.len()), |b| {
            b.iter_batched(
                || page.clone(),
                |mut p| {
                    let mut w = DataPageMut::new(&mut p);
                    for (i, k) in inserts.iter().enumerate() {
                        match w.insert(Entry::new(*k, pack_tid(9, (i % 200) as u16 + 1))) {
                            Ok(_) | Err(InsertError::Duplicate) => {}
                            Err(e) => panic!("{e:?}"),
                        }
                    }
                    black_box(p)
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(BenchmarkId::new("sorted_vec", inserts.len()), |b| {
            b.iter_batched(
                || sorted.clone(),
                |mut v| {
                    for k in &inserts {
                        let at = v.partition_point(|x| x < k);
                        v.insert(at, *k);
                    }
                    black_box(v)
                },
                BatchSize::SmallInput,
            )
        });
        g.bench_function(BenchmarkId::new("btreemap", inserts.len()), |b| {
            b.iter_batched(
                || tree.clone(),
                |mut t| {
                    for k in &inserts {
                        t.insert(*k, 0);
                    }
                    black_box(t)
                },
                BatchSize::SmallInput,
            )
        });
        g.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
