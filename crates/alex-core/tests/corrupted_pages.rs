//! Pages damaged on disk: random bytes and bit flips over valid pages of every kind. Whatever the
//! damage, the check on read either rejects the page or every reader of its content returns an
//! answer (possibly a wrong one: only `alex_check`'s full checks can tell) without a panic.

use alex_core::data::{self, DataPage, DataPageMut, Encoding};
use alex_core::entry::{Entry, pack_tid};
use alex_core::inner::{self, InnerPage};
use alex_core::meta::Meta;
use alex_core::model::LinearModel;
use alex_core::nulls;
use alex_core::page::node::Header;
use alex_core::page::{CONTENT_SIZE, NO_BLOCK, PageKind, check_on_read};
use proptest::prelude::*;

fn header(level: u16, low: Entry, high: Option<Entry>) -> Header {
    Header { flags: 0, level, count: 0, capacity: 0, left: NO_BLOCK, right: NO_BLOCK, low, high, model: LinearModel::default() }
}

/// A valid page of each kind, some data pages with a dictionary.
fn valid_page(kind: PageKind, seed: u64) -> Vec<u8> {
    let mut b = vec![0u8; CONTENT_SIZE];
    let low = Entry::new(1000, 0);
    let high = Some(Entry::new(1_000_000_000, 0));
    match kind {
        PageKind::Meta => Meta::new(7, 2).write(&mut b),
        PageKind::Inner => {
            let items: Vec<(Entry, u32)> = (0..300u64).map(|i| (Entry::new(1000 + i * (seed % 1000 + 1) * 17, 0), 10 + i as u32)).collect();
            inner::layout(&mut b, &items, header(1, low, high));
        }
        PageKind::Data => {
            // Distinct keys, or a few keys repeated (a dictionary page).
            let distinct = if seed % 2 == 0 { 2000 } else { 9 };
            let entries: Vec<Entry> = (0..1500u64).map(|i| Entry::new(1000 + (i % distinct) * (seed % 5000 + 3), pack_tid(i as u32 / 7, (i % 7 + 1) as u16))).collect();
            let mut entries = entries;
            entries.sort();
            entries.dedup();
            data::layout(&mut b, &entries, Encoding::for_entries(&entries, low, high), header(0, low, high));
        }
        PageKind::Nulls => {
            nulls::init(&mut b);
            for i in 0..500 {
                nulls::push(&mut b, pack_tid(i, 1));
            }
        }
    }
    assert_eq!(check_on_read(kind, &b), Ok(()), "{kind:?} page is valid to begin with");
    b
}

/// Everything the extension reads of a page that passed the check on read.
fn read_everything(kind: PageKind, b: &[u8], probe: Entry) {
    match kind {
        PageKind::Meta => {
            let _ = Meta::read(b);
        }
        PageKind::Inner => {
            let p = InnerPage::new(b);
            let i = p.route(probe);
            let _ = (p.child(i), p.separator(i), p.items(), p.model_error(), inner::check(b));
        }
        PageKind::Data => {
            if alex_core::page::node::is_deleted(b) {
                let _ = data::deleted_xid(b);
                return;
            }
            let p = DataPage::new(b);
            let _ = (p.entries(), p.seek(probe), p.predict(probe.code), p.fits(probe), p.holds_code(probe.code), p.search_hint(), p.model_error());
            let mut s = p.next_occupied(0);
            while s < p.capacity() {
                let _ = p.entry(s);
                s = p.next_occupied(s + 1);
            }
            let _ = p.prev_occupied(p.capacity());
            let _ = data::check(b);
            // An insert is planned and applied to a copy (the extension checks `fits` first).
            if p.fits(probe)
                && let Ok(plan) = p.plan_insert(probe)
            {
                let mut copy = b.to_vec();
                DataPageMut::new(&mut copy).apply_insert(&plan);
            }
        }
        PageKind::Nulls => {
            let _ = nulls::tids(b);
            let mut copy = b.to_vec();
            let _ = nulls::retain(&mut copy, |t| t % 3 == 0);
        }
    }
}

fn kinds() -> impl Strategy<Value = PageKind> {
    prop_oneof![Just(PageKind::Meta), Just(PageKind::Inner), Just(PageKind::Data), Just(PageKind::Nulls)]
}

/// Damage: random bytes over a range, or single bit flips, anywhere in the content.
#[derive(Debug, Clone)]
enum Damage {
    Bytes { at: usize, bytes: Vec<u8> },
    Flips(Vec<(usize, u8)>),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        // Concentrated where headers and encodings live, and anywhere.
        (0usize..160, prop::collection::vec(any::<u8>(), 1..200)).prop_map(|(at, bytes)| Damage::Bytes { at, bytes }),
        (0usize..CONTENT_SIZE, prop::collection::vec(any::<u8>(), 1..200)).prop_map(|(at, bytes)| Damage::Bytes { at, bytes }),
        prop::collection::vec((0usize..160, 0u8..8), 1..6).prop_map(Damage::Flips),
        prop::collection::vec((0usize..CONTENT_SIZE, 0u8..8), 1..20).prop_map(Damage::Flips),
    ]
}

fn apply(b: &mut [u8], d: &Damage) {
    match d {
        Damage::Bytes { at, bytes } => {
            let end = (at + bytes.len()).min(b.len());
            b[*at..end].copy_from_slice(&bytes[..end - at]);
        }
        Damage::Flips(flips) => {
            for &(at, bit) in flips {
                b[at] ^= 1 << bit;
            }
        }
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(3000))]

    #[test]
    fn damaged_pages_are_rejected_or_read_without_a_panic(kind in kinds(), seed in any::<u64>(), d in damage(), code in any::<u64>(), tid in 0u64..1 << 40) {
        let mut b = valid_page(kind, seed);
        apply(&mut b, &d);
        if check_on_read(kind, &b).is_ok() {
            read_everything(kind, &b, Entry::new(code, tid));
        }
    }

    #[test]
    fn random_pages_are_rejected_or_read_without_a_panic(kind in kinds(), bytes in prop::collection::vec(any::<u8>(), CONTENT_SIZE), code in any::<u64>()) {
        if check_on_read(kind, &bytes).is_ok() {
            read_everything(kind, &bytes, Entry::new(code, 1));
        }
    }
}

/// The damage the SQL corruption test writes (pg_test/recovery/corruption.sh) is rejected.
#[test]
fn impossible_headers_are_rejected() {
    let cases: [(PageKind, usize, &[u8]); 4] =
        [(PageKind::Meta, 0, &[0xde, 0xad, 0xbe, 0xef]), (PageKind::Inner, 4, &[0xff, 0xff]), (PageKind::Data, 76, &[200]), (PageKind::Nulls, 0, &[0xff, 0xff])];
    for (kind, at, bytes) in cases {
        let mut b = valid_page(kind, 1);
        b[at..at + bytes.len()].copy_from_slice(bytes);
        assert!(check_on_read(kind, &b).is_err(), "{kind:?} page with {bytes:?} at {at}");
    }
}
