// Inception v3 as in torchvision 0.14 (models/inception.py, Inception3 with aux_logits=True,
// transform_input=False - the weights=None default); names are its state_dict keys
// ("Conv2d_1a_3x3.conv.weight", "Mixed_6b.branch7x7dbl_2.bn.running_mean", "fc.bias").
// BasicConv2d = conv (no bias) + BatchNorm(eps 1e-3) + ReLU. 299x299 input.
//
// Eval mode returns only the main logits, so the AuxLogits head is built but does not reach
// the output: its parameters ("AuxLogits.conv0.conv.weight", ..., "AuxLogits.fc.bias") are in
// Graph::params with used = false (counted, created by InitGraphParams, never run; a store
// without them, e.g. from an eval-mode ONNX export, is accepted).
#include <string>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/architecture.h"

namespace quantbench {
namespace {

int Basic(GraphBuilder& b, int x, const std::string& name, int out, int kh, int kw, int stride,
          int ph, int pw) {
  x = b.Conv(x, name + ".conv", out, kh, kw, stride, stride, ph, pw, ph, pw, 1, false);
  x = b.BatchNorm(x, name + ".bn", 1e-3f);
  return b.Relu(x);
}
int Basic(GraphBuilder& b, int x, const std::string& name, int out, int k, int stride = 1,
          int pad = 0) {
  return Basic(b, x, name, out, k, k, stride, pad, pad);
}

// F.avg_pool2d(x, 3, stride=1, padding=1): count_include_pad defaults to True.
int AvgPool3(GraphBuilder& b, int x) { return b.AvgPool(x, 3, 1, 1, true, false); }

int InceptionA(GraphBuilder& b, int x, const std::string& p, int pool_features) {
  const int b1 = Basic(b, x, p + ".branch1x1", 64, 1);
  int b5 = Basic(b, x, p + ".branch5x5_1", 48, 1);
  b5 = Basic(b, b5, p + ".branch5x5_2", 64, 5, 1, 2);
  int b3 = Basic(b, x, p + ".branch3x3dbl_1", 64, 1);
  b3 = Basic(b, b3, p + ".branch3x3dbl_2", 96, 3, 1, 1);
  b3 = Basic(b, b3, p + ".branch3x3dbl_3", 96, 3, 1, 1);
  const int bp = Basic(b, AvgPool3(b, x), p + ".branch_pool", pool_features, 1);
  return b.Concat({b1, b5, b3, bp});
}

int InceptionB(GraphBuilder& b, int x, const std::string& p) {
  const int b3 = Basic(b, x, p + ".branch3x3", 384, 3, 2);
  int bd = Basic(b, x, p + ".branch3x3dbl_1", 64, 1);
  bd = Basic(b, bd, p + ".branch3x3dbl_2", 96, 3, 1, 1);
  bd = Basic(b, bd, p + ".branch3x3dbl_3", 96, 3, 2);
  const int bp = b.MaxPool(x, 3, 2, 0);
  return b.Concat({b3, bd, bp});
}

int InceptionC(GraphBuilder& b, int x, const std::string& p, int c7) {
  const int b1 = Basic(b, x, p + ".branch1x1", 192, 1);
  int b7 = Basic(b, x, p + ".branch7x7_1", c7, 1);
  b7 = Basic(b, b7, p + ".branch7x7_2", c7, 1, 7, 1, 0, 3);
  b7 = Basic(b, b7, p + ".branch7x7_3", 192, 7, 1, 1, 3, 0);
  int bd = Basic(b, x, p + ".branch7x7dbl_1", c7, 1);
  bd = Basic(b, bd, p + ".branch7x7dbl_2", c7, 7, 1, 1, 3, 0);
  bd = Basic(b, bd, p + ".branch7x7dbl_3", c7, 1, 7, 1, 0, 3);
  bd = Basic(b, bd, p + ".branch7x7dbl_4", c7, 7, 1, 1, 3, 0);
  bd = Basic(b, bd, p + ".branch7x7dbl_5", 192, 1, 7, 1, 0, 3);
  const int bp = Basic(b, AvgPool3(b, x), p + ".branch_pool", 192, 1);
  return b.Concat({b1, b7, bd, bp});
}

int InceptionD(GraphBuilder& b, int x, const std::string& p) {
  int b3 = Basic(b, x, p + ".branch3x3_1", 192, 1);
  b3 = Basic(b, b3, p + ".branch3x3_2", 320, 3, 2);
  int b7 = Basic(b, x, p + ".branch7x7x3_1", 192, 1);
  b7 = Basic(b, b7, p + ".branch7x7x3_2", 192, 1, 7, 1, 0, 3);
  b7 = Basic(b, b7, p + ".branch7x7x3_3", 192, 7, 1, 1, 3, 0);
  b7 = Basic(b, b7, p + ".branch7x7x3_4", 192, 3, 2);
  const int bp = b.MaxPool(x, 3, 2, 0);
  return b.Concat({b3, b7, bp});
}

int InceptionE(GraphBuilder& b, int x, const std::string& p) {
  const int b1 = Basic(b, x, p + ".branch1x1", 320, 1);
  int b3 = Basic(b, x, p + ".branch3x3_1", 384, 1);
  const int b3a = Basic(b, b3, p + ".branch3x3_2a", 384, 1, 3, 1, 0, 1);
  const int b3b = Basic(b, b3, p + ".branch3x3_2b", 384, 3, 1, 1, 1, 0);
  b3 = b.Concat({b3a, b3b});
  int bd = Basic(b, x, p + ".branch3x3dbl_1", 448, 1);
  bd = Basic(b, bd, p + ".branch3x3dbl_2", 384, 3, 1, 1);
  const int bda = Basic(b, bd, p + ".branch3x3dbl_3a", 384, 1, 3, 1, 0, 1);
  const int bdb = Basic(b, bd, p + ".branch3x3dbl_3b", 384, 3, 1, 1, 1, 0);
  bd = b.Concat({bda, bdb});
  const int bp = Basic(b, AvgPool3(b, x), p + ".branch_pool", 192, 1);
  return b.Concat({b1, b3, bd, bp});
}

absl::StatusOr<Graph> BuildInceptionV3(const ArchitectureOptions& options) {
  QB_RETURN_IF_ERROR(CheckArchitectureOptions(options, {}));
  QB_ASSIGN_OR_RETURN(const int size, ArchitectureImageSize(options, 299));
  GraphBuilder b;
  int x = b.Input(3, size, size);
  x = Basic(b, x, "Conv2d_1a_3x3", 32, 3, 2);
  x = Basic(b, x, "Conv2d_2a_3x3", 32, 3);
  x = Basic(b, x, "Conv2d_2b_3x3", 64, 3, 1, 1);
  x = b.MaxPool(x, 3, 2, 0);
  x = Basic(b, x, "Conv2d_3b_1x1", 80, 1);
  x = Basic(b, x, "Conv2d_4a_3x3", 192, 3);
  x = b.MaxPool(x, 3, 2, 0);
  x = InceptionA(b, x, "Mixed_5b", 32);
  x = InceptionA(b, x, "Mixed_5c", 64);
  x = InceptionA(b, x, "Mixed_5d", 64);
  x = InceptionB(b, x, "Mixed_6a");
  x = InceptionC(b, x, "Mixed_6b", 128);
  x = InceptionC(b, x, "Mixed_6c", 160);
  x = InceptionC(b, x, "Mixed_6d", 160);
  x = InceptionC(b, x, "Mixed_6e", 192);
  {
    // AuxLogits (training only): dropped from the computation by Finish, parameters kept.
    int a = b.AvgPool(x, 5, 3, 0, true, false);
    a = Basic(b, a, "AuxLogits.conv0", 128, 1);
    a = Basic(b, a, "AuxLogits.conv1", 768, 5);
    a = b.Flatten(b.GlobalAvgPool(a));
    b.Dense(a, "AuxLogits.fc", options.num_classes);
  }
  x = InceptionD(b, x, "Mixed_7a");
  x = InceptionE(b, x, "Mixed_7b");
  x = InceptionE(b, x, "Mixed_7c");
  x = b.Flatten(b.GlobalAvgPool(x));
  x = b.Dense(x, "fc", options.num_classes);
  return b.Finish(x);
}

}  // namespace

QUANTBENCH_REGISTER_ARCHITECTURE(
    "inception_v3",
    "Inception v3 (torchvision 0.14, transform_input=False; AuxLogits parameters listed, not "
    "run), 299x299",
    BuildInceptionV3);

}  // namespace quantbench
