// Parity of quantbench's native ImageNet networks (networks/architecture.h, run by
// GraphNetwork on oneDNN) with torchvision and Keras Applications, through ONNX:
//
//  * TorchvisionParity/<arch>: tools/make_reference_models.sh exports a randomly initialised
//    torchvision model (BatchNorm statistics made non-trivial) to
//    $QUANTBENCH_REFERENCE_DIR/<arch>/model.onnx with onnxruntime's logits for a fixed input.
//    The native graph binds the ONNX initializers by_name (every native parameter must be
//    there with the same shape), runs the input, and its probabilities are compared with
//    onnxruntime's. Skipped, naming the missing file and the command, without references.
//  * KerasParity/keras_<arch>: the same for mobilenet_v1, xception and resnet50 style=keras,
//    which torchvision lacks: tools/build_keras_onnx.py writes their Keras Applications
//    definitions node by node as ONNX (random weights, calibrated BatchNorm statistics,
//    initializers named for by_name), checked against its own float64 NumPy forward pass.
//  * MobileNetV2Int8: the ONNX Model Zoo int8 MobileNet-v2 (../shared/data, or
//    $QUANTBENCH_SHARED_DATA) binds by_order into the BatchNorm-folded native mobilenet_v2:
//    52 convolutions + 1 dense layer, every weight and bias dequantized with its shape checked;
//    then top-1 on 50 real validation images must be far above chance.
//
// Criterion (GraphNetwork returns softmax probabilities, not logits). Per example, with z the
// onnxruntime logits and p = softmax(z):
//  1. recovered logits: log(p_ours) equals the logits up to a per-example constant, so the
//     centred log-probabilities of ours are compared with the centred z:
//       max_i |(log p_ours,i - mean log p_ours) - (z_i - mean z)| <= 1e-4 * (max z - min z).
//     This is scale-free (a net with a logit spread of 0.05 is held to 5e-6) and weighs every
//     class the same, so a nearly uniform softmax (random weights) cannot hide an error;
//  2. probabilities: max_i |p_ours,i - p_i| <= 1e-4 * max(1, max z - min z) * max_i p_i.
//     A logit error d moves p_i by about p_i * d, so this is (1) seen on the output the
//     network actually returns; for a logit spread <= 1 it is 1e-4 * max p. (A fixed
//     1e-4 * max p would demand logits exact to 1e-4 absolute: inception_v3's spread is 13.5
//     and onnxruntime and PyTorch themselves differ by 3e-4 there.)
//  3. the top-5 classes in order are identical, except that two neighbours whose reference
//     logits differ by less than the tolerance of (1) may swap.
// fp32 with a different summation order (oneDNN vs onnxruntime's MLAS, BatchNorm folded)
// differs by ~1e-6 relative per layer; 1e-4 of the logit spread leaves two orders of
// magnitude of margin and still catches any wrong weight, layout, padding or pooling rule.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <map>
#include <memory>
#include <numeric>
#include <ostream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "datasets/image_preprocess.h"
#include "datasets/jpeg_codec.h"
#include "datasets/shared_data_for_tests.h"
#include "gtest/gtest.h"
#include "networks/architecture.h"
#include "networks/fold_batchnorm.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/onnx_import.h"
#include "networks/param_store.h"
#include "networks/threads.h"

