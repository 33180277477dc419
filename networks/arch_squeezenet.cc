// SqueezeNet 1.0 and 1.1 as in torchvision 0.14 (models/squeezenet.py); names are its
// state_dict keys ("features.3.squeeze.weight", "classifier.1.bias"). Max pools use
// ceil_mode; the classifier is a 1x1 conv + ReLU + global average pool.
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

int Fire(GraphBuilder& b, int x, int index, int squeeze, int e1, int e3) {
  const std::string p = absl::StrCat("features.", index, ".");
  x = b.Relu(b.Conv(x, p + "squeeze", squeeze, 1, 1, 0, 1, true));
  const int a = b.Relu(b.Conv(x, p + "expand1x1", e1, 1, 1, 0, 1, true));
  const int c = b.Relu(b.Conv(x, p + "expand3x3", e3, 3, 1, 1, 1, true));
  return b.Concat({a, c});
}

absl::StatusOr<Graph> BuildSqueezeNet(const ArchitectureOptions& options, bool v1_1) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 224));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  auto pool = [&](int x) { return b.MaxPool(x, 3, 2, 0, /*ceil_mode=*/true); };
  if (!v1_1) {
    x = b.Relu(b.Conv(x, "features.0", 96, 7, 2, 0, 1, true));
    x = pool(x);                     // 2
    x = Fire(b, x, 3, 16, 64, 64);
    x = Fire(b, x, 4, 16, 64, 64);
    x = Fire(b, x, 5, 32, 128, 128);
    x = pool(x);                     // 6
    x = Fire(b, x, 7, 32, 128, 128);
    x = Fire(b, x, 8, 48, 192, 192);
    x = Fire(b, x, 9, 48, 192, 192);
    x = Fire(b, x, 10, 64, 256, 256);
    x = pool(x);                     // 11
    x = Fire(b, x, 12, 64, 256, 256);
  } else {
    x = b.Relu(b.Conv(x, "features.0", 64, 3, 2, 0, 1, true));
    x = pool(x);                     // 2
    x = Fire(b, x, 3, 16, 64, 64);
    x = Fire(b, x, 4, 16, 64, 64);
    x = pool(x);                     // 5
    x = Fire(b, x, 6, 32, 128, 128);
    x = Fire(b, x, 7, 32, 128, 128);
    x = pool(x);                     // 8
    x = Fire(b, x, 9, 48, 192, 192);
    x = Fire(b, x, 10, 48, 192, 192);
    x = Fire(b, x, 11, 64, 256, 256);
    x = Fire(b, x, 12, 64, 256, 256);
  }
  x = b.Relu(b.Conv(x, "classifier.1", options.num_classes, 1, 1, 0, 1, true));
  x = b.Flatten(b.GlobalAvgPool(x));
  return b.Finish(x);
}

absl::StatusOr<Graph> BuildSqueezeNet10(const ArchitectureOptions& o) { return BuildSqueezeNet(o, false); }
absl::StatusOr<Graph> BuildSqueezeNet11(const ArchitectureOptions& o) { return BuildSqueezeNet(o, true); }

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE("squeezenet1_0", "SqueezeNet 1.0 (torchvision 0.14), 224x224",
                                 BuildSqueezeNet10);
QUANTBENCH_REGISTER_ARCHITECTURE("squeezenet1_1", "SqueezeNet 1.1 (torchvision 0.14), 224x224",
                                 BuildSqueezeNet11);

}  // namespace quantbench
