// mobilenet_v2: torchvision 0.14 (models/mobilenetv2.py), width 1.0; names are its state_dict
// keys ("features.0.0.weight", "features.2.conv.1.1.running_var", "classifier.1.weight").
//
// mobilenet_v1: no torchvision definition; follows Keras Applications' MobileNet (alpha 1.0,
// depth_multiplier 1, 224x224), with Keras' layer names as parameter prefixes:
//   conv1 (3x3 stride 2, 'same' = pad bottom/right only) + conv1_bn + ReLU6,
//   13 x [conv_dw_K (depthwise 3x3; stride-2 blocks: ZeroPadding2D((0,1),(0,1)) + 'valid') +
//         conv_dw_K_bn +
//         ReLU6 + conv_pw_K (1x1) + conv_pw_K_bn + ReLU6],
//   global average pool, conv_preds (1x1 conv with bias = the classifier).
// BatchNorm eps is Keras' 1e-3. Weights use this project's layout [out, in/groups, kh, kw]
// (a Keras kernel [kh, kw, in, out] must be transposed). Trainable parameters: 4,231,976
// (Keras' summary: 4,253,864 total incl. 21,888 moving statistics).
// Variant {"alpha": "0.25" | "0.5" | "0.75" | "1.0"} scales the widths like Keras.
#include <cmath>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

using Act = GraphBuilder::Act;

int MakeDivisible(double v, int divisor) {
  int new_v = std::max(divisor, static_cast<int>(v + divisor / 2.0) / divisor * divisor);
  if (new_v < 0.9 * v) new_v += divisor;
  return new_v;
}

absl::StatusOr<Graph> BuildMobileNetV2(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  int in_c = 32;
  x = b.ConvBn(x, "features.0.0", "features.0.1", in_c, 3, 2, 1, 1, Act::kRelu6);
  static constexpr int kSettings[7][4] = {{1, 16, 1, 1}, {6, 24, 2, 2}, {6, 32, 3, 2},
                                          {6, 64, 4, 2}, {6, 96, 3, 1}, {6, 160, 3, 2},
                                          {6, 320, 1, 1}};
  int index = 1;
  for (const auto& s : kSettings) {
    const int t = s[0], c = MakeDivisible(s[1], 8), n = s[2];
    for (int i = 0; i < n; ++i, ++index) {
      const int stride = i == 0 ? s[3] : 1;
      const std::string p = absl::StrCat("features.", index, ".conv.");
      const int hidden = in_c * t;
      int y = x;
      int k = 0;
      if (t != 1) {
        y = b.ConvBn(y, absl::StrCat(p, k, ".0"), absl::StrCat(p, k, ".1"), hidden, 1, 1, 0, 1,
                     Act::kRelu6);
        ++k;
      }
      y = b.ConvBn(y, absl::StrCat(p, k, ".0"), absl::StrCat(p, k, ".1"), hidden, 3, stride, 1,
                   hidden, Act::kRelu6);
      ++k;
      y = b.Conv(y, absl::StrCat(p, k), c, 1, 1, 0);
      y = b.BatchNorm(y, absl::StrCat(p, k + 1));
      x = stride == 1 && in_c == c ? b.Add(x, y) : y;
      in_c = c;
    }
  }
  x = b.ConvBn(x, absl::StrCat("features.", index, ".0"), absl::StrCat("features.", index, ".1"),
               1280, 1, 1, 0, 1, Act::kRelu6);
  x = b.Flatten(b.GlobalAvgPool(x));
  x = b.Dense(x, "classifier.1", options.num_classes);
  return b.Finish(x);
}

// Keras 'same' padding: total = max((ceil(in / s) - 1) * s + k - in, 0), before = total / 2.
void SamePad(int in, int k, int s, int* before, int* after) {
  const int out = (in + s - 1) / s;
  const int total = std::max((out - 1) * s + k - in, 0);
  *before = total / 2;
  *after = total - *before;
}

absl::StatusOr<Graph> BuildMobileNetV1(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {"alpha"}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  double alpha = 1.0;
  if (auto it = options.variant.find("alpha"); it != options.variant.end()) {
    if (!absl::SimpleAtod(it->second, &alpha) || !(alpha > 0.0) || alpha > 4.0) {
      return absl::InvalidArgumentError(absl::StrCat("alpha '", it->second, "' is not in (0, 4]"));
    }
  }
  constexpr float kEps = 1e-3f;
  GraphBuilder b;
  int x = b.Input(3, size, size);
  // keras_valid_pad: Keras' ZeroPadding2D(((0, 1), (0, 1))) + 'valid' (the stride-2
  // depthwise convs); otherwise padding='same'. They agree on even sizes.
  auto conv = [&](int x, const std::string& name, int out, int k, int stride, int groups) {
    const TensorShape s = b.shape(x);
    int pt, pb, pl, pr;
    SamePad(s.h, k, stride, &pt, &pb);
    SamePad(s.w, k, stride, &pl, &pr);
    if (groups > 1 && stride == 2) pt = pl = 0, pb = pr = 1;
    x = b.Conv(x, name, out, k, k, stride, stride, pt, pl, pb, pr, groups, false);
    x = b.BatchNorm(x, name + "_bn", kEps);
    return b.Relu6(x);
  };
  x = conv(x, "conv1", static_cast<int>(32 * alpha), 3, 2, 1);
  static constexpr int kBlocks[13][2] = {{64, 1},  {128, 2}, {128, 1}, {256, 2}, {256, 1},
                                         {512, 2}, {512, 1}, {512, 1}, {512, 1}, {512, 1},
                                         {512, 1}, {1024, 2}, {1024, 1}};
  for (int i = 0; i < 13; ++i) {
    const int c = b.shape(x).c;
    x = conv(x, absl::StrCat("conv_dw_", i + 1), c, 3, kBlocks[i][1], c);
    x = conv(x, absl::StrCat("conv_pw_", i + 1), static_cast<int>(kBlocks[i][0] * alpha), 1, 1,
             1);
  }
  x = b.GlobalAvgPool(x);
  x = b.Conv(x, "conv_preds", options.num_classes, 1, 1, 0, 1, true);
  x = b.Flatten(x);
  return b.Finish(x);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE("mobilenet_v2", "MobileNetV2 1.0 (torchvision 0.14), 224x224",
                                 BuildMobileNetV2);
QUANTBENCH_REGISTER_ARCHITECTURE(
    "mobilenet_v1",
    "MobileNet v1 (Keras Applications structure, alpha 1.0, Keras layer names), 224x224",
    BuildMobileNetV1);

}  // namespace quantbench
