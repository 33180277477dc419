// PackedGemm: y[m, r] = sum_k x[m, k] * W[r, k]  (+ epilogue), for a PackedMatrix W
// (rows x cols) and fp32 activations x (m x cols, row-major, row stride x_stride). With
// m = 1 it is a GEMV; convolutions call it on im2col rows (one row per output pixel).
//
// Activations:
//   kFloat - fp32 x, fp32 accumulation. Optimized vs _ref agree within a stated relative
//            tolerance (summation order differs).
//   kInt8  - each row of x is quantized on the fly: s[m] = max_k |x[m, k]| / 127,
//            q = clamp(round_half_away_from_zero(x / s[m]), -127, 127) (s = 0 -> q = 0);
//            the integer dot products are accumulated exactly in int32, then scaled in
//            float: kUniform acc = 2*sum(q*c) - zero_point_x2[r]*sum(q), y = float(acc) *
//            (s[m] * w_scale[r] * 0.5f); kTernary acc = sum(q*t), y = float(acc) * (s[m] *
//            w_scale[r]); kCodebook accumulates one exact int32 sum per level and combines
//            them in level order; kTernaryPlanes sums its planes in plane order. The exact
//            float expressions are those of packed_gemm_ref.cc; the optimized kernels
//            reproduce them, so optimized and _ref are BIT-EXACT on this path.
//
// Epilogue, applied per output in this order: y = y * out_scale[r] + out_shift[r] (either span
// may be empty = 1 / 0; this is how bias and a kept BatchNorm are applied), then
// y += residual[m, r] (optional, residual_stride), then the activation (none, ReLU, ReLU6).
#ifndef QUANTBENCH_KERNELS_PACKED_GEMM_H_
#define QUANTBENCH_KERNELS_PACKED_GEMM_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/types/span.h"
#include "kernels/packed_matrix.h"

namespace quantbench {

enum class GemmActivations { kFloat, kInt8 };
enum class GemmPostOp { kNone, kRelu, kRelu6 };

struct GemmEpilogue {
  absl::Span<const float> out_scale;  // rows, or empty
  absl::Span<const float> out_shift;  // rows, or empty
  const float* residual = nullptr;    // m x rows (residual_stride), or null
  int64_t residual_stride = 0;
  GemmPostOp post_op = GemmPostOp::kNone;
};

struct GemmArgs {
  const float* x = nullptr;  // m x cols
  int64_t x_stride = 0;      // >= cols
  int64_t m = 0;
  float* y = nullptr;  // m x rows
  int64_t y_stride = 0;  // >= rows
  GemmActivations activations = GemmActivations::kFloat;
  GemmEpilogue epilogue;
  // Threads for this call (0 = all cores the process may use). Results do not depend on it.
  int threads = 0;
};

// Which instruction set PackedGemm dispatches to (chosen once from CPUID; the environment
// variable QUANTBENCH_KERNEL_ISA=ref|avx2|avx512 forces a lower one, for tests and benches).
enum class KernelIsa { kRef, kAvx2, kAvx512 };
KernelIsa ActiveKernelIsa();
const char* KernelIsaName(KernelIsa isa);

// The optimized kernel for the active ISA. InvalidArgument on bad shapes / strides.
absl::Status PackedGemm(const PackedMatrix& w, const GemmArgs& args);
// The plain scalar twin: the definition of correct.
absl::Status PackedGemmRef(const PackedMatrix& w, const GemmArgs& args);
// A specific ISA (Unimplemented when the CPU lacks it); for conformance tests and benches.
absl::Status PackedGemmWithIsa(KernelIsa isa, const PackedMatrix& w, const GemmArgs& args);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_PACKED_GEMM_H_
