// Trains the MLP on real Fashion-MNIST and checks the oneDNN test accuracy.
//
// FashionMnistTest.ThreeEpochsReach84Percent runs in the normal suite (skipped, naming the
// file, if the data set is absent). The full recommended setting (the SgdOptions defaults)
// is the disabled test DISABLED_RecommendedSettingFullRun; run it with
//   bazel run //networks:fashion_mnist_test -- --gtest_also_run_disabled_tests
//       --gtest_filter='*FullRun*'      (one command line)
// Environment overrides for that run: QB_HIDDEN ("256,256"), QB_EPOCHS, QB_BATCH, QB_LR,
// QB_MOMENTUM, QB_WD, QB_SEED.
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "networks/mlp.h"
#include "networks/mlp_trainer.h"
#include "networks/param_store.h"
#include "networks/threads.h"

namespace quantbench {
namespace {

const char kDataDir[] = "/usr/share/datasets/fashion-mnist";
// Mean and standard deviation of the Fashion-MNIST training pixels scaled to [0, 1].
constexpr float kMean = 0.2860f;
constexpr float kStd = 0.3530f;

// Minimal gzip'ed idx reader, for this test only (the project's reader is in experiments/).
bool ReadGzip(const std::string& path, std::string* out) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (file == nullptr) return false;
  char buffer[1 << 16];
  int n;
  while ((n = gzread(file, buffer, sizeof(buffer))) > 0) out->append(buffer, n);
  gzclose(file);
  return n == 0;
}

uint32_t BigEndian32(const std::string& s, size_t offset) {
  return (static_cast<uint32_t>(static_cast<uint8_t>(s[offset])) << 24) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[offset + 1])) << 16) |
         (static_cast<uint32_t>(static_cast<uint8_t>(s[offset + 2])) << 8) |
         static_cast<uint32_t>(static_cast<uint8_t>(s[offset + 3]));
}

struct Split {
  std::vector<float> images;  // n x 784, normalised
  std::vector<int32_t> labels;
  int64_t n = 0;
};

// Loads "<prefix>-images-idx3-ubyte.gz" and "<prefix>-labels-idx1-ubyte.gz"; an empty
// `missing` means success, otherwise it names the missing or bad file.
Split LoadSplit(const std::string& prefix, std::string* missing) {
  Split split;
  const std::string images_path = std::string(kDataDir) + "/" + prefix + "-images-idx3-ubyte.gz";
  const std::string labels_path = std::string(kDataDir) + "/" + prefix + "-labels-idx1-ubyte.gz";
  for (const std::string& path : {images_path, labels_path}) {
    if (!std::filesystem::exists(path)) {
      *missing = path;
      return split;
    }
  }
  std::string images, labels;
  if (!ReadGzip(images_path, &images) || images.size() < 16 || BigEndian32(images, 0) != 0x803) {
    *missing = images_path + " (unreadable or not idx3)";
    return split;
  }
  if (!ReadGzip(labels_path, &labels) || labels.size() < 8 || BigEndian32(labels, 0) != 0x801) {
    *missing = labels_path + " (unreadable or not idx1)";
    return split;
  }
  const uint32_t n = BigEndian32(images, 4);
  if (BigEndian32(images, 8) != 28 || BigEndian32(images, 12) != 28 ||
      images.size() != 16 + size_t{n} * 784 || BigEndian32(labels, 4) != n ||
      labels.size() != 8 + size_t{n}) {
    *missing = images_path + " (inconsistent sizes)";
    return split;
  }
  split.n = n;
  split.images.resize(size_t{n} * 784);
  for (size_t i = 0; i < split.images.size(); ++i) {
    split.images[i] = (static_cast<uint8_t>(images[16 + i]) / 255.0f - kMean) / kStd;
  }
  split.labels.resize(n);
  for (uint32_t i = 0; i < n; ++i) split.labels[i] = static_cast<uint8_t>(labels[8 + i]);
  return split;
}

double Accuracy(MlpNetwork& net, const Split& split) {
  const int classes = net.spec().num_classes;
  std::vector<float> probabilities(static_cast<size_t>(split.n) * classes);
  absl::Status status =
      net.Forward(split.images, static_cast<int>(split.n), absl::MakeSpan(probabilities));
  EXPECT_TRUE(status.ok()) << status;
  int64_t correct = 0;
  for (int64_t i = 0; i < split.n; ++i) {
    const float* row = probabilities.data() + i * classes;
    correct += (std::max_element(row, row + classes) - row) == split.labels[i];
  }
  return static_cast<double>(correct) / static_cast<double>(split.n);
}

