//! A restore's pack reads from an object store, one GET per pack: [`PackSpill`] wraps the
//! store and, the first time a range of a pack is asked for, GETs the whole pack into an
//! unnamed temporary file (private, gone with the process; on disk in the local state, or in
//! memory: [`super::spill_room`] chooses); that range and every later range of the pack are
//! read from the file (the reader maps or reads it as it reads a local repository's pack
//! files).
//!
//! Why: a restore's windows each read the blobs of their documents in pack order, but a
//! document's versions lie in several packs filled side by side, so every window touches ~7 of
//! the medium library's 43 packs and the restore made ~155 ranged GETs instead of restic's 43
//! (one per pack). Each GET costs the store far more than its bytes (moto copies the whole
//! 16 MiB object for every ranged GET; S3 bills per request). The windows keep their order and
//! overlap; only where a range's bytes come from changes.
//!
//! Nothing unverified leaves the repository because of it: the reader checks every blob it
//! cuts from the file (authentication, BLAKE3) as it does every ranged GET's. A pack whose body
//! ends short is refused. A pack larger than an eighth of the cap (packs are made 16 MiB;
//! something else planted under `packs/`) is read by ranges. A file that cannot be created or
//! written (a full disk) turns the spilling off for the rest of the run: that read and those
//! of packs not copied yet are ranged GETs again, with a local repository's read limits and
//! without the restore's cache of repeated blobs (more GETs than a restore that never copied;
//! the copies already made are still read). A failed GET of a whole pack fails the reads that
//! waited for it; the next read of that pack tries again.
//! At most [`PackSpill`]'s cap of bytes is kept, plus the packs being read: past it the least
//! recently read packs are dropped (a read in progress keeps its file open until it ends) and
//! read by ranges from then on. Copies in memory follow the memory available as well, read
//! before each new copy ([`super::spill_room::memory_cap_now`]): when other processes take
//! memory the least recently read copies are dropped, and where it is short no new pack is
//! copied.

use std::collections::HashMap;
use std::ops::Range;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use futures::StreamExt as _;
use object_store::path::Path;
use object_store::{
    Attributes, GetOptions, GetRange, GetResult, GetResultPayload, ObjectMeta, ObjectStore, Result,
};
use tokio::io::AsyncWriteExt as _;

use super::spill_room::memory_cap_now;
pub use super::spill_room::{SPILL_KEPT, SPILL_MIN, SpillTo};

/// Bytes of memory available now (`None`: unknown); read before each copy in memory.
type MemoryGauge = Arc<dyn Fn() -> Option<u64> + Send + Sync>;

/// A store whose ranged reads of packs are served from whole packs spilled to local files.
pub struct PackSpill {
    inner: Arc<dyn ObjectStore>,
    to: SpillTo,
    cap: u64,
    /// Packs larger than this are read by ranges.
    largest: u64,
    /// Set once a file could not be created or written: every read goes to `inner` since.
    off: AtomicBool,
    /// For copies in memory: the memory available now, their bound with `cap`.
    available: Option<MemoryGauge>,
    /// Set once memory was too short for a copy (logged once).
    memory_short: AtomicBool,
    packs: Mutex<Packs>,
    /// Whole packs read into files so far (tests, logs).
    spilled: AtomicU64,
}

#[derive(Default)]
struct Packs {
    slots: HashMap<Path, Arc<Slot>>,
    /// Bytes of the spilled packs in `slots`.
    bytes: u64,
    /// Packs whose copy was dropped past the cap: read by ranges from then on.
    dropped: std::collections::HashSet<Path>,
    clock: u64,
}

/// What the first read of a pack gave: its copy, `None` (read it by ranges), or the error of
/// its GET (shared by the reads that waited for it).
type Outcome = std::result::Result<Option<Arc<Spilled>>, Arc<object_store::Error>>;

#[derive(Default)]
struct Slot {
    cell: tokio::sync::OnceCell<Outcome>,
    last_read: AtomicU64,
}

