#include "networks/onnx_import.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <optional>
#include <set>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "kernels/status_macros.h"
#include "networks/onnx_model.h"

namespace quantbench {
namespace {

using InitializerMap = absl::flat_hash_map<std::string, const onnx::TensorProto*>;

std::string Dims(const std::vector<int64_t>& dims) { return ShapeToString(dims); }

int64_t Product(const std::vector<int64_t>& dims) {
  int64_t n = 1;
  for (int64_t d : dims) n *= d;
  return n;
}

// Values staged for one parameter until everything has bound.
struct Staged {
  size_t param_index;
  std::vector<float> values;
  OnnxBoundTensor record;
};

// Writes the staged values into the store (all checks already passed) and fills the report.
void Commit(std::vector<Staged> staged, ParamStore* store, OnnxBindingReport* report) {
  std::sort(staged.begin(), staged.end(),
            [](const Staged& a, const Staged& b) { return a.param_index < b.param_index; });
  for (Staged& s : staged) {
    Parameter& p = store->parameters()[s.param_index];
    p.values = std::move(s.values);
    report->bound_values += static_cast<int64_t>(p.values.size());
    report->dequantized_tensors += s.record.dequantized ? 1 : 0;
    report->transposed_tensors += s.record.transposed ? 1 : 0;
    report->zero_filled_tensors += s.record.zero_filled ? 1 : 0;
    report->tensors.push_back(std::move(s.record));
  }
}

// ---------------------------------------------------------------- by_name

absl::StatusOr<OnnxBindingReport> BindByName(const onnx::GraphProto& graph, ParamStore* store,
                                             const OnnxBindOptions& options) {
  QB_ASSIGN_OR_RETURN(InitializerMap inits, OnnxInitializersByName(graph));
  OnnxBindingReport report;
  report.rule = OnnxBindingRule::kByName;
  std::vector<Staged> staged;
  absl::flat_hash_set<std::string> used;
  const std::vector<Parameter>& params = store->parameters();
  for (size_t i = 0; i < params.size(); ++i) {
    const Parameter& p = params[i];
    auto it = inits.find(p.name);
    if (it == inits.end() && options.optional_params.contains(p.name)) {
      report.skipped_optional.push_back(p.name);
      continue;
    }
    if (it == inits.end()) {
      std::vector<std::string> examples;
      for (int k = 0; k < graph.initializer_size() && examples.size() < 4; ++k) {
        examples.push_back(absl::StrCat("'", graph.initializer(k).name(), "'"));
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "by_name: no initializer named '", p.name, "' (layer '", p.layer, "', expected shape ",
          Dims(p.shape), "); the model has ", graph.initializer_size(), " initializers",
          examples.empty() ? "" : absl::StrCat(", e.g. ", absl::StrJoin(examples, ", ")),
          ". Export torchvision models with training=TrainingMode.PRESERVE and "
          "do_constant_folding=False (tools/export_torchvision.py), or bind by_order"));
    }
    const onnx::TensorProto& t = *it->second;
    QB_ASSIGN_OR_RETURN(std::vector<int64_t> dims, OnnxTensorDims(t));
    if (dims != p.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "by_name: parameter '", p.name, "' (layer '", p.layer, "'): expected shape ",
          Dims(p.shape), ", the ONNX initializer has ", Dims(dims)));
    }
    if (t.data_type() != onnx::TensorProto::FLOAT) {
      return absl::InvalidArgumentError(absl::StrCat(
          "by_name: parameter '", p.name, "': the ONNX initializer is ",
          OnnxDataTypeName(t.data_type()), ", expected FLOAT (quantized files bind by_order)"));
    }
    QB_ASSIGN_OR_RETURN(std::vector<float> values, OnnxTensorFloats(t));
    Staged s{i, std::move(values), {}};
    s.record.param = p.name;
    s.record.shape = p.shape;
    s.record.initializer = t.name();
    staged.push_back(std::move(s));
    used.insert(p.name);
  }
  for (const onnx::TensorProto& t : graph.initializer()) {
    if (!used.contains(t.name())) report.unused_initializers.push_back(t.name());
  }
  Commit(std::move(staged), store, &report);
  return report;
}

// ---------------------------------------------------------------- by_order

// The graph's constants (initializers and Constant nodes' `value`) and who produces and
// consumes each value.
struct GraphIndex {
  const onnx::GraphProto* graph = nullptr;
  InitializerMap constants;
  absl::flat_hash_map<std::string, int> producer;               // value -> node index
  absl::flat_hash_map<std::string, std::vector<int>> consumers;  // value -> node indices
};

