#!/usr/bin/env bash
# SIGINT / SIGTERM (issue #14): the first signal stops the sweep after the current cell with a
# message saying how to resume, the work directory keeps every finished cell, and the rerun
# completes to a result equal to an uninterrupted run's (timings aside); a second signal
# stops at once (exit 130), and the rerun still completes. Also the determinism check: two
# runs from scratch (separate caches, retraining the network) give equal results.
set -uo pipefail
ROOT="${TEST_SRCDIR:-.}/${TEST_WORKSPACE:-quantbench}"
SWEEP="$ROOT/experiments/sweep"
COMPARE="$ROOT/tests/sweep_result_compare.py"
CONFIG="$ROOT/tests/small_mlp_sweep.pbtxt"
DATA=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
[ -e "$DATA" ] || { echo "SKIPPED: missing $DATA (Debian dataset-fashion-mnist)"; exit 0; }
TMP="${TEST_TMPDIR:-$(mktemp -d)}/signal"
rm -rf "$TMP"; mkdir -p "$TMP"
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
cells_done() { ls "$1"/cache/sweeps/small_mlp_sweep-*/cells 2> /dev/null | grep -c '\.json$'; }

"$SWEEP" --config="$CONFIG" --cache_dir="$TMP/ref/cache" --output="$TMP/ref/out.json" > /dev/null 2> "$TMP/ref.log" ||
  { cat "$TMP/ref.log"; echo "FAIL: reference run"; exit 1; }

# One SIGTERM after the second cell: the sweep finishes the cell it is in and stops.
( exec "$SWEEP" --config="$CONFIG" --cache_dir="$TMP/a/cache" --output="$TMP/a/out.json" > /dev/null 2> "$TMP/a.log" ) &
pid=$!
until [ "$(cells_done "$TMP/a")" -ge 2 ] || ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
kill -TERM "$pid"
at_signal=$(cells_done "$TMP/a")  # counted after the signal: at most one more may finish
wait "$pid"; status=$?
at_exit=$(cells_done "$TMP/a")
[ "$status" -eq 1 ] || fail "after SIGTERM the exit status is $status, expected 1"
grep -q "stopping after the current cell" "$TMP/a.log" || fail "no 'stopping after the current cell' message"
grep -q "rerun the same command to resume" "$TMP/a.log" || fail "no resume instruction: $(tail -n 2 "$TMP/a.log")"
[ "$at_exit" -le $((at_signal + 1)) ] || fail "$at_exit cells at exit, $at_signal at the signal: more than the current cell ran"
[ -e "$TMP/a/out.json" ] && fail "a stopped sweep wrote a result file"
[ -z "$(find "$TMP/a" -name '*.tmp.*')" ] || fail "temporary files left after a clean stop"
echo "SIGTERM with $at_signal cells done: stopped with $at_exit, status $status"
"$SWEEP" --config="$CONFIG" --cache_dir="$TMP/a/cache" --output="$TMP/a/out.json" > /dev/null 2> "$TMP/a2.log" ||
  fail "rerun after SIGTERM: $(tail -n 1 "$TMP/a2.log")"
grep -q "$at_exit of 13 cells already done" "$TMP/a2.log" || fail "the rerun did not resume from $at_exit cells: $(grep resuming "$TMP/a2.log")"
python3 "$COMPARE" "$TMP/ref/out.json" "$TMP/a/out.json" || fail "result after SIGTERM + rerun differs from the uninterrupted run"

# Two SIGINTs during training: out at once with 130.
( exec "$SWEEP" --config="$CONFIG" --cache_dir="$TMP/b/cache" --output="$TMP/b/out.json" > /dev/null 2> "$TMP/b.log" ) &
pid=$!
until grep -q "^epoch 1/" "$TMP/b.log" 2> /dev/null || ! kill -0 "$pid" 2> /dev/null; do sleep 0.005; done
kill -INT "$pid"; sleep 0.05; kill -INT "$pid"
wait "$pid"; status=$?
[ "$status" -eq 130 ] || fail "after two SIGINTs the exit status is $status, expected 130"
"$SWEEP" --config="$CONFIG" --cache_dir="$TMP/b/cache" --output="$TMP/b/out.json" > /dev/null 2> "$TMP/b2.log" ||
  fail "rerun after two SIGINTs: $(tail -n 1 "$TMP/b2.log")"
python3 "$COMPARE" "$TMP/ref/out.json" "$TMP/b/out.json" || fail "result after SIGINT x2 + rerun differs (determinism)"
echo "double SIGINT: status $status; rerun equal to the uninterrupted run"
[ "$failures" -eq 0 ]