struct Spilled {
    file: std::fs::File,
    meta: ObjectMeta,
    attributes: Attributes,
}

impl std::fmt::Debug for PackSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PackSpill")
            .field("inner", &self.inner.to_string())
            .field("to", &self.to)
            .field("cap", &self.cap)
            .finish()
    }
}

impl std::fmt::Display for PackSpill {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PackSpill({})", self.inner)
    }
}

impl PackSpill {
    /// Spills packs of `inner` to `to` (unnamed files in a private directory of the local
    /// state, or memory), keeping at most `cap` bytes of them; a pack over an eighth of `cap`
    /// is read by ranges.
    pub fn new(inner: Arc<dyn ObjectStore>, to: SpillTo, cap: u64) -> Self {
        Self::with_largest(inner, to, cap, cap / 8)
    }

    /// As [`PackSpill::new`], copying packs of at most `largest` bytes.
    pub fn with_largest(inner: Arc<dyn ObjectStore>, to: SpillTo, cap: u64, largest: u64) -> Self {
        let available = matches!(to, SpillTo::Memory)
            .then(|| Arc::new(super::spill_room::memory_available_now) as MemoryGauge);
        Self {
            inner,
            to,
            cap,
            largest,
            off: AtomicBool::new(false),
            available,
            memory_short: AtomicBool::new(false),
            packs: Mutex::new(Packs::default()),
            spilled: AtomicU64::new(0),
        }
    }

    /// Reads the memory available with `gauge` instead of the system's (tests).
    #[cfg(test)]
    fn with_memory_gauge(mut self, gauge: MemoryGauge) -> Self {
        self.available = Some(gauge);
        self
    }

    /// Whole packs read into files so far.
    pub fn packs_spilled(&self) -> u64 {
        self.spilled.load(Ordering::Relaxed)
    }

    /// Bytes of the copies kept now.
    pub fn bytes_kept(&self) -> u64 {
        self.packs.lock().unwrap_or_else(|e| e.into_inner()).bytes
    }

    /// The range of a plain ranged read of a pack (nothing conditional, no version).
    fn spillable(location: &Path, o: &GetOptions) -> Option<Range<u64>> {
        let plain = o.if_match.is_none()
            && o.if_none_match.is_none()
            && o.if_modified_since.is_none()
            && o.if_unmodified_since.is_none()
            && o.version.is_none()
            && !o.head;
        match &o.range {
            Some(GetRange::Bounded(r))
                if plain && r.start < r.end && location.as_ref().starts_with("packs/") =>
            {
                Some(r.clone())
            }
            _ => None,
        }
    }

    fn slot(&self, location: &Path) -> Arc<Slot> {
        let mut p = self.packs.lock().unwrap_or_else(|e| e.into_inner());
        p.clock += 1;
        let now = p.clock;
        let slot = p.slots.entry(location.clone()).or_default().clone();
        slot.last_read.store(now, Ordering::Relaxed);
        slot
    }

    /// The spilled pack at `location`, read whole on first use (one GET, however many ranges
    /// wait for it); `None`: read it by ranges (spilling is off, or the pack is too large).
    /// A failed GET fails every read that waited for it (once, not one retry after the
    /// other); the next read of the pack tries afresh.
    async fn spilled(&self, location: &Path) -> Result<Option<Arc<Spilled>>> {
        let slot = self.slot(location);
        let got = slot
            .cell
            .get_or_init(|| async {
                if self.off.load(Ordering::Relaxed)
                    || self.was_dropped(location)
                    || !self.memory_takes_another()
                {
                    return Ok(None);
                }
                match self.spill(location).await {
                    Ok(Some(s)) => {
                        self.spilled.fetch_add(1, Ordering::Relaxed);
                        self.admit(location, s.meta.size);
                        Ok(Some(s))
                    }
                    Ok(None) => Ok(None),
                    Err(e) => Err(Arc::new(e)),
                }
            })
            .await;
        match got {
            Ok(s) => Ok(s.clone()),
            Err(e) => {
                let mut p = self.packs.lock().unwrap_or_else(|e| e.into_inner());
                if p.slots.get(location).is_some_and(|s| Arc::ptr_eq(s, &slot)) {
                    p.slots.remove(location);
                }
                Err(shared_error(location, e))
            }
        }
    }

