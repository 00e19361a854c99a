//! Criterion bench of the page work of one equality probe, as an index scan does it on the data
//! page that the route cache names (route_cache::read_data_page, then scan::batch_of_page): the
//! page's kind, the check on read (once per lock), the search hint the cache refreshes, the seek
//! and the copy of the matching entries, and the fences and right link. Pages are whole blocks
//! (page header, content, special space) over 200,000 uniform keys, so the probes miss the CPU
//! caches as a server's do. Run with `cargo bench -p alex-core --bench probe`.

mod common;

use alex_core::data::{self, DataPage, Encoding};
use alex_core::entry::{Entry, pack_tid};
use alex_core::page::{self, BLCKSZ, PAGE_HEADER_SIZE, PageKind, SPECIAL_SIZE, node};
use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use std::hint::black_box;

const KEYS: usize = 200_000;

fn keys() -> Vec<u64> {
    let mut x = 0x9E37_79B9_7F4A_7C15u64;
    let mut v: Vec<u64> = (0..KEYS)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x >> 1
        })
        .collect();
    v.sort_unstable();
    v.dedup();
    v
}

fn header(low: Entry, high: Option<Entry>) -> alex_core::page::node::Header {
    alex_core::page::node::Header::new(0, low, high)
}

/// Whole blocks of data pages at the build density, and the low fence code of each.
fn pages(codes: &[u64]) -> (Vec<Vec<u8>>, Vec<u64>) {
    let entries: Vec<Entry> = codes.iter().enumerate().map(|(i, &c)| Entry::new(c, pack_tid(i as u32 / 100, 1 + (i % 100) as u16))).collect();
    let (mut blocks, mut lows) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i < entries.len() {
        let rest = &entries[i..(i + 4000).min(entries.len())];
        let low = if i == 0 { Entry::MIN } else { Entry::first_of(entries[i].code) };
        let enc = Encoding::for_entries(rest, low, None);
        let n = data::entries_at_density(&enc, 0.8).clamp(1, rest.len());
        let high = entries.get(i + n).map(|e| Entry::first_of(e.code));
        let chunk = &entries[i..i + n];
        let enc = Encoding::for_entries(chunk, low, high);
        let mut b = vec![0u8; BLCKSZ];
        // PostgreSQL's page header as Buf's check expects it: pd_lower = pd_upper = pd_special.
        let special = (BLCKSZ - SPECIAL_SIZE) as u16;
        for off in [12, 14, 16] {
            b[off..off + 2].copy_from_slice(&special.to_ne_bytes());
        }
        page::write_special(&mut b[BLCKSZ - SPECIAL_SIZE..], PageKind::Data);
        data::layout(&mut b[PAGE_HEADER_SIZE..BLCKSZ - SPECIAL_SIZE], chunk, enc, header(low, high));
        blocks.push(b);
        lows.push(low.code);
        i += n;
    }
    (blocks, lows)
}

/// storage::page::checked's header test.
#[inline]
fn header_ok(b: &[u8]) -> bool {
    let rd = |o: usize| u16::from_ne_bytes([b[o], b[o + 1]]) as usize;
    let special = BLCKSZ - SPECIAL_SIZE;
    rd(14) != 0 && rd(16) == special && rd(12) == special && rd(14) == special
}

/// One probe's page work; `check`: the check on read of d48bf6f (Buf::page).
#[inline(always)]
fn probe(b: &[u8], code: u64, check: bool, items: &mut Vec<Entry>) -> (Entry, u32) {
    let special = &b[BLCKSZ - SPECIAL_SIZE..];
    let c = &b[PAGE_HEADER_SIZE..BLCKSZ - SPECIAL_SIZE];
    let kind = page::read_special(special).unwrap();
    if check {
        assert!(header_ok(b));
        page::check_on_read(kind, c).unwrap();
    } else {
        // 4b4c953: kind() then content_of(), each reading the special space.
        assert!(page::read_special(special) == Some(kind));
    }
    assert!(kind == PageKind::Data);
    let e = Entry::first_of(code);
    assert!(!node::is_deleted(c) && !node::beyond_high(c, e) && node::low(c) <= e);
    black_box(DataPage::new(c).search_hint());
    let p = DataPage::new(c).with_prefetch(common::CpuPrefetch);
    let mut s = p.seek(e);
    while s < p.capacity() {
        let x = p.entry(s);
        if x.code > code {
            break;
        }
        items.push(x);
        s = p.next_occupied(s + 1);
    }
    (node::low(c), node::right(c))
}

fn bench(c: &mut Criterion) {
    let codes = keys();
    let (blocks, lows) = pages(&codes);
    let mut x = 42u64;
    let probes: Vec<(usize, u64)> = (0..1024)
        .map(|_| {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            let k = codes[(x >> 33) as usize % codes.len()];
            (lows.partition_point(|&l| l <= k) - 1, k)
        })
        .collect();
    let mut g = c.benchmark_group("probe/uniform");
    for (name, check) in [("unchecked", false), ("checked", true)] {
        
        g.bench_function(BenchmarkId::new(name, blocks.len()), |bn| {
            let mut items = Vec::with_capacity(8);
            bn.iter(|| {
                let mut n = 0;
                for &(i, k) in &probes {
                    items.clear();
                    let r = probe(&blocks[i], k, check, &mut items);
                    n += items.len() + r.1 as usize;
                }
                n
            })
        });
    }
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
