#!/usr/bin/env bash
# Coverage-guided fuzzing of one of imvault's parsers of untrusted bytes with AFL++, on stable
# Rust (issue 18). Usage: fuzz/afl.sh TARGET [SECONDS]   (fuzz/afl.sh --list names the targets)
#
# Needs cargo-afl once: `cargo install cargo-afl --locked && cargo afl config --build`.
# The start corpus is the target's valid encodings plus fuzz/corpus/TARGET/; AFL++'s findings
# stay in fuzz/afl/out/TARGET/. A crash is copied into fuzz/corpus/TARGET/crash-<hash>, where
# every later `cargo test fuzz` replays it: commit it with the fix. With KEEP_QUEUE=1 the inputs
# AFL++ found new coverage with are copied into fuzz/corpus/TARGET/cov-<hash> too, so that the
# short run inside `cargo test` starts from them.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/afl"
cargo afl build --release --quiet
bin="$here/afl/target/release/imvault-afl"
if [ "${1:-}" = "--list" ]; then exec "$bin" --list; fi
target=${1:?usage: fuzz/afl.sh TARGET [SECONDS]}
secs=${2:-600}
"$bin" --list | grep -x "$target" >/dev/null || { echo "unknown target $target; fuzz/afl.sh --list" >&2; exit 2; }
in="$here/afl/out/$target.in"
out="$here/afl/out/$target"
rm -rf "$in"
"$bin" --seeds "$target" "$in"
# No UI, a fixed run time, a memory cap (an input asking for gigabytes is a crash too) and no
# demands on the host's core_pattern or CPU governor (a shared CI machine).
AFL_NO_UI=1 AFL_SKIP_CPUFREQ=1 AFL_I_DONT_CARE_ABOUT_MISSING_CRASHES=1 AFL_NO_AFFINITY=1 \
  AFL_QUIET=1 cargo afl fuzz -V "$secs" -m 1024 -i "$in" -o "$out" -- "$bin" "$target" >"$out.log" 2>&1 \
  || { tail -20 "$out.log" >&2; exit 1; }
stats="$out/default/fuzzer_stats"
execs=$(awk -F' *: *' '$1=="execs_done"{print $2}' "$stats")
paths=$(awk -F' *: *' '$1=="corpus_count"{print $2}' "$stats")
edges=$(awk -F' *: *' '$1=="edges_found"{print $2}' "$stats")
crashes=0
for f in "$out"/default/crashes/id:*; do
  [ -e "$f" ] || continue
  crashes=$((crashes + 1))
  h=$(b2sum "$f" | cut -c1-16)
  mkdir -p "$here/corpus/$target"
  cp "$f" "$here/corpus/$target/crash-$h"
done
if [ "${KEEP_QUEUE:-0}" = 1 ]; then
  mkdir -p "$here/corpus/$target"
  for f in "$out"/default/queue/id:*; do
    [ -f "$f" ] || continue
    case "$f" in *orig:seed-*) continue ;; esac   # the seeds themselves are known already
    h=$(b2sum "$f" | cut -c1-16)
    cp "$f" "$here/corpus/$target/cov-$h"
  done
fi
echo "$target: $execs inputs run in ${secs}s, $paths in the corpus, $edges edges, $crashes crash(es)"
[ "$crashes" -eq 0 ]
