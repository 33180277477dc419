// The CIFAR-10 networks: He et al.'s CIFAR ResNets and the resiliency paper's small CNN.
//
// cifar_resnet20 / 32 / 44 / 56 (He, Zhang, Ren, Sun 2016, "Deep Residual Learning", sec.
// 4.2), as in the widely used PyTorch definition (Yerlan Idelbayev's resnet_cifar10 resnet.py,
// option A), whose state_dict names these are:
//   conv1 3x3/1 16 (no bias) - bn1 - ReLU                                     16 x 32 x 32
//   layer1: n BasicBlocks, 16 channels                                        16 x 32 x 32
//   layer2: n BasicBlocks, 32 channels, the first with stride 2               32 x 16 x 16
//   layer3: n BasicBlocks, 64 channels, the first with stride 2               64 x  8 x  8
//   global average pool - linear 64 -> num_classes                      n = (depth - 2) / 6
// BasicBlock "layerS.B": conv1 3x3/stride - bn1 - ReLU - conv2 3x3/1 - bn2, plus the shortcut,
// then ReLU. The shortcut is the identity, or where the block changes shape (stride 2 and
// twice the channels) option A, which has no weights:
//   F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))
// i.e. a 1x1 max pool with stride 2 (picks every second row and column) and planes/4 zero
// channels on each side. BatchNorm eps 1e-5. Trainable parameters 269,722 / 464,154 /
// 658,586 / 853,018 (checked against torch by architectures_test's counts and
// //tests:cifar_torch_parity_test).
//
// resiliency_cnn: the CIFAR-10 CNN of Sung, Shin & Hwang 2015 ("Resiliency of deep neural
// networks under quantization") with its feature-map multiplier as variant
// "width_multiplier" (default 1). The paper's layer table was not available
// (../shared/papers/resiliency_ternary.md: only the abstract was reachable; the summary
// recommends "3 x (conv5x5 + maxpool) + FC-10, base maps (32, 32, 64) scaled by
// {0.25, 0.5, 1, 2, 4}"), so this is that recommendation made exact:
//   conv1 5x5/1 pad 2, round(32 m) maps, bias - ReLU - max pool 2x2/2     32m x 16 x 16
//   conv2 5x5/1 pad 2, round(32 m) maps, bias - ReLU - max pool 2x2/2     32m x  8 x  8
//   conv3 5x5/1 pad 2, round(64 m) maps, bias - ReLU - max pool 2x2/2     64m x  4 x  4
//   flatten - fc (64m * 16) -> num_classes
// Choices where the summary is silent: 'same' padding (pad 2) so each pool exactly halves
// the map; non-overlapping 2x2 pools (the summary's "maxpool" without a size; 3x3/2 pools as in
// Caffe's cifar10_quick, which also has 32-32-64 maps, would need ceil_mode or padding rules
// the summary does not give); ReLU; conv biases and no BatchNorm (a 2015 network; the paper
// quantizes weights, not normalization statistics); no hidden fully connected layer (the
// summary's "FC-10"). Map counts are rounded to the nearest integer, at least 1.
// Parameters at m = 1: 89,578.
//
// mlp: the feed-forward classifier of the resiliency study (Sung, Shin & Hwang 2015, sec. 2),
// trained on Fashion-MNIST: input -> [dense + ReLU] per hidden width -> dense. Parameters
// fc1.weight [h1, inputs], fc1.bias, ..., fcL = the output layer (layer "fcK", layer_type
// "dense", weights [out, in] row-major): the names and layout of the retired MlpNetwork, so
// weight files cached or exported for it still bind, and InitGraphParams draws the same
// He-normal values it did. Variants: "hidden" = the hidden widths, comma separated (default
// "256,256,256"; "" = no hidden layer), "inputs" = the number of input features (default
// 784). The input is inputs x 1 x 1 (one example = a flat vector), flattened into the first
// Dense.
#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

using Act = GraphBuilder::Act;

// ---- CIFAR ResNets

int CifarBasicBlock(GraphBuilder& b, int x, const std::string& p, int planes, int stride) {
  const int in_c = b.shape(x).c;
  int y = b.ConvBn(x, p + ".conv1", p + ".bn1", planes, 3, stride, 1);
  y = b.ConvBn(y, p + ".conv2", p + ".bn2", planes, 3, 1, 1, 1, Act::kNone);
  int shortcut = x;
  if (stride != 1 || in_c != planes) {
    // Option A: x[:, :, ::2, ::2], then planes/4 zero channels before and after (the
    // reference pads planes // 4 on both sides whatever in_c is; in_c + planes / 2 = planes
    // holds for every block of these nets, and the builder checks the Add's shapes).
    shortcut = b.PadChannels(b.MaxPool(x, 1, 2, 0), planes / 4, planes / 4);
  }
  return b.Relu(b.Add(y, shortcut));
}

absl::StatusOr<Graph> BuildCifarResNet(const ArchitectureOptions& options, int depth) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 32));
  const int blocks = (depth - 2) / 6;
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = b.ConvBn(x, "conv1", "bn1", 16, 3, 1, 1);
  for (int stage = 0; stage < 3; ++stage) {
    const int planes = 16 << stage;
    for (int i = 0; i < blocks; ++i) {
      const int stride = stage > 0 && i == 0 ? 2 : 1;
      x = CifarBasicBlock(b, x, absl::StrCat("layer", stage + 1, ".", i), planes, stride);
    }
  }
  x = b.Dense(b.Flatten(b.GlobalAvgPool(x)), "linear", options.num_classes);
  return b.Finish(x);
}

