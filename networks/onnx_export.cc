#include "networks/onnx_export.h"

#include <climits>
#include <cstring>
#include <initializer_list>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "kernels/atomic_file.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "ONNX raw_data is little-endian; the exporter copies floats in host order");

constexpr char kClipMinName[] = "quantbench.clip_min";
constexpr char kClipMaxName[] = "quantbench.clip_max";

// Builds one GraphProto. Every value and initializer name goes through Claim, so a parameter
// called like a generated value name is an error instead of a silently ambiguous model.
class OnnxGraphWriter {
 public:
  explicit OnnxGraphWriter(onnx::GraphProto* graph) : graph_(graph) {}

  absl::Status Claim(const std::string& name) {
    if (name.empty()) return absl::InvalidArgumentError("ONNX export: empty value name");
    if (!names_.insert(name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ONNX export: the name '", name,
          "' would be used twice (a parameter named like a generated value or graph input?)"));
    }
    return absl::OkStatus();
  }

  // A float32 initializer holding `values` with `dims`, bit for bit.
  absl::Status AddInitializer(const std::string& name, const std::vector<int64_t>& dims,
                              const std::vector<float>& values) {
    QB_RETURN_IF_ERROR(Claim(name));
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::FLOAT);
    for (int64_t d : dims) t->add_dims(d);
    std::string* raw = t->mutable_raw_data();
    raw->resize(values.size() * sizeof(float));
    if (!values.empty()) std::memcpy(raw->data(), values.data(), raw->size());
    return absl::OkStatus();
  }

  absl::Status AddParameter(const Parameter& p) { return AddInitializer(p.name, p.shape, p.values); }

  // A 1-D int64 initializer (operator arguments such as Pad's pads).
  absl::Status AddInt64Initializer(const std::string& name, const std::vector<int64_t>& values) {
    QB_RETURN_IF_ERROR(Claim(name));
    onnx::TensorProto* t = graph_->add_initializer();
    t->set_name(name);
    t->set_data_type(onnx::TensorProto::INT64);
    t->add_dims(static_cast<int64_t>(values.size()));
    std::string* raw = t->mutable_raw_data();
    raw->resize(values.size() * sizeof(int64_t));
    if (!values.empty()) std::memcpy(raw->data(), values.data(), raw->size());
    return absl::OkStatus();
  }

  // [batch, dims...] float tensor type, batch symbolic.
  static void SetBatchedType(onnx::ValueInfoProto* value, const std::vector<int64_t>& dims) {
    onnx::TypeProto_Tensor* tensor = value->mutable_type()->mutable_tensor_type();
    tensor->set_elem_type(onnx::TensorProto::FLOAT);
    onnx::TensorShapeProto* shape = tensor->mutable_shape();
    shape->add_dim()->set_dim_param("batch");
    for (int64_t d : dims) shape->add_dim()->set_dim_value(d);
  }

  absl::Status AddInput(const std::string& name, const std::vector<int64_t>& dims) {
    QB_RETURN_IF_ERROR(Claim(name));
    onnx::ValueInfoProto* input = graph_->add_input();
    input->set_name(name);
    SetBatchedType(input, dims);
    return absl::OkStatus();
  }

  void AddOutput(const std::string& name, const std::vector<int64_t>& dims) {
    onnx::ValueInfoProto* output = graph_->add_output();
    output->set_name(name);
    SetBatchedType(output, dims);
  }

  // Appends a node computing a new value `output` (claimed here) from `inputs`.
  absl::StatusOr<onnx::NodeProto*> AddNode(const std::string& op_type, const std::string& node_name,
                                           std::vector<std::string> inputs,
                                           const std::string& output) {
    QB_RETURN_IF_ERROR(Claim(output));
    onnx::NodeProto* node = graph_->add_node();
    node->set_op_type(op_type);
    node->set_name(node_name);
    for (std::string& in : inputs) node->add_input(std::move(in));
    node->add_output(output);
    return node;
  }

 private:
  onnx::GraphProto* graph_;
  absl::flat_hash_set<std::string> names_;
};

void SetInts(onnx::NodeProto* node, const std::string& name, std::initializer_list<int64_t> values) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INTS);
  for (int64_t v : values) a->add_ints(v);
}

