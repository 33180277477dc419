#!/usr/bin/env bash
# Kill test (issue #14): a small sweep (Fashion-MNIST MLP trained here, four quantizers, 4,000
# test images) is killed with SIGKILL at 20 random moments, during training and during cells,
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
cat > "$TMP/kill.pbtxt" <<'CONFIG'
name: "kill"
network {
  architecture: "mlp"
  mlp { hidden: [128] }
  train { data { limit: 12000 } epochs: 4 batch_size: 50 learning_rate: 0.05 }
}
dataset { limit: 4000 preprocessing { mean: 0.286 std: 0.353 } }
quantizers { name: "linear" }
quantizers { name: "exponential" }
quantizers { name: "kmeans" }
quantizers { name: "ternary" bits: [2] }
bits: [2, 3, 4, 6]
seed: 7
threads: 1
CONFIG
CELLS=13

run() {  # run DIR: the sweep with its own cache / work dir / output under DIR
  "$SWEEP" --config="$TMP/kill.pbtxt" --cache_dir="$1/cache" --output="$1/out/kill.json"
}

start=$(date +%s.%N)
run "$TMP/reference" > /dev/null 2> "$TMP/reference.log" || { cat "$TMP/reference.log"; echo "FAIL: reference run"; exit 1; }
echo "uninterrupted run: $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"

failures=0 in_training=0 in_cells=0 after_end=0
for trial in $(seq 1 "$TRIALS"); do
  dir="$TMP/trial$trial"
  # exec: $! must be the sweep itself, not a subshell around it.
  ( exec "$SWEEP" --config="$TMP/kill.pbtxt" --cache_dir="$dir/cache" --output="$dir/out/kill.json" \
      > /dev/null 2> "$dir.killed.log" ) &
  pid=$!
  # A random moment: odd trials while training (after a random number of finished epochs,
  # 0..3 of 4), even ones during the cells (after a random number of finished cells); then a
  # random 0-60 ms more, so the kill lands inside an epoch or a cell, or between them.
  if [ $((trial % 2)) -eq 1 ]; then
    target=$((RANDOM % 4))
    until [ "$(cat "$dir.killed.log" 2> /dev/null | grep -c '^epoch ')" -ge "$target" ] || ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
  else
    target=$((RANDOM % CELLS))
    until [ "$(ls "$dir"/cache/sweeps/kill-*/cells 2> /dev/null | grep -c '\.json$')" -ge "$target" ] &&
          grep -q "fp32 baseline" "$dir.killed.log" || ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
  fi
  delay=$(python3 -c "import random; print(round(random.uniform(0, 0.06), 3))")
  sleep "$delay"
  kill -9 "$pid" 2> /dev/null
  wait "$pid" 2> /dev/null
  work=$(ls -d "$dir"/cache/sweeps/kill-* 2> /dev/null | head -n 1)
  done_at_kill=0
  [ -n "$work" ] && done_at_kill=$(ls "$work/cells" 2> /dev/null | grep -c '\.json$')
  if ! grep -q "fp32 baseline" "$dir.killed.log"; then
    in_training=$((in_training + 1)); moment="before the baseline (loading/training)"
  elif [ -e "$dir/out/kill.json" ]; then
    after_end=$((after_end + 1)); moment="after the result was written"
  else
    in_cells=$((in_cells + 1)); moment="during the cells"
  fi
  # Only whole result files may be visible: a JSON that parses, and its Markdown beside it.
  for f in $(ls "$dir/out" 2> /dev/null); do
    case "$f" in
      kill.json) python3 -c "import json,sys; json.load(open(sys.argv[1]))" "$dir/out/$f" ||
                   { echo "FAIL trial $trial: partial $f visible"; failures=$((failures + 1)); } ;;
      kill.md|kill.*.svg|kill.*.png) ;;
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
  if ! diff_out=$(python3 "$COMPARE" "$TMP/reference/out/kill.json" "$dir/out/kill.json"); then
    echo "FAIL trial $trial: result differs from the uninterrupted run:"; echo "$diff_out"
    failures=$((failures + 1))
  fi
  leftovers=$(find "$dir/out" "$dir/cache" -name '*.tmp.*' | wc -l)
  if [ "$leftovers" -ne 0 ]; then echo "note trial $trial: $leftovers temporary files of the killed run left (not result files)"; fi
  echo "trial $trial: killed $moment with $done_at_kill/$CELLS cells done; rerun computed $recomputed; failures so far $failures"
  rm -rf "$dir"
done
echo "kills: $in_training before the baseline, $in_cells during cells, $after_end after the end; $failures failures"
[ "$failures" -eq 0 ]
