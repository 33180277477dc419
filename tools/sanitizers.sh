#!/usr/bin/env bash
# Nightly-style sanitizer run (too slow for .ci/run's 30 minutes on 2 cores: a full rebuild
# per sanitizer). Each step is a separate Bazel configuration (.bazelrc), so the normal build's
# outputs are untouched:
#   asan  AddressSanitizer + UndefinedBehaviorSanitizer (clang-14), the whole test suite;
#   tsan  ThreadSanitizer (clang-14, libomp + Archer) over the threaded kernels, convs and trainer
#         tests, then a canary race that must be reported.
#   fuzz  every libFuzzer target for $QUANTBENCH_FUZZ_SECONDS (default 600) each.
# Usage: tools/sanitizers.sh [asan] [tsan] [fuzz]   (default: all three, in that order)
# Ends with one line per step and "N passed, N failed" (steps). Runs under nice: the machine
# may be shared.
set -uo pipefail
cd "$(dirname "$0")/.."

steps=("$@")
[ ${#steps[@]} -eq 0 ] && steps=(asan tsan fuzz)
# The threaded code: packed GEMM / conv kernels (OpenMP), the graph network, the trainer,
# the parallel image loaders.
tsan_targets=(//kernels:packed_gemm_test //kernels:packed_gemm_ref_test //networks:packed_conv_test
              //networks:threads_test //networks:graph_network_test //training:trainer_test
              //datasets:class_folder_dataset_test //datasets:imagenet_dataset_test)
passed=0 failed=0 summary=()
for step in "${steps[@]}"; do
  start=$(date +%s)
  case "$step" in
    # --keep_going: one target that fails to build must not hide the results of all the others.
    asan) nice -n 5 bazel test --config=asan --jobs=2 --keep_going //... ;;
    # clang + libomp + Archer (.bazelrc build:tsan) make OpenMP's barriers visible to TSan;
    # tools/tsan.supp hides only uninstrumented libraries' internals. The canary (a deliberate
    # race in an OpenMP loop) must be reported, or the setup would be blind and the step fails.
    tsan) nice -n 5 bazel test --config=tsan --jobs=2 \
            --test_env=TSAN_OPTIONS="halt_on_error=1 suppressions=$PWD/tools/tsan.supp" "${tsan_targets[@]}" &&
          bazel build --config=tsan //tools:tsan_canary &&
          canary=$(OMP_TOOL_LIBRARIES=/usr/lib/llvm-14/lib/libarcher.so TSAN_OPTIONS="suppressions=$PWD/tools/tsan.supp" \
                     "$(bazel info --config=tsan bazel-bin)/tools/tsan_canary" 2>&1) # exits 66 when TSan reports
          if grep -q 'WARNING: ThreadSanitizer: data race' <<<"$canary"; then
            echo "sanitizers: tsan canary race reported, as it must be"
          else
            echo "sanitizers: tsan canary race NOT reported: TSan cannot see races in OpenMP loops"; false
          fi ;;
    fuzz) QUANTBENCH_FUZZ_SECONDS="${QUANTBENCH_FUZZ_SECONDS:-600}" bash .ci/checks.d/fuzz.sh ;;
    *) echo "sanitizers: unknown step '$step' (asan, tsan, fuzz)"; false ;;
  esac
  status=$?
  seconds=$(( $(date +%s) - start ))
  if [ "$status" -eq 0 ]; then passed=$((passed + 1)); word=passed; else failed=$((failed + 1)); word=FAILED; fi
  summary+=("sanitizers: $step $word in ${seconds}s")
done
printf '%s\n' "${summary[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
