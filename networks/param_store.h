// ParamStore: the named float tensors of one network, in network order.
//
// It is the single exchange format between training (training/trainer.h), inference
// (networks/graph_network.h), the weight cache (networks/weight_cache.h) and the quantizers,
// which rewrite `Parameter::values` in place and then ask the network to re-read them.
//
// Layout conventions that quantizers rely on:
//   * dense weights have shape [out, in], row-major: row o holds output channel o's weights,
//     so shape[0] is always the output-channel dimension;
//   * biases have shape [out].
#ifndef QUANTBENCH_NETWORKS_PARAM_STORE_H_
#define QUANTBENCH_NETWORKS_PARAM_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace quantbench {

struct Parameter {
  // kWeight: conv / dense weights (what quantizers rewrite). kBias: biases.
  // kNormalization: BatchNorm gamma, beta, running mean and variance (never quantized).
  // The numeric values are stored in the weight cache: never renumber.
  enum Kind { kWeight = 0, kBias = 1, kNormalization = 2 };

  std::string name;        // unique, e.g. "fc1.weight"
  std::string layer;       // e.g. "fc1"
  std::string layer_type;  // "dense", "conv", "depthwise_conv", "batch_norm"
  Kind kind = kWeight;
  std::vector<int64_t> shape;  // dense weight: [out, in]; bias: [out]
  std::vector<float> values;   // row-major, product(shape) elements

  // Product of `shape` (1 for an empty shape).
  int64_t NumElements() const;
};

// Product of `shape`; InvalidArgument for a negative dimension or int64 overflow.
absl::StatusOr<int64_t> ShapeNumElements(const std::vector<int64_t>& shape);

// "[256, 784]".
std::string ShapeToString(const std::vector<int64_t>& shape);

class ParamStore {
 public:
  ParamStore() = default;

  // Appends a parameter. InvalidArgument if the name is empty or already present, or if
  // values.size() differs from the product of the shape.
  absl::Status Add(Parameter parameter);

  // The parameter called `name`, or nullptr. Pointers stay valid until the next Add.
  Parameter* Find(const std::string& name);
  const Parameter* Find(const std::string& name) const;

  // All parameters in network order. Callers may rewrite `values` (same length) in place;
  // renaming or resizing through this accessor breaks the store's invariants.
  std::vector<Parameter>& parameters() { return parameters_; }
  const std::vector<Parameter>& parameters() const { return parameters_; }

  // Number of tensors.
  size_t size() const { return parameters_.size(); }
  // Total number of scalar values over all tensors.
  int64_t TotalCount() const;

 private:
  std::vector<Parameter> parameters_;
};

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_PARAM_STORE_H_
