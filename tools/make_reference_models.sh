#!/usr/bin/env bash
# Builds the torchvision parity references: for each architecture, a randomly initialised
# torchvision model exported to ONNX (tools/export_torchvision.py, Debian's /usr/bin/python3)
# and onnxruntime's logits for a fixed input (tools/ort_reference.js, node).
# Test / benchmark tooling only; nothing here is used by the product.
#
#   tools/make_reference_models.sh [arch ...]
#
# Default archs: resnet18 resnet50 mobilenet_v2 squeezenet1_1 squeezenet1_0 vgg16 alexnet
# mnasnet1_0 inception_v3. Output: ${QUANTBENCH_REFERENCE_DIR:-~/.cache/quantbench/reference}/
# <arch>/{model.onnx,input.bin,input.json,torch_logits.bin,export.json,ort_logits.bin,...}.
# Idempotent: an arch whose export.json and ort_logits.bin exist is skipped (FORCE=1 redoes
# it). onnxruntime-node (ORT_VERSION, default 1.30.0) is installed with npm into
# $QUANTBENCH_REFERENCE_DIR/npm on first use, so nothing lands in the repository.
# Needs: python3-torch python3-torchvision python3-onnx python3-numpy, node >= 16 and npm.
# Then: bazel test //tests:torchvision_parity_test --test_env=QUANTBENCH_REFERENCE_DIR=<dir>
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
ref="${QUANTBENCH_REFERENCE_DIR:-$HOME/.cache/quantbench/reference}"
ort_version="${ORT_VERSION:-1.30.0}"
threads="${THREADS:-2}"
python=/usr/bin/python3
archs=("$@")
if [ ${#archs[@]} -eq 0 ]; then
  archs=(resnet18 resnet50 mobilenet_v2 squeezenet1_1 squeezenet1_0 vgg16 alexnet mnasnet1_0 inception_v3)
fi

die() { echo "make_reference_models: $*" >&2; exit 1; }
now_ms() { date +%s%3N; }
seconds_since() { awk -v a="$1" -v b="$(now_ms)" 'BEGIN { printf "%.1f", (b - a) / 1000 }'; }

[ -x "$python" ] || die "$python not found (Debian's python3 with python3-torch, python3-torchvision, python3-onnx)"
"$python" -c "import torch, torchvision, onnx, numpy" 2>/dev/null ||
  die "$python lacks torch / torchvision / onnx / numpy: apt-get install python3-torchvision python3-onnx"
command -v node >/dev/null || die "node not found (apt-get install nodejs npm)"

mkdir -p "$ref"
modules="$ref/npm/node_modules"
if [ ! -f "$modules/onnxruntime-node/package.json" ]; then
  command -v npm >/dev/null || die "npm not found (apt-get install npm)"
  echo "make_reference_models: installing onnxruntime-node@$ort_version into $ref/npm" >&2
  start=$(now_ms)
  npm install --ignore-scripts --no-audit --no-fund --no-save --prefix "$ref/npm" \
    "onnxruntime-node@$ort_version" >&2
  echo "make_reference_models: npm install: $(seconds_since "$start")s" >&2
fi
export ORT_NODE_MODULES="$modules"

failed=()
summary=()
total_start=$(now_ms)
for arch in "${archs[@]}"; do
  dir="$ref/$arch"
  if [ -z "${FORCE:-}" ] && [ -f "$dir/export.json" ] && [ -f "$dir/ort_logits.bin" ]; then
    summary+=("$(printf '%-14s already done' "$arch")")
    continue
  fi
  force=()
  [ -n "${FORCE:-}" ] && force=(--force)
  start=$(now_ms)
  if ! OMP_NUM_THREADS="$threads" "$python" "$here/export_torchvision.py" --out "$ref" "${force[@]}" "$arch" \
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
  summary+=("$(printf '%-14s export %6ss  onnxruntime %6ss  %s' "$arch" "$t_export" "$t_ort" \
    "$(du -h "$dir/model.onnx" | cut -f1)")")
done

echo "make_reference_models: $ref"
printf '  %s\n' "${summary[@]}"
echo "  total $(seconds_since "$total_start")s"
if [ ${#failed[@]} -gt 0 ]; then
  die "failed: ${failed[*]}"
fi