absl::StatusOr<GraphIndex> IndexGraph(const onnx::GraphProto& graph) {
  GraphIndex index;
  index.graph = &graph;
  QB_ASSIGN_OR_RETURN(index.constants, OnnxInitializersByName(graph));
  for (int n = 0; n < graph.node_size(); ++n) {
    const onnx::NodeProto& node = graph.node(n);
    for (const std::string& out : node.output()) {
      if (!out.empty()) index.producer[out] = n;
    }
    for (const std::string& in : node.input()) {
      if (!in.empty()) index.consumers[in].push_back(n);
    }
    if (node.op_type() == "Constant" && node.domain().empty() && node.output_size() == 1) {
      for (const onnx::AttributeProto& a : node.attribute()) {
        if (a.name() == "value" && a.has_t()) index.constants.emplace(node.output(0), &a.t());
      }
    }
  }
  return index;
}

std::string NodeLabel(const onnx::GraphProto& graph, int n) {
  const onnx::NodeProto& node = graph.node(n);
  return absl::StrCat(node.op_type(), " #", n,
                      node.name().empty() ? "" : absl::StrCat(" '", node.name(), "'"));
}

const onnx::AttributeProto* FindAttribute(const onnx::NodeProto& node, absl::string_view name) {
  for (const onnx::AttributeProto& a : node.attribute()) {
    if (a.name() == name) return &a;
  }
  return nullptr;
}

int64_t IntAttribute(const onnx::NodeProto& node, absl::string_view name, int64_t fallback) {
  const onnx::AttributeProto* a = FindAttribute(node, name);
  return a != nullptr && a->has_i() ? a->i() : fallback;
}

float FloatAttribute(const onnx::NodeProto& node, absl::string_view name, float fallback) {
  const onnx::AttributeProto* a = FindAttribute(node, name);
  return a != nullptr && a->has_f() ? a->f() : fallback;
}

// A float tensor recovered from the graph.
struct FloatTensor {
  std::vector<int64_t> dims;
  std::vector<float> values;
  std::string source;        // the initializer holding the (quantized) values
  bool dequantized = false;
};

const onnx::TensorProto* Constant(const GraphIndex& index, const std::string& name) {
  if (name.empty()) return nullptr;
  auto it = index.constants.find(name);
  return it == index.constants.end() ? nullptr : it->second;
}

std::string Input(const onnx::NodeProto& node, int i) {
  return i < node.input_size() ? node.input(i) : std::string();
}

// Per-tensor or per-channel (along `axis`) scale and zero point of an integer tensor.
absl::StatusOr<std::vector<float>> Dequantize(const std::vector<int64_t>& q,
                                              const std::vector<int64_t>& dims,
                                              const std::vector<float>& scale,
                                              const std::vector<int64_t>& zero_point, int64_t axis,
                                              const std::string& what) {
  const int64_t rank = static_cast<int64_t>(dims.size());
  int64_t channels = 1, inner = 1;
  if (scale.size() != 1) {
    if (axis < 0) axis += rank;
    if (axis < 0 || axis >= rank || dims[axis] != static_cast<int64_t>(scale.size())) {
      return absl::InvalidArgumentError(absl::StrCat(
          what, ": ", scale.size(), " scales do not match axis ", axis, " of dims ", Dims(dims)));
    }
    channels = dims[axis];
    for (int64_t d = axis + 1; d < rank; ++d) inner *= dims[d];
  }
  if (!zero_point.empty() && zero_point.size() != scale.size()) {
    return absl::InvalidArgumentError(absl::StrCat(what, ": ", zero_point.size(),
                                                   " zero points for ", scale.size(), " scales"));
  }
  std::vector<float> out(q.size());
  for (size_t i = 0; i < q.size(); ++i) {
    const size_t c = channels == 1 ? 0 : static_cast<size_t>((static_cast<int64_t>(i) / inner) % channels);
    const int64_t zp = zero_point.empty() ? 0 : zero_point[c];
    // As DequantizeLinear: float(q - zp) * scale (exact int, one float multiply).
    out[i] = static_cast<float>(static_cast<int32_t>(q[i] - zp)) * scale[c];
  }
  return out;
}

