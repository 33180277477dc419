// ResNet-18 and ResNet-50 as in torchvision 0.14 (models/resnet.py): parameter names are its
// state_dict keys ("conv1.weight", "layer1.0.bn1.running_mean", "layer2.0.downsample.0.weight").
//
// resnet50 variant {"style": "keras"}: the stride 2 of a downsampling bottleneck sits on its
// first 1x1 conv (Keras Applications / the original paper, "ResNet v1") instead of on the 3x3
// conv (torchvision, "v1.5"). Same parameters and names; only the computation moves. (Keras'
// ResNet50 also gives its convs biases and uses BatchNorm eps 1.001e-5: not modelled.)
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

using Act = GraphBuilder::Act;

int BasicBlock(GraphBuilder& b, int x, const std::string& p, int planes, int stride) {
  const int in_c = b.shape(x).c;
  int y = b.ConvBn(x, p + ".conv1", p + ".bn1", planes, 3, stride, 1);
  y = b.ConvBn(y, p + ".conv2", p + ".bn2", planes, 3, 1, 1, 1, Act::kNone);
  int identity = x;
  if (stride != 1 || in_c != planes) {
    identity = b.ConvBn(x, p + ".downsample.0", p + ".downsample.1", planes, 1, stride, 0, 1,
                        Act::kNone);
  }
  return b.Relu(b.Add(y, identity));
}

int Bottleneck(GraphBuilder& b, int x, const std::string& p, int planes, int stride,
               bool stride_on_1x1) {
  const int in_c = b.shape(x).c;
  const int out_c = planes * 4;
  int y = b.ConvBn(x, p + ".conv1", p + ".bn1", planes, 1, stride_on_1x1 ? stride : 1, 0);
  y = b.ConvBn(y, p + ".conv2", p + ".bn2", planes, 3, stride_on_1x1 ? 1 : stride, 1);
  y = b.ConvBn(y, p + ".conv3", p + ".bn3", out_c, 1, 1, 0, 1, Act::kNone);
  int identity = x;
  if (stride != 1 || in_c != out_c) {
    identity = b.ConvBn(x, p + ".downsample.0", p + ".downsample.1", out_c, 1, stride, 0, 1,
                        Act::kNone);
  }
  return b.Relu(b.Add(y, identity));
}

absl::StatusOr<Graph> BuildResNet(const ArchitectureOptions& options, bool bottleneck,
                                  const int (&blocks)[4]) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, bottleneck ? std::set<std::string>{"style"}
                                                                  : std::set<std::string>{}));
  bool keras = false;
  auto style = options.variant.find("style");
  if (style != options.variant.end()) {
    if (style->second != "keras" && style->second != "torchvision") {
      return absl::InvalidArgumentError(absl::StrCat("style '", style->second,
                                                     "': expected 'torchvision' or 'keras'"));
    }
    keras = style->second == "keras";
  }
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = b.ConvBn(x, "conv1", "bn1", 64, 7, 2, 3);
  x = b.MaxPool(x, 3, 2, 1);
  for (int stage = 0; stage < 4; ++stage) {
    const int planes = 64 << stage;
    for (int i = 0; i < blocks[stage]; ++i) {
      const std::string p = absl::StrCat("layer", stage + 1, ".", i);
      const int stride = stage > 0 && i == 0 ? 2 : 1;
      x = bottleneck ? Bottleneck(b, x, p, planes, stride, keras)
                     : BasicBlock(b, x, p, planes, stride);
    }
  }
  x = b.Flatten(b.GlobalAvgPool(x));
  x = b.Dense(x, "fc", options.num_classes);
  return b.Finish(x);
}

absl::StatusOr<Graph> BuildResNet18(const ArchitectureOptions& options) {
  static constexpr int kBlocks[4] = {2, 2, 2, 2};
  return BuildResNet(options, false, kBlocks);
}

absl::StatusOr<Graph> BuildResNet50(const ArchitectureOptions& options) {
  static constexpr int kBlocks[4] = {3, 4, 6, 3};
  return BuildResNet(options, true, kBlocks);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE("resnet18", "ResNet-18 (torchvision 0.14), 224x224",
                                 BuildResNet18);
QUANTBENCH_REGISTER_ARCHITECTURE(
    "resnet50",
    "ResNet-50 (torchvision 0.14, stride on the 3x3), 224x224; variant style=keras puts the "
    "stride on the first 1x1",
    BuildResNet50);

}  // namespace quantbench
