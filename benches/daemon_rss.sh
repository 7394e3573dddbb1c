#!/usr/bin/env bash
# Memory of the daemon (`imvault serve`) between jobs: its RSS once a backup job and then a
# restore job have ended, against its RSS before the first job (issue 21: a long-running agent
# must not keep a job's peak while it waits for the next one).
#
# Usage: [IMVAULT_BIN=BIN] [WORK=DIR] benches/daemon_rss.sh [SCALE]
#   SCALE        the simulator's --scale (default small; medium: ~1 GB, a few minutes)
#   IMVAULT_BIN  the imvault binary (default: a release build of this tree)
#   WORK         where the simulator's config, repository, catalog and restore go (default: a
#                new temp dir, removed at exit)
# What it does: starts `imvault sim --scale SCALE` and `imvault serve` (local encrypted
# repository, schedule off) on free ports of 127.0.0.1, then queues through the API a backup of
# ACTIVE and, once it has ended, a restore of the whole library into a new directory; prints
# the daemon's VmRSS and VmHWM (/proc/PID/status) before the first job and 2 s after each job
# ended (the daemon gives freed memory back right after recording the job's end).
#
# Figures, 2026-12-06, this 2-core machine, release builds, SCALE=medium (ACTIVE 11,124
# versions, 1.04 GB), MiB:
#
# | build | idle: RSS (HWM) | after the backup: RSS (HWM) | after the restore: RSS (HWM) |
# |---|---|---|---|
# | before (06ae85a) | 25 (89) | 100 (122) | 100 (164) |
# | malloc_trim when the last running job ends | 27 (91) | 38 (118) | 49 (118) |
#
# SCALE=small (ACTIVE 1,543 versions): before 26 / 54 / 66 MiB, after 29 / 36 / 42 MiB.
# The idle high-water mark (~90 MiB) is the repository password's Argon2 at the daemon's
# start (its memory is freed at once).
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
scale=${1:-small}
bin=${IMVAULT_BIN:-}
if [ -z "$bin" ]; then
    (cd "$here" && cargo build --release --quiet --bin imvault)
    bin=$here/target/release/imvault
fi
if [ -n "${WORK:-}" ]; then
    w=$WORK
    mkdir -p "$w"
else
    w=$(mktemp -d)
fi
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    [ -n "${WORK:-}" ] || rm -rf "$w"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
sim_port=$(free_port)
api_port=$(free_port)
umask 077
mkdir -p "$w/state"
"$bin" sim --scale "$scale" --listen "127.0.0.1:$sim_port" >"$w/sim.log" 2>&1 &
pids+=($!)
head -c 32 /dev/urandom | base64 >"$w/password"
head -c 32 /dev/urandom | base64 >"$w/token"
cat >"$w/imvault.toml" <<EOF
[imanage]
url = "http://127.0.0.1:$sim_port"
client_id = "imvault-sim"
client_secret = "sim-client-secret"
username = "svc-backup@sim.example"
auth_key = "sim-auth-key"

[repository]
url = "file://$w/repo"
password_file = "$w/password"

[catalog]
path = "$w/state/catalog.db"

[schedule]
backup = "off"

[api]
listen = "127.0.0.1:$api_port"
token_file = "$w/token"
EOF
export IMVAULT_CONFIG=$w/imvault.toml
wait_for() { # URL: until it answers (a server starting), at most 60 s
    for _ in $(seq 300); do curl -sf "$1" >/dev/null && return 0; sleep 0.2; done
    echo "no answer from $1" >&2
    return 1
}
wait_for "http://127.0.0.1:$sim_port/sim/summary"
"$bin" init >"$w/init.log" 2>&1
"$bin" serve >"$w/serve.log" 2>&1 &
daemon=$!
pids+=($daemon)
wait_for "http://127.0.0.1:$api_port/readyz"
api() { curl -sf -H "Authorization: Bearer $(cat "$w/token")" -H 'content-type: application/json' "$@"; }
field() { python3 -c "import sys, json; print(json.load(sys.stdin)['$1'])"; }
memory() { awk '/^VmRSS|^VmHWM/ { printf " %s %d MiB", $1, $2 / 1024 }' "/proc/$daemon/status"; echo; }
run_job() { # ROUTE JSON: queue a job, wait for its end
    local id state
    id=$(api -d "$2" "http://127.0.0.1:$api_port$1" | field id)
    while :; do
        state=$(api "http://127.0.0.1:$api_port/v1/jobs/$id" | field state)
        case $state in queued | running) sleep 0.5 ;; *) break ;; esac
    done
    echo "job $1 $id: $state"
    [ "$state" = completed ] || { tail -5 "$w/serve.log"; exit 1; }
    sleep 2
}
echo "imvault $("$bin" --version | awk '{print $2}'), scale $scale"
echo -n "idle before any job:"
memory
run_job /v1/backups '{"libraries": ["ACTIVE"]}'
echo -n "after the backup:"
memory
run_job /v1/restores "{\"library\": \"ACTIVE\", \"to\": \"$w/restored\"}"
echo -n "after the restore:"
memory
