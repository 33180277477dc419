// Issue #4, weights verification route 2: the nets trained here go through the ONNX
// export -> import path and must score the same.
//
//  * FashionMnistOnnx: trains the mlp architecture at 784-128-64-10 (3 epochs, seed 1, one
//    thread, training/trainer.h, ~3 s) on Fashion-MNIST, exports it (GraphToOnnx, networks/onnx_export.h),
//    imports it into a fresh store by
//    name and by order, and through a sweep config's network.onnx (experiments/model_loader),
//    and evaluates on all 10,000 test images: every value and every prediction must be
//    identical. Skipped, naming the file, without /usr/share/datasets/fashion-mnist.
//  * GraphOnnxExport: registered architectures with seeded random weights round-trip
//    export -> import by name bit for bit; squeezenet1_1 runs on GraphNetwork from both stores
//    with identical outputs.
//  * OnnxRuntime*: the exported files run in onnxruntime (node tools/ort_reference.js, the
//    tool the torchvision parity test uses). The MLP must reach the same top-1 on the 10,000
//    test images (predictions may differ only where onnxruntime's top two probabilities tie
//    within 1e-6); the graph nets' logits must match ours within 1e-4 of the logit range.
//    Needs node and $QUANTBENCH_REFERENCE_DIR/npm/node_modules/onnxruntime-node
//    (tools/make_reference_models.sh installs it), else skipped with the reason. These run in
//    the separate target //tests:onnx_roundtrip_ort_test (tags external, reference):
//      bazel test //tests:onnx_roundtrip_ort_test --test_env=QUANTBENCH_REFERENCE_DIR=$HOME/.cache/quantbench/reference
#include <stdlib.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datasets/idx_dataset.h"
#include "experiments/config.h"
#include "experiments/model_loader.h"
#include "gtest/gtest.h"
#include "networks/architecture.h"
#include "networks/fold_batchnorm.h"
#include "networks/graph.h"
#include "networks/graph_network.h"
#include "networks/onnx_export.h"
#include "networks/onnx_import.h"
#include "networks/onnx_model.h"
#include "networks/param_store.h"
#include "networks/threads.h"
#include "training/labeled_images_data.h"
#include "training/trainer.h"

