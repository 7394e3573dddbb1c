#!/usr/bin/env bash
# Restore throughput, imvault vs restic 0.14, side by side on the same tree (issue 6's figure).
#
#   bash benches/restore_vs_restic.sh                  # 5 rounds, targets under $WORK
#   RUNS=7 TARGET=/mnt/x bash benches/restore_vs_restic.sh
#   LOOP=1 bash benches/restore_vs_restic.sh           # target: a loop-mounted ext4 with a journal
#                                                      # (the fairer target here, see 2026-12-07)
#   IMV=/tmp/imvault-before bash benches/restore_vs_restic.sh   # another imvault binary
#   SCALE=tiny RUNS=1 WORK=/tmp/rvr-tiny bash benches/restore_vs_restic.sh   # a short check run
#   S3=1 RUNS=3 bash benches/restore_vs_restic.sh      # both repositories on one moto S3 server
#   S3=1 LOOP=1 STATE_ON_TARGET=1 bash benches/restore_vs_restic.sh   # imvault's local state
#                                                      # (catalog, tmp/) on the target's file system
#
# Needs root (drop_caches, and mount for LOOP=1), restic (apt-get install restic) and
# /usr/bin/time. What it does:
#  1. Once (kept in $WORK/prep, reused while it exists): `bench_restore --keep` backs up the
#     `medium` (SCALE) ACTIVE library of the simulator into a local imvault repository + catalog and
#     exports it; that export (11,124 versions, ~1.01 GB, 17,792 files with the sidecars) is the
#     tree restic backs up (`--compression auto`) into its own local repository.
#  2. RUNS rounds, each restoring the whole tree once with each tool into a fresh directory
#     under TARGET; the order alternates round by round (imvault first, then restic first).
#     Before every run: the previous run's output is removed, `sync`, `echo 3 >
#     /proc/sys/vm/drop_caches` (one run's write-back never lands in the next one), then the
#     repository about to be read is read once (warm repository, cold target; COLD=1 skips
#     this and reads both repositories cold).
#     imvault: `imvault restore --library ACTIVE --to DIR` (CLI, release build). restic:
#     `restic restore latest --target DIR`.
#  3. Prints per run (with the 1-minute load average: the machine may be shared) and as
#     median (min-max): the megabytes written to the target's block device during the run
#     and its final `sync` (`/sys/class/block/DEV/stat`; anything else writing to that device
#     counts too), the raw time of the restore command, and the
#     time until the restored tree is durable = the command followed by `sync` (imvault syncs
#     before it exits, so its `sync` is short; restic does not sync at all). Ratios are
#     restic time / imvault time (>1: imvault faster). The last round's two trees are compared
#     (`diff -r`, manifests excluded). Peak RSS of both restore processes (`/usr/bin/time -f
#     %M`) is printed with the times.
#
# S3=1: both repositories live in buckets of one moto S3 server (`moto_server`, `pip install
# 'moto[server]'`) started by this script on a free port of 127.0.0.1 and stopped at its end.
# moto keeps its objects in its own process, so step 1 runs every time (in $WORK/prep-s3; the
# catalog, the export and the config stay local): `bench_restore --s3-endpoint --s3-bucket`
# backs up into bucket `imvault`, restic backs the export up into bucket `restic`
# (`s3:http://127.0.0.1:PORT/restic`). moto is started with MOTO_S3_DEFAULT_KEY_BUFFER_SIZE
# at 64 MiB so every object (packs are 16 MiB) stays in moto's memory: dropping the page
# cache then leaves the repositories warm, and no warm-up read is needed. Credentials are
# dummies passed in the environment (AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY), never on
# argv. Each tool restores with its defaults (restic: 5 S3 connections).
#
# The target file system is printed (`findmnt -T`); results depend on it (see the figures in
# examples/bench_restore.rs).
#
# Figures, 2026-12-05, this 2-core machine shared with another engineer's builds and benches
# (1-minute load 6-10 during every run: wall times are noisy, ratios less so), release build,
# medium ACTIVE (17,792 files, 1,041.6 MB), target ext4 /dev/vda (no journal), RUNS=3,
# median (min-max) seconds; ratio = restic / imvault (>1: imvault faster); moto 5.2.1,
# restic 0.14.0:
#
# | repository | load | imvault durable (raw) | MB/s | restic durable (raw) | MB/s | ratio durable (raw) | peak RSS imvault / restic |
# |---|---|---|---|---|---|---|---|
# | S3, moto on 127.0.0.1 (`S3=1`) | 7.1-10.3 | 10.43 (9.51-12.08) (10.43) | 100 | 10.95 (7.90-11.45) (10.26) | 95 | 1.05x, run by run 0.83-1.05x (0.98x) | 133 (132-140) / 141 (139-142) MiB |
# | local directory | 6.3-7.5 | 5.27 (4.89-9.15) (5.27) | 198 | 7.98 (7.17-8.45) (7.32) | 131 | 1.51x, run by run 0.87-1.60x (1.39x) | 176 (156-178) / 100 (100-102) MiB |
#
# Issue 21's goal (>= 2x restic from S3 and from a local repository, peak RSS <= restic's,
# >= 200 MB/s from moto) is NOT met: from S3 imvault is on par with restic (~100 MB/s each
# at this load); locally it is 1.5x faster but its peak RSS is 1.8x restic's (the local
# reader maps pack ranges with MAP_POPULATE: those page-cache pages count in its RSS).
#
# What limits the S3 restore (same build, one run each by hand, load ~10; CPU seconds from
# /usr/bin/time and moto's /proc/PID/stat): imvault 2.1-2.7 s user + 2.8-3.3 s system, and
# moto spends 3.1-3.8 s of CPU serving it; restic 4.5-4.7 s user + 1.5-2.3 s system, moto
# 0.6-0.7 s. The difference is the number of GETs: imvault makes 515 ranged GETs of packs
# (median 245 KB, p10 11 KB, p90 5.9 MB; 759 MB in all for 712 MB of packs, blobs shared by
# two batches are read twice), restic 43 (one per pack: it plans the whole restore and reads
# pack by pack, writing blobs into files at their offsets). moto answers every ranged GET by
# copying the whole 16-17 MB object in Python (`key.value`, under the GIL) and then slicing
# it, so each GET costs ~7 ms of moto's one effective core whatever its length. The ceiling
# of moto itself (parallel curl of presigned GETs of 16 MiB objects, load 3.3): whole
# objects 530 MiB/s with 1 stream, 850-870 MiB/s with 4-8; the same bytes in 8 MiB ranges
# 355-475 MiB/s. So moto is not the limit of restic (43 GETs) but a floor of ~3.5 s for
# imvault's 515: on 2 cores, imvault's ~5.8 CPU-s plus moto's ~3.5 cannot go below ~4.7 s
# (~220 MB/s) even on an idle machine. imvault's read-ahead works per batch (~16 MiB of
# documents of one workspace, 3 batches in flight), and a batch's blobs lie in ~8 packs
# (the backup interleaves workspaces); bridging larger gaps within the three batches in
# flight would save little (simulated on the recorded ranges: 1 MiB gaps and 16 MiB ranges
# -> ~390 GETs for +32 MB read; 4 MiB gaps -> ~310 GETs for +200 MB and more memory). The
# way to restic's GET count is a pack-ordered plan across workspaces, not done here.
#
# 2026-12-06, quiet machine (load 1.4-2.5), release build of cc9a4ce, S3=1 RUNS=3: imvault
# 5.10 s (5.02-5.13) = 204 MB/s durable, restic 4.42 s (4.32-4.46) = 236 MB/s durable, 3.83 s
# raw: restic/imvault 0.87x durable (0.75x raw); peak RSS 148 / 142 MiB. By hand on the same
# bucket: imvault 4.2-5.7 CPU-s (sys 2.3-3.3) and moto 2.8-3.7 CPU-s for its 555 ranged GETs.
# perf of the imvault restore: the page-cache copy of the written files 18 %, ext4 block
# handling ~10 %, zstd 5 %, AES-GCM 5 %, BLAKE3 3 %, page faults 4 %, malloc ~6 %.
# Tried and not kept: units gathered into windows of 16,384 versions whose documents are read
# in one pack order (all 66 workspaces of ACTIVE in one window): 555 -> 461 GETs, no change in
# time (5.1-6.4 s either way), peak RSS 148 -> 291 MiB (the planned rows of 11,124 versions,
# ~12 KB each with their JSON profiles). Per batch (~16 MiB) the ranges were 2-3 large reads
# and ~5 small ones scattered over other packs: blobs of a document's other versions and
# deduplicated blobs. What would reach restic's GET count: restic's plan (blobs sorted by pack
# over the whole window, each written into its file at its offset, files placed after one
# sync) with rows compact enough to hold a window (profiles as raw JSON text, not maps).
# 2026-12-06 06:25 UTC, quiet machine (load 1.9-2.2), release build of f566258, local
# repositories, RUNS=3: imvault 3.35 s (3.28-3.39) = 311 MB/s durable, restic 3.72 s raw /
# 4.33 s (4.11-4.57) durable = 240 MB/s: restic/imvault 1.29x durable (1.21-1.39x run by run),
# 1.11x raw; peak RSS imvault 182 MiB (178-193), restic 102 MiB (99-106). Neither goal met
# locally either (>= 2x, RSS <= restic's); the 2.3x of the issue's text was measured before
# restic's side was made durable and under other load.
# 2026-12-06 15:45-16:02 UTC, pack-ordered windows (restore/export/window.rs: batches gathered
# into windows of ~128 MiB / <= 2048 versions (512 since 2026-12-06), every blob of a window read once in pack order,
# 8 MiB ranges bridging 1 MiB gaps, 2 reads in flight per window, 2 windows in flight, blobs
# written at their offsets into the open temporary files): measured by hand, NOT with this
# script (restic was not installed on this machine; a clean-clone test suite and a 10 M catalog
# run were loading it, load 3.7-8.3), medium ACTIVE backed up once by `imvault backup` into a
# local repository and into moto, same target disk, drop_caches before each run, durable =
# restore + `sync`; release builds of main 36c1cd4 (before) and of the change (after):
#
# | repository | before: durable s / peak RSS / pack GETs | after | load |
# |---|---|---|---|
# | local | 7.60, 7.00, 9.11 s / 127-136 MiB | 4.35-5.10 s (16 MiB ranges x 4), 4.60 s (8 MiB x 2), 6.55 s (final) / 148 MiB (final; 201-225 MiB before the jobs dropped their copies of the profiles) | 3.7-6.7 |
# | S3 (moto) | 12.16 s / 131 MiB / 491 GETs | 9.45 s / 203 MiB / 204 GETs (16 MiB x 4); 6.99 s / 184 MiB / 237 GETs (8 MiB x 2); 9.74 s / 151 MiB / 237 GETs (final) | 3.9-8.3 |
#
# Side by side under load (alternating runs) the window writer was 1.4-1.7x faster locally and
# reads packs with half the GETs (237 for 44 packs; a window of 128 MiB touches ~25 packs).
# Then on a quiet machine (16:26 UTC, load 1.5-2.0, 3 alternating local runs): before 5.27,
# 4.54, 3.85 s / 129-134 MiB; after 5.09, 4.16, 3.81 s / 147-151 MiB: only 1.01-1.09x faster
# locally when the CPU is free, peak RSS +16-21 MiB (the rows of the windows in flight, ~12 KB a
# version with its profile map). The gain is fewer GETs (S3 cost and latency) and less CPU
# contention, not local speed.
# 2026-12-06 18:00-18:27 UTC, with this script, RUNS=3, restic 0.14.0, moto 5.2.1, load 1.7-2.4
# (the machine otherwise idle), release build of main 21bd5c9; the last two rows run the same
# binary under `ulimit -n 2048`, which caps windows at 512 versions (what WINDOW_VERSIONS = 512
# now does by itself):
#
# | repository | window versions | imvault durable s (MB/s) | restic durable s (MB/s) | restic / imvault | peak RSS imvault / restic |
# |---|---|---|---|---|---|
# | local | 2048 | 4.03 (3.92-4.68), 258 MB/s | 5.73 (5.08-6.04), 182 MB/s | 1.42x (1.22-1.54x) | 129 (118-131) / 111 (98-119) MiB |
# | S3 (moto) | 2048 | 6.66 (6.37-7.61), 156 MB/s | 7.42 (6.65-7.46), 140 MB/s | 1.11x (0.98-1.16x) | 130 (116-136) / 144 (136-146) MiB |
# | S3 (moto) | 512 | 6.78 (6.47-8.97), 154 MB/s | 6.37 (6.20-7.70), 164 MB/s | 0.94x (0.86-0.96x) | 100 (93-107) / 133 (125-134) MiB |
# | local (by hand, 3 alternating pairs) | 2048 / 512 | 4.29-5.29 / 3.37-4.35 s | - | - | 125-131 / 89-102 MiB |
#
# So with 512-version windows peak RSS is below restic's from both repositories at the same
# speed; the speed goal (>= 2x restic) is not met: 1.4x locally, on par from moto (whose ~7 ms
# of CPU per GET is the floor there). Pack GETs per restore, counted in moto's log (19:05 UTC,
# same binary, `ulimit -n 2048` vs 16384, two restores each): 330 with 512-version windows, 251
# with 2048 (491 before the window writer; restic 43): 512 costs +31% GETs for -25-30 MiB.
# 2026-12-06 20:40 UTC, this script, RUNS=3, local repositories, quiet machine (load 1.8),
# release build of f3a91b7 (the export keeps 64 directory handles: 200,074 `openat` + 199,075
# `close` per restore -> 25,557 + 24,558, counted with `strace -c`): imvault 3.62 s (3.35-4.05)
# = 288 MB/s durable, restic 5.18 s (4.74-5.55) durable / 4.51 s raw: restic/imvault 1.43x
# durable (1.28-1.66x run by run), 1.25x raw; peak RSS 100 MiB (98-112) / 99 MiB (95-103).
# perf of an imvault restore after it: file creation 11 % of its CPU (ext4 skips the inodes
# deleted in the last minute on a file system without a journal: the previous run's tree,
# which restic pays as well), pwrite into the page cache 10 %, zstd 10 %, AES-GCM 8 %, BLAKE3
# 7 %, rename 5 %, copies 6 %, the password's Argon2 3 %; the process keeps its 2 cores ~60 %
# busy. Tried and not kept: more reads in flight per window (3-4) or 3 windows in flight (no
# gain beyond noise, +10-30 MiB), dropping each written file's pages after the window's sync
# (system time unchanged). Ranges per restore (local, `openat` of pack files) with wider
# WINDOW limits: 379 (8 MiB / 1 MiB gaps, the default), 317 (16 / 2), 271 (16 / 4), 263
# (32 / 4): restic's 43 needs one pack order over the whole restore, not wider ranges.
# 2026-12-06 23:00, the units-in-one-pack-order try again with today's windows (documents of
# consecutive workspaces up to N versions sorted together by their first blob; the debug line
# "reading a window's blobs" counts ranges and packs per window): N = 20,000 (the whole
# library): ranges 337 -> 320, pack visits 211 -> 171 over 28-29 windows, peak RSS 90 -> 200
# MiB, time 3.7 -> 3.5-4.2 s; N = 4,096: 4.6-4.8 s (system time 1.6-2.4 -> 3.3-3.5 s: files
# of many directories in one window) and 115-125 MiB. A window (512 versions, ~28 MB stored)
# still touches 6-9 packs: a document's blobs lie in several packs (versions, dedup, the
# backup's interleaved downloads), so no document order reads each pack once; only a plan by
# blob (restic's) does. Not kept.
# 2026-12-07 00:35, release build of 65f07f8 (read limits chosen by the repository from the
# store: WINDOW_REQUESTS from moto), S3=1, RUNS=3, load 2.1-2.5: imvault 6.02 s (5.83-6.28)
# durable = 173 MB/s, restic 6.50 s (5.91-6.53): 1.08x durable (run by run 0.94-1.12x), 0.95x
# raw; peak RSS 91 (88-91) / 145 (139-148) MiB. Local, by hand (benches' rrss loop, 3 runs):
# 3.2-3.8 s, peak RSS 85-89 MiB (06ae85a: 3.5-3.7 s, 101-110 MiB; restic ~99).
# 2026-12-06 21:43-21:47 UTC, this script, S3=1, RUNS=3, load 2.0-3.2, two passes of the
# release build of 06ae85a: imvault 8.25 / 6.57 s durable, restic 7.83 / 6.32 s: 0.95x /
# 0.96x (run by run 0.90-1.03x), peak RSS 95 / 87 MiB against restic's 139 / 133 MiB. Between
# them, the same code with 16 MiB ranges bridging 4 MiB gaps (WINDOW_REQUESTS, what a
# repository that is not a local directory reads with since then): imvault 5.41 s (5.30-6.98)
# = 192 MB/s durable, restic 5.76 s: 1.06x (run by run 1.03-1.06x), peak RSS 110 / 146 MiB.
# Locally those limits raised peak RSS to 113-115 MiB (restic ~99) for no gain: local pack
# files keep WINDOW.
# 2026-12-07 01:40-02:30 UTC, quiet machine (load 0.5-3.3), release builds of 65f07f8 (before)
# and 59d8429 (after: 4 windows in flight instead of 2, the soft open files limit raised
# towards what they need, each version's profile moved into its sidecar instead of copied).
# First, the target: this VM's root file system is ext4 *without a journal*, where ext4 skips
# every inode freed in the last minutes when it allocates one (`recently_deleted`): with the
# previous run's tree just removed, inode allocation took 8 % of imvault's CPU in a local run
# and 24 % in an S3 run that followed other runs (its system time grew run after run, 2.7 ->
# 4.4 s). Both tools pay it, but it is this VM's quirk, not a restore's cost: the figures below
# restore into `LOOP=1`, a fresh ext4 with the default journal on a direct-I/O loop device
# (`losetup --direct-io=on`, so written pages are not cached twice).
# Windows in flight, 8 alternating pairs by hand into that target (local repository): 2
# windows 3.12 s median (2.82-3.33), 4 windows 2.91 s (2.66-3.21), every pair faster, peak RSS
# 87 -> 99 MiB; then with the profiles moved: 2.93 s median (6 pairs, 2.78-3.29 against
# 3.05-3.42), 87-95 MiB. (An earlier try of 3 windows on the unjournaled target saw no gain
# beyond its noise.) A single glibc arena (allocator.rs) costs ~5 % here (MALLOC_ARENA_MAX=4:
# 2.56-2.89 s, +10-15 MiB); kept.
# 2026-12-07 05:00-05:12 UTC, this script on 36b75d6 (AES-GCM by AWS-LC, compressed blobs
# opened into a reused thread buffer, glibc trim threshold 4 MiB, Argon2 lanes in parallel),
# LOOP=1, a noisier machine than the 59d8429 rows below (load 1.9-3.1, steal time up to a third
# of a core; restic's own durable time 5.60 -> 6.14 s locally):
#
# | repository | RUNS | load | imvault durable s (MB/s) | restic durable s (MB/s), raw | restic / imvault durable (run by run), raw | peak RSS imvault / restic |
# |---|---|---|---|---|---|---|
# | local | 5 | 1.9-2.4 | 3.37 (2.85-4.11), 309 MB/s | 6.14 (5.23-6.98), 170 MB/s; 5.15 raw | **1.82x** (1.70-2.04x), 1.53x | 97 (90-102) / 107 (96-111) MiB |
# | S3 (moto, `S3=1`) | 3 | 2.7-3.1 | 4.23 (3.87-4.66), **246 MB/s** | 5.42 (5.33-5.78), 192 MB/s; 4.77 raw | 1.28x (1.24-1.40x), 1.13x | 102 (99-103) / 145 (125-149) MiB |
#
# By hand before the script, alternating runs of two builds into the same target (medians):
# 7067d86 -> AWS-LC + thread buffer: 4.82 -> 4.06 CPU-s (5 pairs); + trim threshold: minor
# page faults 145,000 -> 69,000 and 4.58 -> 4.28 CPU-s (5 pairs, the same binary with
# MALLOC_TRIM_THRESHOLD_). perf of 36b75d6 (process CPU): zstd 10 %, BLAKE3 8 %, AES-GCM 7 %
# (AWS-LC, ~3 GB/s: most of the medium library's bytes are stored uncompressed), Argon2 3 %,
# malloc ~6.5 % (one arena: lock hand-offs show as futex wake-ups), file creation, writes and
# renames ~25 % (system), the catalog's rows and profiles 10 %, sidecars 10 %.
# Tried, not kept: MALLOC_ARENA_MAX=2 (5 alternating pairs: 4.32 -> 4.36 CPU-s, +12 MiB).
#
# This script on 59d8429, LOOP=1:
#
# | repository | RUNS | load | imvault durable s (MB/s) | restic durable s (MB/s), raw | restic / imvault durable (run by run), raw | peak RSS imvault / restic |
# |---|---|---|---|---|---|---|
# | local | 5 | 0.5-1.3 | 3.29 (3.07-3.52), 317 MB/s | 5.60 (4.84-5.97), 186 MB/s; 4.88 raw | **1.70x** (1.48-1.82x), 1.49x | 91 (84-94) / 102 (96-108) MiB |
# | S3 (moto, `S3=1`) | 3 | 2.5-3.3 | 4.46 (4.30-4.61), **234 MB/s** | 4.99 (4.87-5.07), 209 MB/s; 4.32 raw | 1.12x (1.09-1.16x), 0.97x | 107 (99-115) / 142 (135-143) MiB |
#
# Issue 21's goals: >= 200 MB/s from moto and peak RSS <= restic's from both repositories are
# met; >= 2x restic is not (1.7x local, 1.1x S3). What bounds it on this 2-core machine (perf
# and /usr/bin/time of these runs): a local restore spends ~4.2 CPU-s (user 2.1-2.5, system
# 1.6-2.0) in 2.9 s, with the loop device's and ext4's kernel threads taking most of the rest
# of the two cores (2-3 threads runnable on average, sampled every 20 ms): decoding 25 % of the
# process's CPU (AES-GCM 15, zstd 10, BLAKE3 7, shared with checks restic makes too), file
# creation and renames 16 %, planning from the catalog 9 % (profiles unpacked), sidecars 11 %,
# Argon2 3 % (serial, at start). 2x restic (~2.6 s) would need about a fifth less CPU with
# both cores busy from the first millisecond. From S3, moto spends 1.6-1.9 CPU-s serving the
# ~340 ranged GETs and imvault ~5 CPU-s (receiving the bodies: 14 %, page faults of fresh
# 16 MiB range buffers ~8 %): ~6.7 CPU-s over 2 cores is >= 3.3 s before any waiting, against
# the 2.5 s that 2x restic's 4.99 s would need. Left: profiles kept as packed text until the
# sidecar (the catalog's 9 % and part of the sidecars' 11 %), reused range buffers, and the
# plan by blob that reads each pack once (fewer GETs: moto's share).
# Tried, not kept (03:00 UTC): a GET's body collected into a buffer with MADV_HUGEPAGE on its
# whole 2 MiB pages (THP is `madvise` here): 5 alternating pairs from moto, 4.09-4.87 s
# (median 4.33) against 4.31-4.92 s (4.47) without, system time ~0.25 s lower: ~3 %, within
# this VM's noise for a wall-clock figure; worth another look with the plan by blob.
# 2026-12-07 08:43-08:53 UTC, this script, LOOP=1, release build of e1a995d (restore code as
# 36b75d6), a quieter machine: local RUNS=5, load 1.0-2.5: imvault 3.03 s (2.89-3.55) = 344
# MB/s durable, restic 5.92 s (5.60-6.49) durable / 5.10 s raw: restic/imvault **1.95x**
# durable (run by run 1.77-2.25x), 1.69x raw; peak RSS 93 (88-95) / 106 (100-109) MiB. S3
# (moto) RUNS=3, load 2.6-3.0: imvault 5.12 s (4.89-5.39) = 204 MB/s durable, restic 5.86 s
# (5.74-6.24): 1.15x durable (1.12-1.20x), 1.02x raw; peak RSS 103 / 138 MiB.
# 2026-12-07 09:45-10:30 UTC (issue 21), this script, LOOP=1 S3=1 RUNS=3, release builds:
# - 7858748 (a GET's body cut into one buffer per blob as it arrives: no 16 MiB buffer per
#   read whose fresh pages fault in zeroed), load 3.2-3.4: imvault 3.65 s (3.49-3.82) = 285
#   MB/s durable, restic 5.11 s: 1.40x (1.34-1.40x), peak RSS 93 / 139 MiB.
# - af09da4 (a blob an earlier window read is kept once read again; later windows take it
#   from a 16 MiB cache), load 2.3-3.0: imvault 3.99 s (3.93-4.07) = 261 MB/s, restic 6.20 s:
#   1.55x (1.52-1.59x), 1.37x raw, peak RSS 105 / 144 MiB; again with the pack GET count,
#   load 1.4-1.7: imvault 4.16 s (3.99-4.23) = 250 MB/s, restic 5.90 s: 1.42x (1.40-1.57x),
#   peak RSS 101 (99-109) / 141 MiB, **pack GETs 151 (148-151) / restic 43** (229 before
#   af09da4; moto ~2.1 -> ~1.55 CPU-s). Local (af09da4, RUNS=5, load 2.1-2.7): imvault 3.07 s
#   = 340 MB/s, restic 5.67 s: 1.85x (1.74-1.95x), RSS 98 / 105 MiB.
# What is left from S3 is restic's plan by pack: each of the medium library's 28 windows
# touches ~7.5 of its 46 packs (211 window x pack pairs: the backup fills several packs at
# once and a document's versions are spread), so reads per window cannot go below ~140 GETs.
# Tried, not kept: keeping the bytes each read bridges in a spill file for later windows
# (229 -> 219 GETs: the windows that share packs run at the same time); windows of 2,048
# versions (162 GETs, RSS 153-168 MiB).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/imvault-rvr}
TARGET=${TARGET:-$WORK/targets}
COLD=${COLD:-0}
LOOP=${LOOP:-0}
LOOP_SIZE=${LOOP_SIZE:-6G}
SCALE=${SCALE:-medium}
S3=${S3:-0}
STATE_ON_TARGET=${STATE_ON_TARGET:-0}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
command -v restic >/dev/null || { echo "restic not found (apt-get install restic)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 2; }
[ -w /proc/sys/vm/drop_caches ] || { echo "needs root: cannot write /proc/sys/vm/drop_caches" >&2; exit 2; }
if [ "$S3" = 1 ]; then
  command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'" >&2; exit 2; }
fi

# 2026-12-07 11:50-12:58 UTC, a fresh and much faster VM (no steal; restic's own times ~40 %
# lower than the rows above: compare within a row only), this script, LOOP=1, release builds:
#
# | build | repository | RUNS | load | imvault durable s (MB/s) | restic durable s | restic / imvault durable (run by run), raw | peak RSS imvault / restic | pack GETs |
# |---|---|---|---|---|---|---|---|---|
# | 460feee (before) | local | 5 | 1.2-1.6 | 1.69 (1.63-1.75), 615 | 3.39 (3.36-3.44) | 2.00x (1.94-2.07x), 1.67x | 97 (89-106) / 104 MiB | - |
# | 460feee (before) | S3 (moto) | 3 | 1.8-2.2 | 2.62 (2.59-2.87), 397 | 3.85 (3.77-3.88) | 1.47x (1.34-1.50x), 1.27x | 95 / 140 MiB | 155 / 43 |
# | 24945e7 (writers; profiles rendered ahead) | local | 5 | 2.1-2.5 | 1.73 (1.67-1.77), 600 | 3.37 (3.31-3.56) | 1.94x (1.90-2.02x), 1.63x | **80** (80-81) / 109 MiB | - |
# | 24945e7 | S3 (moto) | 3 | 2.5-2.7 | 2.60 (2.53-2.70), 400 | 3.92 (3.74-3.95) | 1.51x (1.46-1.51x), 1.30x | 97 (92-102) / 132 MiB | 162 / 43 |
# | 95d47a9 (profiles unparsed) | local | 5 | 1.0-1.4 | **1.66 (1.60-1.83), 627** | 3.63 (3.54-3.70) | **2.18x (2.03-2.27x)**, 1.85x | 84 (79-86) / 106 MiB | - |
# | 95d47a9 | S3 (moto) | 3 | 2.2-2.4 | **2.56 (2.50-2.73), 407** | 4.25 (3.97-4.32) | **1.66x (1.56-1.69x)**, 1.44x | 91 / 138 MiB | 157 / 43 |
# | bb2d226 (review fixes; = 657a7cd) | local | 5 | 0.1-1.5 | **1.63 (1.51-1.72), 638** | 3.42 (3.31-3.60) | **2.09x (2.03-2.26x)**, 1.76x | 81 (80-92) / 99 MiB | - |
# | bb2d226 | S3 (moto) | 3 | 2.5-2.7 | 2.55 (2.47-2.72), 409 | 3.99 (3.98-4.06) | 1.57x (1.49-1.61x), 1.34x | 91 / 143 MiB | 146 / 43 |
#
# What changed: (1) from moto the windows ran in waves (perf, 0.2 s buckets: 4 windows read
# together, then all four synced, placed and wrote sidecars with 30-47 % of both cores idle),
# because a window syncing still counted among the 4 in flight. Now 8 are in flight and only
# 4 hold a writer (creating and writing their files); idle time fell to ~10 %. That alone
# gained ~3-8 % from moto (hand pairs) for +30 MiB of rows, which (2) took back: each
# version's profile is rendered for its sidecar when its batch arrives (~2 KB of text instead
# of a ~10 KB map). (3) An export's plan no longer parses profiles at all: the catalog hands
# the stored JSON text and the derived fields (`Profiles::Text`), printed into the sidecar
# byte for byte as the map printed (restored trees identical to 460feee's, `diff -r`); 4
# alternating local pairs 1.66-1.75 -> 1.54-1.60 s, user CPU 1.23-1.40 -> 1.10-1.14 s.
# Left from S3: moto's CPU (1.1-1.2 s for ~155 ranged GETs, each copying its 16 MiB object)
# and the HTTP receive (~0.35 CPU-s more than locally) on the same 2 cores; 2x needs restic's
# plan by pack (~46 GETs).
# Tried 2026-12-07 (hand builds with the knobs in the environment, not kept; moto as above, one
# run each, 1-minute load 1.6-2.2): the 155 GETs are not a matter of window size: the medium
# library's documents are spread over the packs (27 windows touch 139 (pack, window) pairs of
# 43 packs; a simulation of the planner over every document's blob locations gave 159 ranges
# with windows in tree order, 139 with 1,024 versions a window, 126 with 128 MiB windows of
# any number of versions). Sorting the documents of the whole library by their first blob's
# pack (not unit by unit) read MORE (198 GETs, 2.94-3.08 s vs 2.70-2.73 s): a document's
# versions lie in 2-3 packs filled side by side, so the first blob's pack does not say where
# the rest lies. One window for the whole library (11,124 files open at once, 24 MiB ranges)
# reads each pack once like restic: 43 GETs, moto's CPU 1.33 -> 0.63 s, imvault's 3.0 -> 2.5
# CPU-s, but 3.06-3.20 s instead of 2.70-2.83 s: nothing is placed or synced until every pack
# is read (0.6 s of planning and creating files before the first GET, then 709 MB from moto
# at ~2 reads in flight, then the placing). What would reach restic's GETs and keep the
# overlap: a restore-wide (or very large) plan by pack with files opened on demand (not 11 k
# at once), packs read in the order the batches first need them, and each batch synced,
# placed and its sidecars written as soon as its last blob is written.
# 2026-12-07 17:55-18:05 UTC (session 25), the packs read whole (repo/pack_spill.rs: from a
# store read by requests, a restore of more than one unit or 64 MiB GETs each pack once, whole,
# into an unnamed file in the local state's tmp/, and every window reads its ranges from
# there), this script, S3=1 LOOP=1 RUNS=5, load 2.0-2.5, release builds; "before" is the
# same build with the copies switched off (a throwaway knob, the code of 27baa43):
#
# | build | imvault durable s (MB/s) | restic durable s | restic / imvault durable (run by run), raw | peak RSS imvault / restic | pack GETs |
# |---|---|---|---|---|---|
# | before (ranged GETs) | 3.02 (2.89-3.18), 345 | 4.57 (4.26-5.14) | 1.51x (1.46-1.63x), 1.35x | 90 / 146 MiB | 163 / 43 |
# | 84d94af (whole packs) | **2.74 (2.38-3.22), 380** | 4.85 (4.15-5.22) | **1.77x (1.42-1.94x)**, 1.50x | 94 / 138 MiB | **42 / 43** |
#
# By hand (moto on 127.0.0.1, 7 alternating pairs of the same build with and without the
# copies): 2.31-2.80 s against 2.51-3.04 s, every pair faster; moto's CPU 0.36-0.52 s against
# 1.05-1.30 s. perf of a whole-pack restore (the process): pwrite of the restored files 10 %,
# zstd 8.5 %, the copies' writes 8 %, file creation 6.7 %, socket receive 6 %, renames 5 %,
# BLAKE3 4.6 %, AES-GCM 3.8 %, Argon2 3.6 % (serial, at start), futex wake-ups 3.7 %;
# ~15 % of both cores idle, mostly the first 0.3 s (Argon2, the index, planning) and the last
# 0.2 s (the last windows' syncs). Tried, not kept: the body written to its file 4 MiB at a
# time from a blocking thread (no copy into tokio's buffer; no gain in 5 pairs, +8 MiB), 4
# reads in flight per window, 16 MiB ranges from the copies (both within noise). 2x restic
# from S3 now needs ~15 % less CPU in the restore itself (the local restore is at ~2x).
# The cap on the copies (1 GiB, or a quarter of the free space) against the packs the windows
# in flight want (a throwaway knob, one run each beside a test suite, load 4-5): the medium
# export with a 256 MiB cap made 93 whole-pack GETs (1.5 GB for its 709 MB of packs: dropped
# copies read whole again), 512 MiB 52, 1 GiB 42. Since 424dee3 a dropped pack is read by
# ranges from then on: 256 MiB 156 GETs (43 whole, the rest ranges), 512 MiB 55 - never more
# bytes than one whole read per pack plus the ranges the restore read before.
# 2026-12-07 20:52 UTC (session 26), another fresh VM, this script S3=1 LOOP=1 RUNS=5 on the
# release build of 21a549b (a restore of several units reads whole packs only when its content
# reaches 64 MiB; the reads of the medium export unchanged), load 1.8-2.9: imvault 3.06 s
# (2.85-3.16) = 340 MB/s durable, restic 4.94 (4.89-5.27); 1.61x (1.57-1.74x) durable, 1.39x
# raw; peak RSS 95 / 140 MiB; pack GETs 43 / 42. The same build against be1a210's, 6
# alternating pairs by hand: 2.98 s against 2.94 (noise). Tried on this VM, not kept (A/B
# pairs by hand, each within noise): starting the first window's packs (8 whole GETs) while
# the first unit's containers are put in place (~0.25 s with one core busy: 10 pairs, 3.27 s
# against 3.30), the copies written from the task with std's file instead of tokio's (no
# hand-off to a blocking thread per chunk: 8 pairs, 3.76 against 3.72),
# MALLOC_ARENA_MAX=2 instead of 1 (~20 % fewer futex calls; 8 pairs, 3.65 against 3.54, +11
# MiB). The restore is CPU-bound on this 2-core machine (user 1.8-2.4 s + system 1.8-2.5 s
# for 1 GB, moto 0.4-0.5 s; restic 4.3-4.8 + 1.7-2.0): 2x restic needs less CPU per byte,
# not more overlap.
# 2026-12-07 23:00-23:25 UTC (session 27), the whole-pack copies where the local state shares
# its file system with the export target (what this script's LOOP=1 does not do: its state is
# on the root file system, its target on the loop device). The export syncs that file system
# once per window (`syncfs`), which also wrote every copy to disk: the medium export from moto
# wrote 1.82-1.85 GB to /dev/vda for 1.03 GB restored (counted in /sys/block/vda/stat,
# through the final `sync`). Since then the copies go to anonymous memory files there
# (repo/spill_room.rs: memfd, at most an eighth of the memory available): 1.12-1.15 GB.
# Release builds of 63bfbca (before) and the change, 4 alternating pairs by hand, moto on
# 127.0.0.1, the state and the target both on the journaled loop ext4, load 1.6-4.2: 3.82 s
# median (3.72-4.10) before, 3.92 (3.72-4.04) after: the same time on this VM's fast virtual
# disk, 700 MB less written per GB restored (a host whose disk is the limit gains that). Both
# on the root file system (no journal): 4.07 / 4.82 s median, a spread this VM's recently-freed
# inode scan (16 % of the CPU there, growing run by run) swamps; perf of one run each: the same
# CPU (7.24 / 7.10 s of samples). Kernel 6.18: the page cache of ext4 uses large folios, memory
# files 4 KiB pages (`shmem_enabled` never).
# The same with this script (STATE_ON_TARGET=1: imvault's catalog and tmp/ moved onto the
# target's file system), S3=1 LOOP=1 RUNS=2, 2026-12-08 00:02-00:07 UTC beside a clean-clone test
# suite (load 4.5-5.6: the times are not comparable with the rows above), MB written to the
# target's device (/dev/loop1) per run through the final `sync`:
#
# | imvault build | imvault MB written | restic MB written | imvault durable s | restic durable s | restic / imvault | peak RSS imvault / restic |
# |---|---|---|---|---|---|---|
# | f61d8cd (copies in tmp/) | 1846 (1840-1852) | 1102 | 5.60 (5.20-6.00) | 8.14 | 1.45x | 101 / 141 MiB |
# | 3be752f (copies in memory files) | **1139 (1136-1142)** | 1102 | 5.46 (5.37-5.55) | 9.07 | 1.66x | 98 / 137 MiB |
# IMV=/path/to/imvault measures that binary (e.g. a copy of a baseline build) instead.
if [ -z "${IMV:-}" ]; then
  cargo build --release --bin imvault >&2
  IMV=$CARGO_TARGET_DIR/release/imvault
fi
export RESTIC_PASSWORD=restore-vs-restic
# bench_restore encrypts its repository with this password (examples/bench_restore.rs).
export IMVAULT_PASSWORD="bench password"
umask 077
mkdir -p "$WORK"
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap cleanup EXIT

if [ "$S3" = 1 ]; then
  # moto holds the repositories in memory: prepared again on every run of this script.
  PREP=$WORK/prep-s3
  rm -rf "$PREP"
  mkdir -p "$PREP"
  free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
  wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }
  PORT=$(free_port)
  MOTO_S3_DEFAULT_KEY_BUFFER_SIZE=$((64 * 1024 * 1024)) moto_server -H 127.0.0.1 -p "$PORT" > "$PREP/moto.log" 2>&1 &
  PIDS+=($!)
  wait_port "$PORT"
  ENDPOINT=http://127.0.0.1:$PORT
  # moto accepts any credentials; these dummies go through the environment, not argv.
  export AWS_ACCESS_KEY_ID=testing AWS_SECRET_ACCESS_KEY=testing AWS_DEFAULT_REGION=us-east-1
  RESTIC_REPO=s3:$ENDPOINT/restic
  echo "preparing $PREP (moto at $ENDPOINT: imvault backup of $SCALE/ACTIVE into bucket imvault, restic backup of its export into bucket restic)" >&2
  cargo build --release --example bench_restore >&2
  "$CARGO_TARGET_DIR/release/examples/bench_restore" --scale "$SCALE" --keep "$PREP" \
    --s3-endpoint "$ENDPOINT" --s3-bucket imvault >&2
  curl -sf -X PUT "$ENDPOINT/restic" > /dev/null
  restic init --repo "$RESTIC_REPO" > /dev/null
  (cd "$PREP/restored" && restic --repo "$RESTIC_REPO" backup --compression auto --quiet .)
  cat > "$PREP/imvault.toml" <<EOF
