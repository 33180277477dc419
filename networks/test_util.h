// Test-only helpers shared by the networks tests: seeded random inputs and random non-weight
// parameters (InitGraphParams leaves biases at 0 and BatchNorm at identity, which would hide
// bugs in how bias, scale and shift are applied).
#ifndef QUANTBENCH_NETWORKS_TEST_UTIL_H_
#define QUANTBENCH_NETWORKS_TEST_UTIL_H_

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "networks/param_store.h"

namespace quantbench {

// n values uniform in [lo, hi) from mt19937(seed): the same vector for the same arguments.
inline std::vector<float> RandomVector(size_t n, uint32_t seed, float lo = -1.0f, float hi = 1.0f) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> v(n);
  for (float& x : v) x = u(rng);
  return v;
}

// Every non-weight parameter random: biases and BatchNorm beta / mean in [-0.5, 0.5), gamma in
// [0.5, 1.5), running variance in [0.5, 2.5).
inline void RandomizeNonWeights(ParamStore* store, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-0.5f, 0.5f);
  auto ends_with = [](const std::string& s, const std::string& suffix) {
    return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
  };
  for (Parameter& p : store->parameters()) {
    if (p.kind == Parameter::kWeight) continue;
    const bool var = ends_with(p.name, ".running_var");
    const bool gamma = p.kind == Parameter::kNormalization && ends_with(p.name, ".weight");
    for (float& v : p.values) v = var ? 0.5f + 2.0f * (u(rng) + 0.5f) : gamma ? 1.0f + u(rng) : u(rng);
  }
}

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_TEST_UTIL_H_
