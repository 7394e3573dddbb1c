//! Where a restore's whole-pack copies ([`super::pack_spill`]) go, and how many bytes of them:
//! unnamed files in a directory of the local state, sized by the space free there; or memory,
//! sized by the memory available, when that directory shares its file system with the export
//! target (Linux; elsewhere, and where memory is short, files). The export makes its files
//! durable with one `syncfs(2)` per window: on the same file system, every sync would also
//! write the copies to disk (the medium library's export wrote 1.82 GB to the disk for 1.03 GB
//! restored; 1.12 GB with the copies in memory).

use std::path::{Path, PathBuf};

/// Bytes of spilled packs kept by default (64 packs of 16 MiB), at most a quarter of the
/// space free where they go ([`on_disk`]) or an eighth of the memory available
/// ([`in_memory`]).
pub const SPILL_KEPT: u64 = 1 << 30;
/// Below this many bytes of room for copies, packs are not copied at all (a pack is copied
/// only when it is at most an eighth of the room: 32 MiB here, packs are made 16 MiB).
pub const SPILL_MIN: u64 = 256 << 20;

/// Where copies of packs go.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SpillTo {
    /// Unnamed files in this directory (private, gone with the process).
    Files(PathBuf),
    /// Anonymous memory files (`memfd_create(2)` on Linux): in no file system, so no sync
    /// writes them (swap may hold them, as any memory). A memory file never reports a full
    /// disk: their bound follows the memory available while the restore runs
    /// ([`memory_cap_now`]), on top of the cap taken when it starts ([`in_memory`]).
    Memory,
}

/// How many bytes of copies `dir` can take: at most `kept`, and a quarter of the space free
/// there (a restore must not fill the disk of the local state, where the catalog lives);
/// `None` when that is under [`SPILL_MIN`] or `dir` cannot be examined.
pub fn on_disk(dir: &Path, kept: u64) -> Option<u64> {
    room(disk_available(dir)?.checked_div(4)?, kept)
}

/// How many bytes of copies memory can take: at most `kept`, and an eighth of the memory
/// available (the system's, and the headroom of the cgroup limits, [`cgroup_headroom`]);
/// `None` when that is under [`SPILL_MIN`], or where memory files are not supported.
pub fn in_memory(kept: u64) -> Option<u64> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return None;
    }
    room(memory_available()?.checked_div(8)?, kept)
}

/// Bytes of memory available to this process now (as [`in_memory`] counts them); `None` where
/// that cannot be read.
pub fn memory_available_now() -> Option<u64> {
    memory_available()
}

/// How many bytes memory copies may hold while `available` bytes of memory are available and
/// the copies hold `held`: an eighth of the two together (the copies are what would be given
/// back), at most `cap` (taken when the restore started). Without other demand this stays at
/// `cap` as the copies grow; when other processes take memory it shrinks, and the least
/// recently read copies are dropped. Below [`SPILL_MIN`] no new pack is copied.
pub fn memory_cap_now(cap: u64, held: u64, available: u64) -> u64 {
    cap.min(available.saturating_add(held) / 8)
}

fn room(cap: u64, kept: u64) -> Option<u64> {
    let cap = cap.min(kept);
    (cap >= SPILL_MIN).then_some(cap)
}

/// Where copies of packs go for a restore that syncs the file system of `synced` (an export's
/// target; `None`: nothing is synced, e.g. a restore into iManage), given the local state's
/// directory `dir`, and how many bytes of them (at most `kept`); `None`: no copies (the
/// restore reads packs by ranges).
///
/// Where memory cannot take them (too little available, or no memory files off Linux), the
/// copies go to `dir` all the same: copies written out by the syncs still spare the store
/// three requests in four.
pub fn choose(dir: &Path, synced: Option<&Path>, kept: u64) -> Option<(SpillTo, u64)> {
    let memory = synced
        .is_some_and(|s| same_file_system(dir, s))
        .then(|| in_memory(kept))
        .flatten();
    match memory {
        Some(cap) => Some((SpillTo::Memory, cap)),
        None => on_disk(dir, kept).map(|cap| (SpillTo::Files(dir.to_path_buf()), cap)),
    }
}

/// Whether `a` and `b` lie on one file system (the device of `b`, or of its nearest existing
/// ancestor: an export's target may not exist yet). `false` when either cannot be examined,
/// and off Unix.
pub fn same_file_system(a: &Path, b: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::MetadataExt as _;
        let Ok(da) = std::fs::metadata(a).map(|m| m.dev()) else {
            return false;
        };
        // Absolute, so that a relative target's ancestors end at the root, not at "".
        let Ok(b) = std::path::absolute(b) else {
            return false;
        };
        b.ancestors()
            .find_map(|p| std::fs::metadata(p).ok())
            .is_some_and(|m| m.dev() == da)
    }
    #[cfg(not(unix))]
    {
        let _ = (a, b);
        false
    }
}