void SetInt(onnx::NodeProto* node, const std::string& name, int64_t value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::INT);
  a->set_i(value);
}

void SetFloat(onnx::NodeProto* node, const std::string& name, float value) {
  onnx::AttributeProto* a = node->add_attribute();
  a->set_name(name);
  a->set_type(onnx::AttributeProto::FLOAT);
  a->set_f(value);
}

onnx::ModelProto NewModel(const OnnxExportOptions& options, const std::string& network) {
  onnx::ModelProto model;
  model.set_ir_version(kOnnxExportIrVersion);
  onnx::OperatorSetIdProto* opset = model.add_opset_import();
  opset->set_domain("");
  opset->set_version(kOnnxExportOpset);
  model.set_producer_name("quantbench");
  model.set_model_version(1);
  if (!options.doc.empty()) model.set_doc_string(options.doc);
  onnx::StringStringEntryProto* entry = model.add_metadata_props();
  entry->set_key("quantbench.network");
  entry->set_value(network);
  for (const auto& [key, value] : options.metadata) {
    entry = model.add_metadata_props();
    entry->set_key(key);
    entry->set_value(value);
  }
  model.mutable_graph()->set_name(options.graph_name);
  return model;
}

std::string OutputName(const OnnxExportOptions& options) {
  if (!options.output_name.empty()) return options.output_name;
  return options.softmax ? "probabilities" : "logits";
}

// Logits [batch, classes] -> the graph output: Softmax(axis=1) or the logits renamed by an
// Identity (so the output has the requested name whatever produced the logits).
absl::Status FinishOutput(OnnxGraphWriter& writer, const std::string& logits, int64_t classes,
                          const OnnxExportOptions& options) {
  const std::string output = OutputName(options);
  if (options.softmax) {
    QB_ASSIGN_OR_RETURN(onnx::NodeProto * node, writer.AddNode("Softmax", "softmax", {logits}, output));
    SetInt(node, "axis", 1);
  } else {
    QB_RETURN_IF_ERROR(writer.AddNode("Identity", "output", {logits}, output).status());
  }
  writer.AddOutput(output, {classes});
  return absl::OkStatus();
}

// A Gemm computing x @ W^T + b with our [out, in] weight as stored.
absl::StatusOr<onnx::NodeProto*> AddDense(OnnxGraphWriter& writer, const std::string& name,
                                          const std::string& x, const std::string& output) {
  QB_ASSIGN_OR_RETURN(onnx::NodeProto * node,
                      writer.AddNode("Gemm", name, {x, name + ".weight", name + ".bias"}, output));
  SetInt(node, "transB", 1);
  return node;
}

// ONNX's pooling output size (opset 13): floor or plain ceil, without PyTorch's rule that the
// last window must start inside the input or the left padding.
int64_t OnnxPoolOutputSize(int in, int kernel, int stride, int pad_before, int pad_after,
                           bool ceil_mode) {
  const int64_t span = static_cast<int64_t>(in) + pad_before + pad_after - kernel;
  if (span < 0) return 0;
  return (ceil_mode ? (span + stride - 1) / stride : span / stride) + 1;
}

