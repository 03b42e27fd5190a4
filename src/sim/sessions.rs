//! The global, increasing `sessionId`: a user's session gets the next id when
//! its first event is written. The merge ([`super::merge`]) and the one-thread
//! path ([`super::direct`]) give ids by this one rule, so their output is the
//! same bytes.

use super::prefetch::prefetch_item;

/// The global, increasing `sessionId`: a user's session gets the next id when
/// its first event is written.
#[derive(Debug)]
pub struct SessionIds {
    /// Per user ordinal: (session serial, sessionId) of its current session.
    slots: Vec<(u32, i64)>,
    next: i64,
}

impl Default for SessionIds {
    fn default() -> Self {
        SessionIds {
            slots: Vec::new(),
            next: 1,
        }
    }
}

impl SessionIds {
    /// The id of session `serial` of user `ordinal`.
    #[inline]
    pub fn id(&mut self, ordinal: u32, serial: u32) -> i64 {
        let o = ordinal as usize;
        if o >= self.slots.len() {
            self.slots.resize(o + 1, (0, 0));
        }
        let slot = &mut self.slots[o];
        if slot.0 != serial {
            *slot = (serial, self.next);
            self.next += 1;
        }
        slot.1
    }

    /// Sessions given an id so far.
    pub fn count(&self) -> u64 {
        (self.next - 1) as u64
    }

    /// Loads user `ordinal`'s slot into the cache ahead of [`Self::digits`].
    #[inline]
    pub fn prefetch(&self, ordinal: u32) {
        prefetch_item(&self.slots, ordinal as usize);
    }
}

/// [`SessionIds`] for the one-thread path, which writes the ids: each user's
/// slot keeps its current session's id as digits, formatted once per session
/// rather than once per event (same 24 bytes a user as an id would take with
/// its serial, plus room for any i64).
#[derive(Debug)]
pub struct SessionDigits {
    /// Per user ordinal: session serial, digit count, digits.
    slots: Vec<(u32, u8, [u8; 19])>,
    next: i64,
}

impl Default for SessionDigits {
    fn default() -> Self {
        SessionDigits {
            slots: Vec::new(),
            next: 1,
        }
    }
}

impl SessionDigits {
    /// The digits of the id of session `serial` of user `ordinal` (ids as
    /// [`SessionIds::id`] gives them): the first `n` bytes of the array
    /// returned with `n`.
    #[inline]
    pub fn digits(&mut self, ordinal: u32, serial: u32) -> (&[u8; 19], usize) {
        let o = ordinal as usize;
        if o >= self.slots.len() {
            self.slots.resize(o + 1, (0, 0, [0; 19]));
        }
        let slot = &mut self.slots[o];
        if slot.0 != serial {
            let mut b = itoa::Buffer::new();
            let d = b.format(self.next).as_bytes();
            slot.0 = serial;
            slot.1 = d.len() as u8;
            slot.2[..d.len()].copy_from_slice(d);
            self.next += 1;
        }
        (&slot.2, slot.1 as usize)
    }

    /// Sessions given an id so far.
    pub fn count(&self) -> u64 {
        (self.next - 1) as u64
    }

    /// Loads user `ordinal`'s slot into the cache ahead of [`Self::digits`].
    #[inline]
    pub fn prefetch(&self, ordinal: u32) {
        prefetch_item(&self.slots, ordinal as usize);
    }
}
