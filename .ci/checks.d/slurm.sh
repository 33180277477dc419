#!/usr/bin/env bash
# The sweep on a real (single-node) SLURM cluster on this machine's loopback (issue #15):
# starts munged, slurmctld and slurmd with a generated minimal slurm.conf (one node with this
# machine's CPUs, one partition), waits for the node to be idle, then
#   1. submits a small sweep (tests/small_mlp_sweep.pbtxt: Fashion-MNIST MLP, four quantizers) through
#      `sweep --slurm` (a job array + a merge job with --dependency=afterok) and checks the
#      merged JSON equals the single-process sweep's cell for cell, timings aside;
#   2. submits it again into a fresh work directory, scancels one array task mid-run (and the
#      merge job that can no longer start), resubmits, and checks that only the cancelled
#      shard's missing cells run again, the others' cell files untouched, and the result equal.
# Everything it starts it stops. Skips (0 passed, 0 failed) saying why where it cannot run.
# Ends with "N passed, N failed" (.ci/checks.d/README.md).
set -uo pipefail
cd "$(dirname "$0")/../.."

skip() { echo "slurm: skipped: $*"; echo "0 passed, 0 failed"; exit 0; }
passed=0 failed=0
pass() { echo "slurm: PASS: $*"; passed=$((passed + 1)); }
fail() { echo "slurm: FAIL: $*"; failed=$((failed + 1)); }

[ "$(id -u)" -eq 0 ] || skip "slurmd must run as root to start jobs (this is uid $(id -u))"
for tool in munged mungekey slurmctld slurmd sbatch squeue scancel sinfo; do
  command -v "$tool" > /dev/null || skip "$tool not found (tools/setup.sh installs Debian's slurm-wlm and munge)"
done
DATA=/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz
[ -e "$DATA" ] || skip "missing $DATA (Debian dataset-fashion-mnist)"

bazel build --jobs=2 //experiments:sweep > /dev/null 2>&1 || { fail "bazel build //experiments:sweep"; echo "$passed passed, $failed failed"; exit 1; }
SWEEP=$(readlink -f bazel-bin/experiments/sweep)
COMPARE=tests/sweep_result_compare.py

