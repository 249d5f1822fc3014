#!/usr/bin/env bash
# Cold start of one vlmrun caption process: process start → first token
# (vlmrun caption --json --max-new-tokens 1: process_elapsed_ms, and the
# wall time around the process), with the model's files evicted from the
# page cache before each cold run (posix_fadvise DONTNEED; pages another
# process maps stay) and left cached for the warm runs. Prints one line per
# run and the medians.
#
# Usage: scripts/coldstart.sh [MODEL] [IMAGE] [VLMRUN FLAGS...]
#   defaults: build/smolvlm-256m-random-nosplit build/bench-images/tex512.png
# Environment: RUNS [3] THREADS [2] BIN [build/compare/vlmrun]
#   EVICT: more folders evicted before cold runs (e.g. the --ort-graph-cache folder)
set -euo pipefail
cd "$(dirname "$0")/.."
MODEL=${1:-build/smolvlm-256m-random-nosplit}; IMAGE=${2:-build/bench-images/tex512.png}
shift $(( $# < 2 ? $# : 2 ))
RUNS=${RUNS:-3} THREADS=${THREADS:-2} BIN=${BIN:-build/compare/vlmrun}
[[ -x "$BIN" ]] || go build -o "$BIN" ./cmd/vlmrun
evict() {
  /usr/bin/python3 - "$1" <<'PY'
import os, sys
for root, _, files in os.walk(os.path.realpath(sys.argv[1]), followlinks=True):
    for f in files:
        p = os.path.realpath(os.path.join(root, f))
        fd = os.open(p, os.O_RDONLY)
        os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        os.close(fd)
PY
}
one() { # mode, vlmrun flags
  local mode=$1 t0 t1 out
  shift
  if [[ $mode == cold ]]; then sync; for d in "$MODEL" ${EVICT:-}; do evict "$d"; done; fi
  t0=$(date +%s%N)
  out=$("$BIN" caption --model "$MODEL" --threads "$THREADS" --max-new-tokens 1 --json "$@" "$IMAGE")
  t1=$(date +%s%N)
  echo "$out" | /usr/bin/python3 -c "
import json, sys
r = json.load(sys.stdin); o = r['open']; t = r['timings']
print('$mode', round(($t1 - $t0) / 1e6), r['process_elapsed_ms'], o['total_ms'], o['model_load_ms'], o['vision_session_ms'],
      o['decoder_open_ms'], o.get('merged_session_ms', 0) + t.get('decoder_session_open_ms', 0), t['total_ms'], ','.join(f'{k}={v}' for k, v in sorted(r['dtypes'].items())))"
}
echo "mode wall_ms process_to_first_token_ms open_ms load_ms vision_session_ms decoder_open_ms merged_session_ms(open_or_first_use) pipeline_total_ms dtypes"
for i in $(seq "$RUNS"); do one cold "$@"; one warm "$@"; done | tee /dev/stderr | /usr/bin/python3 -c "
import sys, statistics
rows = [l.split() for l in sys.stdin]
for mode in ('cold', 'warm'):
    rs = [r for r in rows if r[0] == mode]
    med = [statistics.median(float(r[i]) for r in rs) for i in range(1, 9)]
    print('median', mode, ' '.join(f'{x:.0f}' for x in med), rs[0][9])
"