absl::Status AddPool(OnnxGraphWriter& writer, const Layer& layer, const Layer& input,
                     const std::string& x, const std::string& output, int index) {
  const bool max = layer.kind == LayerKind::kMaxPool;
  const std::string label = absl::StrCat(LayerKindName(layer.kind), " #", index);
  const int64_t out_h = OnnxPoolOutputSize(input.shape.h, layer.kernel_h, layer.stride_h, layer.pad_t,
                                           layer.pad_b, layer.ceil_mode);
  const int64_t out_w = OnnxPoolOutputSize(input.shape.w, layer.kernel_w, layer.stride_w, layer.pad_l,
                                           layer.pad_r, layer.ceil_mode);
  if (out_h != layer.shape.h || out_w != layer.shape.w) {
    return absl::UnimplementedError(absl::StrCat(
        "ONNX export: ", label, ": ceil_mode output ", layer.shape.h, "x", layer.shape.w,
        " (PyTorch's rule) differs from ONNX's ", out_h, "x", out_w,
        "; ONNX opset 13 cannot express this pooling"));
  }
  const bool pads = layer.pad_t != 0 || layer.pad_l != 0 || layer.pad_b != 0 || layer.pad_r != 0;
  if (!max && layer.count_include_pad && layer.ceil_mode && pads) {
    return absl::UnimplementedError(absl::StrCat(
        "ONNX export: ", label,
        ": average pooling that counts padding with ceil_mode and non-zero padding divides "
        "differently in PyTorch and ONNX runtimes; not exported"));
  }
  QB_ASSIGN_OR_RETURN(onnx::NodeProto * node,
                      writer.AddNode(max ? "MaxPool" : "AveragePool",
                                     absl::StrCat(max ? "max_pool_" : "avg_pool_", index), {x}, output));
  SetInts(node, "kernel_shape", {layer.kernel_h, layer.kernel_w});
  SetInts(node, "strides", {layer.stride_h, layer.stride_w});
  SetInts(node, "pads", {layer.pad_t, layer.pad_l, layer.pad_b, layer.pad_r});
  if (layer.ceil_mode) SetInt(node, "ceil_mode", 1);
  if (!max && layer.count_include_pad) SetInt(node, "count_include_pad", 1);
  return absl::OkStatus();
}

// Name of the value layer `index` produces ("v12.conv"); the input is the graph input.
std::string ValueName(const Graph& graph, int index, const OnnxExportOptions& options) {
  if (index == 0) return options.input_name;
  const Layer& layer = graph.layers[index];
  return absl::StrCat("v", index, ".", layer.name.empty() ? LayerKindName(layer.kind) : layer.name);
}

}  // namespace

