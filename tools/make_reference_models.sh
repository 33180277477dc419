#!/usr/bin/env bash
# Builds the onnxruntime parity references for //tests:torchvision_parity_test:
#  * torchvision archs: a randomly initialised torchvision model exported to ONNX
#    (tools/export_torchvision.py; needs python3-torch, python3-torchvision);
#  * keras_* archs (Keras Applications models torchvision lacks: keras_mobilenet_v1,
#    keras_xception, keras_resnet50): the ONNX graph written node by node from Keras'
#    definition (tools/build_keras_onnx.py; needs only python3-onnx, python3-numpy);
# then onnxruntime's logits for a fixed input (tools/ort_reference.js, node).
# Python is Debian's /usr/bin/python3 (another python3 may come first on PATH).
# Test / benchmark tooling only; nothing here is used by the product.
#
#   tools/make_reference_models.sh [arch ...]
#
# Default archs: resnet18 resnet50 mobilenet_v2 squeezenet1_1 squeezenet1_0 vgg16 alexnet
# mnasnet1_0 inception_v3 keras_mobilenet_v1 keras_xception keras_resnet50. Output:
# ${QUANTBENCH_REFERENCE_DIR:-~/.cache/quantbench/reference}/<arch>/{model.onnx,input.bin,
# input.json,export.json,ort_logits.bin,...} (+ torch_logits.bin or numpy_logits.bin, the
# framework's own output for the same input).
# Idempotent: an arch whose export.json and ort_logits.bin exist is skipped (FORCE=1 redoes
# it). onnxruntime-node (ORT_VERSION, default 1.30.0) is installed with npm into
# $QUANTBENCH_REFERENCE_DIR/npm on first use, so nothing lands in the repository.
# A missing tool is not fatal: the archs that need it are listed as skipped (with the package
# to install) and the others are still built; the exit status is 1 only if an arch that was
# attempted failed. The parity test skips the archs whose files are missing.
# Then: bazel test //tests:torchvision_parity_test --test_env=QUANTBENCH_REFERENCE_DIR=<dir>
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ref="${QUANTBENCH_REFERENCE_DIR:-$HOME/.cache/quantbench/reference}"
ort_version="${ORT_VERSION:-1.30.0}"
threads="${THREADS:-2}"
python=/usr/bin/python3
archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then
  archs=(resnet18 resnet50 mobilenet_v2 squeezenet1_1 squeezenet1_0 vgg16 alexnet mnasnet1_0 inception_v3
         keras_mobilenet_v1 keras_xception keras_resnet50)
fi

die() { echo "make_reference_models: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

# What is missing for each kind of arch ("" = nothing): the builders and onnxruntime.
torch_missing=""
keras_missing=""
ort_missing=""
if [ ! -x "$python" ]; then
  torch_missing="$python not found (Debian's python3: apt-get install python3)"
  keras_missing="$torch_missing"
else
  "$python" -c "import onnx, numpy" 2>/dev/null ||
    keras_missing="$python lacks onnx / numpy (apt-get install python3-onnx python3-numpy)"
  "$python" -c "import torch, torchvision, onnx, numpy" 2>/dev/null ||
    torch_missing="$python lacks torch / torchvision / onnx / numpy (apt-get install python3-torchvision python3-onnx)"
fi
command -v node >/dev/null || ort_missing="node not found (apt-get install nodejs npm)"

mkdir -p "$ref"
modules="$ref/npm/node_modules"
if [ -z "$ort_missing" ] && [ ! -f "$modules/onnxruntime-node/package.json" ]; then
  if ! command -v npm >/dev/null; then
    ort_missing="npm not found (apt-get install npm)"
  else
    echo "make_reference_models: installing onnxruntime-node@$ort_version into $ref/npm" >&2
    start=$(now_ms)
    if npm install --ignore-scripts --no-audit --no-fund --no-save --prefix "$ref/npm" \
         "onnxruntime-node@$ort_version" >&2; then
      echo "make_reference_models: npm install: $(seconds_since "$start")s" >&2
    else
      ort_missing="npm install onnxruntime-node@$ort_version failed (offline without a cache?)"
    fi
  fi
fi
export ORT_NODE_MODULES="$modules"

failed=()
skipped=()
summary=()
total_start=$(now_ms)
for arch in "${archs[@]}"; do
  dir="$ref/$arch"
  if [ -z "${FORCE:-}" ] && [ -f "$dir/export.json" ] && [ -f "$dir/ort_logits.bin" ]; then
    summary+=("$(printf '%-18s already done' "$arch")")
    continue
  fi
  case "$arch" in
    keras_*) builder=build_keras_onnx.py; missing="$keras_missing" ;;
    *) builder=export_torchvision.py; missing="$torch_missing" ;;
  esac
  [ -z "$missing" ] && missing="$ort_missing"
  if [ -n "$missing" ]; then
    skipped+=("$arch")
    summary+=("$(printf '%-18s skipped: %s' "$arch" "$missing")")
    continue
  fi
  force=()
  [ -n "${FORCE:-}" ] && force=(--force)
  start=$(now_ms)
  if ! OMP_NUM_THREADS="$threads" "$python" "$here/$builder" --out "$ref" "${force[@]}" "$arch" \
       2> >(grep -v -e 'Warning' -e 'warnings.warn' >&2); then
    failed+=("$arch")
    continue
  fi
  t_export=$(seconds_since "$start")
  start=$(now_ms)
  if ! node "$here/ort_reference.js" "$dir" "$threads"; then
    failed+=("$arch")
    continue
  fi
  t_ort=$(seconds_since "$start")
  summary+=("$(printf '%-18s export %6ss  onnxruntime %6ss  %s' "$arch" "$t_export" "$t_ort" \
    "$(du -h "$dir/model.onnx" | cut -f1)")")
done

echo "make_reference_models: $ref"
printf '  %s\n' "${summary[@]}"
echo "  total $(seconds_since "$total_start")s"
if [ ${#skipped[@]} -gt 0 ]; then
  echo "make_reference_models: skipped (a tool is missing, see above): ${skipped[*]}" >&2
fi
if [ ${#failed[@]} -gt 0 ]; then
  die "failed: ${failed[*]}"
fi