    fn was_dropped(&self, location: &Path) -> bool {
        let p = self.packs.lock().unwrap_or_else(|e| e.into_inner());
        p.dropped.contains(location)
    }

    /// Counts a newly spilled pack and drops the least recently read others past the cap.
    /// A dropped pack is not copied again (its later ranges are read from the store): when
    /// the packs the windows in flight want outgrow the cap, copying them again and again
    /// would read far more than their ranges (the medium library's export with a 256 MiB cap:
    /// 93 whole-pack GETs, 1.5 GB, for 709 MB of packs).
    fn admit(&self, location: &Path, size: u64) {
        // Read before locking: the new copy already takes its memory.
        let available = self.available.as_ref().and_then(|gauge| gauge());
        let mut p = self.packs.lock().unwrap_or_else(|e| e.into_inner());
        p.bytes += size;
        let cap = match available {
            Some(a) => memory_cap_now(self.cap, p.bytes, a),
            None => self.cap,
        };
        Self::shrink_to(&mut p, cap, Some(location));
    }

    /// For copies in memory: whether the memory available still takes another copy (the
    /// bound of [`memory_cap_now`] at least [`SPILL_MIN`]); when it does not, the least
    /// recently read copies past that bound are dropped too. Always true for files, and where
    /// the memory available cannot be read (the cap taken at the start holds).
    fn memory_takes_another(&self) -> bool {
        let Some(available) = self.available.as_ref().and_then(|gauge| gauge()) else {
            return true;
        };
        let mut p = self.packs.lock().unwrap_or_else(|e| e.into_inner());
        let cap = memory_cap_now(self.cap, p.bytes, available);
        if cap >= SPILL_MIN {
            return true;
        }
        Self::shrink_to(&mut p, cap, None);
        let kept = p.bytes;
        drop(p);
        if !self.memory_short.swap(true, Ordering::Relaxed) {
            tracing::info!(
                available,
                kept,
                "memory is short: packs not copied yet are read by ranges, copies past an eighth of the memory available dropped"
            );
        }
        false
    }

    /// Drops the least recently read copies (other than `keep`) until they hold at most `cap`
    /// bytes; a dropped pack is read by ranges from then on.
    fn shrink_to(p: &mut Packs, cap: u64, keep: Option<&Path>) {
        while p.bytes > cap {
            let victim = p
                .slots
                .iter()
                .filter(|(k, s)| Some(*k) != keep && matches!(s.cell.get(), Some(Ok(Some(_)))))
                .min_by_key(|(_, s)| s.last_read.load(Ordering::Relaxed))
                .map(|(k, _)| k.clone());
            let Some(victim) = victim else { break };
            if let Some(slot) = p.slots.remove(&victim)
                && let Some(Ok(Some(s))) = slot.cell.get()
            {
                p.bytes -= s.meta.size;
            }
            p.dropped.insert(victim);
        }
    }