// Decodes a scale (FLOAT) and an optional zero point (integer) constant.
absl::Status ReadScaleZeroPoint(const GraphIndex& index, const std::string& scale_name,
                                const std::string& zp_name, const std::string& what,
                                std::vector<float>* scale, std::vector<int64_t>* zero_point,
                                std::set<std::string>* used) {
  const onnx::TensorProto* s = Constant(index, scale_name);
  if (s == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat(what, ": scale '", scale_name, "' is not a constant"));
  }
  QB_ASSIGN_OR_RETURN(*scale, OnnxTensorFloats(*s));
  if (scale->empty()) return absl::InvalidArgumentError(absl::StrCat(what, ": empty scale"));
  used->insert(scale_name);
  zero_point->clear();
  if (!zp_name.empty()) {
    const onnx::TensorProto* z = Constant(index, zp_name);
    if (z == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat(what, ": zero point '", zp_name, "' is not a constant"));
    }
    QB_ASSIGN_OR_RETURN(*zero_point, OnnxTensorInts(*z));
    used->insert(zp_name);
  }
  return absl::OkStatus();
}

// The float value of graph value `name`: a FLOAT constant, or DequantizeLinear(constant q,
// constant scale, constant zero point). nullopt if it is computed at run time.
absl::StatusOr<std::optional<FloatTensor>> ResolveFloat(const GraphIndex& index,
                                                        const std::string& name,
                                                        std::set<std::string>* used) {
  if (const onnx::TensorProto* t = Constant(index, name)) {
    FloatTensor out;
    QB_ASSIGN_OR_RETURN(out.dims, OnnxTensorDims(*t));
    if (t->data_type() != onnx::TensorProto::FLOAT) {
      return absl::InvalidArgumentError(absl::StrCat(
          "'", name, "' is ", OnnxDataTypeName(t->data_type()),
          " but feeds a float operand (expected FLOAT or a DequantizeLinear)"));
    }
    QB_ASSIGN_OR_RETURN(out.values, OnnxTensorFloats(*t));
    out.source = name;
    used->insert(name);
    return std::optional<FloatTensor>(std::move(out));
  }
  auto p = index.producer.find(name);
  if (p == index.producer.end()) return std::optional<FloatTensor>();
  const onnx::NodeProto& dq = index.graph->node(p->second);
  if (dq.op_type() != "DequantizeLinear") return std::optional<FloatTensor>();
  const onnx::TensorProto* q = Constant(index, Input(dq, 0));
  if (q == nullptr) return std::optional<FloatTensor>();
  const std::string what = NodeLabel(*index.graph, p->second);
  FloatTensor out;
  QB_ASSIGN_OR_RETURN(out.dims, OnnxTensorDims(*q));
  QB_ASSIGN_OR_RETURN(std::vector<int64_t> ints, OnnxTensorInts(*q));
  std::vector<float> scale;
  std::vector<int64_t> zp;
  QB_RETURN_IF_ERROR(ReadScaleZeroPoint(index, Input(dq, 1), Input(dq, 2), what, &scale, &zp, used));
  QB_ASSIGN_OR_RETURN(out.values,
                      Dequantize(ints, out.dims, scale, zp, IntAttribute(dq, "axis", 1), what));
  out.source = q->name().empty() ? Input(dq, 0) : q->name();
  out.dequantized = true;
  used->insert(Input(dq, 0));
  return std::optional<FloatTensor>(std::move(out));
}

// [rows, cols] -> [cols, rows].
std::vector<float> Transpose2d(const std::vector<float>& v, int64_t rows, int64_t cols) {
  std::vector<float> out(v.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) out[c * rows + r] = v[r * cols + c];
  }
  return out;
}

// One weight-bearing ONNX node, decoded to our layout.
struct OnnxLayer {
  int node = -1;
  std::string label;        // NodeLabel
  FloatTensor weight;       // [out, ...] (transposed already for MatMul-like nodes)
  bool transposed = false;
  std::optional<FloatTensor> bias;  // [out] values (dims as found in the file)
  std::string bias_node;    // the Add / QLinearAdd carrying the bias, if separate
};

