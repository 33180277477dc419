// The per-output epilogue of PackedGemm in scalar form, the definition the vector kernels
// reproduce operation for operation (no fused multiply-add: y * scale is rounded before the
// shift is added, so every path gives the same bits):
//   y = y * out_scale[r];  y = y + out_shift[r];  y = y + residual[m, r];  post-op.
// An empty span skips its step entirely (adding +0 would turn -0 into +0).
// ReLU is (y > 0 ? y : 0) and ReLU6 then (y < 6 ? y : 6): the exact semantics of the x86
// max/min instructions, NaN included.
#ifndef QUANTBENCH_KERNELS_GEMM_EPILOGUE_H_
#define QUANTBENCH_KERNELS_GEMM_EPILOGUE_H_

#include <cstdint>

#include "kernels/packed_gemm.h"

namespace quantbench {

inline float ApplyEpilogueRef(const GemmEpilogue& e, int64_t m, int64_t r, float y) {
  if (!e.out_scale.empty()) y = y * e.out_scale[r];
  if (!e.out_shift.empty()) y = y + e.out_shift[r];
  if (e.residual != nullptr) y = y + e.residual[m * e.residual_stride + r];
  if (e.post_op == GemmPostOp::kRelu || e.post_op == GemmPostOp::kRelu6) y = y > 0.0f ? y : 0.0f;
  if (e.post_op == GemmPostOp::kRelu6) y = y < 6.0f ? y : 6.0f;
  return y;
}

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_GEMM_EPILOGUE_H_