/// Bytes free to an unprivileged writer in the file system of `dir`.
#[cfg(unix)]
#[allow(clippy::unnecessary_cast)] // fsblkcnt_t and c_ulong are u32 on some platforms
fn disk_available(dir: &Path) -> Option<u64> {
    use std::os::unix::ffi::OsStrExt as _;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut st = std::mem::MaybeUninit::<libc::statvfs>::uninit();
    // SAFETY: a valid NUL-terminated path and a buffer of the right type, written on success.
    if unsafe { libc::statvfs(path.as_ptr(), st.as_mut_ptr()) } != 0 {
        return None;
    }
    // SAFETY: statvfs succeeded, so it filled the buffer.
    let st = unsafe { st.assume_init() };
    Some((st.f_bavail as u64).saturating_mul(st.f_frsize as u64))
}

#[cfg(not(unix))]
fn disk_available(_dir: &Path) -> Option<u64> {
    None
}

/// Bytes of memory available to this process: the system's `MemAvailable`, and no more than
/// the headroom its cgroups leave ([`cgroup_headroom`]).
fn memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let system = mem_available(&meminfo)?;
    let cgroups = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    Some(
        match cgroup_headroom(&cgroups, Path::new("/sys/fs/cgroup")) {
            Some(h) => system.min(h),
            None => system,
        },
    )
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// The least headroom the memory limits of this process's cgroup and of its ancestors leave
/// (`/proc/self/cgroup` is `cgroups`, the hierarchies are mounted under `root`): per limited
/// cgroup, its limit less what it uses other than page cache (cache is given back under
/// pressure; a service's cgroup soon fills with it). Shared memory (tmpfs, memory files: the
/// copies themselves) counts as page cache in `memory.stat` but is not given back without
/// swap: it counts as used. cgroup v2 (`memory.max`, `memory.current`, `memory.stat`'s `file`
/// less `shmem`), else a v1 memory controller (`memory/…/memory.limit_in_bytes`,
/// `memory.usage_in_bytes`, `memory.stat`'s `total_cache` less `total_shmem`). `None`: no
/// limit found.
fn cgroup_headroom(cgroups: &str, root: &Path) -> Option<u64> {
    let v1 = cgroups.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, controllers, path) = (f.next()?, f.next()?, f.next()?);
        controllers
            .split(',')
            .any(|c| c == "memory")
            .then(|| (root.join("memory"), path))
    });
    let (base, path, files) = match v1 {
        Some((base, path)) => (base, path, V1),
        None => (
            root.to_path_buf(),
            cgroups.lines().find_map(|l| l.strip_prefix("0::"))?,
            V2,
        ),
    };
    let dir = base.join(path.trim_start_matches('/'));
    dir.ancestors()
        .take_while(|d| d.starts_with(&base))
        .filter_map(|d| headroom_of(d, &files))
        .min()
}

/// File names of one cgroup's memory figures: limit, usage, and the `memory.stat` keys of its
/// page cache and of the shared memory counted in it.
struct MemoryFiles {
    limit: &'static str,
    usage: &'static str,
    cache_key: &'static str,
    shmem_key: &'static str,
}
const V2: MemoryFiles = MemoryFiles {
    limit: "memory.max",
    usage: "memory.current",
    cache_key: "file",
    shmem_key: "shmem",
};
const V1: MemoryFiles = MemoryFiles {
    limit: "memory.limit_in_bytes",
    usage: "memory.usage_in_bytes",
    cache_key: "total_cache",
    shmem_key: "total_shmem",
};