[repository]
url = "s3://imvault/repo"
endpoint = "$ENDPOINT"
region = "us-east-1"
allow_http = true
access_key_id = "testing"
[catalog]
path = "$PREP/catalog.db"
[logging]
level = "warn"
EOF
  IMV_REPO=
  RESTIC_DIR=
else
  PREP=$WORK/prep
  RESTIC_REPO=$PREP/restic_repo
  IMV_REPO=$PREP/repo
  RESTIC_DIR=$PREP/restic_repo
  if [ ! -f "$PREP/ready" ]; then
    rm -rf "$PREP"
    echo "preparing $PREP (imvault backup of $SCALE/ACTIVE, then restic backup of its export)" >&2
    cargo build --release --example bench_restore >&2
    "$CARGO_TARGET_DIR/release/examples/bench_restore" --scale "$SCALE" --keep "$PREP" >&2
    restic init --repo "$PREP/restic_repo" >/dev/null
    (cd "$PREP/restored" && restic --repo "$PREP/restic_repo" backup --compression auto --quiet .)
    cat > "$PREP/imvault.toml" <<EOF
[repository]
url = "file://$PREP/repo"
[catalog]
path = "$PREP/catalog.db"
[logging]
level = "warn"
EOF
    touch "$PREP/ready"
  fi
