// ResNet-18 and ResNet-50 as in torchvision 0.14 (models/resnet.py): parameter names are its
// state_dict keys ("conv1.weight", "layer1.0.bn1.running_mean", "layer2.0.downsample.0.weight").
//
// resnet50 variant {"style": "keras"}: Keras Applications' ResNet50 (keras/applications/
// resnet.py, "ResNet v1" of the original paper), which differs from torchvision ("v1.5") in
// three ways: the stride 2 of a downsampling bottleneck sits on its first 1x1 conv instead of
// on the 3x3 conv; every conv has a bias (Keras' Conv2D default, use_bias=True), which a
// Keras checkpoint fills and which the BatchNorm after it does not cancel in inference; and
// BatchNorm eps is 1.001e-5. The names stay torchvision's (conv1 = Keras conv1_conv, bn1 =
// conv1_bn, layerS.B.convK = conv{S+1}_block{B+1}_K_conv, layerS.B.downsample.0/1 =
// ..._0_conv/_0_bn, fc = predictions), plus "<conv>.bias" for every conv. Keras' ZeroPadding2D
// + 'valid' layers (conv1_pad 3, pool1_pad 1) equal the symmetric paddings used here; the
// max pool's zero padding equals ignoring it because its input is post-ReLU. Trainable
// parameters: 25,583,592 (Keras' summary: 25,636,712 total incl. 53,120 moving statistics).
// Verified against tools/build_keras_onnx.py through onnxruntime (tests/torchvision_parity_test).
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

// The two ResNet flavours of this file.
struct ResNetStyle {
  bool keras = false;
  // Keras: stride on the first 1x1 of a bottleneck; torchvision: on the 3x3.
  bool stride_on_1x1() const { return keras; }
  bool conv_bias() const { return keras; }
  float bn_eps() const { return keras ? 1.001e-5f : 1e-5f; }
};

// Conv (bias per style) -> BatchNorm (eps per style) [-> ReLU]; square kernel, symmetric pad.
int ConvBnAct(GraphBuilder& b, int x, const std::string& conv, const std::string& bn, int out,
              int kernel, int stride, int pad, bool relu, const ResNetStyle& style) {
  x = b.Conv(x, conv, out, kernel, stride, pad, /*groups=*/1, style.conv_bias());
  x = b.BatchNorm(x, bn, style.bn_eps());
  return relu ? b.Relu(x) : x;
}

int Bottleneck(GraphBuilder& b, int x, const std::string& p, int planes, int stride,
               const ResNetStyle& style) {
  const int in_c = b.shape(x).c;
  const int out_c = planes * 4;
  const int stride1 = style.stride_on_1x1() ? stride : 1;
  const int stride2 = style.stride_on_1x1() ? 1 : stride;
  int y = ConvBnAct(b, x, p + ".conv1", p + ".bn1", planes, 1, stride1, 0, true, style);
  y = ConvBnAct(b, y, p + ".conv2", p + ".bn2", planes, 3, stride2, 1, true, style);
  y = ConvBnAct(b, y, p + ".conv3", p + ".bn3", out_c, 1, 1, 0, false, style);
  int identity = x;
  if (stride != 1 || in_c != out_c) {
    identity = ConvBnAct(b, x, p + ".downsample.0", p + ".downsample.1", out_c, 1, stride, 0,
                         false, style);
  }
  return b.Relu(b.Add(y, identity));
}

absl::StatusOr<Graph> BuildResNet(const ArchitectureOptions& options, bool bottleneck,
                                  const int (&blocks)[4]) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, bottleneck ? std::set<std::string>{"style"}
                                                                  : std::set<std::string>{}));
  ResNetStyle resnet_style;
  auto style = options.variant.find("style");
  if (style != options.variant.end()) {
    if (style->second != "keras" && style->second != "torchvision") {
      return absl::InvalidArgumentError(absl::StrCat("style '", style->second,
                                                     "': expected 'torchvision' or 'keras'"));
    }
    resnet_style.keras = style->second == "keras";
  }
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = ConvBnAct(b, x, "conv1", "bn1", 64, 7, 2, 3, true, resnet_style);
  x = b.MaxPool(x, 3, 2, 1);
  for (int stage = 0; stage < 4; ++stage) {
    const int planes = 64 << stage;
    for (int i = 0; i < blocks[stage]; ++i) {
      const std::string p = absl::StrCat("layer", stage + 1, ".", i);
      const int stride = stage > 0 && i == 0 ? 2 : 1;
      x = bottleneck ? Bottleneck(b, x, p, planes, stride, resnet_style)
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
    "ResNet-50 (torchvision 0.14, stride on the 3x3), 224x224; variant style=keras is Keras "
    "Applications' ResNet50 (stride on the first 1x1, conv biases, BatchNorm eps 1.001e-5)",
    BuildResNet50);

}  // namespace quantbench
