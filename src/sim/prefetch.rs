//! Cache prefetch hints, shared by the queue, the shard and the session ids:
//! each loads what the next event will touch while the current one is written.

/// Asks the CPU to load the cache line of `p` (a hint: no effect on the
/// program's results).
#[inline(always)]
pub fn prefetch(p: *const u8) {
    #[cfg(target_arch = "x86_64")]
    // SAFETY: a prefetch never faults and changes no memory, whatever the
    // address; SSE is part of x86_64.
    unsafe {
        use std::arch::x86_64::{_mm_prefetch, _MM_HINT_T0};
        _mm_prefetch::<_MM_HINT_T0>(p as *const i8)
    }
    #[cfg(not(target_arch = "x86_64"))]
    let _ = p;
}

/// [`prefetch`] of `items[i]`'s first cache line, if there is such an item.
#[inline(always)]
pub fn prefetch_item<T>(items: &[T], i: usize) {
    if let Some(x) = items.get(i) {
        prefetch(x as *const T as *const u8);
    }
}
