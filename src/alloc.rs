//! The allocator's settings for a long-running data path on glibc: fewer
//! arenas, and free pages handed back while resident memory is high, so that
//! `pipeline.memory_limit_mb` bounds what the process keeps resident (the
//! figures are in docs/BENCHMARKS.md, "Memory bound").

/// Two malloc arenas instead of glibc's up to 8 per core: with batch-sized
/// buffers freed across threads, the default arenas kept up to twice the live
/// memory resident. `MALLOC_ARENA_MAX` in the environment still wins.
pub fn limit_malloc_arenas() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// Hands free pages in the middle of glibc's heaps back to the kernel
/// (`malloc_trim`), which even two arenas keep resident. Trimming is not free
/// (every page given back is faulted in again), so a thread checks once a
/// second and trims only while resident memory is above half of `limit_bytes`.
pub fn spawn_malloc_trimmer(limit_bytes: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let above = limit_bytes / 2;
        let spawned = std::thread::Builder::new()
            .name("malloc-trim".into())
            .spawn(move || loop {
                std::thread::sleep(std::time::Duration::from_secs(1));
                if resident_bytes().is_some_and(|r| r <= above) {
                    continue;
                }
                // SAFETY: malloc_trim only hands free memory back to the kernel
                // and takes each arena's lock; it is safe from any thread.
                unsafe {
                    libc::malloc_trim(0);
                }
            });
        if let Err(e) = spawned {
            tracing::warn!(error = %e, "cannot start the malloc trimmer; memory may stay resident after use");
        }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let _ = limit_bytes;
}

/// This process's resident memory (`/proc/self/statm`, second field, in pages).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf only reads a system constant.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}
