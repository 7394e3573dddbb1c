#!/usr/bin/env bash
# Side-by-side ingest and restore: imvault's repository engine vs restic, same corpus.
#
#   bash benches/compare_restic.sh            # 1100 MiB corpus in a temp dir
#   SIZE_MIB=2048 WORK=/data/cmp bash benches/compare_restic.sh
#
# Needs restic (Debian: apt-get install restic) and /usr/bin/time. Prints, for each tool:
# ingest and restore throughput, repository size and peak RSS, then imvault/restic ratios.
# Both run warm (the corpus was just written), both with compression on (restic repository
# v2, `--compression auto`; imvault zstd level 3), both into local directories.
set -euo pipefail
cd "$(dirname "$0")/.."

SIZE_MIB=${SIZE_MIB:-1100}
WORK=${WORK:-$(mktemp -d /tmp/imvault-cmp.XXXXXX)}
PROFILE=${PROFILE:-release}
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
command -v restic >/dev/null || { echo "restic not found (apt-get install restic)" >&2; exit 2; }
[ -x /usr/bin/time ] || { echo "/usr/bin/time not found (apt-get install time)" >&2; exit 2; }

if [ "$PROFILE" = release ]; then
  cargo build --release --example ingest >&2
  BIN=$CARGO_TARGET_DIR/release/examples/ingest
else
  cargo build --example ingest >&2
  BIN=$CARGO_TARGET_DIR/debug/examples/ingest
fi

echo "work dir: $WORK" >&2
rm -rf "$WORK/corpus" "$WORK/imv_repo" "$WORK/imv_out" "$WORK/restic_repo" "$WORK/restic_out"
mkdir -p "$WORK"
"$BIN" gen "$WORK/corpus" "$SIZE_MIB" >&2
sync
CORPUS_BYTES=$(du -sb "$WORK/corpus" | cut -f1)

# elapsed seconds and max RSS (KiB) from a `/usr/bin/time -v` report
secs() { awk -F': ' '/Elapsed \(wall clock\)/ { n=split($2,a,":"); s=0; for(i=1;i<=n;i++) s=s*60+a[i]; print s }' "$1"; }
rss() { awk -F': ' '/Maximum resident set size/ { print $2 }' "$1"; }

run() { # name, command...
  local name=$1; shift
  /usr/bin/time -v -o "$WORK/$name.time" "$@" > "$WORK/$name.out" 2> "$WORK/$name.err" || {
    echo "$name failed:" >&2; cat "$WORK/$name.err" >&2; exit 1; }
}

run imv_backup "$BIN" backup "$WORK/corpus" "$WORK/imv_repo"
run imv_restore "$BIN" restore "$WORK/imv_repo" "$WORK/imv_out"

export RESTIC_PASSWORD=compare-restic
restic init --repo "$WORK/restic_repo" >/dev/null
(cd "$WORK/corpus" && run restic_backup restic --repo "$WORK/restic_repo" backup --compression auto --quiet .)
run restic_restore restic --repo "$WORK/restic_repo" restore latest --target "$WORK/restic_out" --quiet

# Both restores must equal the corpus.
diff -r -q "$WORK/corpus" "$WORK/imv_out" >/dev/null || { echo "imvault restore differs from the corpus" >&2; exit 1; }
diff -r -q "$WORK/corpus" "$WORK/restic_out" >/dev/null || { echo "restic restore differs from the corpus" >&2; exit 1; }

IMV_REPO=$(du -sb "$WORK/imv_repo" | cut -f1)
RES_REPO=$(du -sb "$WORK/restic_repo" | cut -f1)

python3 - "$CORPUS_BYTES" "$IMV_REPO" "$RES_REPO" \
  "$(secs "$WORK/imv_backup.time")" "$(rss "$WORK/imv_backup.time")" \
  "$(secs "$WORK/imv_restore.time")" "$(rss "$WORK/imv_restore.time")" \
  "$(secs "$WORK/restic_backup.time")" "$(rss "$WORK/restic_backup.time")" \
  "$(secs "$WORK/restic_restore.time")" "$(rss "$WORK/restic_restore.time")" <<'PY'
import sys
c, ir, rr, ib, ibr, irs, irsr, rb, rbr, rrs, rrsr = sys.argv[1:]
c, ir, rr = int(c), int(ir), int(rr)
ib, irs, rb, rrs = float(ib), float(irs), float(rb), float(rrs)
mb = lambda s: c / 1e6 / s
print(f"corpus: {c/2**20:.0f} MiB")
print(f"{'':8} {'ingest MB/s':>12} {'restore MB/s':>13} {'repo MiB':>9} {'RSS ingest MiB':>15} {'RSS restore MiB':>16}")
print(f"{'imvault':8} {mb(ib):12.1f} {mb(irs):13.1f} {ir/2**20:9.1f} {int(ibr)/1024:15.0f} {int(irsr)/1024:16.0f}")
print(f"{'restic':8} {mb(rb):12.1f} {mb(rrs):13.1f} {rr/2**20:9.1f} {int(rbr)/1024:15.0f} {int(rrsr)/1024:16.0f}")
print(f"ratios imvault/restic: ingest {rb/ib:.2f}x, restore {rrs/irs:.2f}x, repository size {ir/rr:.3f}")
PY
echo "details: $WORK/*.out, $WORK/*.time" >&2
