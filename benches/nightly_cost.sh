#!/usr/bin/env bash
# What a no-change nightly asks of an S3 repository, against how many snapshots the repository
# holds (issue 21, "Nightly cost independent of history"): the requests must not grow with the
# history. Snapshot manifests are cached locally (src/repo/snapshot_cache.rs); a LIST of
# `snapshots/` stays the truth of which exist.
#
# Usage: [COUNTS="10 100 400"] [IMVAULT_BIN=path] benches/nightly_cost.sh (default: a release build)
# Each run, from scratch: moto's S3 server (`moto_server`, `pip install 'moto[server]'`) on
# 127.0.0.1 behind a small recording proxy (every request's method and target), `imvault sim
# --scale tiny` (one library), `init`, then no-change nightlies (`backup --json`, each must end
# `completed` with every version and no byte read) until the repository holds COUNT
# snapshots; the next nightly is the one measured. Requests are counted by method and by what
# they touch (the top-level prefix of the key, or of a LIST).
#
# Figures, 2026-12-05, the 2-core machine, moto 5.2.1, one tiny library, debug build
# (IMVAULT_BIN=target/debug/imvault: request counts do not depend on the build; 2 min 30 s for
# the whole run). Every row is the requests of ONE no-change nightly, with that many snapshots
# already in the repository:
#
# | snapshots | GET | LIST | PUT | HEAD | DELETE | total | GETs by prefix                            |
# |-----------|-----|------|-----|------|--------|-------|-------------------------------------------|
# |        10 |   4 |    7 |   1 |    0 |      0 |    12 | config 1, index 1, keys 1, snapshots 1    |
# |       100 |   4 |    7 |   1 |    0 |      0 |    12 | config 1, index 1, keys 1, snapshots 1    |
# |       400 |   4 |    7 |   1 |    0 |      0 |    12 | config 1, index 1, keys 1, snapshots 1    |
#
# The one snapshot GET is the manifest the nightly itself wrote (read back for the catalog);
# the PUT is that manifest. Without the cache the same nightly GETs every manifest (tests/it
# backup::nightly_cost). What still grows: a LIST answers at most 1,000 keys, so the LIST of
# `snapshots/` takes one more request per 1,000 snapshots (and the index LIST per 1,000 index
# objects) -- 3 nightly snapshots a day for a year is 2 more requests.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v moto_server >/dev/null || { echo "moto_server not found: pip install 'moto[server]'" >&2; exit 1; }
if [ -z "${IMVAULT_BIN:-}" ]; then cargo build --release --quiet --bin imvault; fi
bin=${IMVAULT_BIN:-$PWD/target/release/imvault}
counts=(${COUNTS:-10 100 400})
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket;s=socket.socket();s.bind(("127.0.0.1",0));print(s.getsockname()[1])'; }
wait_port() { for _ in $(seq 300); do (echo >/dev/tcp/127.0.0.1/"$1") 2>/dev/null && return 0; sleep 0.1; done; echo "port $1 never opened" >&2; exit 1; }

moto=$(free_port); proxy=$(free_port); sim=$(free_port)
moto_server -H 127.0.0.1 -p "$moto" >"$work/moto.log" 2>&1 & pids+=($!)
wait_port "$moto"
# The recording proxy: forwards bytes untouched, writes "METHOD TARGET" per request head.
cat >"$work/proxy.py" <<'PY'
import socket, sys, threading
listen, target, log = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "a", buffering=1)
lock = threading.Lock()
def pump(src, dst):
    try:
        while (b := src.recv(65536)):
            dst.sendall(b)
    except OSError:
        pass
    finally:
        try: dst.shutdown(socket.SHUT_WR)
        except OSError: pass
