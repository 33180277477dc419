// The worked example of quantizers/README.md, compiled and registered from a test target:
// it proves the path a researcher takes to add a quantizer. Keep the two in sync.
#include <algorithm>
#include <cmath>

#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

class MySign : public Quantizer {
 public:
  explicit MySign(double gain) : gain_(gain) {}
  absl::Status CheckBits(int bits) const override {
    return bits == 1 ? absl::OkStatus() : absl::InvalidArgumentError("my_sign is 1-bit only");
  }
  absl::StatusOr<QuantizedTensor> Quantize(const WeightView& w, int bits) const override {
    QB_RETURN_IF_ERROR(CheckQuantizerInput(w, bits));
    QB_RETURN_IF_ERROR(CheckBits(bits));
    double mean = 0;
    for (float v : w.values) mean += std::abs(v);
    float a = static_cast<float>(gain_ * mean / std::max<size_t>(1, w.values.size()));
    QuantizedTensor q;
    q.levels_per_table = 2;
    q.codebook = {-a, a};
    for (float v : w.values) {
      q.codes.push_back(v >= 0);
      q.values.push_back(v >= 0 ? a : -a);
    }
    q.storage_bits = StorageBits(w.values.size(), 1, /*table_floats=*/1);
    return q;
  }

 private:
  double gain_;
};

QUANTBENCH_REGISTER_QUANTIZER("my_sign", "sign(w) * gain * mean|w|",
    [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> {
      QB_ASSIGN_OR_RETURN(double gain, params.GetDouble("gain", 1.0));
      return std::unique_ptr<Quantizer>(new MySign(gain));
    });

}  // namespace
}  // namespace quantbench