fi
BYTES=$(du -sb --exclude='imvault-restore*' "$PREP/restored" | cut -f1)
FILES=$(find "$PREP/restored" -type f | wc -l)

if [ "$LOOP" = 1 ]; then
  TARGET=$WORK/loopmnt
  mkdir -p "$TARGET"
  if ! mountpoint -q "$TARGET"; then
    rm -f "$WORK/loop.img"
    truncate -s "$LOOP_SIZE" "$WORK/loop.img"
    mkfs.ext4 -q -F "$WORK/loop.img"    # default features: has_journal, data=ordered
    # Direct I/O from the loop device to its backing file: written pages are cached once
    # (in the loop file system), not a second time in the backing file's page cache.
    dev=$(losetup --direct-io=on -f --show "$WORK/loop.img")
    mount "$dev" "$TARGET" || { losetup -d "$dev"; exit 1; }
    echo "mounted $dev on $TARGET (kept for the next runs; to remove: umount $TARGET && losetup -d $dev)" >&2
  fi
fi
mkdir -p "$TARGET"
IMV_CONFIG=$PREP/imvault.toml
if [ "$STATE_ON_TARGET" = 1 ]; then
  # imvault's local state (catalog, digests, audit head, tmp/ where its pack copies go) moved
  # onto the target's file system, as on a host with one disk: the export's syncs cover both.
  STATE=$TARGET/imv-state
  rm -rf "$STATE"
  mkdir -p "$STATE"
  (cd "$PREP" && cp -a $(ls -A | grep -vE '^(restored|restic_repo|repo|moto\.log|imvault\.toml|ready)$') "$STATE"/)
  sed "s|^path = .*|path = \"$STATE/catalog.db\"|" "$PREP/imvault.toml" > "$WORK/imvault-state.toml"
  IMV_CONFIG=$WORK/imvault-state.toml
  echo "imvault's local state: $STATE" >&2
