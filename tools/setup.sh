#!/usr/bin/env bash
# Installs everything quantbench needs to build and test, from Debian's packages only.
# Idempotent: re-running installs nothing new. Works as root or through sudo.
set -euo pipefail

PACKAGES=(
  bazel-bootstrap          # Bazel 4.2.3, offline
  g++
  git
  libdnnl-dev              # oneDNN: the networks' primitives
  libprotobuf-dev protobuf-compiler   # experiment configs, ONNX protos
  libonnx-dev              # onnx.proto, compiled by //networks:onnx_proto (ONNX weight import)
  libabsl-dev              # Status / StatusOr / strings
  libeigen3-dev            # //kernels:bench fp32 GEMM baseline; its version is recorded in results
  libgtest-dev libgmock-dev libbenchmark-dev
  nlohmann-json3-dev       # result files
  zlib1g-dev               # gzip idx files, cache checksums
  gnuplot-nox              # the sweeps' figures (SVG / PNG); without it only the plots are skipped
  libexpat1-dev            # //experiments:plots_test parses the SVGs
  dataset-fashion-mnist    # the default experiment's data
  python3-torchvision python3-onnx   # tools/export_torchvision.py (parity references; tests only)
  slurm-wlm munge          # .ci/checks.d/slurm.sh: a one-node SLURM cluster on loopback for the sharded sweep test
  clang-14 libclang-rt-14-dev        # --config=fuzz: libFuzzer + ASan/UBSan (fuzz/, .ci/checks.d/fuzz.sh)
  libasan8 libubsan1                 # --config=asan with g++ (tools/sanitizers.sh)
  libomp-14-dev                      # --config=tsan: clang's OpenMP runtime and its Archer tool for TSan
)

if [ "$(id -u)" -eq 0 ]; then
  SUDO=()
elif command -v sudo >/dev/null 2>&1; then
  SUDO=(sudo)
else
  echo "setup.sh: run as root or install sudo" >&2
  exit 1
fi

missing=()
for pkg in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$pkg")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup.sh: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

echo "setup.sh: installing ${missing[*]}"
"${SUDO[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${SUDO[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
echo "setup.sh: done"
