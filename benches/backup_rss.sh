#!/usr/bin/env bash
# Peak RSS of `imvault backup` (a separate process from the simulator) as the library grows:
# memory must stay flat in library size (issue 5).
#
# Usage: [SIZE_DIVISOR=N] [LIBRARIES=N] [TRACE=1] [WORK=DIR] benches/backup_rss.sh [SCALE ...]
#   SCALE         tiny | small | medium | large | a number of versions (default: 2000 20000 100000)
#   SIZE_DIVISOR  the simulator's --size-divisor (default 1): the same corpus, ids and versions
#                 with every document N times smaller, so `large` (~98 GB of content) fits a disk
#   LIBRARIES     the simulator's --libraries (default 1: the whole scale in one library)
#   RUNS=N        back up N times (default 1); runs 2.. are incremental with nothing changed
#                 (shown as SCALE#2): the memory of a nightly run over the same library
#   CHANGE_PERCENT=P  before each run 2.., add P% new versions (of the library's versions,
#                 at least 1) through the simulator's POST /sim/mutate: runs 2.. are then
#                 P%-change incrementals (shown as SCALE#2+P%) that must read exactly the
#                 new versions' bytes (the simulator's summary before and after)
#   CHANGE_FROM=R the first run that changes the library first (default 2; RUNS=3 CHANGE_FROM=3
#                 gives a full, a no-change and a P%-change run)
#   PROFILE_EDIT_PERCENT=E  with CHANGE_PERCENT, also edit the profiles of E% of the versions
#                 (random ones, spread over the whole library; no content read) before each
#                 changing run (shown as SCALE#R+P%+E%pe)
#   REBUILD=1     after the last run of a scale, time `imvault catalog rebuild` into a new
#                 catalog file (peak RSS, streams loaded in full) and check it holds the same
#                 rows as the catalog the backups filled (needs sqlite3)
#   FULL_LISTING_FROM=R  runs R.. (R >= 2) list every version (`backup --full-listing`, what the
#                 weekly run does: `[backup] full_listing_every_days`), shown as SCALE#R+FL
#   IMVAULT_BIN   the imvault binary to run (default: a release build of this tree)
#   TRACE=1       also print the backup's RSS every RSS_EVERY seconds (default 10) against the
#                 versions the simulator has served so far
#   WORK          where the repository and catalog go (default: a new temp dir, removed at exit);
#                 with WORK, each run's summary, trace and log are kept in WORK/SCALE
# "CPU s" is the backup process's user + system CPU seconds.
# Each run: start `imvault sim`, read its /sim/summary (versions and bytes to expect), refuse to
# start when the free disk is below 1.5x the content + 600 bytes per version + 2 GB, `init` +
# `backup --json`, then check the summary says completed with every version and byte.
#
# Figures, 2026-11-30, the shared 2-core machine (another engineer building at times), release
# build, local repository and catalog on the same disk, `requests_per_second = 5000`,
# `concurrency = 8`, one library, seed 1. "content" is what the backup downloaded (= the
# simulator's sum of sizes, checked); "repo" is the repository plus the catalog. `#2`/`#3` are
# no-change incremental runs over the same repository (RUNS=3).
#
# |    scale | versions | divisor | content GB | seconds | MB/s | versions/s | backup peak RSS | sim RSS | repo GB |
# |----------|----------|---------|------------|---------|------|------------|-----------------|---------|---------|
# |     2000 |    2,443 |      20 |       0.01 |     0.9 |   10 |      2,776 |        82.1 MiB | 63 MiB  |    0.01 |
# |    20000 |   20,021 |      20 |       0.08 |     6.2 |   13 |      3,203 |       118.8 MiB | 66 MiB  |    0.11 |
# |   100000 |   95,963 |      20 |       0.43 |    31.0 |   14 |      3,096 |       179.5 MiB | 67 MiB  |    0.54 |
# |    large | 1,055,277|      20 |       4.94 |   287.8 |   17 |      3,667 |       254.2 MiB | 69 MiB  |    6.10 |
# |   100000 |   95,963 |       1 |       8.43 |    81.1 |  104 |      1,183 |       165.2 MiB | 69 MiB  |    5.49 |
# |   2000#3 |    2,443 |      20 |          0 |     0.3 |    - |      9,048 |        41.1 MiB |         |         |
# |  20000#3 |   20,021 |      20 |          0 |     1.3 |    - |     15,641 |        61.2 MiB |         |         |
# | 100000#3 |   95,963 |      20 |          0 |     6.0 |    - |     15,967 |        78.8 MiB |         |         |
# |  large#2 | 1,055,277|      20 |          0 |    64.5 |    - |     16,353 |       382.2 MiB |         |    6.23 |
# |  large#3 | 1,055,277|      20 |          0 |    59.4 |    - |     17,754 |       305.6 MiB |         |    6.23 |
#
# How memory grows (heaptrack of 300,000-version runs, /proc sampling of the large ones):
# - Full backups peak at 150-260 MiB; the same run repeated varies by +-30 MiB (100000: 146,
#   148, 180; large: 263, 256, 242, 254), because up to 6 pack buffers of 16 MiB are in flight.
#   100000 -> large adds ~80-110 MiB for 960,000 versions: ~0.1 KB per version, from the blob
#   index (52 bytes per blob in its sorted array, plus its hash map of blobs added since the
#   last fold, up to an eighth of the array) and, in the catalog phase at the end, SQLite's
#   page cache (capped at 32 MiB). The crawl, the simulator (~68 MiB) and the per-checkpoint
#   set of claimed blobs (bounded by 60 s of uploads) do not grow with the library.
# - A no-change incremental holds what it needs to skip every unchanged version:
#   the prior versions' map (~114 bytes per version: 2^21 buckets of 57 bytes at 1M), each
#   version's blob list (48 bytes for one blob), the index (52 bytes per blob) and the crawl's
#   per-document map: ~0.24 KB per version (100000#3 79 MiB -> large#3 306 MiB). Before the
#   blob lists were read at their exact length, a one-blob list held 128 bytes and large#2
#   peaked at 524 MiB (82 s).
# - The first incremental after a full backup (large#2) catalogues its versions stream as
#   differences (a 128-bit hash per line of the parent's stream, +~75 MiB at the end): the
#   records are identical but in crawl order, while the full backup wrote them in download
#   order. Later runs (large#3) carry the whole stream over.
# - Disk: of large's 6.10 GB, the catalog is 2.42 GB (~2.3 KB per version), the repository
#   3.68 GB (4.94 GB of content, 3.59 GB stored after dedup and zstd).
# Earlier figures (before the divisor, full size): 2000 / 20000 / 100000 versions peaked at
# 90 / 116 / 166 MiB.
# After the changes-only listing and the prior digest (2026-11-30, 03:00, same machine, RUNS=2):
#   large    full  297.9 s, 256.7 MiB (the next run's digest is streamed to a temporary file:
#                  a version costs no memory for it; built in memory first, it was 447.6 MiB)
#   large#2  no-change incremental 9.2 s (was 59-64 s), 311.3 MiB: the prior comes from the
#            digest (~65 B per version on disk, read as a stream) instead of the snapshot's
#            profiles, only changed versions are listed, the rest is carried.
# 2026-12-05 (issue 21, memory slice; not yet changed, figures of the code as it is): release
#   build of main as of 2026-12-04 22:53, encrypted repository (init now needs a password: the
#   script sets IMVAULT_PASSWORD), SIZE_DIVISOR=20, RUNS=3 CHANGE_PERCENT=1 CHANGE_FROM=3
#   (full, no-change, 1%-change = new versions through POST /sim/mutate, exactly their bytes read):
# |      scale | versions | seconds | versions/s | backup peak RSS |
# |------------|----------|---------|------------|-----------------|
# |     100000 |   95,963 |    30.1 |      3,186 |       202.0 MiB |
# |   100000#2 |   95,963 |     1.3 |     74,390 |        88.3 MiB |
# | 100000#3+1%|   96,922 |     2.8 |     35,117 |        88.2 MiB |
# |      large |1,055,277 |   353.1 |      2,989 |       263.6 MiB |
# |    large#2 |1,055,277 |    11.7 |     90,195 |       320.3 MiB |
# |  large#3+1%|1,065,829 |    25.4 |     41,945 |       365.6 MiB |
#   (100000 -> large: full +62 MiB, no-change +232 MiB, 1%-change +277 MiB: ~0.24-0.29 KB per
#   version, the prior map and the index below; all three are over the 256 MiB goal at 1 M)
# heaptrack of 100000#2 (no-change): the heap peaks at 67.4 MB during the repository unlock:
#   64 MiB of it is argon2's block buffer (keyslot::wrapping_key), freed right after (it sets a
#   ~100 MiB floor for small runs; it does not add to a later peak); the rest of the run stays
#   under 25 MB of heap at 100,000 versions. What grows with versions, from the code (sizes at
#   1.05 M versions; the index grows per blob):
#   - jobs/backup/prior.rs PriorVersions.map: HashMap<(u64,u32), Entry{fingerprint, security,
#     ContentRef{size, Vec<BlobId>}}>: 64-byte buckets + control byte, 2^21 buckets at 1.05 M
#     (~136 MB), plus one heap block per blob list (32 B + malloc header: ~48 MB); the prior
#     cache decoder (prior::encoding::decode_reader) starts from HashMap::new(), so its last
#     resize holds the 2^20 and 2^21 tables at once (~+68 MB transient). ~180 B per version.
#   - repo/index.rs Inner.sorted: 52 B per blob, capacity grown by Vec::extend at each fold
#     (up to 2x slack), plus `added` (≤ 1/8 of the array): ~60-110 MB.
#   - run.rs Tally.seen_parent_keys (HashSet<(u64,u32)>): every parent version the walk lists
#     (~36 MB at 1 M in a full-listing incremental; few in a changes-only one).
#   - prior.known_documents() (HashMap per document, ~17 B/bucket) and library.rs gone
#     accounting (per-document maps of the vanished versions only).
#   - SQLite page cache (capped 32 MiB) in the catalog phase; up to 6 pack buffers of 16 MiB
#     in a full backup (bounded, not per version).
#   Plan (next session): the prior cache sorted by (document, version) (IMVPRIO4; IMVPRIO3 and
#   the snapshot stream rebuilt through an external sort), read through a fence index (first
#   key of every 4 KiB page) with pread for the few versions a changes-only walk yields and as
#   one ordered stream for lacking_content/known_documents/gone/carry; the blob index as a
#   local sorted table (same fence + a ~10 bit/blob filter) with the session's additions in a
#   bounded map flushed as sorted runs; seen_parent_keys as a sorted run file merged with the
#   prior stream.
# 2026-12-05 06:00 (issue 21, after the change): the loaded index and the last snapshot's
#   versions are sorted tables on disk (unnamed temporary files in the local state: src/repo/
#   index/table.rs, src/jobs/backup/prior/table.rs; memory ~0.6 B per blob and ~0.1 B per
#   version for their fences), the parent versions a run sees are one bit each. Release build
#   of main 8a62971, same settings as the rows above (SIZE_DIVISOR=20, RUNS=3 CHANGE_PERCENT=1
#   CHANGE_FROM=3; the large full run shared the machine with a test suite for 7 of its 7 min):
# |      scale | versions | seconds | versions/s | backup peak RSS | before |
# |------------|----------|---------|------------|-----------------|--------|
# |     100000 |   95,963 |    28.1 |      3,420 |       150.2 MiB | 202.0 MiB |
# |   100000#2 |   95,963 |     1.0 |     94,081 |        83.7 MiB |  88.3 MiB |
# | 100000#3+1%|   96,922 |     1.9 |     51,281 |        83.7 MiB |  88.2 MiB |
# |      large |1,055,277 |   436.2 |      2,419 |       227.3 MiB | 263.6 MiB |
# |    large#2 |1,055,277 |    11.9 |     88,604 |        94.2 MiB | 320.3 MiB |
# |  large#3+1%|1,065,829 |    29.5 |     36,179 |       183.4 MiB | 365.6 MiB |
#   All under 256 MiB at 1 M. 100000 -> large: no-change +10.5 MiB for 960,000 versions
#   (~11 B per version: the changes-only crawl's per-document sets, below), full +77 MiB (the
#   crawl itself stays at 110-180 MiB; the peak is the catalog phase at the end: SQLite's
#   32 MiB page cache and the transaction's dirty pages), 1%-change +100 MiB (pack buffers of
#   the new versions in flight, up to 6 x 16 MiB, bounded). The large full run's RSS trace
#   (TRACE=1, every 30 s): 139, 171, 177, 177, 177, 178, 183, ... 183 MiB until the last version
#   (372 s), then 223-227 MiB in the catalog phase (83 s).
#   5 M versions (2026-12-05 05:59-06:33, SIZE_DIVISOR=100 so content and catalog fit the disk,
#   RUNS=2; full = main 030dba3, the no-change run started after 843cfda was built into the
#   same path, so it ran with the index's two-level fold):
# |      scale | versions | seconds | versions/s | backup peak RSS | repo+catalog |
# |------------|----------|---------|------------|-----------------|--------------|
# |    5000000 |4,880,558 |  1841.8 |      2,650 |       322.9 MiB |     15.91 GB |
# |  5000000#2 |4,880,558 |    49.4 |     98,797 |       270.5 MiB |              |
#   The full run's RSS stayed at 125-230 MiB (trace every 60 s) but its high-water mark jumped
#   149 -> 263 MiB at ~490,000 versions and to 323 MiB later: the index's hash map of blobs
#   added since the load reached 262,144 entries (with its growth from 2^18 to 2^19 buckets,
#   ~70 MB) before each fold. Fixed in 843cfda: folds at 65,536 into a second, recent table on
#   disk (~6-12 MB). The catalog phase took 380 s of the 1,842 (the catalog is 2.3 KB per
#   version: ~11 GB here). The no-change run's 270 MiB (+176 MiB over 1 M, ~46 B per version)
#   is the changes-only crawl's per-document sets: KnownDocuments (a HashMap, ~40 B per
#   document with growth), the parent and filed document-number sets (HashSet<u64>, ~30 B
#   each): the two sets became sorted Vec<u64> (8 B) in the next commit; KnownDocuments is
#   left (next step: built as a sorted Vec from the prior table, in order, with a small map
#   of the documents the crawl adds).
#   large again with the two-level fold (release build of 07b7f77, 06:35, RUNS=2, TRACE=1):
# |      scale | versions | seconds | versions/s | backup peak RSS |
# |------------|----------|---------|------------|-----------------|
# |      large |1,055,277 |   485.8 |      2,172 |       194.3 MiB |
# |    large#2 |1,055,277 |     8.8 |    119,782 |        97.3 MiB |
#   (the crawl's high-water mark stayed at 154.7 MiB up to 700,000 versions, against 183 MiB
#   before; the machine ran a test suite during the full run, hence the seconds).
#   What still grows with the library: the changes-only crawl's per-document sets, now
#   16 B (KnownDocuments, a sorted Vec when built from the prior in order) + 8 B + 8 B per
#   document (not measured at 5 M after the change); a full listing's KnownDocuments (a map,
#   ~40 B per document, versions arrive out of order); the catalog load's `seen` sets (rid or item) of
#   a full-listing incremental (catalog/load/carry.rs, 8-16 B per version) and the catalog's
#   own size on disk (2.3 KB per version).
#   large with catalog schema v3 (issue 21: open ends as empty text, version_names, no
#   versions.state; release build of 0c7bf1e, 2026-12-05 18:26-18:33 UTC, quiet machine,
#   RUNS=3 CHANGE_FROM=3 CHANGE_PERCENT=1; every run checked complete):
# |      scale | versions | seconds | versions/s | backup peak RSS | repo+catalog GB |
# |------------|----------|---------|------------|-----------------|-----------------|
# |      large |1,055,277 |   328.5 |      3,212 |       201.2 MiB |            4.05 |
# |    large#2 |1,055,277 |     8.2 |    128,223 |        89.3 MiB |            4.05 |
# |  large#3+1%|1,065,829 |    19.4 |     54,883 |       184.8 MiB |            4.09 |
#   (all three under the 256 MiB goal at 1 M; 5 M and 10 M not re-measured with this schema.)
#   5 M with catalog schema v4 (release build of fb2df9b, 2026-12-05 19:57-20:52 UTC, SIZE_DIVISOR=100, RUNS=3 CHANGE_FROM=3 CHANGE_PERCENT=1, under
#   `nice` beside test suites, builds and the catalog benches: seconds are loaded, ~2x; every
#   run checked complete; TRACE every 10 s):
# |      scale   | versions | seconds | versions/s | backup peak RSS | sim RSS   | repo+catalog GB |
# |--------------|----------|---------|------------|-----------------|-----------|-----------------|
# |    5000000   |4,880,558 |  3157.4 |      1,546 |       232.8 MiB |  72.4 MiB |            6.14 |
# |  5000000#2   |4,880,558 |    45.9 |    106,261 |       199.8 MiB |  72.4 MiB |            6.14 |
# | 5000000#3+1% |4,929,363 |   118.7 |     41,514 |       217.2 MiB | 177.5 MiB |            6.20 |
#   All three under 256 MiB at 5 M (were 322.9 / 270.5 MiB, 1%-change not measured). The full
#   run's trace: 118-182 MiB during the crawl, high-water 195 MiB until ~4.6 M versions, 231-233
#   MiB at the crawl's end (the last packs in flight and the index's fold), 204-206 MiB in the
#   catalog phase (~530 s of the 3,157). On disk: catalog 1,443.5 MB (296 B per version),
#   repository 4.70 GB, the next run's digest 317 MB. 1 M -> 5 M: full +31.6 MiB, no-change
#   +110.5 MiB (~30 B per added version; the changes-only crawl's per-document sets, ~32 B per
#   document for 2.46 M documents here against ~0.5 M at 1 M, explain ~60 MB of it, the rest is
#   not attributed yet). Extrapolated, 10 M would put the no-change run near 340 MiB: the next
#   step for memory is those sets (sorted runs on disk, or a filter, instead of vectors).
#   2026-12-05 23:00 (issue 21, what else grows; release builds, the 1 M repository of a full
#   backup, RSS by /usr/bin/time, heap by heaptrack):
#   - the index load's external sort: its 32 MiB run buffer grew by doubling to 2^20 slots
#     (58.7 MB) and held old and new arrays while moving: 54.5 MB of a no-change run's 93.3 MB
#     heap peak; reserved exactly once now: heap peak 75.0 MB (RSS 90 -> 88 MiB).
#   - the changes-only crawl: 16 B per document (the parent and filed sets are flags of
#     KnownDocuments' entries now) instead of 32 B plus the filings' vector while it grew.
#   - a catalog load that is not carried over (after forgotten parents, a full fallback) held a
#     HashSet<u128> of every item seen again plus a Vec of every open row: now a temporary
#     SQLite table in a file. Catalog rebuild with a forgotten parent (2 loads of 1 M):
#     261.7 MiB / 269 s -> 199.9 MiB / 207 s.
#   - the catalog sync's differences held a 128-bit hash per differing line of the parent's
#     stream: all of them on the first full listing after a full backup (download order vs
#     crawl order): the first `--full-listing` run at 1 M peaked at 175.1 MiB, the second at
#     106.0 MiB. Now a stream with more than 500,000 differing lines is loaded in full
#     (flat, slower): catalog rebuild of the 10 snapshots at 1 M 245.7 MiB / 118 s ->
#     198.3 MiB / 198 s. FULL_LISTING_FROM=R measures such runs here.
#   5 M (4,880,558 versions, SIZE_DIVISOR=100, RUNS=4 CHANGE_FROM=3 CHANGE_PERCENT=1
#   FULL_LISTING_FROM=4; release build of 89c6598: the crawl's flags, the index buffer and the
#   seen table, not yet the 500,000-line fall-back of d8fa0b7; 23:05-00:20 UTC under `nice`
#   beside test suites and the restore benchmark, load 7-10: seconds ~2-3x; every run checked):
# |        scale      | versions | seconds | backup peak RSS | before (fb2df9b) |
# |-------------------|----------|---------|-----------------|------------------|
# |        5000000    |4,880,558 |  3846.6 |       223.9 MiB |        232.8 MiB |
# |      5000000#2    |4,880,558 |    62.8 |       174.9 MiB |        199.8 MiB |
# |    5000000#3+1%   |4,929,363 |   119.0 |       210.3 MiB |        217.2 MiB |
# | 5000000#4+1%+FL   |4,978,656 |   538.7 |       531.8 MiB |    (not measured) |
#   The full-listing run (#4, the first after runs whose streams are in the full backup's
#   download order) is the differences' hash map of every parent line: what d8fa0b7 replaces
#   by a full load past 500,000 lines (at 1 M: 175.1 -> ~106 MiB, above); not re-measured at
#   5 M with it (the run directory is removed at the end). No-change 1 M -> 5 M: 88 -> 175 MiB.
#   2026-12-06 (issue 21): that fall-back also took every nightly whose edits are spread over
#   the stream (a profile edit relists a version: its old line leaves every blob it was in).
#   The catalog sync now reads both streams side by side when the parent's differing lines do
#   not fit (a line waits only until its match), falling back only past 500,000 lines out of
#   step. 1 M, SIZE_DIVISOR=20 RUNS=3 CHANGE_FROM=3 CHANGE_PERCENT=1 PROFILE_EDIT_PERCENT=1
#   REBUILD=1 (1% new versions and 1% of the versions' profiles edited before run 3; then a
#   catalog rebuild of the 3 snapshots, checked equal to the backups' catalog), release builds,
#   load 2-5 (a test suite beside at times; every run checked):
# |        run         | cc9a4ce (before) | e307abe | d8964c4 (after) |
# |--------------------|------------------|---------|-----------------|
# | large (full)       | 598.2 s, 210.4 MiB | 558.0 s, 215.8 MiB | 619.8 s, 213.8 MiB |
# | large#2 no-change  | 12.0 s, 91.6 MiB | 17.2 s, 89.2 MiB | 8.0 s, 91.4 MiB |
# | large#3+1%+1%pe    | 144.8 s, 196.4 MiB (loaded in full) | 66.0 s, 234.9 MiB | 33.3 s, 194.4 MiB |
# | catalog rebuild    | 197.4 s, 176.5 MiB | 144.6 s, 207.6 MiB | 101.7 s, 177.4 MiB |
#   e307abe kept the probe's map of 500,000 hashes alive through the side-by-side read (found
#   in review, fixed in d8964c4, which also skips the probe when it cannot fit). The rebuild of
#   the 12 snapshots of another 1 M repository (a full listing among them): 215.7 s -> 104.0 s,
#   the full listing's snapshot 118.9 s -> 9.0 s, the same rows.
#   10 M versions (2026-12-06 04:39-05:49 UTC, release build of 8673822, SIZE_DIVISOR=200 so
#   content and catalog fit the disk, RUNS=3 CHANGE_FROM=3 CHANGE_PERCENT=1 TRACE=1
#   RSS_EVERY=60; builds, a test suite and perf runs beside it at times, load 1.5-5.7: seconds
#   are loaded; every run checked complete):
# |      scale     | versions | seconds | versions/s | backup peak RSS | sim RSS   | repo+catalog GB | CPU s  |
# |----------------|----------|---------|------------|-----------------|-----------|-----------------|--------|
# |   10000000     |9,728,490 |  3383.4 |      2,875 |       322.4 MiB |  70.6 MiB |            8.87 | 3001.4 |
# |   10000000#2   |9,728,490 |   110.9 |     87,691 |       291.5 MiB |  70.6 MiB |            8.87 |   78.7 |
# | 10000000#3+1%  |9,825,774 |   237.2 |     41,426 |       301.7 MiB | 279.3 MiB |            8.95 |  166.9 |
#   Met at 10 M: catalog 2,680.4 MB after the full run = 275.5 bytes per version (<= 300); the
#   no-change nightly 110.9 s (<= 10 min) with 15,719 requests for ~4.9 M documents (one per
#   ~310 documents, goal one per 50). Not met: peak RSS <= 256 MiB (322 / 292 / 302 MiB).
#   The full run's trace grows ~10 bytes per version during the crawl (VmRSS 175 MiB at
#   0.19 M, 208 at 3.4 M, 239 at 6.5 M, 268 at 9.7 M; the high-water mark ~55 MiB above it:
#   the pack buffers in flight), then stays at 255-268 MiB through the catalog phase
#   (~1,070 s). The growth is the full crawl's KnownDocuments (src/imanage/walk/changes.rs):
#   16 bytes per document, ~4.9 M documents = ~78 MB at 10 M (the documents whose ACLs are
#   read after the versions). A no-change run holds it too, from the prior table, plus the
#   changes-only sets. Next step for memory: KnownDocuments on disk (sorted, the crawl's
#   versions arrive in document order; flags kept in a bitmap) or packed to ~6 bytes per
#   document (numbers as 32-bit offsets from a per-block base, versions as 16 bits with an
#   overflow map). The catalog queries were not timed at 10 M (the script removes the run's
#   catalog at the end; benches/catalog_size.sh takes a scale and times them after its own
#   backup).
#   10 M again (2026-12-06 08:48-10:05 UTC, release build of c893125: KnownDocuments packed to
#   ~2-3 bytes per document (src/imanage/walk/known.rs, packed_docs.rs) and one malloc arena
#   (src/main.rs); same settings, RSS_EVERY=30; a test suite ran beside the full run for ~15
#   min and the clean-clone CI beside its catalog phase and the next two runs: seconds are
#   loaded; every run checked complete):
# |      scale     | versions | seconds | versions/s | backup peak RSS | before    | CPU s  |
# |----------------|----------|---------|------------|-----------------|-----------|--------|
# |   10000000     |9,728,490 |  4038.8 |      2,409 |       232.9 MiB | 322.4 MiB | 3924.9 |
# |   10000000#2   |9,728,490 |   122.6 |     79,371 |       214.6 MiB | 291.5 MiB |  106.5 |
# | 10000000#3+1%  |9,825,774 |   330.6 |     29,726 |       203.8 MiB | 301.7 MiB |  225.8 |
#   All three under the 256 MiB goal at 10 M. The full run's crawl now holds 145-200 MiB
#   (was 175-272 MiB, growing), its catalog phase 146-151 MiB (was 255-268). Its peak,
#   232.9 MiB, came once, between 92 and 123 s (HWM 188 -> 233 MiB), and was not passed after;
#   at 500,000 versions (same build) the crawl's peak is 116 MiB, so it grows with the library
#   and is not explained yet (the containers: 454,085 here, their trustee rows held in a map
#   until the containers are listed, freed before that moment). The no-change run's 214.6 MiB
#   comes in its first 30 s (the repository unlock and the index load: VmRSS is 31 MiB at
#   30 s, 174 MiB at 61 s). Before (c893125^^): packed KnownDocuments alone (d963537, the
#   same 10 M full run killed in its catalog phase) held the crawl at 160-200 MiB with a
#   248 MiB peak, but its catalog phase rose to 264 MiB: glibc's per-thread arenas (120 MiB
#   of 64 MiB arena maps and 68 MiB of main heap at that point) kept what the crawl had freed
#   while SQLite's thread took new memory.
#   10 M with REBUILD=1 (2026-12-06 11:17-13:00 UTC, release build of fa386a4's backup code
#   (as c893125), WORK kept, RUNS=1, TRACE=1 RSS_EVERY=60,
#   builds and test suites beside it all along, so seconds are loaded; checked complete):
#   full 9,728,490 versions 4483.7 s, 230.2 MiB peak (the same early crawl peak: VmHWM 230.2
#   MiB by 608 s, never exceeded after), CPU 4524.6 s; its catalog phase ("snapshot written" ->
#   "catalog updated") 1594.8 s. `catalog rebuild` of that repository into a new file
#   **1398.8 s (0.88x the backup's own catalog update; goal <= 2x), peak RSS 205.6 MiB**, and
#   the rebuilt catalog's rows equal the backup's (the digest check above: ok).
#   1 M after the glibc trim threshold went from 128 KiB to 4 MiB (allocator.rs, 36b75d6; it
#   may keep up to 4 MiB more free heap): 2026-12-07 07:47-08:00 UTC, release build of e1a995d,
#   SIZE_DIVISOR=20 RUNS=3 CHANGE_FROM=3 CHANGE_PERCENT=1, a clean-clone test suite beside it
#   all along (load 4-6: seconds are loaded), every run checked complete:
# |      run       | versions | seconds | versions/s | backup peak RSS | sim RSS | repo GB | CPU s |
# |----------------|----------|---------|------------|-----------------|---------|---------|-------|
# |    1000000     |  959,442 |   716.6 |      1,339 |       152.1 MiB | 44.2 MiB|    3.49 | 455.9 |
# |   1000000#2    |  959,442 |    18.3 |     52,343 |        87.7 MiB | 44.2 MiB|    3.49 |  10.8 |
# |  1000000#3+1%  |  969,036 |    32.1 |     30,179 |       140.3 MiB | 64.0 MiB|    3.52 |  25.3 |
#   All three well under 256 MiB (5 M and 10 M not re-run with it: hours each).
#   10 M after the crawl's container trustee rows went compact (src/imanage/walk/
#   container_acls.rs, c5909f0: 16-byte rows over distinct entries instead of a map of
#   Vec<AclEntry>): 2026-12-07 15:10-16:38 UTC, release build of c5909f0, SIZE_DIVISOR=200
#   RUNS=3 CHANGE_FROM=3 CHANGE_PERCENT=1 TRACE=1 RSS_EVERY=60, a clean-clone CI beside the
#   full run's first 63 min (seconds are loaded), every run checked complete:
# |      run       | versions | seconds | versions/s | backup peak RSS | before    | CPU s  |
# |----------------|----------|---------|------------|-----------------|-----------|--------|
# |   10000000     |9,728,490 |  4701.3 |      2,069 |       156.5 MiB | 232.9 MiB | 4956.7 |
# |   10000000#2   |9,728,490 |    72.2 |    134,669 |       186.3 MiB | 214.6 MiB |   65.8 |
# | 10000000#3+1%  |9,825,774 |   248.4 |     39,555 |       195.8 MiB | 203.8 MiB |  159.8 |
#   "before" is c893125's (2026-12-06, above). An earlier run of this session with d8f3393's
#   code (the 4 MiB trim threshold, stopped at 7.2 M versions) had reached VmHWM 237.3 MiB by
#   its 6th minute and held VmRSS 163-190 MiB all along the crawl: the container trustee map
#   of step 1 (454,085 containers, ~2 entries each: RSS ~100 -> ~167 MiB between 10 and 15 s)
#   was freed once the containers were listed, but glibc kept its heap for the whole run. Now
#   the crawl holds 88-101 MiB for its first 5 min and 105-143 MiB to its end (VmHWM 149.9),
#   the catalog phase 152-157 MiB. The no-change run's peak comes in its first minute (the
#   index load), VmRSS 108 MiB after it. All three well under 256 MiB at 10 M.
#   5 M with the same crawl code (2026-12-07 18:03-18:40 UTC, release build of 84d94af, whose
#   changes since c5909f0 are in the restore only; SIZE_DIVISOR=100 RUNS=3 CHANGE_FROM=3
#   CHANGE_PERCENT=1 TRACE=1 RSS_EVERY=60; builds, a test suite and restore benchmarks beside
#   it at times: seconds are loaded; every run checked complete):
# |      run       | versions | seconds | versions/s | backup peak RSS | before (89c6598) | CPU s  |
# |----------------|----------|---------|------------|-----------------|------------------|--------|
# |    5000000     |4,880,558 |  1905.1 |      2,562 |       182.8 MiB |        223.9 MiB | 1969.9 |
# |    5000000#2   |4,880,558 |    54.0 |     90,347 |       191.5 MiB |        174.9 MiB |   41.9 |
# |  5000000#3+1%  |4,929,363 |   191.0 |     25,805 |       182.7 MiB |        210.3 MiB |  111.5 |
#   "before" is 2026-12-05 23:05's (above, a loaded machine too). The full run's crawl held
#   110-124 MiB (VmHWM 175.9 MiB from its 5th minute), the catalog phase 150-154 MiB (~10 min
#   with a test suite beside it); catalog 1,340.3 MB after it = 274.6 bytes per version. The
#   no-change run (54 s, shorter than the trace's minute) peaks like the 10 M one, in its
#   start (the unlock and the index load); it is 16 MiB above 2026-12-05's run, not attributed.
#   All three under 256 MiB at 5 M, so the goal holds at 1 M, 5 M and 10 M with today's code.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -n "${IMVAULT_BIN:-}" ]; then bin=$IMVAULT_BIN; else
  cargo build --release --quiet --bin imvault
  bin=$PWD/target/release/imvault