fi
TARGET_DEV=$(basename "$(findmnt -n -o SOURCE -T "$TARGET")")
[ -r "/sys/class/block/$TARGET_DEV/stat" ] || { echo "no /sys/class/block/$TARGET_DEV/stat for $TARGET" >&2; exit 2; }
# Megabytes written to the target's device so far (field 7: 512-byte sectors written).
disk_written() { awk '{printf "%d", $7 * 512 / 1e6}' "/sys/class/block/$TARGET_DEV/stat"; }
echo "target: $(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$TARGET") ($TARGET)" >&2
echo "tree: $FILES files, $BYTES bytes; $RUNS rounds; repositories $([ "$S3" = 1 ] && echo "in moto's memory ($ENDPOINT)" || { [ "$COLD" = 1 ] && echo cold || echo warm; })" >&2

now() { date +%s.%N; }
load() { cut -d' ' -f1 /proc/loadavg; }   # 1-minute load average after the run (2 cores here)
prepare_run() { # output dir, repository dir (empty: in moto's memory, nothing to warm)
  rm -rf "$1"
  sync
  echo 3 > /proc/sys/vm/drop_caches
  [ "$COLD" = 1 ] || [ -z "$2" ] || find "$2" -type f -exec cat {} + > /dev/null
}
RESULTS=$WORK/results.tsv
: > "$RESULTS"
# S3=1: ranged GETs of packs (imvault's packs/, restic's data/) the run asked moto for, from
# moto's request log; "-" for local repositories.
pack_gets() { # bucket/prefix of the packs
  if [ "$S3" = 1 ]; then grep -c "\"GET /$1/" "$PREP/moto.log" || true; else echo 0; fi
}
gets_since() { [ "$S3" = 1 ] && echo $(($(pack_gets "$1") - $2)) || echo -; }
run_imvault() {
  local out=$TARGET/imv
  prepare_run "$out" "$IMV_REPO"
  local t0 t1 t2 g0 w0
  g0=$(pack_gets imvault/repo/packs)
  w0=$(disk_written)
  t0=$(now)
  /usr/bin/time -f %M -o "$WORK/imv.rss" "$IMV" --config "$IMV_CONFIG" restore --library ACTIVE --to "$out" > "$WORK/imv.out" 2> "$WORK/imv.err" ||
    { echo "imvault restore failed:" >&2; tail "$WORK/imv.err" >&2; exit 1; }
  t1=$(now); sync; t2=$(now)
  echo -e "imvault\t$(echo "$t1 - $t0" | bc)\t$(echo "$t2 - $t0" | bc)\t$(load)\t$(tail -1 "$WORK/imv.rss")\t$(gets_since imvault/repo/packs "$g0")\t$(($(disk_written) - w0))" | tee -a "$RESULTS"
}
run_restic() {
  local out=$TARGET/restic
  prepare_run "$out" "$RESTIC_DIR"
  local t0 t1 t2 g0 w0
  g0=$(pack_gets restic/data)
  w0=$(disk_written)
  t0=$(now)
  /usr/bin/time -f %M -o "$WORK/restic.rss" restic --repo "$RESTIC_REPO" restore latest --target "$out" --quiet > "$WORK/restic.out" 2>&1 ||
    { echo "restic restore failed:" >&2; tail "$WORK/restic.out" >&2; exit 1; }
  t1=$(now); sync; t2=$(now)
  echo -e "restic\t$(echo "$t1 - $t0" | bc)\t$(echo "$t2 - $t0" | bc)\t$(load)\t$(tail -1 "$WORK/restic.rss")\t$(gets_since restic/data "$g0")\t$(($(disk_written) - w0))" | tee -a "$RESULTS"
}