// Bias added by the single consumer of `value` (an Add / QLinearAdd of a constant), for a
// layer with `out` output channels. `conv_layout`: the output is NCHW, so the constant must
// be [1, C, 1, 1] or [C, 1, 1]; otherwise [C] or [1, C].
absl::StatusOr<std::optional<FloatTensor>> FollowingBias(const GraphIndex& index,
                                                         const std::string& value, int64_t out,
                                                         bool conv_layout, std::string* bias_node,
                                                         std::set<std::string>* used) {
  auto c = index.consumers.find(value);
  if (c == index.consumers.end() || c->second.size() != 1) return std::optional<FloatTensor>();
  const int n = c->second[0];
  const onnx::NodeProto& add = index.graph->node(n);
  auto shape_ok = [&](const std::vector<int64_t>& d) {
    if (conv_layout) {
      return d == std::vector<int64_t>{1, out, 1, 1} || d == std::vector<int64_t>{out, 1, 1};
    }
    return d == std::vector<int64_t>{out} || d == std::vector<int64_t>{1, out};
  };
  std::set<std::string> local_used;
  std::optional<FloatTensor> bias;
  if (add.op_type() == "Add" && add.input_size() == 2) {
    const std::string other = add.input(0) == value ? add.input(1) : add.input(0);
    QB_ASSIGN_OR_RETURN(bias, ResolveFloat(index, other, &local_used));
  } else if (add.op_type() == "QLinearAdd" && add.input_size() >= 7) {
    // QLinearAdd (com.microsoft): A, A_scale, A_zp, B, B_scale, B_zp, C_scale, C_zp.
    int k = -1;
    if (add.input(0) == value) k = 3;
    if (add.input(3) == value) k = 0;
    if (k < 0) return std::optional<FloatTensor>();
    const onnx::TensorProto* q = Constant(index, add.input(k));
    if (q == nullptr) return std::optional<FloatTensor>();
    const std::string what = NodeLabel(*index.graph, n);
    FloatTensor t;
    QB_ASSIGN_OR_RETURN(t.dims, OnnxTensorDims(*q));
    QB_ASSIGN_OR_RETURN(std::vector<int64_t> ints, OnnxTensorInts(*q));
    std::vector<float> scale;
    std::vector<int64_t> zp;
    QB_RETURN_IF_ERROR(ReadScaleZeroPoint(index, add.input(k + 1), Input(add, k + 2), what, &scale,
                                          &zp, &local_used));
    if (scale.size() != 1 || zp.size() > 1) {
      return absl::InvalidArgumentError(absl::StrCat(what, ": per-channel bias scale not supported"));
    }
    QB_ASSIGN_OR_RETURN(t.values, Dequantize(ints, t.dims, scale, zp, 0, what));
    t.source = add.input(k);
    t.dequantized = true;
    local_used.insert(add.input(k));
    bias = std::move(t);
  }
  if (!bias.has_value() || !shape_ok(bias->dims)) return std::optional<FloatTensor>();
  used->insert(local_used.begin(), local_used.end());
  *bias_node = NodeLabel(*index.graph, n);
  return bias;
}

