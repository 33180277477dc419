// Writing a ParamStore-backed network as an ONNX model (opset 13), so that the nets trained
// or built here can be run by other runtimes (onnxruntime) and read back by our own importer.
//
// The exported graph computes exactly what the native network computes, with our weights as
// initializers named after our parameters ("fc1.weight", "layer1.0.bn1.running_var", ...):
// ImportOnnxWeights(path, kByName, &store) binds them back without a name map
// (networks/onnx_import.h). Values are written bit for bit (float32 raw_data).
//
//   Graph (networks/graph.h)  input [batch, C, H, W], one node per layer:
//       Conv -> Conv (pads [t, l, b, r], group, dilations), BatchNorm -> BatchNormalization
//       (inference form, epsilon), Relu -> Relu, Relu6 -> Clip(min 0, max 6; two scalar
//       initializers "quantbench.clip_min" / "quantbench.clip_max"), Add -> Add,
//       MaxPool / AvgPool -> MaxPool / AveragePool (ceil_mode, count_include_pad),
//       GlobalAvgPool -> GlobalAveragePool, Concat -> Concat(axis=1), Flatten ->
//       Flatten(axis=1), Dense -> Gemm(transB=1), PadChannels -> Pad (constant 0, pads from an
//       int64 initializer "quantbench.pads_<layer index>"); then Softmax(axis=1) on the logits
//       (after a Flatten if the logits are not flat).
//     Gemm with transB=1 takes our [out, in] dense weights as stored, so a by_order import
//     binds them untransposed too. The mlp architecture exports as input [batch, inputs, 1, 1]
//     -> Flatten -> (Gemm -> Relu) per hidden layer -> Gemm -> Softmax.
//     Parameters of layers that do not reach the output (ParamSpec::used == false, e.g.
//     inception_v3's AuxLogits) are written as unreferenced initializers when the store holds
//     them, so a by_name import restores the whole store.
//
// The batch dimension is symbolic ("batch"). Errors: InvalidArgument when the store does not
// match the network (the message names the parameter, as CheckGraphParams does) or a name
// would be used twice; Unimplemented for a layer ONNX cannot express with the same result (a
// ceil_mode pooling whose PyTorch output size differs from ONNX's formula, average pooling
// counting padding with a ceil_mode extension); ResourceExhausted for a model over protobuf's
// 2 GiB limit (external data is not written).
#ifndef QUANTBENCH_NETWORKS_ONNX_EXPORT_H_
#define QUANTBENCH_NETWORKS_ONNX_EXPORT_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "networks/onnx.pb.h"
#include "networks/param_store.h"

namespace quantbench {

// ONNX operator set and IR version of every exported model (IR 7 is the first that carries
// opset 13; onnxruntime and ONNX >= 1.8 read it).
inline constexpr int kOnnxExportOpset = 13;
inline constexpr int kOnnxExportIrVersion = 7;

struct OnnxExportOptions {
  // Graph input / output names. An empty output name means "probabilities" when `softmax`
  // is set, else "logits".
  std::string input_name = "input";
  std::string output_name;
  // True: the model ends in Softmax and outputs what Network::Forward returns. False: the
  // logits (what torchvision exports).
  bool softmax = true;
  // GraphProto.name and ModelProto.doc_string (e.g. where the weights came from).
  std::string graph_name = "quantbench";
  std::string doc;
  // Extra ModelProto.metadata_props entries (key, value). The exporter always adds
  // "quantbench.network" = "graph".
  std::vector<std::pair<std::string, std::string>> metadata;
};

// A Graph with the weights in `params` (CheckGraphParams must pass). A BatchNorm-folded graph
// (FoldBatchNormIntoConvs) exports as folded Convs with biases.
absl::StatusOr<onnx::ModelProto> GraphToOnnx(const Graph& graph, const ParamStore& params,
                                             const OnnxExportOptions& options = {});

// Serializes `model` and writes it atomically (kernels/atomic_file.h): readers see the old
// file or the complete new one. ResourceExhausted over 2 GiB; write errors name the path.
absl::Status WriteOnnxModel(const onnx::ModelProto& model, const std::string& path);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_ONNX_EXPORT_H_
