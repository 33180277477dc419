// Dynamic int8 quantization of one activation row, the definition every kernel reproduces:
//   s = max_k |x[k]| / 127;  q[k] = clamp(round_half_away_from_zero(x[k] / s), -127, 127)
//   (s == 0 -> every q is 0).
// A true division (not a multiply by 1/s) so vector code, which divides too, is bit-exact.
#ifndef QUANTBENCH_KERNELS_INT8_ACTIVATIONS_H_
#define QUANTBENCH_KERNELS_INT8_ACTIVATIONS_H_

#include <cstdint>

namespace quantbench {

struct QuantizedRow {
  float scale = 0.0f;  // s
  int32_t sum = 0;     // sum_k q[k], what the zero point and the ternary offset need
};

// Writes cols codes to q and returns s and sum(q).
QuantizedRow QuantizeRowInt8Ref(const float* x, int64_t cols, int8_t* q);

}  // namespace quantbench

#endif  // QUANTBENCH_KERNELS_INT8_ACTIVATIONS_H_
