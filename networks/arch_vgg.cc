// VGG-16 (configuration D, no batch norm) and AlexNet as in torchvision 0.14 (models/vgg.py,
// models/alexnet.py); names are their state_dict keys ("features.28.weight",
// "classifier.6.bias"). Dropout is the identity at inference. The AdaptiveAvgPool2d before the
// classifier (7x7 for VGG, 6x6 for AlexNet) is the identity at 224x224; at other sizes it is
// an average pool when the feature map is a multiple of the target, else an error.
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

absl::StatusOr<int> AdaptiveAvgPool(GraphBuilder& b, int x, int target) {
  const TensorShape s = b.shape(x);
  if (s.h == target && s.w == target) return x;
  if (s.h % target != 0 || s.w % target != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "feature map ", s.h, "x", s.w, " is not a multiple of the ", target, "x", target,
        " adaptive pool: choose another image_size"));
  }
  return b.AvgPool(x, s.h / target, s.w / target, s.h / target, s.w / target, 0, 0, 0, 0, false,
                   false);
}

absl::StatusOr<Graph> BuildVgg16(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  static constexpr int kCfg[] = {64,  64,  0,   128, 128, 0,   256, 256, 256,
                                 0,   512, 512, 512, 0,   512, 512, 512, 0};  // 0 = max pool
  GraphBuilder b;
  int x = b.Input(3, size, size);
  int index = 0;
  for (int v : kCfg) {
    if (v == 0) {
      x = b.MaxPool(x, 2, 2, 0);
      index += 1;
    } else {
      x = b.Relu(b.Conv(x, absl::StrCat("features.", index), v, 3, 1, 1, 1, true));
      index += 2;
    }
  }
  if (!b.ok()) return b.status();
  QB_ASSIGN_OR_RETURN(x, AdaptiveAvgPool(b, x, 7));
  x = b.Flatten(x);
  x = b.Relu(b.Dense(x, "classifier.0", 4096));
  x = b.Relu(b.Dense(x, "classifier.3", 4096));
  x = b.Dense(x, "classifier.6", options.num_classes);
  return b.Finish(x);
}

absl::StatusOr<Graph> BuildAlexNet(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = b.Relu(b.Conv(x, "features.0", 64, 11, 4, 2, 1, true));
  x = b.MaxPool(x, 3, 2, 0);
  x = b.Relu(b.Conv(x, "features.3", 192, 5, 1, 2, 1, true));
  x = b.MaxPool(x, 3, 2, 0);
  x = b.Relu(b.Conv(x, "features.6", 384, 3, 1, 1, 1, true));
  x = b.Relu(b.Conv(x, "features.8", 256, 3, 1, 1, 1, true));
  x = b.Relu(b.Conv(x, "features.10", 256, 3, 1, 1, 1, true));
  x = b.MaxPool(x, 3, 2, 0);
  if (!b.ok()) return b.status();
  QB_ASSIGN_OR_RETURN(x, AdaptiveAvgPool(b, x, 6));
  x = b.Flatten(x);
  x = b.Relu(b.Dense(x, "classifier.1", 4096));
  x = b.Relu(b.Dense(x, "classifier.4", 4096));
  x = b.Dense(x, "classifier.6", options.num_classes);
  return b.Finish(x);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE("vgg16", "VGG-16 (torchvision 0.14, no batch norm), 224x224",
                                 BuildVgg16);
QUANTBENCH_REGISTER_ARCHITECTURE("alexnet", "AlexNet (torchvision 0.14), 224x224", BuildAlexNet);

}  // namespace quantbench
