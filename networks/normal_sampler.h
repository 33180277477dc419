// Standard normal samples from a 64-bit Mersenne Twister via the Box-Muller transform, so the
// same seed gives the same numbers with every standard library (std::normal_distribution is
// implementation-defined). Seeded weight initialisation (InitGraphParams) uses it; changing
// its arithmetic changes every seeded network and invalidates trained-weight caches.
#ifndef QUANTBENCH_NETWORKS_NORMAL_SAMPLER_H_
#define QUANTBENCH_NETWORKS_NORMAL_SAMPLER_H_

#include <cmath>
#include <cstdint>
#include <random>

namespace quantbench {

class NormalSampler {
 public:
  explicit NormalSampler(uint64_t seed) : engine_(seed) {}

  double Next() {
    if (has_spare_) {
      has_spare_ = false;
      return spare_;
    }
    constexpr double kTwoPi = 6.283185307179586476925286766559;
    // u1 in (0, 1] (log is finite), u2 in [0, 1); 53 random bits each.
    const double u1 = 1.0 - static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    const double u2 = static_cast<double>(engine_() >> 11) * 0x1.0p-53;
    const double radius = std::sqrt(-2.0 * std::log(u1));
    spare_ = radius * std::sin(kTwoPi * u2);
    has_spare_ = true;
    return radius * std::cos(kTwoPi * u2);
  }

 private:
  std::mt19937_64 engine_;
  bool has_spare_ = false;
  double spare_ = 0.0;
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_NORMAL_SAMPLER_H_
