// Small helpers shared by the quantizer tests.
#ifndef QUANTBENCH_QUANTIZERS_TEST_UTIL_H_
#define QUANTBENCH_QUANTIZERS_TEST_UTIL_H_

#include <cstdint>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace test {

using Params = std::map<std::string, std::string>;

// n samples of N(0, stddev²) from a fixed-seed generator.
inline std::vector<float> Gaussian(int64_t n, uint32_t seed, float stddev = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> dist(0.0f, stddev);
  std::vector<float> values(n);
  for (float& v : values) v = dist(rng);
  return values;
}

// Builds the named quantizer through the registry and quantizes `values` (shape {} means one
// row: a per-tensor view).
inline absl::StatusOr<QuantizedTensor> Quantize(const std::string& name, const Params& params,
                                                absl::Span<const float> values, int bits,
                                                std::vector<int64_t> shape = {},
                                                const std::string& tensor_name = "test/w") {
  auto quantizer = QuantizerRegistry::Global().Create(name, params);
  if (!quantizer.ok()) return quantizer.status();
  WeightView view{tensor_name, std::move(shape), values};
  return (*quantizer)->Quantize(view, bits);
}

// Mean squared difference, in double.
inline double Mse(absl::Span<const float> a, absl::Span<const float> b) {
  double sum = 0.0;
  for (size_t i = 0; i < a.size(); ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    sum += d * d;
  }
  return a.empty() ? 0.0 : sum / static_cast<double>(a.size());
}

inline std::vector<float> Negated(absl::Span<const float> values) {
  std::vector<float> out(values.begin(), values.end());
  for (float& v : out) v = -v;
  return out;
}

}  // namespace test
}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_TEST_UTIL_H_