/// One cgroup's limit less its usage other than page cache (shared memory is not given back:
/// used); `None` without a limit ("max", v1's huge number) or a file.
fn headroom_of(dir: &Path, files: &MemoryFiles) -> Option<u64> {
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let limit: u64 = read(files.limit)?.trim().parse().ok()?;
    if limit >= 1 << 60 {
        return None; // v1's "no limit" (a page-rounded i64::MAX)
    }
    let usage: u64 = read(files.usage)?.trim().parse().ok()?;
    let stat = read("memory.stat").unwrap_or_default();
    let figure = |key: &str| {
        stat.lines()
            .find_map(|l| {
                let (k, v) = l.split_once(' ')?;
                (k == key).then(|| v.trim().parse::<u64>().ok())?
            })
            .unwrap_or(0)
    };
    let given_back = figure(files.cache_key).saturating_sub(figure(files.shmem_key));
    Some(limit.saturating_sub(usage.saturating_sub(given_back)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mem_available_is_read_in_bytes() {
        let text = "MemTotal:       24683756 kB\nMemFree:        21331968 kB\nMemAvailable:   22268096 kB\nBuffers:            2048 kB\n";
        assert_eq!(mem_available(text), Some(22_268_096 * 1024));
        assert_eq!(mem_available("MemTotal: 1 kB\n"), None);
        assert_eq!(mem_available("MemAvailable: lots kB\n"), None);
    }

    /// A limit anywhere up the cgroup tree counts, less what is used other than page cache;
    /// "max" is no limit; v1's memory controller is read where the process has one.
    #[test]
    fn cgroup_limits_count_up_the_tree_and_page_cache_is_free() {
        let root = tempfile::tempdir().unwrap();
        let write = |rel: &str, name: &str, text: &str| {
            let d = root.path().join(rel);
            std::fs::create_dir_all(&d).unwrap();
            std::fs::write(d.join(name), text).unwrap();
        };
        // v2: the service has no limit, its slice 3 GiB (2 GiB used, 1.5 of it cache, of which
        // 0.25 shared memory).
        write("system.slice/imvault.service", "memory.max", "max\n");
        write("system.slice/imvault.service", "memory.current", "100\n");
        write("system.slice", "memory.max", &format!("{}\n", 3u64 << 30));
        write(
            "system.slice",
            "memory.current",
            &format!("{}\n", 2u64 << 30),
        );
        write(
            "system.slice",
            "memory.stat",
            &format!(
                "anon 1\nfile {}\nkernel 2\nshmem {}\n",
                3u64 << 29,
                1u64 << 28
            ),
        );
        let v2 = "0::/system.slice/imvault.service\n";
        assert_eq!(
            cgroup_headroom(v2, root.path()),
            Some((3u64 << 30) - (1u64 << 29) - (1u64 << 28))
        );
        // Without any limit: none.
        assert_eq!(cgroup_headroom("0::/other\n", root.path()), None);
        assert_eq!(cgroup_headroom("", root.path()), None);
        // v1 (hybrid: a 0:: line too): the memory controller's files, its huge "no limit".
        write(
            "memory/box",
            "memory.limit_in_bytes",
            &format!("{}\n", 512u64 << 20),
        );
        write(
            "memory/box",
            "memory.usage_in_bytes",
            &format!("{}\n", 500u64 << 20),
        );
        write(
            "memory/box",
            "memory.stat",
            &format!(
                "cache 1\nshmem 1\ntotal_cache {}\ntotal_shmem {}\n",
                400u64 << 20,
                100u64 << 20
            ),
        );
        write("memory", "memory.limit_in_bytes", "9223372036854771712\n");
        write("memory", "memory.usage_in_bytes", "1\n");
        let v1 = "7:memory:/box\n4:cpu,cpuacct:/box\n0::/system.slice/imvault.service\n";
        assert_eq!(cgroup_headroom(v1, root.path()), Some(312u64 << 20));
    }

    /// The bound of memory copies: the start's cap while memory is plentiful, an eighth of
    /// the memory available plus what the copies hold once others take memory.
    #[test]
    fn the_memory_cap_follows_the_memory_available() {
        let gib = 1u64 << 30;
        // 16 GiB available at the start: 1 GiB cap; filling it leaves the cap where it is.
        assert_eq!(memory_cap_now(gib, 0, 16 * gib), gib);
        assert_eq!(memory_cap_now(gib, gib, 15 * gib), gib);
        // Another process took 12 GiB: an eighth of (3 + 1) GiB.
        assert_eq!(memory_cap_now(gib, gib, 3 * gib), gib / 2);
        assert!(memory_cap_now(gib, gib / 2, gib) < SPILL_MIN);
        assert_eq!(memory_cap_now(gib, u64::MAX, u64::MAX), gib);
    }

    #[test]
    fn room_is_capped_and_refused_when_small() {
        assert_eq!(room(10 * SPILL_KEPT, SPILL_KEPT), Some(SPILL_KEPT));
        assert_eq!(room(SPILL_MIN, SPILL_KEPT), Some(SPILL_MIN));
        assert_eq!(room(SPILL_MIN - 1, SPILL_KEPT), None);
    }

    /// A target below the local state's directory (even one not created yet) shares its file
    /// system; /proc does not. Copies then go to memory, else to files in the directory.
    #[cfg(target_os = "linux")]
    #[test]
    fn copies_go_to_memory_when_the_synced_target_shares_the_file_system() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("export/not/yet");
        assert!(same_file_system(dir.path(), &target));
        assert!(!same_file_system(dir.path(), Path::new("/proc/self")));
        assert!(!same_file_system(&dir.path().join("gone"), &target));
        // A relative target not created yet: its ancestors end at the working directory's.
        let cwd = std::env::current_dir().unwrap();
        assert!(same_file_system(&cwd, Path::new("not-yet/export")));
        let kept = SPILL_MIN;
        let to = |synced: Option<&Path>| choose(dir.path(), synced, kept).map(|(to, _)| to);
        // The test machines have GBs of memory and of disk.
        assert_eq!(
            to(Some(&target)),
            Some(SpillTo::Memory),
            "memory: {:?}",
            memory_available()
        );
        let files = Some(SpillTo::Files(dir.path().to_path_buf()));
        assert_eq!(to(None), files);
        assert_eq!(to(Some(Path::new("/proc/self"))), files);
    }
}
