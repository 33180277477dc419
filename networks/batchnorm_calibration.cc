#include "networks/batchnorm_calibration.h"

#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/graph_network.h"

namespace quantbench {
namespace {

// Per-channel mean and population variance of `values` (count x C x H x W), in double and
// in two passes (mean first), so a large mean does not swamp the variance.
void ChannelStatistics(absl::Span<const float> values, int count, const TensorShape& shape,
                       std::vector<float>* mean, std::vector<float>* var) {
  const size_t channels = static_cast<size_t>(shape.c);
  const size_t pixels = static_cast<size_t>(shape.h) * shape.w;
  const double n = static_cast<double>(count) * pixels;
  const float* data = values.data();
  mean->assign(channels, 0.0f);
  var->assign(channels, 0.0f);
  for (size_t c = 0; c < channels; ++c) {
    double sum = 0.0;
    for (int i = 0; i < count; ++i) {
      const float* plane = data + (static_cast<size_t>(i) * channels + c) * pixels;
      for (size_t s = 0; s < pixels; ++s) sum += plane[s];
    }
    const double m = sum / n;
    double squares = 0.0;
    for (int i = 0; i < count; ++i) {
      const float* plane = data + (static_cast<size_t>(i) * channels + c) * pixels;
      for (size_t s = 0; s < pixels; ++s) {
        const double d = plane[s] - m;
        squares += d * d;
      }
    }
    (*mean)[c] = static_cast<float>(m);
    (*var)[c] = static_cast<float>(squares / n);
  }
}

}  // namespace

absl::Status RecalibrateBatchNorm(const Graph& graph, ParamStore* params,
                                  absl::Span<const float> images, int count) {
  if (params == nullptr) return absl::InvalidArgumentError("RecalibrateBatchNorm: params is null");
  if (count < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("RecalibrateBatchNorm: count = ", count, " must be >= 1"));
  }
  const int64_t per_image = graph.input.NumElements();
  if (static_cast<int64_t>(images.size()) != count * per_image) {
    return absl::InvalidArgumentError(absl::StrCat(
        "RecalibrateBatchNorm: images has ", images.size(), " floats, expected count * C*H*W = ",
        count, " * ", per_image, " = ", count * per_image));
  }
  QB_RETURN_IF_ERROR(CheckGraphParams(graph, *params));

  // The BatchNorms reading each value (usually one).
  std::map<int, std::vector<int>> batchnorms_of_value;
  std::vector<int> inputs;
  for (size_t i = 1; i < graph.layers.size(); ++i) {
    if (graph.layers[i].kind != LayerKind::kBatchNorm) continue;
    const int input = graph.layers[i].inputs[0];
    if (batchnorms_of_value[input].empty()) inputs.push_back(input);
    batchnorms_of_value[input].push_back(static_cast<int>(i));
  }
  if (inputs.empty()) return absl::OkStatus();

  GraphNetworkOptions options;
  options.fuse_batchnorm = false;  // the BatchNorms' inputs must be stored to be read
  QB_ASSIGN_OR_RETURN(std::unique_ptr<GraphNetwork> network,
                      GraphNetwork::Create(graph, params, count, options));
  std::vector<float> mean, var;
  const GraphNetwork::ValueTap tap = [&](int value, absl::Span<const float> values) {
    ChannelStatistics(values, count, graph.layers[value].shape, &mean, &var);
    // The BatchNorm runs right after this tap and must use the new statistics.
    for (int bn : batchnorms_of_value[value]) {
      const std::string& name = graph.layers[bn].name;
      params->Find(name + ".running_mean")->values = mean;
      params->Find(name + ".running_var")->values = var;
      QB_RETURN_IF_ERROR(network->SyncBatchNorm(name));
    }
    return absl::OkStatus();
  };
  return network->ForwardWithTaps(images, count, inputs, tap, {});
}

}  // namespace quantbench