class FashionMnistTest : public testing::Test {
 protected:
  static void SetUpTestSuite() {
    std::string missing;
    train_ = new Split(LoadSplit("train", &missing));
    if (missing.empty()) test_ = new Split(LoadSplit("t10k", &missing));
    missing_ = new std::string(missing);
  }
  static void TearDownTestSuite() {
    delete train_;
    delete test_;
    delete missing_;
  }
  void SetUp() override {
    if (!missing_->empty()) GTEST_SKIP() << "Fashion-MNIST file missing: " << *missing_;
    ASSERT_EQ(train_->n, 60000);
    ASSERT_EQ(test_->n, 10000);
  }

  static Split* train_;
  static Split* test_;
  static std::string* missing_;
};

Split* FashionMnistTest::train_ = nullptr;
Split* FashionMnistTest::test_ = nullptr;
std::string* FashionMnistTest::missing_ = nullptr;

// Trains, prints per-epoch progress and timing, returns the fp32 test accuracy.
double TrainAndEvaluate(const MlpSpec& spec, const SgdOptions& options, uint64_t init_seed,
                        const Split& train, const Split& test) {
  ParamStore params = InitMlpParams(spec, init_seed);
  const auto start = std::chrono::steady_clock::now();
  absl::Status status = TrainMlp(
      spec, options, train.images.data(), train.labels.data(), train.n, &params,
      [&](int epoch, double loss, double acc) {
        const double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        std::printf("  epoch %2d  loss %.4f  train acc %.4f  (%.1f s)\n", epoch + 1, loss, acc,
                    seconds);
        std::fflush(stdout);
      });
  const double train_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_TRUE(status.ok()) << status;
  auto net = MlpNetwork::Create(spec, &params, 256);
  EXPECT_TRUE(net.ok()) << net.status();
  if (!net.ok()) return 0;
  const auto eval_start = std::chrono::steady_clock::now();
  const double accuracy = Accuracy(**net, test);
  const double eval_seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - eval_start).count();
  std::printf(
      "MLP %s epochs %d batch %d lr %g momentum %g wd %g seed %llu init_seed %llu: "
      "train %.1f s, fp32 test accuracy %.4f (eval %.3f s, oneDNN %s x%d threads)\n",
      MlpSpecToString(spec).c_str(), options.epochs, options.batch_size, options.learning_rate,
      options.momentum, options.weight_decay, static_cast<unsigned long long>(options.seed),
      static_cast<unsigned long long>(init_seed), train_seconds, accuracy, eval_seconds,
      DnnlCpuRuntimeName().c_str(), GetNumThreads());
  return accuracy;
}

TEST_F(FashionMnistTest, ThreeEpochsReach84Percent) {
  MlpSpec spec;
  spec.hidden = {256, 256};
  SgdOptions options;  // recommended defaults, shortened
  options.epochs = 3;
  EXPECT_GE(TrainAndEvaluate(spec, options, /*init_seed=*/1, *train_, *test_), 0.84);
}

const char* Env(const char* name) { return std::getenv(name); }

TEST_F(FashionMnistTest, DISABLED_RecommendedSettingFullRun) {
  MlpSpec spec;
  spec.hidden = {256, 256};
  if (const char* hidden = Env("QB_HIDDEN")) {
    spec.hidden.clear();
    std::string text = hidden;
    size_t pos = 0;
    while (pos < text.size()) {
      size_t comma = text.find(',', pos);
      if (comma == std::string::npos) comma = text.size();
      spec.hidden.push_back(std::atoi(text.substr(pos, comma - pos).c_str()));
      pos = comma + 1;
    }
  }
  SgdOptions options;
  if (Env("QB_EPOCHS")) options.epochs = std::atoi(Env("QB_EPOCHS"));
  if (Env("QB_BATCH")) options.batch_size = std::atoi(Env("QB_BATCH"));
  if (Env("QB_LR")) options.learning_rate = std::strtof(Env("QB_LR"), nullptr);
  if (Env("QB_MOMENTUM")) options.momentum = std::strtof(Env("QB_MOMENTUM"), nullptr);
  if (Env("QB_WD")) options.weight_decay = std::strtof(Env("QB_WD"), nullptr);
  if (Env("QB_SEED")) options.seed = std::strtoull(Env("QB_SEED"), nullptr, 10);
  EXPECT_GE(TrainAndEvaluate(spec, options, options.seed, *train_, *test_), 0.88);
}

}  // namespace
}  // namespace quantbench