def client(c):
    s = socket.create_connection(("127.0.0.1", target))
    threading.Thread(target=pump, args=(s, c), daemon=True).start()
    pending, skip = b"", 0
    try:
        while (b := c.recv(65536)):
            s.sendall(b)
            data = b
            while data:
                n = min(skip, len(data)); skip -= n; data = data[n:]
                if skip or not data: break
                pending += data; data = b""
                end = pending.find(b"\r\n\r\n")
                if end < 0: break
                head, data, pending = pending[:end].decode("latin-1"), pending[end + 4:], b""
                lines = head.split("\r\n")
                for l in lines[1:]:
                    k, _, v = l.partition(":")
                    if k.strip().lower() == "content-length": skip = int(v.strip() or 0)
                with lock:
                    log.write(" ".join(lines[0].split(" ")[:2]) + "\n")
    except OSError:
        pass
    finally:
        try: s.shutdown(socket.SHUT_WR)
        except OSError: pass
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", listen)); srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=client, args=(c,), daemon=True).start()
PY
: >"$work/requests.log"
python3 "$work/proxy.py" "$proxy" "$moto" "$work/requests.log" & pids+=($!)
wait_port "$proxy"
curl -sf -X PUT "http://127.0.0.1:$moto/bench" >/dev/null
"$bin" sim --listen "127.0.0.1:$sim" --scale tiny --libraries 1 >"$work/sim.log" 2>&1 & pids+=($!)
wait_port "$sim"
want_versions=$(curl -sf "http://127.0.0.1:$sim/sim/summary" | python3 -c "import json,sys;print(sum(l['versions'] for l in json.load(sys.stdin)))")
cat >"$work/imvault.toml" <<TOML
[imanage]
url = "http://127.0.0.1:$sim"
client_id = "imvault-sim"
client_secret = "sim-client-secret"
username = "svc-backup@sim.example"
auth_key = "sim-auth-key"
requests_per_second = 5000
concurrency = 8
[repository]
url = "s3://bench/repo"
endpoint = "http://127.0.0.1:$proxy"
region = "us-east-1"
allow_http = true
access_key_id = "bench"
secret_access_key = "bench-secret"
password = "bench repository password"
[catalog]
path = "$work/state/catalog.db"
TOML
"$bin" -c "$work/imvault.toml" init >/dev/null
snapshots=0
# One nightly; checks it completed with every version, and (after the first) read no byte.
nightly() {
  "$bin" -c "$work/imvault.toml" backup --json >"$work/summary.json" 2>"$work/backup.log" ||
    { echo "backup failed (see $work/backup.log)" >&2; tail -5 "$work/backup.log" >&2; exit 1; }
  python3 - "$work/summary.json" "$want_versions" "$snapshots" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); want = int(sys.argv[2]); first = sys.argv[3] == "0"
versions = sum(l["counters"]["versions"] for l in d["libraries"])
assert d["state"] == "completed", d["state"]
assert versions == want, f"{versions} versions, the simulator has {want}"
assert first or d["bytes_read"] == 0, f"a no-change nightly read {d['bytes_read']} bytes"
PY
  snapshots=$((snapshots + 1))
}
printf "%9s %6s %6s %6s %6s %6s %6s  %s\n" snapshots GET LIST PUT HEAD DELETE total "GETs by prefix"
for count in "${counts[@]}"; do
  while [ "$snapshots" -lt "$count" ]; do nightly; done
  mark=$(wc -l <"$work/requests.log")
  nightly
  tail -n +"$((mark + 1))" "$work/requests.log" | python3 -c "
import sys, collections, urllib.parse
by, prefixes = collections.Counter(), collections.Counter()
for line in sys.stdin:
    method, target = line.split(' ', 1)
    path, _, query = target.strip().partition('?')
    q = urllib.parse.parse_qs(query)
    if method == 'GET' and 'list-type' in q:
        by['LIST'] += 1
        continue
    by[method] += 1
    if method == 'GET':
        parts = path.strip('/').split('/')
        prefixes[parts[2] if len(parts) > 2 else '(root)'] += 1
print(f\"{$snapshots - 1:>9} {by['GET']:>6} {by['LIST']:>6} {by['PUT']:>6} {by['HEAD']:>6} {by['DELETE']:>6} {sum(by.values()):>6}  {dict(sorted(prefixes.items()))}\")
"
done
