#!/usr/bin/env bash
# Kill test (issue #14): a small sweep (tests/small_mlp_sweep.pbtxt: Fashion-MNIST MLP trained
# here, four quantizers, 4,000 test images) is killed with SIGKILL at 20 random moments, during training and during cells,
# and each time rerun to completion with the same command. Checks, every time:
#   - nothing but complete result files is ever under the output directory (the killed run
#     leaves either no result or the whole one);
#   - the rerun resumes with exactly the cells that were finished at the kill (so it
#     recomputes at most the cell that was running);
#   - the final JSON equals the uninterrupted run's, timings aside (sweep_result_compare.py).
set -uo pipefail

SWEEP="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-quantbench}/experiments/sweep"
COMPARE="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-quantbench}/tests/sweep_result_compare.py"
DATA=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
TRIALS="${KILL_TRIALS:-20}"
if [ ! -e "$DATA" ]; then
  echo "SKIPPED: missing $DATA (Debian dataset-fashion-mnist)"
  exit 0
fi
TMP="${TEST_TMPDIR:-$(mktemp -d)}/kill"
rm -rf "$TMP"
mkdir -p "$TMP"
cp "${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-quantbench}/tests/small_mlp_sweep.pbtxt" "$TMP/kill.pbtxt"
CELLS=13

run() {  # run DIR: the sweep with its own cache / work dir / output under DIR
  "$SWEEP" --config="$TMP/kill.pbtxt" --cache_dir="$1/cache" --output="$1/out/small_mlp_sweep.json"
}

start=$(date +%s.%N)
run "$TMP/reference" > /dev/null 2> "$TMP/reference.log" || { cat "$TMP/reference.log"; echo "FAIL: reference run"; exit 1; }
echo "uninterrupted run: $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"

temporaries=0
failures=0 in_training=0 in_cells=0 after_end=0
for trial in $(seq 1 "$TRIALS"); do
  dir="$TMP/trial$trial"
  # exec: $! must be the sweep itself, not a subshell around it.
  ( exec "$SWEEP" --config="$TMP/kill.pbtxt" --cache_dir="$dir/cache" --output="$dir/out/small_mlp_sweep.json" \
      > /dev/null 2> "$dir.killed.log" ) &
  pid=$!
  # A random moment: odd trials while training (after a random number of finished epochs,
  # 0..2 of 3), even ones during the cells (after a random number of finished cells); then a
  # random 0-60 ms more, so the kill lands inside an epoch or a cell, or between them.
  if [ $((trial % 2)) -eq 1 ]; then
    target=$((RANDOM % 3))
    until [ "$(cat "$dir.killed.log" 2> /dev/null | grep -c '^epoch ')" -ge "$target" ] || ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
  else
    target=$((RANDOM % CELLS))
    until [ "$(ls "$dir"/cache/sweeps/small_mlp_sweep-*/cells 2> /dev/null | grep -c '\.json$')" -ge "$target" ] &&
          grep -q "fp32 baseline" "$dir.killed.log" || ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
  fi
  delay=$(python3 -c "import random; print(round(random.uniform(0, 0.06), 3))")
  sleep "$delay"
  kill -9 "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  work=$(ls -d "$dir"/cache/sweeps/small_mlp_sweep-* 2> /dev/null | head -n 1)
  done_at_kill=0
  [ -n "$work" ] && done_at_kill=$(ls "$work/cells" 2> /dev/null | grep -c '\.json$')
  if ! grep -q "fp32 baseline" "$dir.killed.log"; then
    in_training=$((in_training + 1)); moment="before the baseline (loading/training)"
  elif [ -e "$dir/out/small_mlp_sweep.json" ]; then
    after_end=$((after_end + 1)); moment="after the result was written"
  else
    in_cells=$((in_cells + 1)); moment="during the cells"
  fi
  # Only whole result files may be visible: a JSON that parses, and its Markdown beside it.
  for f in $(ls "$dir/out" 2> /dev/null); do
    case "$f" in
      small_mlp_sweep.json) python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$dir/out/$f" ||
                   { echo "FAIL trial $trial: partial $f visible"; failures=$((failures + 1)); } ;;
      small_mlp_sweep.md|small_mlp_sweep.*.svg|small_mlp_sweep.*.png) ;;
      # A write the kill interrupted: named as a temporary, never read as a result, removed by
      # the next write of the same file (checked after the rerun below).
      *.tmp.*) temporaries=$((temporaries + 1)) ;;
      *) echo "FAIL trial $trial: unexpected file $f under the output directory"; failures=$((failures + 1)) ;;
    esac
  done
  run "$dir" > /dev/null 2> "$dir.rerun.log" || { cat "$dir.rerun.log"; echo "FAIL trial $trial: rerun"; failures=$((failures + 1)); continue; }
  resumed=$(grep -oE '[0-9]+ of [0-9]+ cells already done' "$dir.rerun.log" | cut -d' ' -f1)
  resumed=${resumed:-0}
  recomputed=$(grep -cE '^\[[0-9]+/[0-9]+\]' "$dir.rerun.log")
  if [ "$resumed" -ne "$done_at_kill" ] || [ "$recomputed" -ne $((CELLS - done_at_kill)) ]; then
    echo "FAIL trial $trial: $done_at_kill cells were finished at the kill, the rerun resumed $resumed and computed $recomputed"
    failures=$((failures + 1))
  fi
  if ! diff_out=$(python3 "$COMPARE" "$TMP/reference/out/small_mlp_sweep.json" "$dir/out/small_mlp_sweep.json"); then
    echo "FAIL trial $trial: result differs from the uninterrupted run:"; echo "$diff_out"
    failures=$((failures + 1))
  fi
  leftovers=$(find "$dir/out" "$dir/cache/sweeps" -name '*.tmp.*' | wc -l)
  if [ "$leftovers" -ne 0 ]; then echo "FAIL trial $trial: $leftovers temporary files still there after the rerun"; failures=$((failures + 1)); fi
  echo "trial $trial: killed $moment with $done_at_kill/$CELLS cells done; rerun computed $recomputed; failures so far $failures"
  rm -rf "$dir"
done
echo "kills: $in_training before the baseline, $in_cells during cells, $after_end after the end; $temporaries interrupted result writes left a temporary (removed by the rerun); $failures failures"
[ "$failures" -eq 0 ]
