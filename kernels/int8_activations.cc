#include "kernels/int8_activations.h"

#include <cmath>

namespace quantbench {

QuantizedRow QuantizeRowInt8Ref(const float* x, int64_t cols, int8_t* q) {
  float amax = 0.0f;
  for (int64_t k = 0; k < cols; ++k) {
    const float a = std::fabs(x[k]);
    amax = a > amax ? a : amax;
  }
  QuantizedRow row;
  row.scale = amax / 127.0f;
  for (int64_t k = 0; k < cols; ++k) {
    float v = 0.0f;
    if (row.scale != 0.0f) {
      v = std::round(x[k] / row.scale);  // std::round rounds halves away from zero
      v = v < -127.0f ? -127.0f : (v > 127.0f ? 127.0f : v);
    }
    q[k] = static_cast<int8_t>(v);
    row.sum += q[k];
  }
  return row;
}

}  // namespace quantbench