namespace quantbench {
namespace {

constexpr double kTolerance = 1e-4;
constexpr char kMakeCommand[] =
    "tools/make_reference_models.sh [arch ...], then bazel test //tests:torchvision_parity_test "
    "--test_env=QUANTBENCH_REFERENCE_DIR=$HOME/.cache/quantbench/reference";

bool Exists(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  return f.good();
}

std::vector<float> ReadFloats(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// {"shape": [2, 3, 224, 224], ...} -> {2, 3, 224, 224} (enough of JSON for our own files).
std::vector<int64_t> ReadShape(const std::string& path) {
  std::ifstream f(path);
  std::string text((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<int64_t> shape;
  const size_t key = text.find("\"shape\"");
  if (key == std::string::npos) return shape;
  const size_t open = text.find('[', key), close = text.find(']', key);
  if (open == std::string::npos || close == std::string::npos) return shape;
  for (absl::string_view part : absl::StrSplit(text.substr(open + 1, close - open - 1), ',')) {
    int64_t v = 0;
    const std::string s(part);
    if (std::sscanf(s.c_str(), " %ld", &v) == 1) shape.push_back(v);
  }
  return shape;
}

struct Comparison {
  double logit_error = 0;      // max over examples of the centred-logit error
  double logit_tolerance = 0;  // its bound (smallest over examples)
  double prob_error = 0;       // max |p_ours - p_ref|
  double prob_tolerance = 0;   // smallest 1e-4 * max(1, spread) * max p_ref over examples
  double max_prob = 0;
  double logit_spread = 0;     // smallest max z - min z over examples
  bool top5_identical = true;  // strictly identical order
  bool top5_ok = true;         // identical up to swaps of near-ties
  std::string first_failure;
};

std::vector<int> TopK(const std::vector<double>& v, int k) {
  std::vector<int> idx(v.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::partial_sort(idx.begin(), idx.begin() + k, idx.end(),
                    [&](int a, int b) { return v[a] > v[b]; });
  idx.resize(k);
  return idx;
}

// probs: ours, [batch, classes]; logits: the reference's, same shape.
Comparison Compare(const std::vector<float>& probs, const std::vector<float>& logits, int batch,
                   int classes) {
  Comparison c;
  c.logit_tolerance = 1e30;
  c.prob_tolerance = 1e30;
  c.logit_spread = 1e30;
  for (int n = 0; n < batch; ++n) {
    const float* p = probs.data() + static_cast<size_t>(n) * classes;
    const float* z = logits.data() + static_cast<size_t>(n) * classes;
    const double zmax = *std::max_element(z, z + classes);
    const double zmin = *std::min_element(z, z + classes);
    double zmean = 0, lmean = 0, sum = 0;
    std::vector<double> ref(classes), mine(classes);
    for (int i = 0; i < classes; ++i) {
      zmean += z[i];
      lmean += std::log(std::max(static_cast<double>(p[i]), 1e-45));
      sum += std::exp(z[i] - zmax);
    }
    zmean /= classes;
    lmean /= classes;
    double pmax = 0;
    for (int i = 0; i < classes; ++i) {
      ref[i] = std::exp(z[i] - zmax) / sum;
      pmax = std::max(pmax, ref[i]);
      mine[i] = std::log(std::max(static_cast<double>(p[i]), 1e-45)) - lmean;
    }
    const double ltol = kTolerance * (zmax - zmin);
    const double ptol = kTolerance * std::max(1.0, zmax - zmin) * pmax;
    for (int i = 0; i < classes; ++i) {
      const double le = std::fabs(mine[i] - (z[i] - zmean));
      const double pe = std::fabs(p[i] - ref[i]);
      if ((le > ltol || pe > ptol) && c.first_failure.empty()) {
        c.first_failure = absl::StrCat("example ", n, " class ", i, ": logit ", z[i] - zmean,
                                       " (centred) vs ours ", mine[i], "; p ", ref[i], " vs ours ",
                                       p[i]);
      }
      c.logit_error = std::max(c.logit_error, le);
      c.prob_error = std::max(c.prob_error, pe);
    }
    c.logit_tolerance = std::min(c.logit_tolerance, ltol);
    c.prob_tolerance = std::min(c.prob_tolerance, ptol);
    c.logit_spread = std::min(c.logit_spread, zmax - zmin);
    c.max_prob = std::max(c.max_prob, pmax);

    std::vector<double> zd(z, z + classes);
    const std::vector<int> top_ref = TopK(zd, 5), top_mine = TopK(mine, 5);
    if (top_ref != top_mine) {
      c.top5_identical = false;
      // Allowed only if every differing position is a near-tie in the reference.
      for (int r = 0; r < 5; ++r) {
        if (top_ref[r] == top_mine[r]) continue;
        if (std::fabs(z[top_ref[r]] - z[top_mine[r]]) > ltol) c.top5_ok = false;
      }
    }
  }
  return c;
}

// ---------------------------------------------------------------- parity with onnxruntime

// One reference folder $QUANTBENCH_REFERENCE_DIR/<folder>: binds model.onnx by_name into the
// native `arch` built with `options`, runs input.bin and compares with ort_logits.bin. If
// `second_reference` (e.g. torch_logits.bin) exists, onnxruntime's logits are also checked
// against it, so that the reference itself is known to be right.
void ExpectParityWithOnnxRuntime(const std::string& folder, const std::string& arch,
                                 ArchitectureOptions options, const std::string& second_reference,
                                 const std::string& second_reference_label) {
  const char* ref_env = std::getenv("QUANTBENCH_REFERENCE_DIR");
  if (ref_env == nullptr || *ref_env == '\0') {
    GTEST_SKIP() << "QUANTBENCH_REFERENCE_DIR is not set; create the references with "
                 << kMakeCommand;
  }
  const std::string dir = absl::StrCat(ref_env, "/", folder);
  for (const char* file : {"model.onnx", "input.bin", "input.json", "ort_logits.bin"}) {
    const std::string path = absl::StrCat(dir, "/", file);
    if (!Exists(path)) GTEST_SKIP() << path << " is missing; create it with " << kMakeCommand;
  }

  const Architecture* architecture = ArchitectureRegistry::Global().Find(arch);
  ASSERT_NE(architecture, nullptr) << arch << " is not a registered architecture";
  const std::vector<int64_t> in_shape = ReadShape(dir + "/input.json");
  ASSERT_EQ(in_shape.size(), 4u) << dir << "/input.json";
  options.image_size = static_cast<int>(in_shape[2]);
  auto graph = architecture->build(options);
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto store = InitGraphParams(*graph, /*seed=*/1);
  ASSERT_TRUE(store.ok()) << store.status();

  OnnxBindOptions bind_options;
  for (const ParamSpec& p : graph->params) {
    if (!p.used) bind_options.optional_params.insert(p.name);
  }
  auto report =
      ImportOnnxWeights(dir + "/model.onnx", OnnxBindingRule::kByName, &*store, bind_options);
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("%s: %s\n", folder.c_str(), report->Summary().c_str());
  for (const std::string& name : report->unused_initializers) {
    std::printf("%s:   unused ONNX initializer %s\n", folder.c_str(), name.c_str());
    // by_name ignores extra initializers; one named like a parameter means the native net
    // lacks a tensor the model has (e.g. conv biases) and would silently compute something
    // else.
    for (const char* suffix : {".weight", ".bias", ".running_mean", ".running_var"}) {
      EXPECT_FALSE(absl::EndsWith(name, suffix))
          << folder << ": ONNX parameter " << name << " has no native counterpart";
    }
  }
  ASSERT_TRUE(CheckGraphParams(*graph, *store).ok());

  const int batch = static_cast<int>(in_shape[0]);
  const std::vector<float> input = ReadFloats(dir + "/input.bin");
  ASSERT_EQ(static_cast<int64_t>(input.size()), in_shape[0] * in_shape[1] * in_shape[2] * in_shape[3]);
  ASSERT_EQ(graph->input_shape(), std::vector<int64_t>(in_shape.begin() + 1, in_shape.end()));
  const std::vector<float> logits = ReadFloats(dir + "/ort_logits.bin");
  const int classes = graph->num_classes;
  ASSERT_EQ(static_cast<int64_t>(logits.size()), static_cast<int64_t>(batch) * classes);

  SetNumThreads(2);
  auto net = GraphNetwork::Create(*graph, &*store, batch);
  ASSERT_TRUE(net.ok()) << net.status();
  std::vector<float> probs(static_cast<size_t>(batch) * classes);
  ASSERT_TRUE((*net)->Forward(input, batch, absl::MakeSpan(probs)).ok());

  const Comparison c = Compare(probs, logits, batch, classes);
  std::printf(
      "%s: logit error %.3g (tolerance %.3g, spread %.3g); probability error %.3g (tolerance "
      "%.3g, max p %.4g); top-5 %s\n",
      folder.c_str(), c.logit_error, c.logit_tolerance, c.logit_spread, c.prob_error,
      c.prob_tolerance, c.max_prob,
      c.top5_identical ? "identical" : (c.top5_ok ? "identical up to near-ties" : "DIFFERENT"));
  ::testing::Test::RecordProperty("logit_error", std::to_string(c.logit_error));
  ::testing::Test::RecordProperty("prob_error", std::to_string(c.prob_error));
  EXPECT_LE(c.logit_error, c.logit_tolerance) << folder << ": " << c.first_failure;
  EXPECT_LE(c.prob_error, c.prob_tolerance) << folder << ": " << c.first_failure;
  EXPECT_TRUE(c.top5_ok) << folder << ": top-5 classes differ";

  // The reference itself: onnxruntime vs the model's own framework on the same input.
  if (Exists(dir + "/" + second_reference)) {
    const std::vector<float> other = ReadFloats(dir + "/" + second_reference);
    ASSERT_EQ(other.size(), logits.size()) << dir << "/" << second_reference;
    double diff = 0, spread = 0;
    for (size_t i = 0; i < logits.size(); ++i) {
      diff = std::max(diff, static_cast<double>(std::fabs(logits[i] - other[i])));
    }
    spread = *std::max_element(logits.begin(), logits.end()) -
             *std::min_element(logits.begin(), logits.end());
    std::printf("%s: reference check: onnxruntime vs %s logits max diff %.3g (spread %.3g)\n",
                folder.c_str(), second_reference_label.c_str(), diff, spread);
    EXPECT_LE(diff, kTolerance * spread) << folder << ": the reference files disagree with each other";
  }
}

// torchvision exports (tools/export_torchvision.py): folder = arch, default options.
class TorchvisionParity : public ::testing::TestWithParam<std::string> {};

TEST_P(TorchvisionParity, MatchesOnnxRuntime) {
  ExpectParityWithOnnxRuntime(GetParam(), GetParam(), ArchitectureOptions{}, "torch_logits.bin",
                              "PyTorch");
}

INSTANTIATE_TEST_SUITE_P(Archs, TorchvisionParity,
                         ::testing::Values("resnet18", "resnet50", "mobilenet_v2", "squeezenet1_1",
                                           "squeezenet1_0", "vgg16", "alexnet", "mnasnet1_0",
                                           "inception_v3"),
                         [](const ::testing::TestParamInfo<std::string>& info) { return info.param; });

// Keras Applications models without a torchvision twin, built node by node from Keras'
// definitions by tools/build_keras_onnx.py (written independently of networks/arch_*.cc),
// whose own float64 NumPy forward pass (numpy_logits.bin) cross-checks onnxruntime.
struct KerasCase {
  std::string folder;  // under $QUANTBENCH_REFERENCE_DIR
  std::string arch;    // registered architecture
  std::map<std::string, std::string> variant;
};

void PrintTo(const KerasCase& c, std::ostream* os) { *os << c.folder; }

class KerasParity : public ::testing::TestWithParam<KerasCase> {};

TEST_P(KerasParity, MatchesOnnxRuntime) {
  ArchitectureOptions options;
  options.variant = GetParam().variant;
  ExpectParityWithOnnxRuntime(GetParam().folder, GetParam().arch, options, "numpy_logits.bin",
                              "NumPy (float64)");
}

INSTANTIATE_TEST_SUITE_P(
    Archs, KerasParity,
    ::testing::Values(KerasCase{"keras_mobilenet_v1", "mobilenet_v1", {}},
                      KerasCase{"keras_xception", "xception", {}},
                      KerasCase{"keras_resnet50", "resnet50", {{"style", "keras"}}}),
    [](const ::testing::TestParamInfo<KerasCase>& info) { return info.param.folder; });

// ---------------------------------------------------------------- int8 MobileNet-v2

TEST(MobileNetV2Int8, BindsByOrderIntoTheFoldedNetwork) {
  const std::string path = SharedDataDir() + "/onnx/mobilenetv2-12-int8/model.onnx";
  if (!Exists(path)) {
    GTEST_SKIP() << MissingSharedDataMessage(path);
  }
  auto graph = ArchitectureRegistry::Global().Build("mobilenet_v2", ArchitectureOptions{});
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto store = InitGraphParams(*graph, /*seed=*/1);
  ASSERT_TRUE(store.ok()) << store.status();
  ASSERT_TRUE(FoldBatchNormIntoConvs(&*graph, &*store).ok());

  auto report = ImportOnnxWeights(path, OnnxBindingRule::kByOrder, &*store);
  ASSERT_TRUE(report.ok()) << report.status();
  std::printf("mobilenetv2-12-int8: %s\n", report->Summary().c_str());
  EXPECT_EQ(report->weight_nodes, 53);
  EXPECT_EQ(report->tensors.size(), 106u);  // 52 conv + 1 dense, each weight + bias
  EXPECT_EQ(report->dequantized_tensors, 106);
  EXPECT_EQ(report->transposed_tensors, 1);  // QLinearMatMul [1280, 1000] -> [1000, 1280]
  EXPECT_EQ(report->zero_filled_tensors, 0);
  EXPECT_TRUE(CheckGraphParams(*graph, *store).ok());

  int convs = 0, dense = 0;
  for (const OnnxBoundTensor& t : report->tensors) {
    const Parameter* p = store->Find(t.param);
    ASSERT_NE(p, nullptr) << t.param;
    EXPECT_EQ(p->shape, t.shape) << t.param;
    if (p->kind != Parameter::kWeight) continue;
    if (t.node.rfind("QLinearConv", 0) == 0) ++convs;
    if (t.node.rfind("QLinearMatMul", 0) == 0) {
      ++dense;
      EXPECT_EQ(p->shape, std::vector<int64_t>({1000, 1280})) << t.param;
      EXPECT_EQ(t.initializer, "classifier.1.weight_quantized");
    }
  }
  EXPECT_EQ(convs, 52);
  EXPECT_EQ(dense, 1);
  const OnnxBoundTensor& first = report->tensors.front();
  EXPECT_EQ(first.param, "features.0.0.weight");
  EXPECT_EQ(first.initializer, "475_quantized");
  EXPECT_EQ(first.shape, std::vector<int64_t>({32, 3, 3, 3}));
  EXPECT_EQ(report->tensors.back().initializer, "classifier.1.bias_quantized");

  // The bound weights are the real ImageNet ones: on the first kImages labelled validation
  // images (torch preprocessing) the fp32 net with these weights is right far more often than
  // chance (0.1 %); a transposed or misordered layer would sink it to chance. The int8 model
  // itself scores 78.5 % top-1 on all 1,300 (shared/data/README.md).
  constexpr int kImages = 50;
  const std::string val_dir = SharedDataDir() + "/imagenet_val_1300";
  std::ifstream labels_file(val_dir + "/dataset.txt");
  if (!labels_file.good()) {
    GTEST_SKIP() << val_dir << "/dataset.txt is missing: weights bound, accuracy not checked";
  }
  auto preprocessing = ImagePreprocessingPreset("torch", 224);
  ASSERT_TRUE(preprocessing.ok()) << preprocessing.status();
  std::vector<float> input;
  std::vector<int> labels;
  std::string line;
  while (static_cast<int>(labels.size()) < kImages && std::getline(labels_file, line)) {
    // "./data/ILSVRC2012_val_00000347.JPEG, 472"
    const size_t comma = line.find(',');
    ASSERT_NE(comma, std::string::npos) << line;
    const std::string file = line.substr(line.rfind('/', comma) + 1, comma - line.rfind('/', comma) - 1);
    auto image = DecodeJpegFile(val_dir + "/images/" + file);
    ASSERT_TRUE(image.ok()) << image.status();
    input.resize(input.size() + 3 * 224 * 224);
    ASSERT_TRUE(PreprocessImage(*image, *preprocessing, input.data() + input.size() - 3 * 224 * 224).ok());
    labels.push_back(std::stoi(line.substr(comma + 1)));
  }
  ASSERT_EQ(static_cast<int>(labels.size()), kImages);
  SetNumThreads(2);
  auto net = GraphNetwork::Create(*graph, &*store, 10);
  ASSERT_TRUE(net.ok()) << net.status();
  std::vector<float> probs(static_cast<size_t>(kImages) * 1000);
  ASSERT_TRUE((*net)->Forward(input, kImages, absl::MakeSpan(probs)).ok());
  int correct = 0;
  for (int n = 0; n < kImages; ++n) {
    const float* p = probs.data() + static_cast<size_t>(n) * 1000;
    correct += (std::max_element(p, p + 1000) - p) == labels[n] ? 1 : 0;
  }
  std::printf("mobilenetv2-12-int8 (dequantized, fp32 activations): top-1 %d / %d on %s\n",
              correct, kImages, val_dir.c_str());
  EXPECT_GE(correct, kImages / 2);
}

}  // namespace
}  // namespace quantbench
