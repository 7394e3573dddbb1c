#!/usr/bin/env bash
# Restore throughput, imvault vs restic 0.14, side by side on the same tree (issue 6's figure).
#
#   bash benches/restore_vs_restic.sh                  # 5 rounds, targets under $WORK
#   RUNS=7 TARGET=/mnt/x bash benches/restore_vs_restic.sh
#   LOOP=1 bash benches/restore_vs_restic.sh           # target: a loop-mounted ext4 with a journal
#   IMV=/tmp/imvault-before bash benches/restore_vs_restic.sh   # another imvault binary
#   SCALE=tiny RUNS=1 WORK=/tmp/rvr-tiny bash benches/restore_vs_restic.sh   # a short check run
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
#     median (min-max): the raw time of the restore command, and the
#     time until the restored tree is durable = the command followed by `sync` (imvault syncs
#     before it exits, so its `sync` is short; restic does not sync at all). Ratios are
#     restic time / imvault time (>1: imvault faster). The last round's two trees are compared
#     (`diff -r`, manifests excluded).
#
# The target file system is printed (`findmnt -T`); results depend on it (see the figures in
# examples/bench_restore.rs).
set -euo pipefail
cd "$(dirname "$0")/.."

RUNS=${RUNS:-5}
WORK=${WORK:-/tmp/imvault-rvr}
TARGET=${TARGET:-$WORK/targets}
COLD=${COLD:-0}
LOOP=${LOOP:-0}
LOOP_SIZE=${LOOP_SIZE:-6G}
SCALE=${SCALE:-medium}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
command -v restic >/dev/null || { echo "restic not found (apt-get install restic)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 2; }
[ -w /proc/sys/vm/drop_caches ] || { echo "needs root: cannot write /proc/sys/vm/drop_caches" >&2; exit 2; }

# IMV=/path/to/imvault measures that binary (e.g. a copy of a baseline build) instead.
if [ -z "${IMV:-}" ]; then
  cargo build --release --bin imvault >&2
  IMV=$CARGO_TARGET_DIR/release/imvault
fi
export RESTIC_PASSWORD=restore-vs-restic
# bench_restore encrypts its repository with this password (examples/bench_restore.rs).
export IMVAULT_PASSWORD="bench password"
PREP=$WORK/prep
mkdir -p "$WORK"

if [ ! -f "$PREP/ready" ]; then
  rm -rf "$PREP"
  echo "preparing $PREP (imvault backup of medium/ACTIVE, then restic backup of its export)" >&2
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
BYTES=$(du -sb --exclude='imvault-restore*' "$PREP/restored" | cut -f1)
FILES=$(find "$PREP/restored" -type f | wc -l)

if [ "$LOOP" = 1 ]; then
  TARGET=$WORK/loopmnt
  mkdir -p "$TARGET"
  if ! mountpoint -q "$TARGET"; then
    rm -f "$WORK/loop.img"
    truncate -s "$LOOP_SIZE" "$WORK/loop.img"
    mkfs.ext4 -q -F "$WORK/loop.img"    # default features: has_journal, data=ordered
    mount -o loop "$WORK/loop.img" "$TARGET"
  fi
fi
mkdir -p "$TARGET"
echo "target: $(findmnt -n -o FSTYPE,SOURCE,OPTIONS -T "$TARGET") ($TARGET)" >&2
echo "tree: $FILES files, $BYTES bytes; $RUNS rounds; repositories $([ "$COLD" = 1 ] && echo cold || echo warm)" >&2

now() { date +%s.%N; }
load() { cut -d' ' -f1 /proc/loadavg; }   # 1-minute load average after the run (2 cores here)
prepare_run() { # output dir, repository dir
  rm -rf "$1"
  sync
  echo 3 > /proc/sys/vm/drop_caches
  [ "$COLD" = 1 ] || find "$2" -type f -exec cat {} + > /dev/null
}
RESULTS=$WORK/results.tsv
: > "$RESULTS"
run_imvault() {
  local out=$TARGET/imv
  prepare_run "$out" "$PREP/repo"
  local t0 t1 t2
  t0=$(now)
  "$IMV" --config "$PREP/imvault.toml" restore --library ACTIVE --to "$out" > "$WORK/imv.out" 2> "$WORK/imv.err" ||
    { echo "imvault restore failed:" >&2; tail "$WORK/imv.err" >&2; exit 1; }
  t1=$(now); sync; t2=$(now)
  echo -e "imvault\t$(echo "$t1 - $t0" | bc)\t$(echo "$t2 - $t0" | bc)\t$(load)" | tee -a "$RESULTS"
}
run_restic() {
  local out=$TARGET/restic
  prepare_run "$out" "$PREP/restic_repo"
  local t0 t1 t2
  t0=$(now)
  restic --repo "$PREP/restic_repo" restore latest --target "$out" --quiet > "$WORK/restic.out" 2>&1 ||
    { echo "restic restore failed:" >&2; tail "$WORK/restic.out" >&2; exit 1; }
  t1=$(now); sync; t2=$(now)
  echo -e "restic\t$(echo "$t1 - $t0" | bc)\t$(echo "$t2 - $t0" | bc)\t$(load)" | tee -a "$RESULTS"
}

echo -e "tool\traw_s\tdurable_s\tload1"
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
PY