absl::StatusOr<Graph> BuildCifarResNet20(const ArchitectureOptions& o) { return BuildCifarResNet(o, 20); }
absl::StatusOr<Graph> BuildCifarResNet32(const ArchitectureOptions& o) { return BuildCifarResNet(o, 32); }
absl::StatusOr<Graph> BuildCifarResNet44(const ArchitectureOptions& o) { return BuildCifarResNet(o, 44); }
absl::StatusOr<Graph> BuildCifarResNet56(const ArchitectureOptions& o) { return BuildCifarResNet(o, 56); }

// ---- The resiliency paper's CNN

absl::StatusOr<Graph> BuildResiliencyCnn(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {"width_multiplier"}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 32));
  double multiplier = 1.0;
  auto it = options.variant.find("width_multiplier");
  if (it != options.variant.end()) {
    if (!absl::SimpleAtod(it->second, &multiplier) || !std::isfinite(multiplier) ||
        multiplier <= 0.0 || multiplier > 1024.0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "width_multiplier '", it->second, "': expected a number in (0, 1024], e.g. 0.25 or 2"));
    }
  }
  auto maps = [&](int base) {
    return std::max(1, static_cast<int>(std::lround(base * multiplier)));
  };
  GraphBuilder b;
  int x = b.Input(3, size, size);
  const int bases[3] = {32, 32, 64};
  for (int k = 0; k < 3; ++k) {
    x = b.Conv(x, absl::StrCat("conv", k + 1), maps(bases[k]), 5, 1, 2, 1, /*bias=*/true);
    x = b.MaxPool(b.Relu(x), 2, 2, 0);
  }
  x = b.Dense(b.Flatten(x), "fc", options.num_classes);
  return b.Finish(x);
}

// ---- The feed-forward net as a graph

absl::StatusOr<int> PositiveInt(const std::string& key, const std::string& text) {
  int value = 0;
  if (!absl::SimpleAtoi(text, &value) || value < 1 || value > (1 << 24)) {
    return absl::InvalidArgumentError(
        absl::StrCat(key, " '", text, "': expected an integer in [1, 16777216]"));
  }
  return value;
}

absl::StatusOr<Graph> BuildMlp(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {"hidden", "inputs"}));
  if (options.image_size != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "image_size = ", options.image_size,
        " does not apply to the mlp (its input is a flat vector); set variant inputs"));
  }
  int inputs = 784;
  auto it = options.variant.find("inputs");
  if (it != options.variant.end()) {
    QB_ASSIGN_OR_RETURN(inputs, PositiveInt("inputs", it->second));
  }
  std::vector<int> hidden = {256, 256, 256};
  it = options.variant.find("hidden");
  if (it != options.variant.end()) {
    hidden.clear();
    for (absl::string_view width : absl::StrSplit(it->second, ',', absl::SkipWhitespace())) {
      QB_ASSIGN_OR_RETURN(const int w,
                          PositiveInt("hidden width", std::string(absl::StripAsciiWhitespace(width))));
      hidden.push_back(w);
    }
  }
  GraphBuilder b;
  int x = b.Flatten(b.Input(inputs, 1, 1));
  for (size_t k = 0; k < hidden.size(); ++k) {
    x = b.Relu(b.Dense(x, absl::StrCat("fc", k + 1), hidden[k]));
  }
  x = b.Dense(x, absl::StrCat("fc", hidden.size() + 1), options.num_classes);
  return b.Finish(x);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE("cifar_resnet20",
                                 "CIFAR ResNet-20 (He et al. 2016, option-A shortcuts), 32x32",
                                 BuildCifarResNet20);
QUANTBENCH_REGISTER_ARCHITECTURE("cifar_resnet32",
                                 "CIFAR ResNet-32 (He et al. 2016, option-A shortcuts), 32x32",
                                 BuildCifarResNet32);
QUANTBENCH_REGISTER_ARCHITECTURE("cifar_resnet44",
                                 "CIFAR ResNet-44 (He et al. 2016, option-A shortcuts), 32x32",
                                 BuildCifarResNet44);
QUANTBENCH_REGISTER_ARCHITECTURE("cifar_resnet56",
                                 "CIFAR ResNet-56 (He et al. 2016, option-A shortcuts), 32x32",
                                 BuildCifarResNet56);
QUANTBENCH_REGISTER_ARCHITECTURE(
    "resiliency_cnn",
    "CIFAR-10 CNN of the resiliency paper: 3 x (conv5x5 + ReLU + maxpool 2x2), maps 32/32/64 "
    "x variant width_multiplier, FC to the classes; 32x32",
    BuildResiliencyCnn);
QUANTBENCH_REGISTER_ARCHITECTURE(
    "mlp",
    "feed-forward net (fc1 .. fcL): inputs x 1 x 1 -> [dense + ReLU] per variant "
    "hidden (default 256,256,256) -> dense; variant inputs (default 784)",
    BuildMlp);

}  // namespace quantbench
