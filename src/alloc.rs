//! The process's memory allocator: glibc's, tuned, or (cargo features
//! `jemalloc`, `mimalloc`) one of the ecosystem's, for measuring them against
//! each other (docs/bench13.md).
//!
//! glibc gives each thread that allocates its own arena (up to 8 per core) and
//! keeps memory freed in the middle of its heaps resident; with decoders, lake
//! writers, stream state and librdkafka threads freeing batch-sized buffers
//! across threads, that kept up to twice the live memory resident and broke
//! `pipeline.memory_limit_mb` (docs/BENCHMARKS.md, "Memory bound"). So with
//! glibc, [`init`] limits the arenas to two and [`trim_above`] starts a thread
//! that hands free pages back to the kernel while resident memory is high.

#[cfg(feature = "jemalloc")]
#[global_allocator]
static GLOBAL: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Whether glibc's malloc is the allocator (and its tuning applies).
const GLIBC: bool = cfg!(all(
    target_os = "linux",
    target_env = "gnu",
    not(feature = "jemalloc"),
    not(feature = "mimalloc")
));

/// Name of the allocator in use, for logs and benchmarks.
pub fn name() -> &'static str {
    if cfg!(feature = "jemalloc") {
        "jemalloc"
    } else if cfg!(feature = "mimalloc") {
        "mimalloc"
    } else {
        "system"
    }
}

/// Sets the allocator up; call first thing in `main`, before any other thread
/// exists. With glibc: two arenas (they cost no measurable throughput here);
/// `MALLOC_ARENA_MAX` in the environment still wins.
pub fn init() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if GLIBC && std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: mallopt only sets an allocator parameter; called before any
        // other thread exists.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

/// With glibc, starts (once per process) a thread that checks resident memory
/// once a second and calls `malloc_trim(0)` while it is above half of
/// `limit_bytes` (`pipeline.memory_limit_mb`).
///
/// Even with two arenas, glibc kept memory freed in the middle of its heaps
/// resident: in a Kafka backfill its arenas held 929 MB of which 130–290 MB
/// were in use, with a 256 MB limit. A trim gives free pages anywhere in the
/// heaps back (10–40 ms each in that backfill; peak RSS 1.15 GB → 0.51 GB),
/// but every page given back is faulted in again when reused (~8 % of a
/// backfill's CPU when trimming every second), hence the threshold.
pub fn trim_above(limit_bytes: u64) {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    if GLIBC {
        static STARTED: std::sync::Once = std::sync::Once::new();
        STARTED.call_once(|| {
            let above = limit_bytes / 2;
            let spawned = std::thread::Builder::new()
                .name("malloc-trim".into())
                .spawn(move || loop {
                    std::thread::sleep(std::time::Duration::from_secs(1));
                    if resident_bytes().is_some_and(|r| r <= above) {
                        continue;
                    }
                    // SAFETY: malloc_trim only hands free memory back to the
                    // kernel and takes each arena's lock; it is safe from any
                    // thread.
                    unsafe {
                        libc::malloc_trim(0);
                    }
                });
            if let Err(e) = spawned {
                tracing::warn!(error = %e, "cannot start the malloc trimmer; memory may stay resident after use");
            }
        });
    }
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
