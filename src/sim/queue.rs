//! The queue of users by next event time, as a calendar queue of one-second
//! buckets.
//!
//! Every simulated time is the start time plus whole seconds (eventsim's
//! timing), and a user's next event is at least one second after its current
//! one. So a ring of per-second buckets (the next six days) plus a heap for
//! later times (session starts days ahead) orders users in O(1) per event,
//! where a binary heap of 100 k users costs ~17 cache-missing levels. Within a
//! second, users come in ordinal order: the total order (time, ordinal) that
//! makes the output independent of the sharding.
//!
//! Items are small dense integers (a shard's local user indices), each queued
//! at most once; a ring slot is an intrusive list through `next`, one `u32`
//! per item, so pushing never allocates (a `Vec` per slot allocated on first
//! use and freed at the end, ~3 % of a run).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use super::prefetch::prefetch;

/// Six days of seconds: most gaps between sessions (a week on average in
/// eventsim's example config) fall in the ring rather than in the heap,
/// whose pops cost ~400 instructions each. With three days, two thirds of
/// the session starts went through the heap; twelve days saved little more
/// (callgrind, 100 k users × 7 days) for twice the memory. The ring's
/// slots take 8 MiB per shard (allocated zeroed: touched as used).
const RING: usize = 1 << 19;
/// The end of a slot's list.
const NIL: u32 = u32::MAX;

/// A ring slot: its first [`INLINE`] items in place (as item + 1; 0: no
/// item), then (at [`INLINE`]) the first item + 1 of a list through
/// [`TimeQueue::next`] holding the others, or 0.
///
/// Why in place: with the list alone (a head per slot), serving a second
/// walked its list one load of `next` at a time, each waiting for the one
/// before, and these loads missed the cache for ~70 % of `advance`'s sampled
/// time (10 % of the generating thread's). A 100 k-user population has
/// ~2.6 users a second, so most slots now hold all their items in the 16
/// bytes read when the slot is served, and the slots are read in order.
/// An array of integers (not a struct) so that the ring is allocated zeroed.
type Slot = [u32; INLINE + 1];

/// Items kept in a [`Slot`] itself.
const INLINE: usize = 3;

pub struct TimeQueue {
    /// Second being served; the ring holds seconds in [cur, cur + RING).
    cur: i64,
    /// Per ring slot: its items. All zeros when empty, so that the ring is
    /// allocated zeroed and its pages are touched only when used.
    slots: Vec<Slot>,
    /// Per item: the next item of its slot's overflow list, or [`NIL`].
    next: Vec<u32>,
    /// One bit per ring slot: non-empty. Sparse populations leave most
    /// seconds empty, and this skips them 64 at a time.
    occupied: Vec<u64>,
    in_ring: usize,
    far: BinaryHeap<Reverse<(i64, u32)>>,
    /// The bucket of `cur`, sorted, served from `pos`.
    current: Vec<u32>,
    pos: usize,
    /// A push to a second more than [`AHEAD`] ahead, not made yet (item
    /// [`NIL`]: none): see [`TimeQueue::push`].
    pending: (i64, u32),
}

/// A push to a second further ahead than this is deferred ([`TimeQueue::push`]).
const AHEAD: i64 = 1024;

impl Default for TimeQueue {
    fn default() -> Self {
        Self::new()
    }
}

impl TimeQueue {
    pub fn new() -> TimeQueue {
        Self::starting_after(i64::MIN / 4)
    }

    /// A queue whose items are all after second `cur`: the ring covers the
    /// RING seconds after it from the start. (From `new`, a shard's initial
    /// users all went to the heap and moved to the ring at the first pop: a
    /// tenth of start-up for 100 k users.)
    pub fn starting_after(cur: i64) -> TimeQueue {
        TimeQueue {
            cur,
            slots: vec![[0; INLINE + 1]; RING],
            next: Vec::new(),
            occupied: vec![0; RING / 64],
            in_ring: 0,
            far: BinaryHeap::new(),
            current: Vec::new(),
            pos: 0,
            pending: (0, NIL),
        }
    }

