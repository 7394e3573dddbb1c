//! The process's memory allocator (glibc's malloc on Linux): its tunables, set once at start,
//! and giving freed memory back to the system once a long-lived process (the daemon) is idle.
//! Elsewhere both are no-ops.

/// Sets the allocator's tunables.
///
/// # Safety
/// glibc's `mallopt` is not thread-safe: call this first thing in `main`, before any other
/// thread is started.
///
/// glibc raises its mmap threshold each time a large mmapped block is freed, after which the
/// backup's multi-megabyte download and pack buffers come from per-thread heap arenas and are
/// not given back: a 60,000-version backup grew from 150 to 330 MB RSS. A fixed 1 MiB threshold
/// keeps such buffers in mmap, returned on free (peak 130 MB for the same backup). An operator's
/// `MALLOC_MMAP_THRESHOLD_` still wins.
///
/// glibc also gives each thread that contends for the heap an arena of its own (up to 8 per
/// core), and memory freed in one arena serves only that arena: a backup's many short-lived
/// buffers (JSON pages, encoded blobs) on tokio's workers and blocking threads leave each arena
/// holding its own high-water mark. One arena for the process: a full backup of the medium
/// library peaked at 117-119 MiB instead of 153-171 MiB, in the same CPU time (a backup has
/// few threads running at once; a daemon running many jobs at once on many cores may want more:
/// set it). An operator's `MALLOC_ARENA_MAX` still wins.
///
/// Setting the mmap threshold also fixes glibc's trim threshold at 128 KiB: each time the free
/// memory at the top of the heap passes it, glibc gives it back to the system, and the next
/// buffers fault their pages in (zeroed) again. A restore allocates a buffer for every blob it
/// writes (~60 KiB on average, 17,800 files in the medium library): 150,000 page faults, 6 %
/// of its CPU. A 4 MiB trim threshold halves the faults (~69,000, a quarter of them the
/// 64 MiB of Argon2 memory that unlocks the key slot) for at most 4 MiB more held per arena.
/// An operator's `MALLOC_TRIM_THRESHOLD_` still wins, as do any of these tunables in
/// `GLIBC_TUNABLES`.
pub unsafe fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        let operator_set = |var: &str, tunable: &str| {
            std::env::var_os(var).is_some()
                || std::env::var("GLIBC_TUNABLES").is_ok_and(|t| t.contains(tunable))
        };
        if !operator_set("MALLOC_MMAP_THRESHOLD_", "glibc.malloc.mmap_threshold") {
            // SAFETY: mallopt only sets a malloc tunable; no other thread runs yet (the contract).
            unsafe {
                libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
            }
        }
        if !operator_set("MALLOC_TRIM_THRESHOLD_", "glibc.malloc.trim_threshold") {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_TRIM_THRESHOLD, 4 << 20);
            }
        }
        if !operator_set("MALLOC_ARENA_MAX", "glibc.malloc.arena_max") {
            // SAFETY: as above.
            unsafe {
                libc::mallopt(libc::M_ARENA_MAX, 1);
            }
        }
    }
}

/// Gives the memory the allocator holds free back to the system (glibc's `malloc_trim`: the
/// free pages of every arena, not only the top of the heap), and says whether any was. The
/// daemon calls it when its last running job ends: a job's peak (rows, buffers, maps freed in
/// the middle of the heap) would otherwise stay in the daemon's RSS until the next job.
/// Takes a few milliseconds on a large heap: call it off the async threads.
pub fn release_free_memory() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        // SAFETY: malloc_trim only returns free memory of the allocator's arenas to the system;
        // it takes the arenas' locks, so it is safe with other threads allocating.
        unsafe { libc::malloc_trim(0) == 1 }
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    {
        false
    }
}

#[cfg(test)]
mod tests {
    /// The share of the pages strictly inside `blocks` (address, length) that are resident.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    fn resident_share(blocks: &[(usize, usize)]) -> f64 {
        let page = 4096usize;
        let (mut resident, mut total) = (0usize, 0usize);
        for &(at, len) in blocks {
            let start = at.div_ceil(page) * page;
            let end = (at + len) / page * page;
            if end <= start {
                continue;
            }
            let mut vec = vec![0u8; (end - start) / page];
            // SAFETY: mincore only reports on the pages of the range (mapped: they belong to
            // the heap, whose memory is never unmapped below its top while blocks above it live).
            let r =
                unsafe { libc::mincore(start as *mut libc::c_void, end - start, vec.as_mut_ptr()) };
            assert_eq!(r, 0, "mincore: {}", std::io::Error::last_os_error());
            resident += vec.iter().filter(|b| *b & 1 == 1).count();
            total += vec.len();
        }
        resident as f64 / total.max(1) as f64
    }

    /// Memory freed in the middle of the heap (a block still in use above it) stays resident
    /// after `free` and is given back by the call: its pages are no longer in memory.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_in_the_middle_of_the_heap_is_given_back() {
        // 32 MiB in 64 KiB blocks (below the mmap threshold: on the heap), written (resident);
        // the last one (the highest: earlier ones fill any old holes first) stays, so freeing
        // the others leaves a hole that `free` alone keeps.
        let mut blocks: Vec<Vec<u8>> = (0..513)
            .map(|i| std::hint::black_box(vec![(i % 250 + 1) as u8; 64 * 1024]))
            .collect();
        let pin = blocks.pop().expect("513 blocks");
        let spans: Vec<(usize, usize)> = blocks
            .iter()
            .map(|b| (b.as_ptr() as usize, b.len()))
            .collect();
        drop(blocks);
        let before = resident_share(&spans);
        assert!(
            before > 0.9,
            "freed blocks were not resident before the call: {before}"
        );
        super::release_free_memory();
        let after = resident_share(&spans);
        // Other tests running meanwhile may take (and write) a little of the hole.
        assert!(
            after < 0.5,
            "{:.0} % of the freed pages are still resident",
            after * 100.0
        );
        assert_eq!(pin[0], (512 % 250 + 1) as u8);
    }
}