echo -e "tool\traw_s\tdurable_s\tload1\tpeak_rss_kib\tpack_gets\tdisk_mb"
for i in $(seq 1 "$RUNS"); do
  if [ $((i % 2)) = 1 ]; then run_imvault; run_restic; else run_restic; run_imvault; fi
done

# The two trees must hold the same files (the manifests carry times and differ).
diff -r -q -x 'imvault-restore*' "$TARGET/imv" "$TARGET/restic" > "$WORK/diff.out" ||
  { echo "imvault's and restic's trees differ:" >&2; head "$WORK/diff.out" >&2; exit 1; }

python3 - "$RESULTS" "$BYTES" <<'PY'
import statistics, sys
rows = [l.split("\t") for l in open(sys.argv[1]).read().split("\n") if l]
mb = int(sys.argv[2]) / 1e6
t = {(tool, k): [float(r[i]) for r in rows if r[0] == tool]
     for tool in ("imvault", "restic") for k, i in (("raw", 1), ("durable", 2))}
print(f"\n{'':8} {'raw s median (min-max)':>26} {'MB/s':>6}   {'durable s median (min-max)':>28} {'MB/s':>6}")
for tool in ("imvault", "restic"):
    line = f"{tool:8}"
    for k in ("raw", "durable"):
        v = t[(tool, k)]
        m = statistics.median(v)
        line += f" {m:14.2f} ({min(v):.2f}-{max(v):.2f}) {mb / m:6.0f}  "
    print(line)
for k in ("raw", "durable"):
    a, b = t[("imvault", k)], t[("restic", k)]
    pairs = [r / i for i, r in zip(a, b)]
    print(f"restic/imvault ({k}): median of medians {statistics.median(b) / statistics.median(a):.2f}x, "
          f"run by run {min(pairs):.2f}-{max(pairs):.2f}x")
for tool in ("imvault", "restic"):
    v = [int(r[4]) / 1024 for r in rows if r[0] == tool]
    print(f"{tool} peak RSS: median {statistics.median(v):.0f} MiB ({min(v):.0f}-{max(v):.0f})")
for tool in ("imvault", "restic"):
    v = [int(r[5]) for r in rows if r[0] == tool and r[5] != "-"]
    if v:
        print(f"{tool} pack GETs: median {statistics.median(v):.0f} ({min(v)}-{max(v)})")
for tool in ("imvault", "restic"):
    v = [int(r[6]) for r in rows if r[0] == tool]
    print(f"{tool} MB written to the target's device: median {statistics.median(v):.0f} ({min(v)}-{max(v)})")
print(f"load (1 min): {min(float(r[3]) for r in rows):.2f}-{max(float(r[3]) for r in rows):.2f}")
PY