// Decodes node `n` if it is weight-bearing; nullopt if it is not (a MatMul of two activations,
// any other op).
absl::StatusOr<std::optional<OnnxLayer>> DecodeLayer(const GraphIndex& index, int n,
                                                     std::set<std::string>* used) {
  const onnx::NodeProto& node = index.graph->node(n);
  const std::string& op = node.op_type();
  OnnxLayer layer;
  layer.node = n;
  layer.label = NodeLabel(*index.graph, n);
  const std::string& label = layer.label;

  if (op == "Conv") {
    QB_ASSIGN_OR_RETURN(std::optional<FloatTensor> w, ResolveFloat(index, Input(node, 1), used));
    if (!w.has_value()) {
      return absl::UnimplementedError(
          absl::StrCat(label, ": weight '", Input(node, 1), "' is computed at run time"));
    }
    if (w->dims.size() < 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": weight '", w->source, "' has dims ", Dims(w->dims)));
    }
    layer.weight = std::move(*w);
    const int64_t out = layer.weight.dims[0];
    if (!Input(node, 2).empty()) {
      QB_ASSIGN_OR_RETURN(layer.bias, ResolveFloat(index, Input(node, 2), used));
      if (!layer.bias.has_value()) {
        return absl::UnimplementedError(
            absl::StrCat(label, ": bias '", Input(node, 2), "' is computed at run time"));
      }
    } else if (node.output_size() >= 1) {
      QB_ASSIGN_OR_RETURN(layer.bias, FollowingBias(index, node.output(0), out, /*conv_layout=*/true,
                                                    &layer.bias_node, used));
    }
    return std::optional<OnnxLayer>(std::move(layer));
  }

  if (op == "QLinearConv") {
    // x, x_scale, x_zero_point, w, w_scale, w_zero_point, y_scale, y_zero_point, B.
    const onnx::TensorProto* wq = Constant(index, Input(node, 3));
    if (wq == nullptr) {
      return absl::UnimplementedError(
          absl::StrCat(label, ": weight '", Input(node, 3), "' is not a constant"));
    }
    FloatTensor w;
    QB_ASSIGN_OR_RETURN(w.dims, OnnxTensorDims(*wq));
    if (w.dims.size() < 3) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": weight '", Input(node, 3), "' has dims ", Dims(w.dims)));
    }
    QB_ASSIGN_OR_RETURN(std::vector<int64_t> q, OnnxTensorInts(*wq));
    std::vector<float> w_scale;
    std::vector<int64_t> w_zp;
    QB_RETURN_IF_ERROR(ReadScaleZeroPoint(index, Input(node, 4), Input(node, 5), label, &w_scale,
                                          &w_zp, used));
    QB_ASSIGN_OR_RETURN(w.values, Dequantize(q, w.dims, w_scale, w_zp, /*axis=*/0, label));
    w.source = Input(node, 3);
    w.dequantized = true;
    used->insert(Input(node, 3));
    const int64_t out = w.dims[0];
    layer.weight = std::move(w);
    if (!Input(node, 8).empty()) {
      const onnx::TensorProto* bq = Constant(index, Input(node, 8));
      if (bq == nullptr) {
        return absl::UnimplementedError(
            absl::StrCat(label, ": bias '", Input(node, 8), "' is not a constant"));
      }
      const onnx::TensorProto* xs = Constant(index, Input(node, 1));
      if (xs == nullptr) {
        return absl::UnimplementedError(
            absl::StrCat(label, ": x_scale '", Input(node, 1), "' is not a constant"));
      }
      QB_ASSIGN_OR_RETURN(std::vector<float> x_scale, OnnxTensorFloats(*xs));
      if (x_scale.size() != 1) {
        return absl::InvalidArgumentError(
            absl::StrCat(label, ": x_scale has ", x_scale.size(), " values, expected 1"));
      }
      FloatTensor b;
      QB_ASSIGN_OR_RETURN(b.dims, OnnxTensorDims(*bq));
      QB_ASSIGN_OR_RETURN(std::vector<int64_t> bi, OnnxTensorInts(*bq));
      if (static_cast<int64_t>(bi.size()) != out) {
        return absl::InvalidArgumentError(absl::StrCat(label, ": bias '", Input(node, 8), "' has ",
                                                       bi.size(), " values for ", out,
                                                       " output channels"));
      }
      // The int32 bias is in units of x_scale * w_scale[oc]: b_f = B * x_scale * w_scale[oc].
      b.values.resize(out);
      for (int64_t oc = 0; oc < out; ++oc) {
        const double s = static_cast<double>(x_scale[0]) * w_scale[w_scale.size() == 1 ? 0 : oc];
        b.values[oc] = static_cast<float>(static_cast<double>(bi[oc]) * s);
      }
      b.source = Input(node, 8);
      b.dequantized = true;
      used->insert(Input(node, 1));
      used->insert(Input(node, 8));
      layer.bias = std::move(b);
    }
    return std::optional<OnnxLayer>(std::move(layer));
  }

  // Dense layers. ONNX computes Y = X * B with B [in, out]; our dense weights are [out, in]
  // (shape[0] = output channel, see param_store.h), so B is transposed on import.
  if (op == "Gemm") {
    QB_ASSIGN_OR_RETURN(std::optional<FloatTensor> w, ResolveFloat(index, Input(node, 1), used));
    if (!w.has_value()) return std::optional<OnnxLayer>();  // two activations: no weights
    if (w->dims.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": B '", w->source, "' has dims ", Dims(w->dims)));
    }
    const float alpha = FloatAttribute(node, "alpha", 1.0f);
    const float beta = FloatAttribute(node, "beta", 1.0f);
    if (alpha != 1.0f || (!Input(node, 2).empty() && beta != 1.0f)) {
      return absl::UnimplementedError(absl::StrCat(label, ": alpha ", alpha, " / beta ", beta,
                                                   " other than 1 are not supported"));
    }
    if (IntAttribute(node, "transB", 0) == 0) {  // B is [in, out]
      w->values = Transpose2d(w->values, w->dims[0], w->dims[1]);
      std::swap(w->dims[0], w->dims[1]);
      layer.transposed = true;
    }
    const int64_t out = w->dims[0];
    layer.weight = std::move(*w);
    if (!Input(node, 2).empty()) {
      QB_ASSIGN_OR_RETURN(layer.bias, ResolveFloat(index, Input(node, 2), used));
      if (!layer.bias.has_value()) {
        return absl::UnimplementedError(
            absl::StrCat(label, ": C '", Input(node, 2), "' is computed at run time"));
      }
      if (Product(layer.bias->dims) != out) {
        return absl::UnimplementedError(absl::StrCat(label, ": C '", Input(node, 2), "' has dims ",
                                                     Dims(layer.bias->dims), ", expected [", out,
                                                     "] (broadcast biases are not supported)"));
      }
    }
    return std::optional<OnnxLayer>(std::move(layer));
  }

  if (op == "MatMul") {
    QB_ASSIGN_OR_RETURN(std::optional<FloatTensor> w, ResolveFloat(index, Input(node, 1), used));
    if (!w.has_value()) {
      std::set<std::string> ignored;
      QB_ASSIGN_OR_RETURN(std::optional<FloatTensor> a, ResolveFloat(index, Input(node, 0), &ignored));
      if (a.has_value()) {
        return absl::UnimplementedError(
            absl::StrCat(label, ": a constant left operand is not supported"));
      }
      return std::optional<OnnxLayer>();  // two activations: no weights
    }
    if (w->dims.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": weight '", w->source, "' has dims ", Dims(w->dims), ", expected 2-D"));
    }
    w->values = Transpose2d(w->values, w->dims[0], w->dims[1]);  // [in, out] -> [out, in]
    std::swap(w->dims[0], w->dims[1]);
    layer.transposed = true;
    const int64_t out = w->dims[0];
    layer.weight = std::move(*w);
    QB_ASSIGN_OR_RETURN(layer.bias, FollowingBias(index, node.output_size() > 0 ? node.output(0) : "",
                                                  out, /*conv_layout=*/false, &layer.bias_node, used));
    return std::optional<OnnxLayer>(std::move(layer));
  }

  if (op == "QLinearMatMul") {
    // a, a_scale, a_zero_point, b, b_scale, b_zero_point, y_scale, y_zero_point.
    const onnx::TensorProto* bq = Constant(index, Input(node, 3));
    if (bq == nullptr) {
      if (Constant(index, Input(node, 0)) != nullptr) {
        return absl::UnimplementedError(
            absl::StrCat(label, ": a constant left operand is not supported"));
      }
      return std::optional<OnnxLayer>();
    }
    FloatTensor w;
    QB_ASSIGN_OR_RETURN(w.dims, OnnxTensorDims(*bq));
    if (w.dims.size() != 2) {
      return absl::InvalidArgumentError(
          absl::StrCat(label, ": weight '", Input(node, 3), "' has dims ", Dims(w.dims), ", expected 2-D"));
    }
    QB_ASSIGN_OR_RETURN(std::vector<int64_t> q, OnnxTensorInts(*bq));
    std::vector<float> scale;
    std::vector<int64_t> zp;
    QB_RETURN_IF_ERROR(
        ReadScaleZeroPoint(index, Input(node, 4), Input(node, 5), label, &scale, &zp, used));
    // b is [in, out]; a per-column scale is per output channel (axis 1).
    QB_ASSIGN_OR_RETURN(std::vector<float> f, Dequantize(q, w.dims, scale, zp, /*axis=*/1, label));
    w.values = Transpose2d(f, w.dims[0], w.dims[1]);  // [in, out] -> our [out, in]
    std::swap(w.dims[0], w.dims[1]);
    w.source = Input(node, 3);
    w.dequantized = true;
    used->insert(Input(node, 3));
    layer.transposed = true;
    const int64_t out = w.dims[0];
    layer.weight = std::move(w);
    QB_ASSIGN_OR_RETURN(layer.bias, FollowingBias(index, node.output_size() > 0 ? node.output(0) : "",
                                                  out, /*conv_layout=*/false, &layer.bias_node, used));
    return std::optional<OnnxLayer>(std::move(layer));
  }

  if (op == "ConvTranspose" || op == "ConvInteger" || op == "MatMulInteger" || op == "LSTM" ||
      op == "GRU" || op == "RNN") {
    return absl::UnimplementedError(absl::StrCat(label, ": ", op, " weights are not supported"));
  }
  return std::optional<OnnxLayer>();
}

