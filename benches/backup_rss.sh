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
#   TRACE=1       also print the backup's RSS every RSS_EVERY seconds (default 10) against the
#                 versions the simulator has served so far
#   WORK          where the repository and catalog go (default: a new temp dir, removed at exit);
#                 with WORK, each run's summary, trace and log are kept in WORK/SCALE
# Each run: start `imvault sim`, read its /sim/summary (versions and bytes to expect), refuse to
# start when the free disk is below 1.5x the content plus 2 GB, `init` + `backup --json`, then
# check the summary says completed with every version and byte. Figures go in the table below.
#
# Figures, 2026-11-30, the shared 2-core machine (another engineer building at times), release
# build, local repository on the same disk, `requests_per_second = 5000`, `concurrency = 8`,
# one library. "content" is the bytes the backup downloaded (= the simulator's sum of sizes).
#
# |  versions | divisor | content GB | seconds | MB/s | versions/s | backup peak RSS | sim RSS  |
# |-----------|---------|------------|---------|------|------------|-----------------|----------|
# | (filled in by the runs of 2026-11-30 below)                                               |
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --quiet --bin imvault
bin=$PWD/target/release/imvault
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
  start=$(date +%s.%N)
  /usr/bin/time -f "%e %M" -o "$work/run/backup.time" "$bin" -c "$work/run/imvault.toml" backup --json \
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
  read -r secs rss < <(tail -1 "$work/run/backup.time")
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
  else
    [ "$bytes" = 0 ] || check="$check; read $bytes bytes of an unchanged library"
  fi
  repo=$(du -sb "$work/run/repo" "$work/run/catalog.db" | awk '{s+=$1} END {printf "%.0f", s}')
  python3 - "$label" "$versions" "$divisor" "$bytes" "$secs" "$rss" "$sim_rss" "$repo" "$check" <<'PY'
import sys
label, versions, divisor, content, secs, rss, sim, repo, check = sys.argv[1:]
secs = float(secs)
print(f"{label:>9} {int(versions):>9} {divisor:>7} {int(content)/1e9:>10.2f} {secs:>8.1f} "
      f"{int(content)/1e6/secs:>7.1f} {int(versions)/secs:>10.0f} {int(rss)/1024:>7.1f} MiB "
      f"{int(sim)/1024:>5.1f} MiB {int(repo)/1e9:>8.2f}  {check}")
PY
  if [ "${TRACE:-0}" = 1 ]; then sed 's/^/    /' "$work/run/trace"; fi
  if [ "$keep" = 1 ]; then
    mkdir -p "$work/$label"
    cp "$work/run/"{summary.json,expected.json,trace,backup.time,backup.log} "$work/$label/"
    du -sb "$work/run/"* >"$work/$label/sizes"
  fi
  [ "$check" = ok ]
}
echo "size divisor $divisor, $libraries librar$([ "$libraries" = 1 ] && echo y || echo ies), work dir $work"
printf "%9s %9s %7s %10s %8s %7s %10s %11s %9s %8s  %s\n" scale versions divisor "content GB" seconds "MB/s" \
  "versions/s" "backup RSS" "sim RSS" "repo GB" check
for scale in "${scales[@]}"; do
  rm -rf "$work/run"; mkdir -p "$work/run"
  "$bin" sim --listen "127.0.0.1:$port" --scale "$scale" --libraries "$libraries" \
    --size-divisor "$divisor" >"$work/run/sim.log" 2>&1 &
  sim=$!
  for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  curl -sf "http://127.0.0.1:$port/sim/summary" >"$work/run/expected.json"
  read -r want_versions want_bytes < <(python3 -c "import json;d=json.load(open('$work/run/expected.json'));print(sum(l['versions'] for l in d),sum(l['bytes'] for l in d))")
  free=$(df -B1 --output=avail "$work" | tail -1)
  if [ "$free" -lt $((want_bytes * 3 / 2 + 2000000000)) ]; then
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
    backup_once "$scale" "$run" || { sim_stop; exit 1; }
  done
  sim_stop
done
