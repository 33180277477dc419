#!/usr/bin/env bash
# Kill test (issue #14): a small sweep (tests/small_mlp_sweep.pbtxt: Fashion-MNIST MLP trained
# here, four quantizers, 4,000 test images; plus one retrained cell: ternary QAT for 4 epochs)
# is killed with SIGKILL at 20 random moments: while the fp32 net trains, during the
# post-training cells, and while the QAT cell trains; each time it is rerun to completion with
# the same command. Checks, every time:
#   - nothing but complete result files is ever under the output directory (the killed run
#     leaves either no result or the whole one);
#   - the rerun resumes with exactly the cells that were finished at the kill (so it
#     recomputes at most the cell that was running);
#   - a kill during QAT resumes QAT from the checkpoint of the last or second-to-last finished
#     epoch (the epoch line is printed just before its checkpoint is written), never from zero;
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
# The retrained cell: QAT with checkpoints every epoch (about 0.5 s an epoch).
cat >> "$TMP/kill.pbtxt" <<'QAT'
quantizers {
  name: "ternary" label: "ternary, retrained" bits: [2]
  qat {
    train { data { limit: 8000 } epochs: 4 batch_size: 50 learning_rate: 0.01 momentum: 0.9 }
    ste: CLIPPED loss: LABELS
  }
}
QAT
CELLS=14
QAT_EPOCHS=4
QAT_LINE="training mlp-qat-ternary-2"
qat_epochs_in() {  # qat_epochs_in LOG: epoch lines printed after the QAT training started
  sed -n "/$QAT_LINE/,\$p" "$1" 2> /dev/null | grep -c '^epoch '
}

run() {  # run DIR: the sweep with its own cache / work dir / output under DIR
  "$SWEEP" --config="$TMP/kill.pbtxt" --cache_dir="$1/cache" --output="$1/out/small_mlp_sweep.json"
}

start=$(date +%s.%N)
run "$TMP/reference" > /dev/null 2> "$TMP/reference.log" || { cat "$TMP/reference.log"; echo "FAIL: reference run"; exit 1; }
echo "uninterrupted run: $(python3 -c "print(round($(date +%s.%N) - $start, 2))") s"

temporaries=0
failures=0 in_training=0 in_cells=0 in_qat=0 after_end=0
for trial in $(seq 1 "$TRIALS"); do
  dir="$TMP/trial$trial"
  # exec: $! must be the sweep itself, not a subshell around it.
  ( exec "$SWEEP" --config="$TMP/kill.pbtxt" --cache_dir="$dir/cache" --output="$dir/out/small_mlp_sweep.json" \
      > /dev/null 2> "$dir.killed.log" ) &
  pid=$!
  # A random moment: trials 1, 4, ... while the fp32 net trains (after a random number of
  # finished epochs, 0..2 of 3); 2, 5, ... during the cells (after a random number of finished
  # cells); 3, 6, ... while QAT trains (after a random number of its epochs, 0..3 of 4); then
  # a random 0-60 ms more, so the kill lands inside an epoch or a cell, or between them.
  if [ $((trial % 3)) -eq 0 ]; then
    target=$((RANDOM % QAT_EPOCHS))
    until { grep -q "$QAT_LINE" "$dir.killed.log" 2> /dev/null && [ "$(qat_epochs_in "$dir.killed.log")" -ge "$target" ]; } ||
          ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
  elif [ $((trial % 3)) -eq 1 ]; then
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
  elif grep -q "$QAT_LINE" "$dir.killed.log" && [ "$done_at_kill" -lt "$CELLS" ]; then
    in_qat=$((in_qat + 1)); qat_done=$(qat_epochs_in "$dir.killed.log")
    moment="during QAT after $qat_done/$QAT_EPOCHS epoch lines"
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
  if [ "${qat_done:-}" != "" ]; then
    # The rerun resumes after epoch r with r the last or second-to-last printed epoch (no
    # checkpoint after the last epoch: it is the cached result's job), or loads the finished
    # training from its cache if the kill came after that was written.
    resumed_qat=$(sed -n "/$QAT_LINE/,\$p" "$dir.rerun.log" | grep -oE 'resuming after epoch [0-9]+' | grep -oE '[0-9]+$')
    resumed_qat=${resumed_qat:-0}
    low=$((qat_done - 1)); [ "$low" -lt 0 ] && low=0
    high=$qat_done; [ "$high" -gt $((QAT_EPOCHS - 1)) ] && high=$((QAT_EPOCHS - 1))
    if grep -qE "loaded from cache .*mlp-qat-ternary-2" "$dir.rerun.log"; then
      [ "$qat_done" -eq "$QAT_EPOCHS" ] || { echo "FAIL trial $trial: QAT loaded from cache after only $qat_done epochs"; failures=$((failures + 1)); }
      moment="$moment (rerun: QAT from cache)"
    elif [ "$resumed_qat" -lt "$low" ] || [ "$resumed_qat" -gt "$high" ]; then
      echo "FAIL trial $trial: killed after $qat_done QAT epoch lines, the rerun resumed after epoch $resumed_qat (expected $low..$high)"
      failures=$((failures + 1))
    else
      moment="$moment (rerun resumed QAT after epoch $resumed_qat)"
    fi
    qat_done=""
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
echo "kills: $in_training before the baseline, $in_cells during cells, $in_qat during QAT, $after_end after the end; $temporaries interrupted result writes left a temporary (removed by the rerun); $failures failures"
[ "$failures" -eq 0 ]
