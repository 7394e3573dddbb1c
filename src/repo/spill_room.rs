//! Where a restore's whole-pack copies ([`super::pack_spill`]) go, and how many bytes of them:
//! unnamed files in a directory of the local state, sized by the space free there; or memory,
//! sized by the memory available, when that directory shares its file system with the export
//! target. The export makes its files durable with one `syncfs(2)` per window: on the same
//! file system, every sync would also write the copies to disk (the medium library's export
//! wrote 1.82 GB to the disk for 1.03 GB restored; 1.12 GB with the copies in memory).

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
    /// Anonymous memory files (`memfd_create(2)` on Linux): never written to a disk.
    Memory,
}

/// How many bytes of copies `dir` can take: at most `kept`, and a quarter of the space free
/// there (a restore must not fill the disk of the local state, where the catalog lives);
/// `None` when that is under [`SPILL_MIN`] or `dir` cannot be examined.
pub fn on_disk(dir: &Path, kept: u64) -> Option<u64> {
    room(disk_available(dir)?.checked_div(4)?, kept)
}

/// How many bytes of copies memory can take: at most `kept`, and an eighth of the memory
/// available (the system's, and the service's cgroup limit where one is set); `None` when
/// that is under [`SPILL_MIN`], or where memory files are not supported.
pub fn in_memory(kept: u64) -> Option<u64> {
    if !cfg!(any(target_os = "linux", target_os = "android")) {
        return None;
    }
    room(memory_available()?.checked_div(8)?, kept)
}

fn room(cap: u64, kept: u64) -> Option<u64> {
    let cap = cap.min(kept);
    (cap >= SPILL_MIN).then_some(cap)
}

/// Where copies of packs go for a restore that syncs the file system of `synced` (an export's
/// target; `None`: nothing is synced, e.g. a restore into iManage), given the local state's
/// directory `dir`, and how many bytes of them (at most `kept`); `None`: no copies (the
/// restore reads packs by ranges).
pub fn choose(dir: &Path, synced: Option<&Path>, kept: u64) -> Option<(SpillTo, u64)> {
    match synced.is_some_and(|s| same_file_system(dir, s)) {
        true => in_memory(kept).map(|cap| (SpillTo::Memory, cap)),
        false => on_disk(dir, kept).map(|cap| (SpillTo::Files(dir.to_path_buf()), cap)),
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
/// the headroom under the cgroup's `memory.max` (cgroup v2; a systemd `MemoryMax=`).
fn memory_available() -> Option<u64> {
    let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
    let system = mem_available(&meminfo)?;
    Some(match cgroup_headroom() {
        Some(h) => system.min(h),
        None => system,
    })
}

/// `MemAvailable` of a `/proc/meminfo` text, in bytes.
fn mem_available(meminfo: &str) -> Option<u64> {
    let line = meminfo.lines().find(|l| l.starts_with("MemAvailable:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    kib.checked_mul(1024)
}

/// `memory.max - memory.current` of this process's cgroup (v2), if it has a limit.
fn cgroup_headroom() -> Option<u64> {
    let cgroup = std::fs::read_to_string("/proc/self/cgroup").ok()?;
    let rel = cgroup.lines().find_map(|l| l.strip_prefix("0::"))?;
    let dir = Path::new("/sys/fs/cgroup").join(rel.trim_start_matches('/'));
    let read = |name: &str| std::fs::read_to_string(dir.join(name)).ok();
    let max: u64 = read("memory.max")?.trim().parse().ok()?; // "max": no limit
    let current: u64 = read("memory.current")?.trim().parse().ok()?;
    Some(max.saturating_sub(current))
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
