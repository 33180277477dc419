// The input Gram matrix of every conv / dense layer, G = mean over input columns x of x xᵀ,
// accumulated in one pass of the network over some images: what learned rounding
// (training/learned_rounding.h) needs to evaluate a layer's output reconstruction error for
// any weights in O(rows · K²), independent of the image count.
//
// A column is one im2col column of a conv (K = in/groups · kh · kw, the order of the weights'
// [in/g, kh, kw] flattening; zero padding included, since the conv multiplies it too) or one
// example's features for a dense layer. Grouped convs have one Gram per group (depthwise:
// one 9 × 9 per channel for 3 × 3). The inputs are what the network computes in its current
// mode: call it with activation quantization off for the fp32 ("symmetric") variant.
// Per chunk the products are summed in float (Eigen rank updates), then added to double
// accumulators, so 10^7 columns lose no precision worth mentioning.
#ifndef QUANTBENCH_TRAINING_LAYER_GRAMS_H_
#define QUANTBENCH_TRAINING_LAYER_GRAMS_H_

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "datasets/labeled_images.h"
#include "networks/graph.h"
#include "networks/network.h"

namespace quantbench {

struct LayerGram {
  std::string layer;
  int64_t cols = 0;    // K
  int64_t groups = 1;
  int64_t columns = 0; // input columns averaged over, per group
  std::vector<float> gram;  // groups × K × K, each symmetric
};

// Grams of the named layers (conv or dense layers of `graph`; empty = all of them), keyed by
// layer name, from images [0, images) of `data` in chunks of `batch`. InvalidArgument naming
// the layer for an unknown name or a layer of another kind; errors of the network pass through.
absl::StatusOr<std::map<std::string, LayerGram>> CollectLayerGrams(Network& network, const Graph& graph,
                                                                   const LabeledImages& data, int64_t images,
                                                                   int batch, const std::set<std::string>& layers);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LAYER_GRAMS_H_
