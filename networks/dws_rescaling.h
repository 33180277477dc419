// Depthwise-separable rescaling (FAT book section 4.3; shared/papers/fat_trained_thresholds.md
// section 2.7): a function-preserving transform of the weights so that per-tensor ("scalar")
// quantization of a depthwise conv behaves like per-filter quantization. Each depthwise filter k
// is multiplied by s_k > 0 (its bias too), and input channel k of the conv that reads it is
// divided by s_k. Through a positively homogeneous activation the network is unchanged:
// ReLU always; ReLU6 only while the scaled pre-activation stays below 6, hence the book's
// channel locking, which needs the per-channel maxima x_k of the depthwise output seen on
// calibration images:
//   1. t_k = max|W_dw[k]|;
//   2. ReLU6 only: channels with x_k >= lock_threshold (5.9) are locked (s_k = 1);
//      T_a = mean of t_k over the locked channels;
//   3. s_k = T_a / t_k (A8: the book only says "appropriate scaling factors"), capped by
//      s_k <= 6 / x_k for ReLU6 (so that the rescaled output stays below 6).
// Choices the book leaves open (stated in the report and the README):
//   * no locked channel (ReLU, no activation, or a ReLU6 whose channels all stay below 5.9):
//     T_a = max_k t_k, the tensor's own threshold: the per-tensor range is unchanged and every
//     smaller filter is scaled up to it (then capped);
//   * a channel never positive on the calibration images (x_k <= 0) is scaled without cap;
//   * t_k = 0 keeps s_k = 1.
// Pattern: a depthwise conv (groups = in = out channels) whose only reader is a ReLU / ReLU6
// whose only reader is a conv with groups = 1, or that conv directly. BatchNorm between them is
// not matched: fold it first (FoldBatchNormIntoConvs), as FAT does.
#ifndef QUANTBENCH_NETWORKS_DWS_RESCALING_H_
#define QUANTBENCH_NETWORKS_DWS_RESCALING_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

enum class DwsActivation { kNone, kRelu, kRelu6 };

struct DepthwiseSeparablePair {
  std::string depthwise;  // layer name of the depthwise conv
  std::string next;       // layer name of the conv that reads it (its "site": what it reads)
  DwsActivation activation = DwsActivation::kNone;
  int channels = 0;
};

// Every pair of the pattern above, in graph order.
std::vector<DepthwiseSeparablePair> FindDepthwiseSeparablePairs(const Graph& graph);

struct DwsRescalingReport {
  struct Pair {
    std::string depthwise;
    int channels = 0;
    int locked = 0;
    int capped = 0;      // s_k reduced to 6/x_k
    double threshold = 0.0;  // T_a
    double tensor_max_before = 0.0, tensor_max_after = 0.0;  // max|W_dw|
    double min_scale = 0.0, max_scale = 0.0;
  };
  std::vector<Pair> pairs;
  float lock_threshold = 5.9f;
};

// `input_channel_max`: per pair's `next` layer, the per-channel maximum of the value it reads
// (the activation's output: min(x_k, 6) for ReLU6, which is all the rule needs: x_k >= 5.9
// locks, below it the value is x_k itself), observed on calibration images. Every pair found
// must have an entry with `channels` values. Rewrites `params` in place.
// InvalidArgument naming the layer for a missing or mis-sized entry or a non-finite maximum.
absl::StatusOr<DwsRescalingReport> RescaleDepthwiseSeparable(
    const Graph& graph, ParamStore* params, const std::map<std::string, std::vector<float>>& input_channel_max,
    float lock_threshold = 5.9f);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_DWS_RESCALING_H_
