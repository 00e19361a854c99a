//! External merge sort of `u128` keys within a memory budget: keys are collected in memory,
//! each full buffer is sorted and written out as a run, and the runs are merged at the end. When
//! everything fits in memory nothing is written and the sort is one `sort_unstable`.
//!
//! Where runs go is up to the caller ([`RunStore`]): a CREATE INDEX writes them to PostgreSQL
//! temporary files. Memory: the budget while collecting; while merging, one read buffer of
//! [`READ_CHUNK`] keys per run.

use crate::policy::READ_CHUNK;
use std::cell::RefCell;
use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::collections::binary_heap::PeekMut;
use std::rc::Rc;

/// Storage for sorted runs.
pub trait RunStore {
    /// Appends a sorted run; returns its number (0, 1, ...).
    fn write_run(&mut self, keys: &[u128]);
    /// Reads up to `out.len()` keys of run `run` starting at its key `from`; returns how many.
    fn read_run(&mut self, run: usize, from: usize, out: &mut [u128]) -> usize;
}

pub struct ExternalSorter<S: RunStore> {
    buffer: Vec<u128>,
    capacity: usize,
    store: S,
    runs: usize,
}

impl<S: RunStore> ExternalSorter<S> {
    /// A sorter keeping at most `budget_bytes` of keys in memory (at least 1024 keys).
    pub fn new(budget_bytes: usize, store: S) -> ExternalSorter<S> {
        let capacity = (budget_bytes / std::mem::size_of::<u128>()).max(1024);
        ExternalSorter { buffer: Vec::new(), capacity, store, runs: 0 }
    }

    pub fn push(&mut self, key: u128) {
        if self.buffer.len() == self.capacity {
            self.spill();
        }
        if self.buffer.len() == self.buffer.capacity() {
            // Grow by doubling, but never past the budget.
            let target = (self.buffer.capacity() * 2).clamp(1024, self.capacity);
            self.buffer.reserve_exact(target - self.buffer.len());
        }
        self.buffer.push(key);
    }

    fn spill(&mut self) {
        self.buffer.sort_unstable();
        self.store.write_run(&self.buffer);
        self.runs += 1;
        self.buffer.clear();
    }

    /// How many runs were written (0 when everything stayed in memory).
    pub fn runs(&self) -> usize {
        self.runs
    }

    /// The keys in ascending order.
    pub fn finish(mut self) -> Sorted<S> {
        if self.runs == 0 {
            self.buffer.sort_unstable();
            return Sorted::InMemory(self.buffer.into_iter());
        }
        if !self.buffer.is_empty() {
            self.spill();
        }
        let store = Rc::new(RefCell::new(self.store));
        let readers = (0..self.runs).map(|run| RunReader { store: Rc::clone(&store), run, next: 0, chunk: vec![0; READ_CHUNK], pos: 0, len: 0 });
        Sorted::Merged(Merge::new(readers))
    }
}

/// One run read back from its store, [`READ_CHUNK`] keys at a time.
pub struct RunReader<S: RunStore> {
    store: Rc<RefCell<S>>,
    run: usize,
    /// The run's next key to fetch from the store.
    next: usize,
    chunk: Vec<u128>,
    pos: usize,
    len: usize,
}

impl<S: RunStore> Iterator for RunReader<S> {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        if self.pos == self.len {
            self.len = self.store.borrow_mut().read_run(self.run, self.next, &mut self.chunk);
            self.next += self.len;
            self.pos = 0;
            if self.len == 0 {
                return None;
            }
        }
        self.pos += 1;
        Some(self.chunk[self.pos - 1])
    }
}

/// The k-way merge of ascending streams into one ascending stream: a sorter's runs, or the
/// sorted outputs of a parallel build's participants. Cost: O(log k) per key.
pub struct Merge<I: Iterator<Item = u128>> {
    streams: Vec<I>,
    heap: BinaryHeap<Reverse<(u128, usize)>>,
}

impl<I: Iterator<Item = u128>> Merge<I> {
    pub fn new(streams: impl IntoIterator<Item = I>) -> Merge<I> {
        let mut streams: Vec<I> = streams.into_iter().collect();
        let heap = streams.iter_mut().enumerate().filter_map(|(i, s)| s.next().map(|k| Reverse((k, i)))).collect();
        Merge { streams, heap }
    }
}

impl<I: Iterator<Item = u128>> Iterator for Merge<I> {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        // The stream's next key replaces the smallest in place: one sift-down per key.
        let mut top = self.heap.peek_mut()?;
        let Reverse((k, i)) = *top;
        match self.streams[i].next() {
            Some(next) => *top = Reverse((next, i)),
            None => drop(PeekMut::pop(top)),
        }
        Some(k)
    }
}

pub enum Sorted<S: RunStore> {
    InMemory(std::vec::IntoIter<u128>),
    Merged(Merge<RunReader<S>>),
}

impl<S: RunStore> Iterator for Sorted<S> {
    type Item = u128;

    fn next(&mut self) -> Option<u128> {
        match self {
            Sorted::InMemory(it) => it.next(),
            Sorted::Merged(m) => m.next(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    /// Runs kept in vectors, as a temporary file would keep them.
    #[derive(Default)]
    struct MemoryRuns(Vec<Vec<u128>>);

    impl RunStore for MemoryRuns {
        fn write_run(&mut self, keys: &[u128]) {
            self.0.push(keys.to_vec());
        }
        fn read_run(&mut self, run: usize, from: usize, out: &mut [u128]) -> usize {
            let rest = &self.0[run][from.min(self.0[run].len())..];
            let n = rest.len().min(out.len());
            out[..n].copy_from_slice(&rest[..n]);
            n
        }
    }

    proptest! {
        #[test]
        fn sorts_like_a_vector(keys in prop::collection::vec(any::<u128>(), 0..5000), budget in 0usize..40_000) {
            let mut s = ExternalSorter::new(budget, MemoryRuns::default());
            for k in &keys {
                s.push(*k);
            }
            let spilled = s.runs() > 0;
            let got: Vec<u128> = s.finish().collect();
            let mut want = keys.clone();
            want.sort_unstable();
            prop_assert_eq!(got, want);
            prop_assert_eq!(spilled, keys.len() > (budget / 16).max(1024));
        }

        #[test]
        fn merges_sorted_streams(mut parts in prop::collection::vec(prop::collection::vec(any::<u128>(), 0..300), 0..6)) {
            for p in &mut parts {
                p.sort_unstable();
            }
            let mut want: Vec<u128> = parts.concat();
            want.sort_unstable();
            let got: Vec<u128> = Merge::new(parts.into_iter().map(|p| p.into_iter())).collect();
            prop_assert_eq!(got, want);
        }
    }
}