// A native weight and its bias (same layer), in store order.
struct NativeSlot {
  size_t weight = 0;
  std::optional<size_t> bias;
};

absl::StatusOr<std::vector<NativeSlot>> NativeSlots(const ParamStore& store,
                                                    const OnnxBindOptions& options,
                                                    std::vector<std::string>* skipped) {
  const std::vector<Parameter>& params = store.parameters();
  std::vector<NativeSlot> slots;
  absl::flat_hash_map<std::string, size_t> slot_of_layer;
  for (size_t i = 0; i < params.size(); ++i) {
    const Parameter& p = params[i];
    if (options.optional_params.contains(p.name)) {
      skipped->push_back(p.name);
      continue;
    }
    if (p.kind == Parameter::kWeight) {
      if (p.shape.empty()) {
        return absl::InvalidArgumentError(absl::StrCat("parameter '", p.name, "' has no shape"));
      }
      if (!slot_of_layer.emplace(p.layer, slots.size()).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("by_order: layer '", p.layer, "' has two weight parameters"));
      }
      slots.push_back({i, std::nullopt});
    }
  }
  for (size_t i = 0; i < params.size(); ++i) {
    const Parameter& p = params[i];
    if (p.kind == Parameter::kWeight || options.optional_params.contains(p.name)) continue;
    if (p.kind != Parameter::kBias) {
      return absl::InvalidArgumentError(absl::StrCat(
          "by_order binds weights and biases only, but the network has parameter '", p.name,
          "' (layer '", p.layer, "', ",
          p.kind == Parameter::kNormalization ? std::string("BatchNorm")
                                              : absl::StrCat("kind ", static_cast<int>(p.kind)),
          "): fold BatchNorm into the convolutions first (the ONNX file's convolutions are "
          "already folded)"));
    }
    auto it = slot_of_layer.find(p.layer);
    if (it == slot_of_layer.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("by_order: bias '", p.name, "' has no weight in layer '", p.layer, "'"));
    }
    NativeSlot& slot = slots[it->second];
    if (slot.bias.has_value()) {
      return absl::InvalidArgumentError(
          absl::StrCat("by_order: layer '", p.layer, "' has two bias parameters"));
    }
    slot.bias = i;
  }
  return slots;
}

