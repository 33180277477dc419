// MNASNet 1.0 (B1, version 2) as in torchvision 0.14 (models/mnasnet.py); names are its
// state_dict keys ("layers.0.weight", "layers.8.0.layers.3.weight", "classifier.1.bias").
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

using Act = GraphBuilder::Act;

int InvertedResidual(GraphBuilder& b, int x, const std::string& p, int out, int k, int stride,
                     int expansion) {
  const int in = b.shape(x).c;
  const int mid = in * expansion;
  int y = b.ConvBn(x, p + "0", p + "1", mid, 1, 1, 0);
  y = b.ConvBn(y, p + "3", p + "4", mid, k, stride, k / 2, mid);
  y = b.ConvBn(y, p + "6", p + "7", out, 1, 1, 0, 1, Act::kNone);
  return in == out && stride == 1 ? b.Add(y, x) : y;
}

absl::StatusOr<Graph> BuildMnasNet10(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  // _get_depths(1.0)
  static constexpr int kDepths[8] = {32, 16, 24, 40, 80, 96, 192, 320};
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = b.ConvBn(x, "layers.0", "layers.1", kDepths[0], 3, 2, 1);
  x = b.ConvBn(x, "layers.3", "layers.4", kDepths[0], 3, 1, 1, kDepths[0]);
  x = b.ConvBn(x, "layers.6", "layers.7", kDepths[1], 1, 1, 0, 1, Act::kNone);
  // (out, kernel, stride, expansion, repeats) for layers.8 .. layers.13
  static constexpr int kStacks[6][5] = {{24, 3, 2, 3, 3},  {40, 5, 2, 3, 3}, {80, 5, 2, 6, 3},
                                        {96, 3, 1, 6, 2},  {192, 5, 2, 6, 4}, {320, 3, 1, 6, 1}};
  for (int s = 0; s < 6; ++s) {
    for (int r = 0; r < kStacks[s][4]; ++r) {
      x = InvertedResidual(b, x, absl::StrCat("layers.", 8 + s, ".", r, ".layers."), kStacks[s][0],
                           kStacks[s][1], r == 0 ? kStacks[s][2] : 1, kStacks[s][3]);
    }
  }
  x = b.ConvBn(x, "layers.14", "layers.15", 1280, 1, 1, 0);
  x = b.Flatten(b.GlobalAvgPool(x));  // x.mean([2, 3])
  x = b.Dense(x, "classifier.1", options.num_classes);
  return b.Finish(x);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE("mnasnet1_0", "MNASNet 1.0 (torchvision 0.14), 224x224",
                                 BuildMnasNet10);

}  // namespace quantbench
