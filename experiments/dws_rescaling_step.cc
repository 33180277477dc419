#include "experiments/dws_rescaling_step.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/activation_pass.h"
#include "networks/dws_rescaling.h"

namespace quantbench {

absl::StatusOr<nlohmann::json> ApplyDwsRescaling(const DwsRescaling& spec, LoadedModel* model,
                                                 const LabeledImages& calibration, int batch) {
  if (!model->graph.has_value()) return absl::FailedPreconditionError("dws_rescaling: needs a graph network");
  const Graph& graph = *model->graph;
  const std::vector<DepthwiseSeparablePair> pairs = FindDepthwiseSeparablePairs(graph);
  std::map<std::string, std::vector<float>> maxima;
  std::map<std::string, int> channels;
  std::map<std::string, size_t> planes;  // H x W of the site's input (the depthwise output)
  for (const DepthwiseSeparablePair& p : pairs) {
    maxima[p.next].assign(p.channels, -INFINITY);
    channels[p.next] = p.channels;
    for (const Layer& l : graph.layers) {
      if (l.name == p.depthwise) planes[p.next] = static_cast<size_t>(l.shape.h) * l.shape.w;
    }
  }
  const int64_t images = std::min<int64_t>(
      spec.calibration_images() > 0 ? spec.calibration_images() : kDefaultDwsCalibrationImages, calibration.count);
  if (images < 1) return absl::InvalidArgumentError("dws_rescaling: no calibration images");
  // The tap's values are the site's input for the examples of one chunk, plain N x C x H x W
  // (a chunk may hold fewer examples than a batch: the plane comes from the graph).
  auto observe = [&](const std::string& site, absl::Span<const float> values) {
    auto it = maxima.find(site);
    if (it == maxima.end()) return;
    const int c = channels[site];
    const size_t plane = planes[site];
    std::vector<float>& m = it->second;
    for (size_t i = 0; i < values.size(); ++i) {
      const size_t k = (i / plane) % c;
      m[k] = std::max(m[k], values[i]);
    }
  };
  QB_RETURN_IF_ERROR(ObserveActivationsOverImages(*model->network, calibration, images, batch, observe));
  const float lock = spec.lock_threshold() > 0 ? spec.lock_threshold() : 5.9f;
  QB_ASSIGN_OR_RETURN(DwsRescalingReport report, RescaleDepthwiseSeparable(graph, &model->fp32, maxima, lock));
  *model->working = model->fp32;
  QB_RETURN_IF_ERROR(model->network->SyncParams());
  nlohmann::json out = {{"calibration_images", images},
                        {"lock_threshold", lock},
                        {"pairs", report.pairs.size()},
                        {"rule",
                         "s_k = T_a / max|W_dw[k]|, T_a = mean max|W_dw| of the channels locked at x_k >= lock_threshold "
                         "(or the tensor max when none is), capped by 6 / x_k after ReLU6; depthwise bias scaled by s_k, "
                         "input channel k of the next conv divided by s_k"}};
  int locked = 0, capped = 0, total = 0;
  nlohmann::json layers = nlohmann::json::array();
  for (const DwsRescalingReport::Pair& p : report.pairs) {
    locked += p.locked;
    capped += p.capped;
    total += p.channels;
    layers.push_back({{"layer", p.depthwise},
                      {"channels", p.channels},
                      {"locked", p.locked},
                      {"capped", p.capped},
                      {"T_a", p.threshold},
                      {"max_abs_before", p.tensor_max_before},
                      {"max_abs_after", p.tensor_max_after},
                      {"scale_min", p.min_scale},
                      {"scale_max", p.max_scale}});
  }
  out["channels"] = total;
  out["locked_channels"] = locked;
  out["capped_channels"] = capped;
  out["layers"] = layers;
  return out;
}

}  // namespace quantbench
