// Binding an ONNX model's weights to a native network's ParamStore.
//
// The native network fixes every parameter's name, shape and order; the ONNX file only
// supplies values. Two rules:
//
//  * by_name: every parameter of the store (weights, biases, BatchNorm gamma/beta/running
//    mean/var) must be an initializer of the same name and the identical shape. This is
//    how torchvision models exported with training=TrainingMode.PRESERVE and
//    do_constant_folding=False look: initializer names are the state_dict names
//    (tools/export_torchvision.py). Extra initializers (e.g. num_batches_tracked) are
//    ignored and listed in the report.
//
//  * by_order: for files whose initializer names mean nothing (the ONNX Model Zoo int8
//    MobileNet-v2: "475_quantized", ...). The graph's weight-bearing nodes, in node-list
//    (topological) order, bind to the store's weight tensors (kind kWeight) in network
//    order; each weight's bias is the parameter of kind kBias with the same `layer`.
//      Conv           W [out, in/g, kh, kw], optional B [out]
//      Gemm           B (transB=1: [out, in]; transB=0: [in, out], transposed), optional C
//      MatMul         constant right operand [in, out], transposed to our [out, in];
//                     bias = a following Add of a constant [out]
//      QLinearConv    w int8/uint8, w_scale/w_zero_point per tensor or per output channel:
//                     w_f = (q - zp) * scale; int32 bias B with scale x_scale * w_scale[oc]:
//                     b_f = B * x_scale * w_scale[oc]
//      QLinearMatMul  b [in, out] int8 with per-tensor or per-column (= output) scale/zp,
//                     transposed; bias = a following QLinearAdd (com.microsoft) or Add of a
//                     constant: b_f = (q - zp) * scale
//    A float weight may also be the output of a DequantizeLinear of constants (QDQ models).
//    The store must not hold BatchNorm parameters (fold them first: the files carry
//    BN-folded convolutions). A layer without an ONNX bias whose native layer has one
//    gets zeros (reported).
//
// Parameters listed in OnnxBindOptions::optional_params may be absent from the file (by_name)
// and are skipped (by_order): inception_v3's auxiliary classifier is not part of an eval-mode
// export. They keep their values and are listed in the report.
//
// Either way the store is only written once everything bound: on error it is unchanged.
// Errors are InvalidArgument (Unimplemented for unsupported encodings) and name the first
// offending parameter / node with the expected and found shapes.
#ifndef QUANTBENCH_NETWORKS_ONNX_IMPORT_H_
#define QUANTBENCH_NETWORKS_ONNX_IMPORT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "networks/onnx.pb.h"
#include "networks/param_store.h"

namespace quantbench {

enum class OnnxBindingRule { kByName, kByOrder };

// "by_name" / "by_order" (also accepts "BY_NAME" / "BY_ORDER", the config enum's spelling).
absl::StatusOr<OnnxBindingRule> ParseOnnxBindingRule(absl::string_view name);
const char* OnnxBindingRuleName(OnnxBindingRule rule);

// Where one native parameter's values came from.
struct OnnxBoundTensor {
  std::string param;           // native parameter name
  std::vector<int64_t> shape;  // its shape (= the ONNX shape, after any transposition)
  std::string initializer;     // ONNX initializer the values came from ("" for zero-filled)
  std::string node;            // by_order: "QLinearConv #3 'name'" (node index, op, name)
  bool dequantized = false;    // integer tensor turned into float with scale / zero point
  bool transposed = false;     // ONNX [in, out] stored as our [out, in]
  bool zero_filled = false;    // the ONNX layer has no bias; the native bias is set to 0
};

struct OnnxBindingReport {
  OnnxBindingRule rule = OnnxBindingRule::kByName;
  std::vector<OnnxBoundTensor> tensors;  // one per native parameter, in store order
  int weight_nodes = 0;                  // by_order: weight-bearing nodes bound
  int dequantized_tensors = 0;
  int transposed_tensors = 0;
  int zero_filled_tensors = 0;
  int64_t bound_values = 0;
  // Optional parameters (OnnxBindOptions) the file did not provide; they kept their values.
  std::vector<std::string> skipped_optional;
  // ONNX initializers whose values went to no parameter. by_name: extras such as
  // num_batches_tracked; by_order: those no bound node reads (activation scales, shapes).
  std::vector<std::string> unused_initializers;

  // One line, e.g. "by_order: 106 tensors (3,504,872 values) from 53 nodes, 106 dequantized,
  // 1 transposed, 0 zero-filled, 242 initializers unused".
  std::string Summary() const;
};

struct OnnxBindOptions {
  // Native parameters the file need not provide. For a Graph (networks/graph.h), the names of
  // its ParamSpecs with used == false:
  //   for (const ParamSpec& p : graph.params) if (!p.used) options.optional_params.insert(p.name);
  // by_name binds them when present (shape-checked) and skips them otherwise; by_order always
  // skips them (weight and bias).
  absl::flat_hash_set<std::string> optional_params;
};

// Binds `model`'s weights into `store` (see the top of this file). `store` keeps its names,
// shapes and order; only values change, and only on success.
absl::StatusOr<OnnxBindingReport> BindOnnxWeights(const onnx::ModelProto& model,
                                                  OnnxBindingRule rule, ParamStore* store,
                                                  const OnnxBindOptions& options = {});

// ReadOnnxModel(path) + BindOnnxWeights; binding errors are prefixed with the path.
absl::StatusOr<OnnxBindingReport> ImportOnnxWeights(const std::string& path, OnnxBindingRule rule,
                                                    ParamStore* store,
                                                    const OnnxBindOptions& options = {});

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_ONNX_IMPORT_H_