    #[inline]
    fn slot(s: i64) -> usize {
        // RING is a power of two: the low bits, also of a negative second
        // (two's complement), are its Euclidean remainder.
        s as usize & (RING - 1)
    }

    /// Schedules item `ordinal` (not queued yet) at second `s`. A second
    /// already being served (or earlier) joins the current bucket in order.
    ///
    /// A second more than [`AHEAD`] ahead (a session start: half an hour or
    /// more away) has a random ring slot, seldom in the cache: loading it
    /// was most of the push's sampled time. So such a push is prefetched
    /// here and made one such push later, or before the queue moves to
    /// another second ([`Self::advance`]) if that comes first: nothing is
    /// taken out of the queue before it is in, and a slot's order does not
    /// depend on the order of its pushes (a bucket is sorted when served).
    #[inline]
    pub fn push(&mut self, s: i64, ordinal: u32) {
        // cur < s < cur + RING, as one unsigned comparison.
        if (s.wrapping_sub(self.cur) as u64).wrapping_sub(1) < RING as u64 - 1 {
            if s - self.cur > AHEAD {
                prefetch(self.slots[Self::slot(s)].as_ptr() as *const u8);
                self.defer((s, ordinal));
            } else {
                self.ring_push(s, ordinal);
            }
        } else {
            self.push_other(s, ordinal);
        }
    }

    /// Makes the deferred push, if any, and defers `next` instead (`(0,
    /// NIL)`: nothing). The queue's second has not moved since the push
    /// was deferred, so its second is still in the ring's range.
    #[inline]
    fn defer(&mut self, next: (i64, u32)) {
        let (ps, po) = std::mem::replace(&mut self.pending, next);
        if po != NIL {
            self.ring_push(ps, po);
        }
    }

    /// The cases of [`push`](Self::push) other than the ring (the current
    /// second, and beyond the ring), kept out of the inlined path.
    #[inline(never)]
    fn push_other(&mut self, s: i64, ordinal: u32) {
        if s <= self.cur {
            let tail = &self.current[self.pos..];
            let i = self.pos + tail.partition_point(|&o| o < ordinal);
            self.current.insert(i, ordinal);
        } else {
            self.far.push(Reverse((s, ordinal)));
        }
    }

    /// The earliest (second, ordinal), without removing it.
    #[inline]
    pub fn peek(&mut self) -> Option<(i64, u32)> {
        while self.pos >= self.current.len() {
            if !self.advance() {
                return None;
            }
        }
        Some((self.cur, self.current[self.pos]))
    }

    /// Removes what [`peek`](Self::peek) returned.
    #[inline]
    pub fn pop(&mut self) {
        self.pos += 1;
    }

    /// A guess at the item [`peek`](Self::peek) will return next, without
    /// moving: the next of the current second, else the first in the
    /// next second's list (whose order is not sorted yet). For prefetching.
    #[inline]
    pub fn upcoming(&self) -> Option<u32> {
        match self.current.get(self.pos) {
            Some(&o) => Some(o),
            None => {
                let first = self.slots[Self::slot(self.cur + 1)][0];
                first.checked_sub(1)
            }
        }
    }

    #[inline]
    fn ring_push(&mut self, s: i64, ordinal: u32) {
        let i = Self::slot(s);
        let slot = &mut self.slots[i];
        // Items are below u32::MAX (a shard's local indices, at most
        // u32::MAX / 2 users): + 1 does not wrap.
        match slot[..INLINE].iter_mut().find(|x| **x == 0) {
            Some(x) => *x = ordinal + 1,
            None => {
                let o = ordinal as usize;
                if o >= self.next.len() {
                    self.next.resize((o + 1).max(self.next.len() * 2), NIL);
                }
                self.next[o] = slot[INLINE].wrapping_sub(1);
                slot[INLINE] = ordinal + 1;
            }
        }
        self.occupied[i / 64] |= 1 << (i % 64);
        self.in_ring += 1;
    }

