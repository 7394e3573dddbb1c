#!/usr/bin/env bash
# Peak RSS of `imvault backup` (a separate process from the simulator) as the library grows:
# memory must stay flat in library size. Usage: benches/backup_rss.sh [VERSIONS ...]
# Default sizes: 2000 20000 100000 versions (the last is ~9 GB of content: needs disk and ~2 min).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --bin imvault >/dev/null
bin=$PWD/target/release/imvault
sizes=("$@"); [ ${#sizes[@]} -gt 0 ] || sizes=(2000 20000 100000)
work=$(mktemp -d); trap 'pkill -P $sim 2>/dev/null || true; rm -rf "$work"' EXIT
port=$(python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])')
printf "%10s %10s %10s %12s %10s\n" versions seconds "MB/s" "backup RSS" "sim RSS"
for n in "${sizes[@]}"; do
  rm -rf "$work/run"; mkdir -p "$work/run"
  /usr/bin/time -f "%M" -o "$work/run/sim.rss" "$bin" sim --listen "127.0.0.1:$port" --scale "$n" --libraries 1 >/dev/null 2>&1 &
  sim=$!
  for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
  cat > "$work/run/imvault.toml" <<TOML
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
  start=$(date +%s.%N)
  /usr/bin/time -f "%M" -o "$work/run/backup.rss" "$bin" -c "$work/run/imvault.toml" backup --json > "$work/run/summary.json" 2> "$work/run/backup.log"
  end=$(date +%s.%N)
  pkill -INT -P $sim; wait $sim 2>/dev/null || true
  bytes=$(python3 -c "import json,sys;d=json.load(open('$work/run/summary.json'));print(d['bytes_read'])" 2>/dev/null || echo 0)
  secs=$(python3 -c "print(f'{$end-$start:.1f}')")
  printf "%10s %10s %10.1f %9.1f MiB %6.1f MiB\n" "$n" "$secs" "$(python3 -c "print($bytes/1e6/($end-$start))")" \
    "$(python3 -c "print($(cat $work/run/backup.rss)/1024)")" "$(python3 -c "print($(cat $work/run/sim.rss 2>/dev/null || echo 0)/1024)")"
done