    /// GETs the whole pack into a new unnamed file. `Ok(None)`: the caller reads the range
    /// itself: the pack is larger than an eighth of the cap, or the file could not be created
    /// or written (spilling is then off for every pack not copied yet).
    async fn spill(&self, location: &Path) -> Result<Option<Arc<Spilled>>> {
        let to = self.to.clone();
        let file = match tokio::task::spawn_blocking(move || new_copy(&to)).await {
            Ok(Ok(f)) => f,
            Ok(Err(e)) => return Ok(self.turn_off(location, &e.to_string())),
            Err(e) => return Ok(self.turn_off(location, &e.to_string())),
        };
        let got = self.inner.get_opts(location, GetOptions::default()).await?;
        let (meta, attributes) = (got.meta.clone(), got.attributes.clone());
        if meta.size > self.largest {
            // A pack far larger than packs are made (or an object planted under packs/): read
            // by ranges, as before, instead of filling the disk or the cap with it.
            tracing::debug!(pack = %location, size = meta.size, "a pack too large to keep a copy of");
            return Ok(None);
        }
        let mut body = got.into_stream();
        let mut out = tokio::fs::File::from_std(file);
        let mut written = 0u64;
        while let Some(chunk) = body.next().await {
            let chunk = chunk?;
            if let Err(e) = out.write_all(&chunk).await {
                return Ok(self.turn_off(location, &e.to_string()));
            }
            written += chunk.len() as u64;
            if written > meta.size {
                break;
            }
        }
        if let Err(e) = out.flush().await {
            return Ok(self.turn_off(location, &e.to_string()));
        }
        if written != meta.size {
            return Err(object_store::Error::Generic {
                store: "PackSpill",
                source: format!(
                    "the body of {location} gave {written} bytes (at least) of its {}",
                    meta.size
                )
                .into(),
            });
        }
        Ok(Some(Arc::new(Spilled {
            file: out.into_std().await,
            meta,
            attributes,
        })))
    }

    fn turn_off(&self, location: &Path, why: &str) -> Option<Arc<Spilled>> {
        if !self.off.swap(true, Ordering::Relaxed) {
            tracing::warn!(
                pack = %location,
                to = ?self.to,
                error = why,
                "could not keep a pack in a local file; reading packs range by range"
            );
        }
        None
    }

    fn serve(&self, location: &Path, s: &Spilled, range: Range<u64>) -> Result<GetResult> {
        // A range reaching past the end is cut there (as a store answers): the reader, which
        // asked for the whole range, reports the pack truncated.
        let size = s.meta.size;
        let file = s
            .file
            .try_clone()
            .map_err(|e| object_store::Error::Generic {
                store: "PackSpill",
                source: Box::new(e),
            })?;
        let path = match &self.to {
            SpillTo::Files(dir) => dir.join(format!("(local copy of {location}, unnamed)")),
            SpillTo::Memory => PathBuf::from(format!("(copy of {location} in memory)")),
        };
        Ok(GetResult {
            payload: GetResultPayload::File(file, path),
            meta: s.meta.clone(),
            range: range.start.min(size)..range.end.min(size),
            attributes: s.attributes.clone(),
            extensions: Default::default(),
        })
    }
}

/// A new, empty, unnamed file for one copy.
fn new_copy(to: &SpillTo) -> std::io::Result<std::fs::File> {
    match to {
        SpillTo::Files(dir) => tempfile::tempfile_in(dir),
        #[cfg(any(target_os = "linux", target_os = "android"))]
        SpillTo::Memory => {
            use rustix::fs::{MemfdFlags, memfd_create};
            const NAME: &str = "imvault-pack-copy";
            // Never executable (Linux 6.3+ asks for the flag; older kernels refuse it).
            match memfd_create(NAME, MemfdFlags::CLOEXEC | MemfdFlags::NOEXEC_SEAL) {
                Err(rustix::io::Errno::INVAL) => memfd_create(NAME, MemfdFlags::CLOEXEC),
                r => r,
            }
            .map(std::fs::File::from)
            .map_err(std::io::Error::from)
        }
        #[cfg(not(any(target_os = "linux", target_os = "android")))]
        SpillTo::Memory => Err(std::io::ErrorKind::Unsupported.into()),
    }
}

/// The error of a pack's shared GET, for one of the reads that waited for it (`NotFound` stays
/// `NotFound`: a lost pack is named as such).
fn shared_error(location: &Path, e: &object_store::Error) -> object_store::Error {
    match e {
        object_store::Error::NotFound { path, .. } => object_store::Error::NotFound {
            path: path.clone(),
            source: e.to_string().into(),
        },
        _ => object_store::Error::Generic {
            store: "PackSpill",
            source: format!("reading {location} whole: {e}").into(),
        },
    }
}