namespace quantbench {
namespace {

constexpr char kDataDir[] = "/usr/share/datasets/fashion-mnist";
// Fashion-MNIST training-pixel mean and standard deviation (as configs/fashion_mnist_mlp.pbtxt).
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;
constexpr uint64_t kSeed = 1;

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir != nullptr && *dir != '\0' ? dir : "/tmp";
}

bool Exists(const std::string& path) { return std::ifstream(path, std::ios::binary).good(); }

// The mlp architecture at 784-128-64-10.
absl::StatusOr<Graph> SmallMlp() {
  return ArchitectureRegistry::Global().Build("mlp", {10, 0, {{"hidden", "128,64"}}});
}

// Index of the largest score, the lowest index on ties (the project's tie rule).
int32_t ArgMax(const float* row, int n) {
  return static_cast<int32_t>(std::max_element(row, row + n) - row);
}

std::vector<int32_t> Predictions(const std::vector<float>& scores, int classes) {
  std::vector<int32_t> out(scores.size() / classes);
  for (size_t i = 0; i < out.size(); ++i) out[i] = ArgMax(scores.data() + i * classes, classes);
  return out;
}

double Top1(const std::vector<int32_t>& predictions, const std::vector<int32_t>& labels) {
  int64_t correct = 0;
  for (size_t i = 0; i < labels.size(); ++i) correct += predictions[i] == labels[i];
  return static_cast<double>(correct) / static_cast<double>(labels.size());
}

absl::StatusOr<std::vector<float>> RunNetwork(Network& net, const std::vector<float>& input, int batch) {
  std::vector<float> scores(static_cast<size_t>(batch) * net.num_classes());
  absl::Status status = net.Forward(input, batch, absl::MakeSpan(scores));
  if (!status.ok()) return status;
  return scores;
}

bool SameBits(const ParamStore& a, const ParamStore& b, std::string* first_difference) {
  if (a.size() != b.size()) {
    *first_difference = absl::StrCat(a.size(), " vs ", b.size(), " tensors");
    return false;
  }
  for (size_t i = 0; i < a.size(); ++i) {
    const Parameter& p = a.parameters()[i];
    const Parameter& q = b.parameters()[i];
    if (p.name != q.name || p.shape != q.shape ||
        std::memcmp(p.values.data(), q.values.data(), p.values.size() * sizeof(float)) != 0) {
      *first_difference = p.name;
      return false;
    }
  }
  return true;
}

// Every value of `store` set to zero: a fresh store with the right names and shapes, so a
// successful import cannot be mistaken for values that were already there.
ParamStore Zeroed(ParamStore store) {
  for (Parameter& p : store.parameters()) std::fill(p.values.begin(), p.values.end(), 0.0f);
  return store;
}

// ---------------------------------------------------------------- onnxruntime through node

// The workspace (for tools/ort_reference.js), through the real path of a runfile.
std::string WorkspaceDir() {
  char resolved[4096];
  if (realpath("tests/README.md", resolved) != nullptr) {
    std::string path(resolved);
    const size_t cut = path.rfind("/tests/README.md");
    if (cut != std::string::npos) return path.substr(0, cut);
  }
  return ".";
}

// Empty when onnxruntime can run; otherwise why not (the skip message).
std::string OnnxRuntimeUnavailable() {
  if (std::system("command -v node >/dev/null 2>&1") != 0) return "node is not on PATH (apt-get install nodejs)";
  const char* modules = std::getenv("ORT_NODE_MODULES");
  std::string dir;
  if (modules != nullptr && *modules != '\0') {
    dir = modules;
  } else {
    const char* ref = std::getenv("QUANTBENCH_REFERENCE_DIR");
    if (ref == nullptr || *ref == '\0') {
      return "QUANTBENCH_REFERENCE_DIR is not set (tools/make_reference_models.sh installs onnxruntime-node "
             "into $QUANTBENCH_REFERENCE_DIR/npm; then bazel test //tests:onnx_roundtrip_ort_test "
             "--test_env=QUANTBENCH_REFERENCE_DIR=$HOME/.cache/quantbench/reference)";
    }
    dir = absl::StrCat(ref, "/npm/node_modules");
  }
  const std::string package = dir + "/onnxruntime-node/package.json";
  if (!Exists(package)) return package + " is missing (tools/make_reference_models.sh installs onnxruntime-node)";
  const std::string script = WorkspaceDir() + "/tools/ort_reference.js";
  if (!Exists(script)) return script + " is missing";
  setenv("ORT_NODE_MODULES", dir.c_str(), 1);
  return "";
}

// Runs `model` on `input` ([shape...], float32) in onnxruntime; returns its first output.
absl::StatusOr<std::vector<float>> RunOnnxRuntime(const onnx::ModelProto& model, const std::string& name,
                                                  const std::vector<float>& input,
                                                  const std::vector<int64_t>& shape) {
  const std::string dir = absl::StrCat(TempDir(), "/ort_", name);
  if (std::system(absl::StrCat("mkdir -p '", dir, "'").c_str()) != 0) {
    return absl::InternalError("cannot create " + dir);
  }
  absl::Status written = WriteOnnxModel(model, dir + "/model.onnx");
  if (!written.ok()) return written;
  {
    std::ofstream bin(dir + "/input.bin", std::ios::binary);
    bin.write(reinterpret_cast<const char*>(input.data()), input.size() * sizeof(float));
    std::ofstream json(dir + "/input.json");
    json << "{\"shape\": [";
    for (size_t i = 0; i < shape.size(); ++i) json << (i ? ", " : "") << shape[i];
    json << "]}\n";
    if (!bin.good() || !json.good()) return absl::InternalError("cannot write the inputs in " + dir);
  }
  const std::string command =
      absl::StrCat("node '", WorkspaceDir(), "/tools/ort_reference.js' '", dir, "' 2 2>'", dir, "/stderr.txt'");
  if (std::system(command.c_str()) != 0) {
    std::ifstream err(dir + "/stderr.txt");
    return absl::InternalError(absl::StrCat(command, " failed: ",
                                            std::string(std::istreambuf_iterator<char>(err), {})));
  }
  std::ifstream f(dir + "/ort_logits.bin", std::ios::binary);
  std::vector<char> bytes((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
  std::vector<float> out(bytes.size() / sizeof(float));
  if (!out.empty()) std::memcpy(out.data(), bytes.data(), out.size() * sizeof(float));
  return out;
}

// ---------------------------------------------------------------- Fashion-MNIST MLP

class FashionMnistOnnx : public testing::Test {
 protected:
  struct Shared {
    std::string missing;  // non-empty: the data file that is absent (skip)
    LabeledImages test;
    ParamStore trained;
    onnx::ModelProto model;
    std::string path;                 // the exported file
    std::vector<float> probabilities;  // the trained net on `test`
    std::vector<int32_t> predictions;
    double top1 = 0;
  };

  static void SetUpTestSuite() {
    shared_ = new Shared;
    Shared& s = *shared_;
    const std::string dir = kDataDir;
    for (const char* file : {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
                             "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"}) {
      if (!Exists(dir + "/" + file)) {
        s.missing = dir + "/" + file;
        return;
      }
    }
    const PixelNormalization norm{1.0f / 255.0f, kMean, kStd};
    auto train = LoadIdxDataset(dir + "/train-images-idx3-ubyte.gz", dir + "/train-labels-idx1-ubyte.gz", 0, norm);
    auto test = LoadIdxDataset(dir + "/t10k-images-idx3-ubyte.gz", dir + "/t10k-labels-idx1-ubyte.gz", 0, norm);
    ASSERT_TRUE(train.ok()) << train.status();
    ASSERT_TRUE(test.ok()) << test.status();
    s.test = *std::move(test);

    auto graph = SmallMlp();
    ASSERT_TRUE(graph.ok()) << graph.status();
    auto init = InitGraphParams(*graph, kSeed);
    ASSERT_TRUE(init.ok()) << init.status();
    s.trained = *std::move(init);
    TrainerOptions options;  // SGD, momentum 0.9, cosine from 0.05, weight decay 5e-4
    options.epochs = 3;
    options.seed = kSeed;
    options.optimizer.weight_decay = 5e-4f;
    options.schedule.kind = LrScheduleSpec::kCosine;
    options.schedule.lr = 0.05;
    options.schedule.epochs = options.epochs;
    const LabeledImagesData train_data(&*train);
    SetNumThreads(1);  // a small net; a second thread only waits when other tests share the cores
    auto report = TrainGraph(*graph, &s.trained, options, train_data, nullptr);
    ASSERT_TRUE(report.ok()) << report.status();

    auto net = GraphNetwork::Create(*graph, &s.trained, 500);
    ASSERT_TRUE(net.ok()) << net.status();
    auto probabilities = RunNetwork(**net, s.test.pixels, static_cast<int>(s.test.count));
    ASSERT_TRUE(probabilities.ok()) << probabilities.status();
    s.probabilities = *std::move(probabilities);
    s.predictions = Predictions(s.probabilities, graph->num_classes);
    s.top1 = Top1(s.predictions, s.test.labels);

    auto model = GraphToOnnx(*graph, s.trained);
    ASSERT_TRUE(model.ok()) << model.status();
    s.model = *std::move(model);
    s.path = TempDir() + "/fashion_mnist_mlp.onnx";
    ASSERT_TRUE(WriteOnnxModel(s.model, s.path).ok());
    std::printf("trained mlp 784-128-64-10 (3 epochs, seed 1, %.1f s): fp32 top-1 %.2f %% on %lld test "
                "images; exported to %s\n",
                report->seconds, 100.0 * s.top1, static_cast<long long>(s.test.count), s.path.c_str());
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }
  void SetUp() override {
    if (!shared_->missing.empty()) GTEST_SKIP() << "Fashion-MNIST file missing: " << shared_->missing;
    ASSERT_FALSE(shared_->path.empty()) << "training or export failed in SetUpTestSuite";
    ASSERT_EQ(shared_->test.count, 10000);
  }

  // Imports the exported file with `rule` into a zeroed store, then scores it like the original.
  void ExpectImportScoresTheSame(OnnxBindingRule rule) {
    const Shared& s = *shared_;
    auto graph = SmallMlp();
    ASSERT_TRUE(graph.ok()) << graph.status();
    ParamStore imported = Zeroed(s.trained);
    auto report = ImportOnnxWeights(s.path, rule, &imported);
    ASSERT_TRUE(report.ok()) << report.status();
    std::printf("import %s\n", report->Summary().c_str());
    EXPECT_EQ(report->tensors.size(), s.trained.size());
    EXPECT_EQ(report->bound_values, s.trained.TotalCount());
    std::string difference;
    EXPECT_TRUE(SameBits(s.trained, imported, &difference)) << "first difference: " << difference;

    auto net = GraphNetwork::Create(*graph, &imported, 500);
    ASSERT_TRUE(net.ok()) << net.status();
    auto probabilities = RunNetwork(**net, s.test.pixels, static_cast<int>(s.test.count));
    ASSERT_TRUE(probabilities.ok()) << probabilities.status();
    const std::vector<int32_t> predictions = Predictions(*probabilities, graph->num_classes);
    int64_t differ = 0;
    for (size_t i = 0; i < predictions.size(); ++i) differ += predictions[i] != s.predictions[i];
    const double top1 = Top1(predictions, s.test.labels);
    std::printf("%s: top-1 %.2f %% (original %.2f %%), %lld of %zu predictions differ\n",
                OnnxBindingRuleName(rule), 100.0 * top1, 100.0 * s.top1, static_cast<long long>(differ),
                predictions.size());
    EXPECT_EQ(differ, 0);
    EXPECT_EQ(top1, s.top1);
    EXPECT_EQ(*probabilities, s.probabilities);  // same weights, same primitives: same bits
  }

  static Shared* shared_;
};

FashionMnistOnnx::Shared* FashionMnistOnnx::shared_ = nullptr;

TEST_F(FashionMnistOnnx, ExportedModelHasTheDocumentedStructure) {
  const onnx::ModelProto& m = shared_->model;
  EXPECT_EQ(m.ir_version(), kOnnxExportIrVersion);
  ASSERT_EQ(m.opset_import_size(), 1);
  EXPECT_EQ(m.opset_import(0).version(), kOnnxExportOpset);
  std::vector<std::string> ops;
  for (const onnx::NodeProto& n : m.graph().node()) ops.push_back(n.op_type());
  EXPECT_EQ(ops, (std::vector<std::string>{"Flatten", "Gemm", "Relu", "Gemm", "Relu", "Gemm", "Softmax"}));
  std::vector<std::string> initializers;
  for (const onnx::TensorProto& t : m.graph().initializer()) initializers.push_back(t.name());
  EXPECT_EQ(initializers, (std::vector<std::string>{"fc1.weight", "fc1.bias", "fc2.weight", "fc2.bias",
                                                    "fc3.weight", "fc3.bias"}));
  ASSERT_EQ(m.graph().output_size(), 1);
  EXPECT_EQ(m.graph().output(0).name(), "probabilities");
  // The file on disk parses back to the same model.
  auto reread = ReadOnnxModel(shared_->path);
  ASSERT_TRUE(reread.ok()) << reread.status();
  EXPECT_EQ(reread->SerializeAsString(), m.SerializeAsString());
}

TEST_F(FashionMnistOnnx, ImportByNameScoresTheSame) { ExpectImportScoresTheSame(OnnxBindingRule::kByName); }

TEST_F(FashionMnistOnnx, ImportByOrderScoresTheSame) { ExpectImportScoresTheSame(OnnxBindingRule::kByOrder); }

// The sweep's own path: a config whose network.onnx names the exported file.
TEST_F(FashionMnistOnnx, SweepConfigLoadsTheExportedFile) {
  const Shared& s = *shared_;
  const std::string text = absl::StrCat(R"(
    name: "fashion_mnist_mlp_onnx"
    network {
      architecture: "mlp"
      mlp { hidden: [128, 64] }
      onnx { path: ")", s.path, R"(" binding: BY_NAME }
    }
    dataset {
      kind: IDX
      dir: ")", kDataDir, R"("
      preprocessing { scale: 0.00392156863 mean: 0.2860 std: 0.3530 }
    }
    quantizers { name: "linear" }
    bits: [8]
  )");
  RunDirectories dirs{TempDir(), TempDir()};
  auto config = ParseExperiment(text, "fashion_mnist_mlp_onnx.pbtxt", dirs);
  ASSERT_TRUE(config.ok()) << config.status();
  auto model = LoadModel(*config, TempDir() + "/cache", [](const std::string& line) {
    std::printf("%s\n", line.c_str());
  });
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->weights["source"], "onnx");
  std::string difference;
  EXPECT_TRUE(SameBits(s.trained, model->fp32, &difference)) << "first difference: " << difference;
  auto probabilities = RunNetwork(*model->network, s.test.pixels, static_cast<int>(s.test.count));
  ASSERT_TRUE(probabilities.ok()) << probabilities.status();
  const std::vector<int32_t> predictions = Predictions(*probabilities, 10);
  EXPECT_EQ(predictions, s.predictions);
  std::printf("sweep config with network.onnx: top-1 %.2f %%\n", 100.0 * Top1(predictions, s.test.labels));
}

TEST_F(FashionMnistOnnx, OnnxRuntimeScoresTheSame) {
  const std::string why_not = OnnxRuntimeUnavailable();
  if (!why_not.empty()) GTEST_SKIP() << "onnxruntime unavailable: " << why_not;
  const Shared& s = *shared_;
  const int classes = 10;
  auto ort = RunOnnxRuntime(s.model, "fashion_mnist_mlp", s.test.pixels, {s.test.count, 784, 1, 1});
  ASSERT_TRUE(ort.ok()) << ort.status();
  ASSERT_EQ(ort->size(), s.probabilities.size());
  const std::vector<int32_t> ort_predictions = Predictions(*ort, classes);
  int64_t differ = 0, differ_not_tied = 0;
  double max_abs = 0;
  for (size_t i = 0; i < ort_predictions.size(); ++i) {
    const float* p = ort->data() + i * classes;
    for (int c = 0; c < classes; ++c) {
      max_abs = std::max(max_abs, std::fabs(static_cast<double>(p[c]) - s.probabilities[i * classes + c]));
    }
    if (ort_predictions[i] == s.predictions[i]) continue;
    ++differ;
    // A different winner is acceptable only if onnxruntime itself scores ours (nearly) as high.
    if (std::fabs(p[ort_predictions[i]] - p[s.predictions[i]]) > 1e-6f) {
      ++differ_not_tied;
      if (differ_not_tied == 1) {
        ADD_FAILURE() << "example " << i << ": onnxruntime predicts " << ort_predictions[i] << " (p "
                      << p[ort_predictions[i]] << "), ours " << s.predictions[i] << " (p " << p[s.predictions[i]] << ")";
      }
    }
  }
  const double ort_top1 = Top1(ort_predictions, s.test.labels);
  std::printf("onnxruntime: top-1 %.2f %% (ours %.2f %%), %lld of %zu predictions differ (%lld not at a tie "
              "within 1e-6), max |p_ort - p_ours| %.3g\n",
              100.0 * ort_top1, 100.0 * s.top1, static_cast<long long>(differ), ort_predictions.size(),
              static_cast<long long>(differ_not_tied), max_abs);
  EXPECT_EQ(differ_not_tied, 0);
  // Tied flips are the only allowed differences, so the accuracy may move by at most those.
  EXPECT_LE(std::fabs(ort_top1 - s.top1) * static_cast<double>(s.test.count), static_cast<double>(differ) + 1e-9);
  if (differ == 0) {
    EXPECT_EQ(ort_top1, s.top1);
  }
}

// ---------------------------------------------------------------- graph architectures

absl::StatusOr<Graph> BuildArchitecture(const std::string& name) {
  return ArchitectureRegistry::Global().Build(name, ArchitectureOptions{});
}

// Deterministic inputs in [-2, 2].
std::vector<float> RandomInput(size_t n, uint64_t seed) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> uniform(-2.0f, 2.0f);
  std::vector<float> v(n);
  for (float& x : v) x = uniform(rng);
  return v;
}

TEST(GraphOnnxExport, ArchitecturesRoundTripByNameBitForBit) {
  // vgg16, alexnet and resnet50 are left out for their size only (553 / 244 / 102 MB): they
  // use no layer kind the others lack.
  for (const std::string name : {"squeezenet1_1", "squeezenet1_0", "resnet18", "mobilenet_v2",
                                 "mnasnet1_0", "inception_v3", "mobilenet_v1", "xception",
                                 "cifar_resnet20", "resiliency_cnn", "mlp"}) {
    SCOPED_TRACE(name);
    auto graph = BuildArchitecture(name);
    ASSERT_TRUE(graph.ok()) << graph.status();
    auto store = InitGraphParams(*graph, kSeed);
    ASSERT_TRUE(store.ok()) << store.status();
    auto model = GraphToOnnx(*graph, *store);
    ASSERT_TRUE(model.ok()) << model.status();
    const std::string path = absl::StrCat(TempDir(), "/", name, ".onnx");
    ASSERT_TRUE(WriteOnnxModel(*model, path).ok());

    ParamStore imported = Zeroed(*store);
    OnnxBindOptions options;
    for (const ParamSpec& p : graph->params) {
      if (!p.used) options.optional_params.insert(p.name);
    }
    auto report = ImportOnnxWeights(path, OnnxBindingRule::kByName, &imported, options);
    ASSERT_TRUE(report.ok()) << report.status();
    // Unused parameters (inception_v3's AuxLogits) are exported too, so nothing is skipped.
    EXPECT_TRUE(report->skipped_optional.empty());
    std::string difference;
    EXPECT_TRUE(SameBits(*store, imported, &difference)) << "first difference: " << difference;
    std::printf("%-14s %4d nodes, %4d initializers: %s\n", name.c_str(), model->graph().node_size(),
                model->graph().initializer_size(), report->Summary().c_str());
  }
}

TEST(GraphOnnxExport, SqueezenetScoresTheSameAfterImport) {
  auto graph = BuildArchitecture("squeezenet1_1");
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto store = InitGraphParams(*graph, kSeed);
  ASSERT_TRUE(store.ok()) << store.status();
  auto model = GraphToOnnx(*graph, *store);
  ASSERT_TRUE(model.ok()) << model.status();
  auto parsed = ParseOnnxModel(model->SerializeAsString(), "<squeezenet1_1 export>");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto fresh = InitGraphParams(*graph, kSeed + 1);  // different values everywhere
  ASSERT_TRUE(fresh.ok());
  ASSERT_TRUE(BindOnnxWeights(*parsed, OnnxBindingRule::kByName, &*fresh).ok());

  const int batch = 3;
  const std::vector<float> input = RandomInput(static_cast<size_t>(batch) * 3 * 224 * 224, 7);
  auto original = GraphNetwork::Create(*graph, &*store, batch);
  auto imported = GraphNetwork::Create(*graph, &*fresh, batch);
  ASSERT_TRUE(original.ok()) << original.status();
  ASSERT_TRUE(imported.ok()) << imported.status();
  auto a = RunNetwork(**original, input, batch);
  auto b = RunNetwork(**imported, input, batch);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(*a, *b);
  EXPECT_EQ(Predictions(*a, graph->num_classes), Predictions(*b, graph->num_classes));
}

TEST(GraphOnnxExport, FoldedGraphExportsConvBiases) {
  auto graph = BuildArchitecture("resnet18");
  ASSERT_TRUE(graph.ok());
  auto store = InitGraphParams(*graph, kSeed);
  ASSERT_TRUE(store.ok());
  ASSERT_TRUE(FoldBatchNormIntoConvs(&*graph, &*store).ok());
  auto model = GraphToOnnx(*graph, *store);
  ASSERT_TRUE(model.ok()) << model.status();
  for (const onnx::NodeProto& n : model->graph().node()) {
    EXPECT_NE(n.op_type(), "BatchNormalization");
    if (n.op_type() == "Conv") {
      EXPECT_EQ(n.input_size(), 3) << n.name();
    }
  }
  ParamStore imported = Zeroed(*store);
  ASSERT_TRUE(BindOnnxWeights(*model, OnnxBindingRule::kByOrder, &imported).ok());
  std::string difference;
  EXPECT_TRUE(SameBits(*store, imported, &difference)) << "first difference: " << difference;
}

TEST(OnnxExportErrors, MissingParameterIsNamed) {
  auto graph = SmallMlp();
  ASSERT_TRUE(graph.ok()) << graph.status();
  const auto complete = InitGraphParams(*graph, kSeed);
  ASSERT_TRUE(complete.ok());
  ParamStore params;
  for (const Parameter& p : complete->parameters()) {
    if (p.name != "fc2.bias") {
      ASSERT_TRUE(params.Add(p).ok());
    }
  }
  auto model = GraphToOnnx(*graph, params);
  ASSERT_FALSE(model.ok());
  EXPECT_EQ(model.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(model.status().message().find("fc2.bias"), std::string::npos) << model.status();
}

TEST(OnnxExportErrors, ClashingNamesAreRefused) {
  auto graph = SmallMlp();
  ASSERT_TRUE(graph.ok()) << graph.status();
  OnnxExportOptions options;
  options.input_name = "fc1.weight";  // the graph input would shadow a weight
  auto model = GraphToOnnx(*graph, *InitGraphParams(*graph, kSeed), options);
  ASSERT_FALSE(model.ok());
  EXPECT_NE(model.status().message().find("'fc1.weight'"), std::string::npos) << model.status();
}

TEST(OnnxExportErrors, UnwritablePathIsNamed) {
  auto graph = SmallMlp();
  ASSERT_TRUE(graph.ok()) << graph.status();
  auto model = GraphToOnnx(*graph, *InitGraphParams(*graph, kSeed));
  ASSERT_TRUE(model.ok());
  const std::string blocker = TempDir() + "/not_a_directory";
  std::ofstream(blocker) << "x";
  const std::string path = blocker + "/model.onnx";
  absl::Status status = WriteOnnxModel(*model, path);
  ASSERT_FALSE(status.ok());
  EXPECT_NE(status.message().find(blocker), std::string::npos) << status;
}

TEST(OnnxExportOptionsTest, LogitsOutputEndsInIdentity) {
  auto graph = SmallMlp();
  ASSERT_TRUE(graph.ok()) << graph.status();
  OnnxExportOptions options;
  options.softmax = false;
  auto model = GraphToOnnx(*graph, *InitGraphParams(*graph, kSeed), options);
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ(model->graph().node(model->graph().node_size() - 1).op_type(), "Identity");
  EXPECT_EQ(model->graph().output(0).name(), "logits");
}

// Our graph nets against onnxruntime on their own exports (logits, 2 random images): the
// exporter's attributes (pads, ceil_mode, count_include_pad, Clip bounds, BatchNorm epsilon,
// groups, Keras-style asymmetric padding) must mean in onnxruntime what they mean in ours.
// Criterion, as the torchvision parity test's: log-probability gaps to our top class vs
// onnxruntime's logit gaps within 1e-4 of the logit range, and the same top-1 unless the
// reference's top two are that close.
constexpr float kSmallestComparedProbability = 1e-30f;
// Below ln(1e30) ~ 69 every class's probability stays a normal float.
constexpr double kComparableLogitRange = 60.0;
TEST(OnnxRuntimeGraph, ArchitecturesMatchOnTheirExports) {
  const std::string why_not = OnnxRuntimeUnavailable();
  if (!why_not.empty()) GTEST_SKIP() << "onnxruntime unavailable: " << why_not;
  for (const std::string name : {"squeezenet1_1", "resnet18", "mobilenet_v2", "inception_v3", "mobilenet_v1",
                                 "xception", "cifar_resnet20"}) {
    SCOPED_TRACE(name);
    auto graph = BuildArchitecture(name);
    ASSERT_TRUE(graph.ok()) << graph.status();
    auto store = InitGraphParams(*graph, kSeed);
    ASSERT_TRUE(store.ok());
    OnnxExportOptions options;
    options.softmax = false;
    auto model = GraphToOnnx(*graph, *store, options);
    ASSERT_TRUE(model.ok()) << model.status();
    const int batch = 2;
    const std::vector<int64_t> shape = graph->input_shape();
    const size_t per_example = static_cast<size_t>(shape[0] * shape[1] * shape[2]);
    const std::vector<int64_t> batched_shape = {batch, shape[0], shape[1], shape[2]};
    const int classes = graph->num_classes;
    std::vector<float> input = RandomInput(batch * per_example, 11);
    auto logits = RunOnnxRuntime(*model, name, input, batched_shape);
    ASSERT_TRUE(logits.ok()) << logits.status();
    ASSERT_EQ(logits->size(), static_cast<size_t>(batch) * classes);
    // Seeded nets without trained BatchNorm can blow up (logit ranges of 1e2..1e7), which
    // leaves one non-zero probability and nothing to compare. They are (nearly) positively
    // homogeneous (ReLU, zero biases, identity BatchNorm), so a scaled-down input brings the
    // logits into a range where every probability is a normal float.
    const double range = *std::max_element(logits->begin(), logits->end()) -
                         *std::min_element(logits->begin(), logits->end());
    float input_scale = 1.0f;
    if (range > kComparableLogitRange) {
      input_scale = static_cast<float>(kComparableLogitRange / 2 / range);
      for (float& x : input) x *= input_scale;
      logits = RunOnnxRuntime(*model, name, input, batched_shape);
      ASSERT_TRUE(logits.ok()) << logits.status();
    }
    auto net = GraphNetwork::Create(*graph, &*store, batch);
    ASSERT_TRUE(net.ok()) << net.status();
    auto ours = RunNetwork(**net, input, batch);
    ASSERT_TRUE(ours.ok()) << ours.status();
    double worst_ratio = 0;
    int compared = 0, underflowed = 0;
    for (int e = 0; e < batch; ++e) {
      const float* z = logits->data() + e * classes;
      const float* p = ours->data() + e * classes;
      const int ours_top = ArgMax(p, classes), ort_top = ArgMax(z, classes);
      const double tolerance = 1e-4 * (*std::max_element(z, z + classes) - *std::min_element(z, z + classes));
      // log p_c - log p_top = z_c - z_top exactly; compared where p_c is a normal float. A class
      // whose probability underflowed (random nets can have logit ranges of 1e6) must be one
      // onnxruntime also puts more than ln(1e30) below the top.
      double error = 0;
      for (int c = 0; c < classes; ++c) {
        const double z_gap = static_cast<double>(z[c]) - z[ours_top];
        if (p[c] >= kSmallestComparedProbability) {
          error = std::max(error, std::fabs((std::log(p[c]) - std::log(p[ours_top])) - z_gap));
          ++compared;
        } else {
          error = std::max(error, std::max(0.0, z_gap - std::log(kSmallestComparedProbability)));
          ++underflowed;
        }
      }
      EXPECT_LE(error, tolerance) << "example " << e;
      worst_ratio = std::max(worst_ratio, error / tolerance);
      if (ours_top != ort_top) {
        EXPECT_LE(z[ort_top] - z[ours_top], tolerance) << "example " << e;
      }
    }
    std::printf("%-14s vs onnxruntime: worst logit-gap error %.3g of the tolerance (1e-4 of the range); "
                "%d probabilities compared, %d underflowed; input scale %.3g\n",
                name.c_str(), worst_ratio, compared, underflowed, input_scale);
  }
}

}  // namespace
}  // namespace quantbench