    /// The first second at or after `from` whose ring slot is occupied
    /// (the ring must not be empty).
    fn next_occupied(&self, from: i64) -> i64 {
        let start = Self::slot(from);
        let words = RING / 64;
        let (w0, b0) = (start / 64, start % 64);
        // The first word, from bit b0 on; then whole words, wrapping around;
        // then the first word's bits below b0.
        let first = self.occupied[w0] & (!0u64 << b0);
        if first != 0 {
            return from + (first.trailing_zeros() as usize - b0) as i64;
        }
        for k in 1..=words {
            let w = (w0 + k) % words;
            let bits = if k == words {
                self.occupied[w] & ((1u64 << b0) - 1)
            } else {
                self.occupied[w]
            };
            if bits != 0 {
                let slot = w * 64 + bits.trailing_zeros() as usize;
                let d = (slot + RING - start) % RING;
                return from + d as i64;
            }
        }
        from
    }

    /// Moves to the next second with users; false when empty.
    fn advance(&mut self) -> bool {
        self.defer((0, NIL));
        self.current.clear();
        self.pos = 0;
        let ring_next = (self.in_ring > 0).then(|| self.next_occupied(self.cur + 1));
        let far_next = self.far.peek().map(|Reverse((s, _))| *s);
        self.cur = match (ring_next, far_next) {
            (Some(a), Some(b)) => a.min(b),
            (Some(a), None) => a,
            (None, Some(b)) => b.max(self.cur + 1),
            (None, None) => return false,
        };
        let horizon = self.cur + RING as i64;
        while let Some(Reverse((s, o))) = self.far.peek().copied() {
            if s >= horizon {
                break;
            }
            self.far.pop();
            self.ring_push(s, o);
        }
        let slot = Self::slot(self.cur);
        let items = std::mem::take(&mut self.slots[slot]);
        for &x in &items[..INLINE] {
            if x == 0 {
                break;
            }
            self.current.push(x - 1);
        }
        let mut i = items[INLINE].wrapping_sub(1);
        while i != NIL {
            self.current.push(i);
            i = self.next[i as usize];
        }
        self.occupied[slot / 64] &= !(1 << (slot % 64));
        self.in_ring -= self.current.len();
        self.current.sort_unstable();
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn orders_by_second_then_ordinal() {
        let mut q = TimeQueue::new();
        let items = [(5, 3), (5, 1), (-2, 9), (200_000, 4), (70_000, 2), (6, 0)];
        for (s, o) in items {
            q.push(s, o);
        }
        let mut got = vec![];
        while let Some(x) = q.peek() {
            q.pop();
            if x == (5, 1) {
                // Pushing into the second being served, and later.
                q.push(5, 7);
                q.push(6, 5);
            }
            got.push(x);
        }
        assert_eq!(
            got,
            vec![
                (-2, 9),
                (5, 1),
                (5, 3),
                (5, 7),
                (6, 0),
                (6, 5),
                (70_000, 2),
                (200_000, 4)
            ]
        );
    }

    #[test]
    fn matches_a_heap_on_random_schedules() {
        for (mut q, from) in [
            (TimeQueue::new(), -1000),
            // A shard's queue: every time at or after second 0, ring from the start.
            (TimeQueue::starting_after(-1), 0),
        ] {
            matches_a_heap(&mut q, from);
        }
    }

    fn matches_a_heap(q: &mut TimeQueue, from: i64) {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_xoshiro::SplitMix64::seed_from_u64(5);
        let mut h = BinaryHeap::new();
        for o in 0..500u32 {
            let s = rng.random_range(from..100_000);
            q.push(s, o);
            h.push(Reverse((s, o)));
        }
        for _ in 0..20_000 {
            let Some(Reverse(want)) = h.pop() else { break };
            assert_eq!(q.peek(), Some(want));
            q.pop();
            if rng.random::<f64>() < 0.9 {
                let s = want.0 + rng.random_range(1..200_000);
                q.push(s, want.1);
                h.push(Reverse((s, want.1)));
            }
        }
    }
}