absl::StatusOr<OnnxBindingReport> BindByOrder(const onnx::GraphProto& graph, ParamStore* store,
                                              const OnnxBindOptions& options) {
  OnnxBindingReport report;
  report.rule = OnnxBindingRule::kByOrder;
  QB_ASSIGN_OR_RETURN(GraphIndex index, IndexGraph(graph));
  QB_ASSIGN_OR_RETURN(std::vector<NativeSlot> slots,
                      NativeSlots(*store, options, &report.skipped_optional));
  const std::vector<Parameter>& params = store->parameters();

  std::vector<Staged> staged;
  std::set<std::string> used;
  size_t k = 0;  // next native slot
  for (int n = 0; n < graph.node_size(); ++n) {
    QB_ASSIGN_OR_RETURN(std::optional<OnnxLayer> layer, DecodeLayer(index, n, &used));
    if (!layer.has_value()) continue;
    if (k == slots.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "by_order: the ONNX model has more weight-bearing nodes than the network's ",
          slots.size(), " weight tensors; first extra: ", layer->label, " with weight '",
          layer->weight.source, "' ", Dims(layer->weight.dims)));
    }
    const NativeSlot& slot = slots[k];
    const Parameter& w = params[slot.weight];
    if (layer->weight.dims != w.shape) {
      return absl::InvalidArgumentError(absl::StrCat(
          "by_order: weight #", k, " '", w.name, "' (layer '", w.layer, "'): expected shape ",
          Dims(w.shape), ", ", layer->label, " has weight '", layer->weight.source, "' of shape ",
          Dims(layer->weight.dims), layer->transposed ? " (after [in, out] -> [out, in])" : ""));
    }
    Staged sw{slot.weight, std::move(layer->weight.values), {}};
    sw.record.param = w.name;
    sw.record.shape = w.shape;
    sw.record.initializer = layer->weight.source;
    sw.record.node = layer->label;
    sw.record.dequantized = layer->weight.dequantized;
    sw.record.transposed = layer->transposed;
    staged.push_back(std::move(sw));

    const int64_t out = w.shape[0];
    if (layer->bias.has_value()) {
      if (!slot.bias.has_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "by_order: ", layer->label, " has a bias '", layer->bias->source, "' but layer '",
            w.layer, "' has no bias parameter (BatchNorm-folded files need a network with conv "
            "biases, i.e. BatchNorm folded)"));
      }
      const Parameter& b = params[*slot.bias];
      if (static_cast<int64_t>(layer->bias->values.size()) != out || b.shape != std::vector<int64_t>{out}) {
        return absl::InvalidArgumentError(absl::StrCat(
            "by_order: bias '", b.name, "' (layer '", w.layer, "'): expected shape ", Dims(b.shape),
            ", ", layer->bias_node.empty() ? layer->label : layer->bias_node, " has bias '",
            layer->bias->source, "' of shape ", Dims(layer->bias->dims)));
      }
      Staged sb{*slot.bias, std::move(layer->bias->values), {}};
      sb.record.param = b.name;
      sb.record.shape = b.shape;
      sb.record.initializer = layer->bias->source;
      sb.record.node = layer->bias_node.empty() ? layer->label : layer->bias_node;
      sb.record.dequantized = layer->bias->dequantized;
      staged.push_back(std::move(sb));
    } else if (slot.bias.has_value()) {
      const Parameter& b = params[*slot.bias];
      Staged sb{*slot.bias, std::vector<float>(b.NumElements(), 0.0f), {}};
      sb.record.param = b.name;
      sb.record.shape = b.shape;
      sb.record.node = layer->label;
      sb.record.zero_filled = true;
      staged.push_back(std::move(sb));
    }
    ++k;
    ++report.weight_nodes;
  }
  if (k != slots.size()) {
    const Parameter& w = params[slots[k].weight];
    return absl::InvalidArgumentError(absl::StrCat(
        "by_order: the ONNX model has ", k, " weight-bearing nodes (Conv, Gemm, MatMul, "
        "QLinearConv, QLinearMatMul) but the network has ", slots.size(),
        " weight tensors; first unmatched: '", w.name, "' ", Dims(w.shape)));
  }
  for (const onnx::TensorProto& t : graph.initializer()) {
    if (used.count(t.name()) == 0) report.unused_initializers.push_back(t.name());
  }
  Commit(std::move(staged), store, &report);
  return report;
}

}  // namespace

