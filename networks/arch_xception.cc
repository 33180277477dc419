// Xception: no torchvision definition; follows Keras Applications' Xception (299x299) layer
// by layer, with Keras' layer names as parameter prefixes. Keras' SeparableConv2D "blockK_
// sepconvN" is two convs here: "blockK_sepconvN_depthwise" (3x3, groups = channels) and
// "blockK_sepconvN_pointwise" (1x1); its BatchNorm is "blockK_sepconvN_bn". The residual 1x1
// stride-2 convs (Keras' auto-named conv2d, conv2d_1, ...) are "blockK_residual" with
// BatchNorm "blockK_residual_bn" (K = 2, 3, 4, 13). No conv has a bias; the classifier is the
// dense layer "predictions". BatchNorm eps is Keras' 1e-3. 'same' padding follows TensorFlow
// (extra padding at the bottom/right; max pooling ignores the padding). Weights use this
// project's layout [out, in/groups, kh, kw]. Trainable parameters: 22,855,952 (Keras'
// summary: 22,910,480 total incl. 54,528 moving statistics).
#include <algorithm>
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

constexpr float kEps = 1e-3f;

void SamePad(int in, int k, int s, int* before, int* after) {
  const int out = (in + s - 1) / s;
  const int total = std::max((out - 1) * s + k - in, 0);
  *before = total / 2;
  *after = total - *before;
}

int SepConvBn(GraphBuilder& b, int x, const std::string& name, int out) {
  const int c = b.shape(x).c;
  x = b.Conv(x, name + "_depthwise", c, 3, 1, 1, c, false);
  x = b.Conv(x, name + "_pointwise", out, 1, 1, 0, 1, false);
  return b.BatchNorm(x, name + "_bn", kEps);
}

int MaxPoolSame(GraphBuilder& b, int x) {
  const TensorShape s = b.shape(x);
  int pt, pb, pl, pr;
  SamePad(s.h, 3, 2, &pt, &pb);
  SamePad(s.w, 3, 2, &pl, &pr);
  return b.MaxPool(x, 3, 3, 2, 2, pt, pl, pb, pr, false);
}

// Blocks 2, 3, 4 and 13: [relu] sepconv, relu, sepconv, max pool, + 1x1 stride-2 residual.
int DownBlock(GraphBuilder& b, int x, int block, int c1, int c2, bool first_relu) {
  const std::string p = absl::StrCat("block", block);
  int residual = b.Conv(x, p + "_residual", c2, 1, 2, 0, 1, false);
  residual = b.BatchNorm(residual, p + "_residual_bn", kEps);
  if (first_relu) x = b.Relu(x);
  x = SepConvBn(b, x, p + "_sepconv1", c1);
  x = b.Relu(x);
  x = SepConvBn(b, x, p + "_sepconv2", c2);
  x = MaxPoolSame(b, x);
  return b.Add(x, residual);
}

absl::StatusOr<Graph> BuildXception(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 299));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = b.ConvBn(x, "block1_conv1", "block1_conv1_bn", 32, 3, 2, 0, 1, GraphBuilder::Act::kRelu,
               kEps);
  x = b.ConvBn(x, "block1_conv2", "block1_conv2_bn", 64, 3, 1, 0, 1, GraphBuilder::Act::kRelu,
               kEps);
  x = DownBlock(b, x, 2, 128, 128, false);
  x = DownBlock(b, x, 3, 256, 256, true);
  x = DownBlock(b, x, 4, 728, 728, true);
  for (int block = 5; block <= 12; ++block) {
    const std::string p = absl::StrCat("block", block);
    int y = x;
    for (int k = 1; k <= 3; ++k) y = SepConvBn(b, b.Relu(y), absl::StrCat(p, "_sepconv", k), 728);
    x = b.Add(y, x);
  }
  x = DownBlock(b, x, 13, 728, 1024, true);
  x = b.Relu(SepConvBn(b, x, "block14_sepconv1", 1536));
  x = b.Relu(SepConvBn(b, x, "block14_sepconv2", 2048));
  x = b.Flatten(b.GlobalAvgPool(x));
  x = b.Dense(x, "predictions", options.num_classes);
  return b.Finish(x);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE(
    "xception", "Xception (Keras Applications structure, Keras layer names), 299x299",
    BuildXception);

}  // namespace quantbench