absl::StatusOr<onnx::ModelProto> GraphToOnnx(const Graph& graph, const ParamStore& params,
                                             const OnnxExportOptions& options) {
  if (graph.layers.empty() || graph.layers[0].kind != LayerKind::kInput || graph.output <= 0 ||
      graph.output >= static_cast<int>(graph.layers.size())) {
    return absl::InvalidArgumentError(
        "ONNX export: the graph has no input layer or no valid output (build it with GraphBuilder)");
  }
  QB_RETURN_IF_ERROR(Annotate(CheckGraphParams(graph, params), "ONNX export"));
  onnx::ModelProto model = NewModel(options, "graph");
  OnnxGraphWriter writer(model.mutable_graph());
  QB_RETURN_IF_ERROR(writer.AddInput(options.input_name, graph.input_shape()));
  // Network order; unused parameters only when the store has them (see the header).
  for (const ParamSpec& spec : graph.params) {
    const Parameter* p = params.Find(spec.name);
    if (p != nullptr) QB_RETURN_IF_ERROR(writer.AddParameter(*p));
  }
  bool clip_bounds_added = false;
  for (int i = 1; i < static_cast<int>(graph.layers.size()); ++i) {
    const Layer& layer = graph.layers[i];
    const std::string out = ValueName(graph, i, options);
    std::vector<std::string> in;
    for (int v : layer.inputs) in.push_back(ValueName(graph, v, options));
    const std::string node_name =
        layer.name.empty() ? absl::StrCat(LayerKindName(layer.kind), "_", i) : layer.name;
    switch (layer.kind) {
      case LayerKind::kInput:
        return absl::InvalidArgumentError(absl::StrCat("ONNX export: layer #", i, " is a second input"));
      case LayerKind::kConv: {
        in.push_back(layer.name + ".weight");
        if (layer.bias) in.push_back(layer.name + ".bias");
        QB_ASSIGN_OR_RETURN(onnx::NodeProto * node, writer.AddNode("Conv", node_name, in, out));
        SetInts(node, "kernel_shape", {layer.kernel_h, layer.kernel_w});
        SetInts(node, "strides", {layer.stride_h, layer.stride_w});
        SetInts(node, "pads", {layer.pad_t, layer.pad_l, layer.pad_b, layer.pad_r});
        SetInts(node, "dilations", {layer.dilation, layer.dilation});
        SetInt(node, "group", layer.groups);
        break;
      }
      case LayerKind::kBatchNorm: {
        for (const char* suffix : {".weight", ".bias", ".running_mean", ".running_var"}) {
          in.push_back(layer.name + suffix);
        }
        QB_ASSIGN_OR_RETURN(onnx::NodeProto * node,
                            writer.AddNode("BatchNormalization", node_name, in, out));
        SetFloat(node, "epsilon", layer.eps);
        break;
      }
      case LayerKind::kRelu:
        QB_RETURN_IF_ERROR(writer.AddNode("Relu", node_name, in, out).status());
        break;
      case LayerKind::kRelu6: {
        // Opset 13's Clip takes its bounds as (scalar) inputs, not attributes.
        if (!clip_bounds_added) {
          QB_RETURN_IF_ERROR(writer.AddInitializer(kClipMinName, {}, {0.0f}));
          QB_RETURN_IF_ERROR(writer.AddInitializer(kClipMaxName, {}, {6.0f}));
          clip_bounds_added = true;
        }
        in.push_back(kClipMinName);
        in.push_back(kClipMaxName);
        QB_RETURN_IF_ERROR(writer.AddNode("Clip", node_name, in, out).status());
        break;
      }
      case LayerKind::kAdd:
        QB_RETURN_IF_ERROR(writer.AddNode("Add", node_name, in, out).status());
        break;
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool:
        QB_RETURN_IF_ERROR(AddPool(writer, layer, graph.layers[layer.inputs.at(0)], in.at(0), out, i));
        break;
      case LayerKind::kGlobalAvgPool:
        QB_RETURN_IF_ERROR(writer.AddNode("GlobalAveragePool", node_name, in, out).status());
        break;
      case LayerKind::kConcat: {
        QB_ASSIGN_OR_RETURN(onnx::NodeProto * node, writer.AddNode("Concat", node_name, in, out));
        SetInt(node, "axis", 1);
        break;
      }
      case LayerKind::kFlatten: {
        QB_ASSIGN_OR_RETURN(onnx::NodeProto * node, writer.AddNode("Flatten", node_name, in, out));
        SetInt(node, "axis", 1);
        break;
      }
      case LayerKind::kDense:
        QB_RETURN_IF_ERROR(AddDense(writer, layer.name, in.at(0), out).status());
        break;
      case LayerKind::kPadChannels: {
        // Opset 13's Pad takes the pads as an int64 input: [begin of N, C, H, W, end of N, C,
        // H, W]; mode "constant" with the default value 0.
        const std::string pads = absl::StrCat("quantbench.pads_", i);
        QB_RETURN_IF_ERROR(writer.AddInt64Initializer(
            pads, {0, layer.pad_channels_before, 0, 0, 0, layer.pad_channels_after, 0, 0}));
        in.push_back(pads);
        QB_RETURN_IF_ERROR(writer.AddNode("Pad", node_name, in, out).status());
        break;
      }
    }
  }
  std::string logits = ValueName(graph, graph.output, options);
  if (!graph.layers[graph.output].shape.flat) {
    // Softmax(axis=1) over [batch, C, 1, 1] would also work, but the output must be
    // [batch, num_classes] like Network::Forward's.
    const std::string flat = absl::StrCat(logits, ".flat");
    QB_ASSIGN_OR_RETURN(onnx::NodeProto * node, writer.AddNode("Flatten", "flatten_logits", {logits}, flat));
    SetInt(node, "axis", 1);
    logits = flat;
  }
  QB_RETURN_IF_ERROR(FinishOutput(writer, logits, graph.num_classes, options));
  return model;
}

absl::Status WriteOnnxModel(const onnx::ModelProto& model, const std::string& path) {
  const size_t bytes = model.ByteSizeLong();
  if (bytes > static_cast<size_t>(INT_MAX)) {
    return absl::ResourceExhaustedError(absl::StrCat(
        path, ": the ONNX model is ", bytes,
        " bytes, over protobuf's 2 GiB limit (external data is not supported)"));
  }
  std::string serialized;
  if (!model.SerializeToString(&serialized)) {
    return absl::InternalError(absl::StrCat(path, ": could not serialize the ONNX model"));
  }
  return WriteFileAtomically(path, serialized);
}

}  // namespace quantbench