absl::StatusOr<OnnxBindingRule> ParseOnnxBindingRule(absl::string_view name) {
  const std::string lower = absl::AsciiStrToLower(name);
  if (lower == "by_name") return OnnxBindingRule::kByName;
  if (lower == "by_order") return OnnxBindingRule::kByOrder;
  return absl::InvalidArgumentError(
      absl::StrCat("unknown ONNX binding rule '", name, "' (expected by_name or by_order)"));
}

const char* OnnxBindingRuleName(OnnxBindingRule rule) {
  return rule == OnnxBindingRule::kByName ? "by_name" : "by_order";
}

std::string OnnxBindingReport::Summary() const {
  std::string s = absl::StrFormat("%s: %d tensors (%d values)", OnnxBindingRuleName(rule),
                                  tensors.size(), bound_values);
  if (rule == OnnxBindingRule::kByOrder) absl::StrAppend(&s, " from ", weight_nodes, " nodes");
  absl::StrAppend(&s, ", ", dequantized_tensors, " dequantized, ", transposed_tensors,
                  " transposed, ", zero_filled_tensors, " zero-filled, ",
                  unused_initializers.size(), " initializers unused");
  if (!skipped_optional.empty()) {
    absl::StrAppend(&s, ", ", skipped_optional.size(), " optional parameters not in the file");
  }
  return s;
}

absl::StatusOr<OnnxBindingReport> BindOnnxWeights(const onnx::ModelProto& model,
                                                  OnnxBindingRule rule, ParamStore* store,
                                                  const OnnxBindOptions& options) {
  if (store == nullptr) return absl::InvalidArgumentError("BindOnnxWeights: null store");
  if (!model.has_graph()) return absl::InvalidArgumentError("ONNX model has no graph");
  return rule == OnnxBindingRule::kByName ? BindByName(model.graph(), store, options)
                                          : BindByOrder(model.graph(), store, options);
}

absl::StatusOr<OnnxBindingReport> ImportOnnxWeights(const std::string& path, OnnxBindingRule rule,
                                                    ParamStore* store,
                                                    const OnnxBindOptions& options) {
  QB_ASSIGN_OR_RETURN(onnx::ModelProto model, ReadOnnxModel(path));
  auto report = BindOnnxWeights(model, rule, store, options);
  if (!report.ok()) return Annotate(report.status(), path);
  return report;
}

}  // namespace quantbench