#[async_trait]
#[deny(clippy::missing_trait_methods)]
impl ObjectStore for PackSpill {
    async fn get_opts(&self, location: &Path, options: GetOptions) -> Result<GetResult> {
        if let Some(range) = Self::spillable(location, &options)
            && let Some(s) = self.spilled(location).await?
        {
            return self.serve(location, &s, range);
        }
        self.inner.get_opts(location, options).await
    }

    crate::repo::store_forward::forward_store_methods!(inner =>
        put_opts, put_multipart_opts, get_ranges, delete_stream, list, list_with_offset,
        list_with_delimiter, copy_opts, rename_opts);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use object_store::ObjectStoreExt as _;
    use object_store::memory::InMemory;

    fn body(seed: u8, len: usize) -> Bytes {
        (0..len)
            .map(|i| (i as u8).wrapping_mul(31).wrapping_add(seed))
            .collect()
    }

    async fn store_with(packs: &[(&str, Bytes)]) -> Arc<dyn ObjectStore> {
        let s: Arc<dyn ObjectStore> = Arc::new(InMemory::new());
        for (k, b) in packs {
            s.put(&Path::from(*k), b.clone().into()).await.unwrap();
        }
        s
    }

    async fn range(s: &PackSpill, key: &str, r: Range<u64>) -> Result<(Range<u64>, Bytes)> {
        let got = s
            .get_opts(
                &Path::from(key),
                GetOptions {
                    range: Some(GetRange::Bounded(r)),
                    ..GetOptions::default()
                },
            )
            .await?;
        let served = got.range.clone();
        Ok((served, got.bytes().await?))
    }

