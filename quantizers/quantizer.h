// The Quantizer plugin interface and its registry.
//
// A quantizer maps one weight tensor and a bit width to quantized weights: the dequantized
// values that simulated (fake-quantized) execution uses, plus the integer codes and the
// code -> value table that a packed low-bit kernel needs, plus its honest storage cost.
//
// Adding a quantizer is one .cc file and one BUILD line:
//
//   class MyQuantizer : public Quantizer { ... };
//   QUANTBENCH_REGISTER_QUANTIZER("my_quantizer", "one-line description",
//       [](ParamMap& params) -> absl::StatusOr<std::unique_ptr<Quantizer>> { ... });
//
// and the file's cc_library is listed in //quantizers:all with alwayslink = True (the
// registration is a static initializer; without alwayslink the linker drops it).
#ifndef QUANTBENCH_QUANTIZERS_QUANTIZER_H_
#define QUANTBENCH_QUANTIZERS_QUANTIZER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "kernels/status_macros.h"
#include "quantizers/param_map.h"

namespace quantbench {

class TrainableQuantizer;

// A read-only view of one weight tensor. shape[0] is the output-channel (row) dimension:
// dense weights are [out, in], convolution weights [out, in/groups, kh, kw].
struct WeightView {
  std::string name;
  std::vector<int64_t> shape;
  absl::Span<const float> values;

  int64_t rows() const { return shape.empty() ? 1 : shape[0]; }
  int64_t row_size() const { return rows() == 0 ? 0 : static_cast<int64_t>(values.size()) / rows(); }
};

// What structure the code -> value tables have, so packed kernels (kernels/packed_matrix.h)
// can store the tensor in the cheapest exact format. kCodebook is always correct; the others
// promise more and the conformance kit checks the promise against the tables.
enum class CodeKind {
  kCodebook,       // arbitrary table entries
  kUniform,        // entry k of table t = scale[t] * (k - zero_point_x2[t] / 2)
  kTernary,        // levels_per_table == 3, entries {-a, 0, +a} in that order (codes 0, 1, 2)
  kTernaryPlanes,  // sum of ternary_planes ternary terms: code = sum_p (t_p + 1) * 3^p with
                   // t_p in {-1, 0, 1}; value = sum_p plane_scale[p * num_tables + t] * t_p
};

// The result of quantizing one tensor.
struct QuantizedTensor {
  // Dequantized values, same order and length as the input: what simulated execution uses.
  std::vector<float> values;
  // One code per element, indexing the row's table: value = codebook[table(row) * levels + code].
  std::vector<int32_t> codes;
  // Number of code -> value tables: 1 (per-tensor) or rows (per-output-channel).
  int64_t num_tables = 1;
  // Entries per table (the number of representable levels, <= 2^bits).
  int64_t levels_per_table = 0;
  // num_tables * levels_per_table values. For uniform quantizers entry k is scale * (k - zero).
  std::vector<float> codebook;
  // Bits needed to store this tensor: codes at `bits` each plus every table or scale (fp32).
  int64_t storage_bits = 0;

  // Structure of the tables (see CodeKind) and what the structured kinds need:
  CodeKind kind = CodeKind::kCodebook;
  std::vector<float> scale;            // kUniform: one per table; kTernary: a, one per table
  std::vector<int32_t> zero_point_x2;  // kUniform: twice the zero point (mid-rise grids have
                                       // a half-integer zero), one per table
  int ternary_planes = 0;              // kTernaryPlanes
  std::vector<float> plane_scale;      // kTernaryPlanes: ternary_planes * num_tables
};

// What a quantizer promises about its results, beyond the interface contract. The conformance
// kit (conformance_kit.cc) checks every promise on every registered quantizer; the defaults
// are what a simple table quantizer such as the README's worked example keeps, so a plugin
// that overrides nothing is still checked for something.
struct QuantizerTraits {
  // q(-w) == -q(w) exactly (including the sign of zero's image where the table has no zero).
  bool sign_symmetric = false;
  // Quantizing the dequantized output again returns it unchanged.
  bool idempotent = true;
  // Weight MSE never rises when bits go up (over the supported widths between 2 and 8).
  bool error_nonincreasing_in_bits = false;
  // A constant tensor (every element c) comes back exactly.
  bool exact_on_constants = true;
  // Every output lies in [-range_factor·M, range_factor·M], M = max|w| of the tensor: 1 for
  // quantizers whose levels are inside the input range, more for ones that may round past it.
  double range_factor = 1.0;
  // Outputs may also pass that range by up to half the largest gap of their table (an integer
  // zero point shifts the grid so that an end level can lie just beyond the data).
  bool may_overshoot_half_step = false;
};

class Quantizer {
 public:
  virtual ~Quantizer() = default;

  // The promises above; the default is QuantizerTraits{}.
  virtual QuantizerTraits Traits() const { return QuantizerTraits{}; }

  // The most distinct values one table can hold at `bits` (a supported width). Default 2^bits;
  // methods with fewer levels declare their own bound so the kit holds them to it.
  virtual int64_t MaxLevels(int bits) const { return int64_t{1} << bits; }

  // Quantizes `weights` to `bits` bits per weight. Errors: InvalidArgument for a bit width the
  // method does not support or for non-finite input (the message names the tensor).
  virtual absl::StatusOr<QuantizedTensor> Quantize(const WeightView& weights, int bits) const = 0;

  // Checked once per (quantizer, bits) cell before any work, so a sweep fails before it starts.
  virtual absl::Status CheckBits(int bits) const = 0;

  // Quantizers with parameters learnt in quantization-aware training return their
  // TrainableQuantizer side (quantizers/trainable_quantizer.h); the default has none.
  virtual const TrainableQuantizer* AsTrainable() const { return nullptr; }
};

using QuantizerFactory = std::function<absl::StatusOr<std::unique_ptr<Quantizer>>(ParamMap&)>;

struct QuantizerInfo {
  std::string name;
  std::string description;
  QuantizerFactory factory;
};

class QuantizerRegistry {
 public:
  static QuantizerRegistry& Global();

  // Registers a quantizer; a duplicate name aborts at start-up (two plugins, one name).
  void Register(QuantizerInfo info);

  // Builds the named quantizer from its parameters. Errors name the quantizer: an unknown
  // name lists the registered ones; an unknown parameter lists the accepted ones.
  absl::StatusOr<std::unique_ptr<Quantizer>> Create(const std::string& name,
                                                    const std::map<std::string, std::string>& params) const;

  std::vector<std::string> Names() const;
  const QuantizerInfo* Find(const std::string& name) const;

 private:
  std::vector<QuantizerInfo> entries_;
};

// Checks shared by every quantizer: bits in [1, 16] and all values finite. Returns an
// InvalidArgument error naming the tensor and the first offending index.
absl::Status CheckQuantizerInput(const WeightView& weights, int bits);

// Bits needed for `count` codes at `bits` each, plus `table_floats` fp32 table entries.
int64_t StorageBits(int64_t count, int bits, int64_t table_floats);

namespace internal {
struct QuantizerRegistration {
  QuantizerRegistration(const char* name, const char* description, QuantizerFactory factory) {
    QuantizerRegistry::Global().Register({name, description, std::move(factory)});
  }
};
}  // namespace internal

}  // namespace quantbench

#define QUANTBENCH_REGISTER_QUANTIZER(name, description, factory)                          \
  static ::quantbench::internal::QuantizerRegistration QB_CONCAT_(qb_quantizer_registration_, \
                                                                   __LINE__)(name, description, factory)

#endif  // QUANTBENCH_QUANTIZERS_QUANTIZER_H_