T=$(mktemp -d /tmp/qb_slurm.XXXXXX)
chmod 755 "$T"
NODE=$(hostname -s)
CPUS=$(nproc)
export SLURM_CONF="$T/slurm.conf"
pids=()
cleanup() {
  scancel --quiet --user="$(id -un)" 2> /dev/null
  for pidfile in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munged.pid"; do
    [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2> /dev/null
  done
  sleep 1
  for pidfile in "$T/slurmd.pid" "$T/slurmctld.pid" "$T/munged.pid"; do
    [ -s "$pidfile" ] && kill -9 "$(cat "$pidfile")" 2> /dev/null
  done
  if [ -n "${QB_SLURM_KEEP:-}" ]; then echo "slurm: kept $T"; else rm -rf "$T"; fi
}
trap cleanup EXIT

# munge with its own key and socket: nothing of the machine's own munge is touched.
mungekey --create --keyfile="$T/munge.key" > /dev/null 2>&1 || skip "mungekey cannot create a key"
chmod 600 "$T/munge.key"
munged --force --socket="$T/munge.socket" --key-file="$T/munge.key" --pid-file="$T/munged.pid" \
  --log-file="$T/munged.log" --seed-file="$T/munge.seed" > "$T/munged.out" 2>&1 ||
  skip "munged does not start: $(tail -n 1 "$T/munged.out")"

mkdir -p "$T/state" "$T/spool"
cat > "$SLURM_CONF" <<CONF
ClusterName=qbci
SlurmctldHost=$NODE(127.0.0.1)
SlurmctldPort=16817
SlurmdPort=16818
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$T/munge.socket
StateSaveLocation=$T/state
SlurmdSpoolDir=$T/spool
SlurmctldPidFile=$T/slurmctld.pid
SlurmdPidFile=$T/slurmd.pid
SlurmctldLogFile=$T/slurmctld.log
SlurmdLogFile=$T/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
MpiDefault=none
ReturnToService=2
SchedulerType=sched/backfill
SchedulerParameters=sched_interval=1
MinJobAge=600
NodeName=$NODE NodeAddr=127.0.0.1 CPUs=$CPUS State=UNKNOWN
PartitionName=ci Nodes=$NODE Default=YES MaxTime=INFINITE State=UP
CONF
slurmctld -i > "$T/slurmctld.out" 2>&1 || skip "slurmctld does not start: $(tail -n 2 "$T/slurmctld.out" "$T/slurmctld.log" 2> /dev/null | tr '\n' ' ')"
slurmd > "$T/slurmd.out" 2>&1 || skip "slurmd does not start: $(tail -n 2 "$T/slurmd.out" "$T/slurmd.log" 2> /dev/null | tr '\n' ' ')"
for _ in $(seq 1 60); do
  state=$(sinfo --noheader --nodes="$NODE" --format=%t 2> /dev/null | head -n 1)
  [ "$state" = "idle" ] && break
  sleep 1
done
[ "$state" = "idle" ] || skip "node $NODE not idle after 60 s (state '$state'): $(tail -n 3 "$T/slurmd.log" 2> /dev/null | tr '\n' ' ')"
echo "slurm: cluster up: node $NODE, $CPUS CPUs, partition ci"

cp tests/small_mlp_sweep.pbtxt "$T/slurm_ci.pbtxt"

# Waits (bounded) until none of our jobs is in the queue.
wait_queue() {
  for _ in $(seq 1 "$1"); do
    queue=$(squeue --noheader --user="$(id -un)" --format='%i %t %r' 2> /dev/null)
    [ -z "$queue" ] && return 0
    # A merge job whose array failed never starts: no point waiting for it.
    echo "$queue" | grep -q DependencyNeverSatisfied && [ "$(echo "$queue" | wc -l)" -eq 1 ] && return 2
    sleep 1
  done
  return 1
}

start=$(date +%s)
"$SWEEP" --config="$T/slurm_ci.pbtxt" --cache_dir="$T/single_cache" --output="$T/single/small_mlp_sweep.json" \
  > /dev/null 2> "$T/single.log" || { cat "$T/single.log"; fail "single-process sweep"; }
echo "slurm: single-process sweep: $(( $(date +%s) - start )) s"

# 1. The whole sweep through --slurm: 4 shards (2 run at a time on 2 CPUs), then the merge.
start=$(date +%s)
common=(--config="$T/slurm_ci.pbtxt" --cache_dir="$T/cache" --output="$T/out/small_mlp_sweep.json" --shards=4 --slurm_partition=ci --slurm_time=00:10:00)
"$SWEEP" "${common[@]}" --work_dir="$T/work1" --slurm > "$T/submit1.log" 2>&1 || { cat "$T/submit1.log"; fail "sweep --slurm (submission)"; }
cat "$T/submit1.log"
if wait_queue 120; then
  if [ -s "$T/out/small_mlp_sweep.json" ] && diff_out=$(python3 "$COMPARE" "$T/single/small_mlp_sweep.json" "$T/out/small_mlp_sweep.json"); then
    pass "merged SLURM result equals the single-process sweep cell for cell ($(( $(date +%s) - start )) s)"
  else
    fail "merged SLURM result differs or is missing: ${diff_out:-no $T/out/small_mlp_sweep.json}"; tail -n 5 "$T"/work1/slurm/*.log
  fi
else
  fail "jobs still queued after 180 s"; squeue; tail -n 5 "$T"/work1/slurm/*.log
fi
if [ "$failed" -gt 0 ]; then echo "$passed passed, $failed failed"; exit 1; fi

# 2. Again in a fresh work directory (weights now cached): cancel one array task mid-run.
rm -f "$T/out/small_mlp_sweep.json"
"$SWEEP" "${common[@]}" --work_dir="$T/work2" --slurm > "$T/submit2.log" 2>&1 || { cat "$T/submit2.log"; fail "second submission"; }
array=$(grep -oE 'array job [0-9]+' "$T/submit2.log" | cut -d' ' -f3)
merge=$(grep -oE 'merge job [0-9]+' "$T/submit2.log" | cut -d' ' -f3)
victim=3
for _ in $(seq 1 2000); do  # until task 3 runs (polling every 50 ms, at most 100 s)
  st=$(squeue --noheader --array --jobs="$array" --format='%i %t' 2> /dev/null | awk -v t="${array}_$victim" '$1 == t {print $2}')
  [ "$st" = "R" ] && break
  [ -z "$(squeue --noheader --array --jobs="$array" 2> /dev/null)" ] && break
  sleep 0.05
done
scancel "${array}_$victim"
echo "slurm: cancelled array task ${array}_$victim in state '${st:-gone}' (R = running)"
# The merge job depends on every task succeeding: it can never start now.
sleep 2
scancel "$merge" 2> /dev/null
wait_queue 120 || fail "jobs still queued after the cancel"
"$SWEEP" --status="$T/work2" | tee "$T/status2.log"
missing=$(grep -oE '[0-9]+ pending' "$T/status2.log" | cut -d' ' -f1)
[ -e "$T/out/small_mlp_sweep.json" ] && fail "a result was merged although a task was cancelled"
if [ "${missing:-0}" -gt 0 ]; then
  pass "the cancelled task left $missing cells missing and no merged result"
else
  fail "task $victim finished before it could be cancelled (no cell missing); the resubmission check is vacuous"
fi
# Cell files before the resubmission: they must survive untouched.
(cd "$T/work2/cells" && stat -c '%n %Y %i' *.json | sort) > "$T/cells_before"
"$SWEEP" "${common[@]}" --work_dir="$T/work2" --slurm > "$T/submit3.log" 2>&1 || { cat "$T/submit3.log"; fail "resubmission"; }
cat "$T/submit3.log"
grep -q "shards $victim of 4" "$T/submit3.log" && pass "the resubmission runs only shard $victim" ||
  fail "the resubmission did not submit exactly shard $victim"
if wait_queue 120; then
  (cd "$T/work2/cells" && stat -c '%n %Y %i' *.json | sort) > "$T/cells_after"
  changed=$(comm -23 "$T/cells_before" "$T/cells_after" | wc -l)
  new=$(( $(wc -l < "$T/cells_after") - $(wc -l < "$T/cells_before") ))
  resubmitted=$(grep -oE 'array job [0-9]+' "$T/submit3.log" | cut -d' ' -f3)
  computed=$(cat "$T"/work2/slurm/shard-"${resubmitted}"_*.log | grep -oE 'shard [0-9]+/4: [0-9]+ cells, [0-9]+ already done, [0-9]+ computed' | tail -n 1)
  echo "slurm: resubmitted task: $computed"
  if [ "$changed" -eq 0 ] && [ "$new" -eq "${missing:-0}" ]; then
    pass "only the $new missing cells ran again; the $(wc -l < "$T/cells_before") finished ones are untouched"
  else
    fail "$changed finished cell files were rewritten, $new new (expected ${missing:-0})"
  fi
  if [ -s "$T/out/small_mlp_sweep.json" ] && diff_out=$(python3 "$COMPARE" "$T/single/small_mlp_sweep.json" "$T/out/small_mlp_sweep.json"); then
    pass "the result after cancel + resubmission equals the single-process sweep"
  else
    fail "result after resubmission differs or is missing: ${diff_out:-no file}"
  fi
else
  fail "resubmitted jobs still queued after 180 s"
fi
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