    /// Ranges of a pack, asked for at once and later, come from one spilled copy, byte for
    /// byte what the store holds; a range past the end is cut at the end (the reader refuses
    /// it); objects that are not packs, and whole reads, go to the store.
    #[tokio::test]
    async fn ranges_of_a_pack_come_from_one_whole_read() {
        let a = body(1, 300_000);
        let inner = store_with(&[("packs/aa/a", a.clone()), ("index/x", body(2, 10))]).await;
        let dir = tempfile::tempdir().unwrap();
        let s = PackSpill::new(inner, SpillTo::Files(dir.path().to_path_buf()), SPILL_KEPT);
        let asks = [0..10, 5..300_000, 299_999..300_000, 1000..2000];
        let got =
            futures::future::join_all(asks.iter().map(|r| range(&s, "packs/aa/a", r.clone())))
                .await;
        for (r, g) in asks.iter().zip(got) {
            let (served, bytes) = g.unwrap();
            assert_eq!(served, *r);
            assert_eq!(bytes, a.slice(r.start as usize..r.end as usize));
        }
        assert_eq!(s.packs_spilled(), 1, "one whole read for every range");
        // Past the end: cut there, as a store answers (the reader then refuses the range).
        let (served, bytes) = range(&s, "packs/aa/a", 299_000..400_000).await.unwrap();
        assert_eq!((served, bytes.len()), (299_000..300_000, 1000));
        let (served, bytes) = range(&s, "packs/aa/a", 300_001..300_002).await.unwrap();
        assert_eq!((served, bytes.len()), (300_000..300_000, 0));
        let (_, idx) = range(&s, "index/x", 2..5).await.unwrap();
        assert_eq!(idx, body(2, 10).slice(2..5));
        let whole = s.get(&Path::from("packs/aa/a")).await.unwrap();
        assert!(matches!(whole.payload, GetResultPayload::Stream(_)));
        assert_eq!(s.packs_spilled(), 1);
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "the copies have no name"
        );
        // A pack that is not there fails every read waiting for it as not found; once it is
        // there (the store healed), the next read copies it.
        let asks = (0..4).map(|_| range(&s, "packs/bb/b", 0..1));
        for missing in futures::future::join_all(asks).await {
            let missing = missing.unwrap_err();
            assert!(
                matches!(missing, object_store::Error::NotFound { .. }),
                "{missing}"
            );
        }
        let b = body(5, 2000);
        s.inner
            .put(&Path::from("packs/bb/b"), b.clone().into())
            .await
            .unwrap();
        let (_, got) = range(&s, "packs/bb/b", 10..20).await.unwrap();
        assert_eq!(got, b.slice(10..20));
        assert_eq!(s.packs_spilled(), 2);
    }

    /// A pack larger than an eighth of the cap is read by ranges, not copied; smaller packs
    /// still are.
    #[tokio::test]
    async fn a_pack_too_large_for_the_cap_is_read_by_ranges() {
        let (big, small) = (body(1, 5000), body(2, 500));
        let inner = store_with(&[
            ("packs/aa/big", big.clone()),
            ("packs/bb/small", small.clone()),
        ])
        .await;
        let dir = tempfile::tempdir().unwrap();
        let s = PackSpill::with_largest(
            inner,
            SpillTo::Files(dir.path().to_path_buf()),
            1 << 20,
            1000,
        );
        for r in [0..10u64, 4000..5000] {
            let (served, got) = range(&s, "packs/aa/big", r.clone()).await.unwrap();
            assert_eq!(served, r);
            assert_eq!(got, big.slice(r.start as usize..r.end as usize));
        }
        assert_eq!(s.packs_spilled(), 0);
        let (_, got) = range(&s, "packs/bb/small", 1..3).await.unwrap();
        assert_eq!(got, small.slice(1..3));
        assert_eq!(s.packs_spilled(), 1, "spilling is still on");
    }

    /// Past the cap the least recently read pack is dropped and read by ranges when asked for
    /// again; the other stays.
    #[tokio::test]
    async fn past_the_cap_the_least_recently_read_pack_goes() {
        let (a, b) = (body(1, 1000), body(2, 1000));
        let inner = store_with(&[("packs/aa/a", a.clone()), ("packs/bb/b", b.clone())]).await;
        let dir = tempfile::tempdir().unwrap();
        let s =
            PackSpill::with_largest(inner, SpillTo::Files(dir.path().to_path_buf()), 1500, 1000);
        range(&s, "packs/aa/a", 0..10).await.unwrap();
        range(&s, "packs/bb/b", 0..10).await.unwrap();
        assert_eq!(s.packs_spilled(), 2);
        range(&s, "packs/bb/b", 10..20).await.unwrap();
        assert_eq!(s.packs_spilled(), 2, "b is kept");
        let (_, got) = range(&s, "packs/aa/a", 10..20).await.unwrap();
        assert_eq!(got, a.slice(10..20));
        assert_eq!(
            s.packs_spilled(),
            2,
            "a was dropped: read by ranges, not copied again"
        );
        let (_, got) = range(&s, "packs/bb/b", 20..30).await.unwrap();
        assert_eq!(got, b.slice(20..30));
        assert_eq!(s.packs_spilled(), 2, "b is still kept");
    }

    /// Copies in memory serve ranges as those on disk do: one whole read per pack, byte for
    /// byte, past-the-end ranges cut.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn copies_in_memory_serve_ranges_from_one_whole_read() {
        let a = body(7, 200_000);
        let inner = store_with(&[("packs/aa/a", a.clone())]).await;
        let s = PackSpill::new(inner, SpillTo::Memory, SPILL_KEPT);
        for r in [0..10u64, 5..200_000, 150_000..150_001, 100..5000] {
            let (served, got) = range(&s, "packs/aa/a", r.clone()).await.unwrap();
            assert_eq!(served, r);
            assert_eq!(got, a.slice(r.start as usize..r.end as usize));
        }
        assert_eq!(s.packs_spilled(), 1, "one whole read for every range");
        let (served, got) = range(&s, "packs/aa/a", 199_000..300_000).await.unwrap();
        assert_eq!((served, got.len()), (199_000..200_000, 1000));
    }

    /// Copies in memory follow the memory available, read before each copy: while it is
    /// plentiful packs are copied; once it is short (an eighth of it and the copies under
    /// SPILL_MIN) a new pack is read by ranges; once it is nearly gone the copies are dropped
    /// too, and their packs read by ranges. Every range is byte for byte what the store holds.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn copies_in_memory_follow_the_memory_available() {
        let packs: Vec<(String, Bytes)> = (0..4u8)
            .map(|i| (format!("packs/0{i}/p{i}"), body(i, 1000)))
            .collect();
        let refs: Vec<(&str, Bytes)> = packs.iter().map(|(k, b)| (k.as_str(), b.clone())).collect();
        let inner = store_with(&refs).await;
        let available = Arc::new(AtomicU64::new(16 << 30));
        let gauge = available.clone();
        let s = PackSpill::new(inner, SpillTo::Memory, SPILL_KEPT)
            .with_memory_gauge(Arc::new(move || Some(gauge.load(Ordering::Relaxed))));
        let check = |i: usize, r: Range<u64>| {
            let (key, b) = (&packs[i].0, packs[i].1.clone());
            let s = &s;
            async move {
                let (served, got) = range(s, key, r.clone()).await.unwrap();
                assert_eq!(served, r);
                assert_eq!(got, b.slice(r.start as usize..r.end as usize));
            }
        };
        check(0, 0..10).await;
        check(1, 0..10).await;
        assert_eq!((s.packs_spilled(), s.bytes_kept()), (2, 2000));
        // Short: an eighth of 1 GiB is under SPILL_MIN; the copies made stay.
        available.store(1 << 30, Ordering::Relaxed);
        check(2, 5..15).await;
        check(2, 500..1000).await;
        assert_eq!(
            (s.packs_spilled(), s.bytes_kept()),
            (2, 2000),
            "pack 2 not copied"
        );
        check(0, 10..20).await;
        // Nearly gone: the copies go, and their packs are read by ranges.
        available.store(0, Ordering::Relaxed);
        check(3, 0..1000).await;
        assert_eq!(
            (s.packs_spilled(), s.bytes_kept()),
            (2, 0),
            "copies dropped"
        );
        available.store(16 << 30, Ordering::Relaxed);
        check(0, 20..30).await;
        check(1, 999..1000).await;
        assert_eq!(s.packs_spilled(), 2, "dropped packs are not copied again");
        // Plenty again: a pack never asked for before is copied.
        let fresh = body(9, 700);
        s.inner
            .put(&Path::from("packs/09/p9"), fresh.clone().into())
            .await
            .unwrap();
        let (_, got) = range(&s, "packs/09/p9", 1..9).await.unwrap();
        assert_eq!(got, fresh.slice(1..9));
        assert_eq!((s.packs_spilled(), s.bytes_kept()), (3, 700));
    }

    /// Where no file can be made (here: a directory that does not exist) every range is read
    /// from the store itself, byte for byte.
    #[tokio::test]
    async fn without_a_place_for_copies_ranges_are_read_from_the_store() {
        let a = body(3, 5000);
        let inner = store_with(&[("packs/aa/a", a.clone())]).await;
        let dir = tempfile::tempdir().unwrap();
        let s = PackSpill::new(inner, SpillTo::Files(dir.path().join("gone")), SPILL_KEPT);
        for r in [0..10u64, 100..5000] {
            let (served, got) = range(&s, "packs/aa/a", r.clone()).await.unwrap();
            assert_eq!(served, r);
            assert_eq!(got, a.slice(r.start as usize..r.end as usize));
        }
        assert_eq!(s.packs_spilled(), 0);
    }
}
