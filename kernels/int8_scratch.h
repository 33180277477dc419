// Per-thread scratch for the int8 GEMM kernels' quantized activations, kept between calls so a
// GEMV does not pay an allocation. The codes are 64-byte aligned for the vector loads.
#ifndef QUANTBENCH_KERNELS_INT8_SCRATCH_H_
#define QUANTBENCH_KERNELS_INT8_SCRATCH_H_

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace quantbench {

struct Int8Scratch {
  std::unique_ptr<int8_t[], void (*)(void*)> q{nullptr, &std::free};
  size_t q_bytes = 0;
  std::vector<float> q_scale;  // per activation row
  std::vector<int32_t> q_sum;  // per activation row

  // Room for m rows of padded_cols codes and their scales and sums; ResourceExhausted when the
  // codes cannot be allocated.
  absl::Status Reserve(int64_t m, int64_t padded_cols) {
    const size_t bytes = static_cast<size_t>(m * padded_cols);
    if (bytes > q_bytes) {
      const size_t rounded = (bytes + 63) / 64 * 64;
      q.reset(static_cast<int8_t*>(std::aligned_alloc(64, rounded)));
      q_bytes = q == nullptr ? 0 : rounded;
      if (q == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("PackedGemm: cannot allocate ", bytes, " bytes for int8 activations"));
      }
    }
    q_scale.resize(static_cast<size_t>(m));
    q_sum.resize(static_cast<size_t>(m));
    return absl::OkStatus();
  }
};

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_INT8_SCRATCH_H_