fi
change=${CHANGE_PERCENT:-0}
change_from=${CHANGE_FROM:-2}
profile_edits=${PROFILE_EDIT_PERCENT:-0}
full_listing_from=${FULL_LISTING_FROM:-0}
# The repository is encrypted (init refuses to create one without a password).
export IMVAULT_PASSWORD="${IMVAULT_PASSWORD:-bench password}"
divisor=${SIZE_DIVISOR:-1}
libraries=${LIBRARIES:-1}
every=${RSS_EVERY:-10}
runs=${RUNS:-1}
scales=("$@"); [ ${#scales[@]} -gt 0 ] || scales=(2000 20000 100000)
if [ -n "${WORK:-}" ]; then work=$WORK; mkdir -p "$work"; keep=1; else work=$(mktemp -d); keep=0; fi
sim=""
cleanup() {
  if [ -n "$sim" ]; then kill -INT "$sim" 2>/dev/null || true; wait "$sim" 2>/dev/null || true; fi
  if [ "$keep" = 0 ]; then rm -rf "$work"; else rm -rf "$work/run"; fi
}
trap cleanup EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
kib() { awk -v k="$1" '$1==k":"{print $2}' "/proc/$2/status" 2>/dev/null || echo 0; }
sim_stop() { kill -INT "$sim"; wait "$sim" 2>/dev/null || true; sim=""; }
# One `imvault backup --json` against the running simulator; prints its row (and trace).
# Run 1 must read every version and byte; a later run (nothing changed) must read none.
backup_once() {
  local scale=$1 run=$2 label=$1 start timer pid served rc secs rss sim_rss state versions bytes check repo
  [ "$run" = 1 ] || label="$scale#$run"
  [ "$run" -lt "$change_from" ] || [ "$change" = 0 ] || label="$label+$change%"
  [ "$run" -lt "$change_from" ] || [ "$change" = 0 ] || [ "$profile_edits" = 0 ] || label="$label+${profile_edits}%pe"
  local listing=()
  if [ "$full_listing_from" -ge 2 ] && [ "$run" -ge "$full_listing_from" ]; then
    listing=(--full-listing); label="$label+FL"
  fi
  start=$(date +%s.%N)
  /usr/bin/time -f "%e %M %U %S" -o "$work/run/backup.time" "$bin" -c "$work/run/imvault.toml" backup "${listing[@]}" --json \
    >"$work/run/summary.json" 2>"$work/run/backup.log" &
  timer=$!
  : >"$work/run/trace"
  while kill -0 "$timer" 2>/dev/null; do
    sleep "$every" & wait $! || true
    pid=$(pgrep -P "$timer" || true)
    [ -n "$pid" ] || continue
    served=$(curl -sf "http://127.0.0.1:$port/sim/stats" | python3 -c "import json,sys;d=json.load(sys.stdin);print(sum(v for k,v in d['requests'].items() if k.endswith('/download')))" || echo "?")
    printf "%8.0f s %9s versions served  VmRSS %7.1f MiB  VmHWM %7.1f MiB\n" \
      "$(python3 -c "print($(date +%s.%N)-$start)")" "$served" \
      "$(python3 -c "print($(kib VmRSS "$pid")/1024)")" "$(python3 -c "print($(kib VmHWM "$pid")/1024)")" >>"$work/run/trace"
  done
  rc=0; wait "$timer" || rc=$?
  read -r secs rss user sys < <(tail -1 "$work/run/backup.time")
  sim_rss=$(kib VmHWM "$sim")
  read -r state versions bytes < <(python3 -c "
import json
d=json.load(open('$work/run/summary.json'))
print(d['state'], sum(l['counters']['versions'] for l in d['libraries']), d['bytes_read'])" 2>/dev/null || echo "no-summary 0 0")
  check=ok
  [ "$rc" = 0 ] && [ "$state" = completed ] || check="FAILED: exit $rc, state $state (see $work/run/backup.log)"
  [ "$versions" = "$want_versions" ] || check="$check; $versions versions, the simulator has $want_versions"
  if [ "$run" = 1 ]; then
    [ "$bytes" = "$want_bytes" ] || check="$check; read $bytes bytes, the simulator has $want_bytes"
  elif [ "$change" = 0 ] || [ "$run" -lt "$change_from" ]; then
    [ "$bytes" = 0 ] || check="$check; read $bytes bytes of an unchanged library"
  else
    [ "$bytes" = "$new_bytes" ] || check="$check; read $bytes bytes, the new versions hold $new_bytes"
  fi
  repo=$(du -sb "$work/run/repo" "$work/run/catalog.db" | awk '{s+=$1} END {printf "%.0f", s}')
  python3 - "$label" "$versions" "$divisor" "$bytes" "$secs" "$rss" "$sim_rss" "$repo" "$check" "$user" "$sys" <<'PY'
import sys
label, versions, divisor, content, secs, rss, sim, repo, check, user, sys_ = sys.argv[1:]
secs = float(secs)
print(f"{label:>9} {int(versions):>9} {divisor:>7} {int(content)/1e9:>10.2f} {secs:>8.1f} "
      f"{int(content)/1e6/secs:>7.1f} {int(versions)/secs:>10.0f} {int(rss)/1024:>7.1f} MiB "
      f"{int(sim)/1024:>5.1f} MiB {int(repo)/1e9:>8.2f} {float(user)+float(sys_):>7.1f}  {check}")
PY
  if [ "${TRACE:-0}" = 1 ]; then sed 's/^/    /' "$work/run/trace"; fi
  if [ "$keep" = 1 ]; then
    mkdir -p "$work/$label"
    cp "$work/run/"{summary.json,expected.json,trace,backup.time,backup.log} "$work/$label/"
    du -sb "$work/run/"* >"$work/$label/sizes"
  fi
  [ "$check" = ok ]
}
# The catalog's rows, as one digest (row ids left out: they depend on the order of inserts).
catalog_digest() {
  for q in "select library,document,version,first_seq,last_seq,kind,name,extension,size,edit_date,edit_profile_date,hex(profile),hex(content) from versions" \
    "select * from filings" "select * from document_acls" "select * from snapshots"; do
    sqlite3 "$1" "$q" | sort | md5sum
  done
  sqlite3 "$1" "select * from containers" | cut -d'|' -f2- | sort | md5sum
}
# `imvault catalog rebuild` into a new file next to the backups' catalog; prints its row.
rebuild_once() {
  local scale=$1 secs rss loaded check=ok
  command -v sqlite3 >/dev/null || { echo "REBUILD=1 needs sqlite3 (apt-get install sqlite3)" >&2; return 1; }
  sed "s|^path = .*|path = \"$work/run/rebuilt.db\"|" "$work/run/imvault.toml" >"$work/run/rebuild.toml"
  /usr/bin/time -f "%e %M" -o "$work/run/rebuild.time" "$bin" -c "$work/run/rebuild.toml" catalog rebuild \
    >"$work/run/rebuild.out" 2>"$work/run/rebuild.log" || check="FAILED (see $work/run/rebuild.log)"
  read -r secs rss < <(tail -1 "$work/run/rebuild.time")
  loaded=$(grep -o '[0-9]* snapshots loaded.*' "$work/run/rebuild.out" || echo "?")
  [ "$check" != ok ] || [ "$(catalog_digest "$work/run/catalog.db")" = "$(catalog_digest "$work/run/rebuilt.db")" ] ||
    check="the rebuilt catalog differs from the backups'"
  printf "%9s rebuild: %.1f s, peak RSS %.1f MiB, %s  %s\n" "$scale" "$secs" "$(python3 -c "print($rss/1024)")" "$loaded" "$check"
  [ "$check" = ok ]
}
echo "size divisor $divisor, $libraries librar$([ "$libraries" = 1 ] && echo y || echo ies), work dir $work"
printf "%9s %9s %7s %10s %8s %7s %10s %11s %9s %8s %7s  %s\n" scale versions divisor "content GB" seconds "MB/s" \
  "versions/s" "backup RSS" "sim RSS" "repo GB" "CPU s" check
for scale in "${scales[@]}"; do
  rm -rf "$work/run"; mkdir -p "$work/run"
  "$bin" sim --listen "127.0.0.1:$port" --scale "$scale" --libraries "$libraries" \
    --size-divisor "$divisor" >"$work/run/sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/sim/summary" >"$work/run/expected.json"
  read -r want_versions want_bytes < <(python3 -c "import json;d=json.load(open('$work/run/expected.json'));print(sum(l['versions'] for l in d),sum(l['bytes'] for l in d))")
  free=$(df -B1 --output=avail "$work" | tail -1)
  # The repository holds at most the content plus metadata (~130 bytes per version at 10 M);
  # the catalog ~300 bytes per version, the next run's digest ~65.
  if [ "$free" -lt $((want_bytes * 3 / 2 + want_versions * 600 + 2000000000)) ]; then
    echo "$scale: $((want_bytes / 1000000)) MB of content needs more than the $((free / 1000000)) MB free in $work: raise SIZE_DIVISOR" >&2
    exit 1
  fi
  cat >"$work/run/imvault.toml" <<TOML
[imanage]
url = "http://127.0.0.1:$port"
client_id = "imvault-sim"
client_secret = "sim-client-secret"
username = "svc-backup@sim.example"
auth_key = "sim-auth-key"
requests_per_second = 5000
concurrency = 8
[repository]
url = "file://$work/run/repo"
[catalog]
path = "$work/run/catalog.db"
TOML
  "$bin" -c "$work/run/imvault.toml" init >/dev/null
  for run in $(seq "$runs"); do
    if [ "$run" -gt 1 ] && [ "$run" -ge "$change_from" ] && [ "$change" != 0 ]; then
      n=$(python3 -c "print(max(1, int($want_versions * $change / 100)))")
      e=$(python3 -c "print(int($want_versions * $profile_edits / 100))")
      curl -sf -X POST -H 'content-type: application/json' -d "{\"new_versions\": $n, \"profile_edits\": $e}" \
        "http://127.0.0.1:$port/sim/mutate" >"$work/run/mutate.json"
      curl -sf "http://127.0.0.1:$port/sim/summary" >"$work/run/expected.json"
      read -r now_versions now_bytes < <(python3 -c "import json;d=json.load(open('$work/run/expected.json'));print(sum(l['versions'] for l in d),sum(l['bytes'] for l in d))")
      new_bytes=$((now_bytes - want_bytes)); want_versions=$now_versions; want_bytes=$now_bytes
    fi
    backup_once "$scale" "$run" || { sim_stop; exit 1; }
  done
  sim_stop
  if [ "${REBUILD:-0}" = 1 ]; then rebuild_once "$scale" || exit 1; fi
done
