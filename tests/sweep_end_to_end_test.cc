// End to end: train a small MLP on a Fashion-MNIST subset, sweep it, check the accuracy
// pattern quantization must show, the result files, and the weight cache.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "experiments/config.h"
#include "experiments/result_files.h"
#include "experiments/runner.h"

namespace quantbench {
namespace {

constexpr char kImages[] = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

// 12,000 training images, 3 epochs: trains in a few seconds, well above chance.
constexpr char kConfig[] = R"(name: "e2e"
network {
  architecture: "mlp"
  mlp { hidden: [128, 64] }
  train { data { limit: 12000 } epochs: 3 batch_size: 50 learning_rate: 0.05 }
}
dataset { limit: 2000 preprocessing { mean: 0.286 std: 0.353 } }
quantizers { name: "linear" }
quantizers { name: "exponential" }
bits: [2, 4, 8]
seed: 7
# One thread: bazel runs tests side by side, and oneDNN's OpenMP threads on an oversubscribed
# machine wait for each other at every small primitive (an mlp epoch goes from seconds to
# minutes).
threads: 1
)";

class SweepEndToEnd : public ::testing::Test {
 protected:
  void SetUp() override {
    if (std::ifstream(kImages).fail()) GTEST_SKIP() << "missing " << kImages << " (Debian dataset-fashion-mnist)";
    dirs_ = RunDirectories{TestDir(), TestDir()};
    auto config = ParseExperiment(kConfig, "e2e.pbtxt", dirs_);
    ASSERT_TRUE(config.ok()) << config.status();
    config_ = *config;
    options_.dirs = dirs_;
    options_.cache_dir = TestDir() + "/cache";
    options_.command = "test";
    options_.config_path = "e2e.pbtxt";
  }

  const nlohmann::json* Cell(const nlohmann::json& sweep, const std::string& quantizer, int bits) {
    for (const auto& cell : sweep["cells"]) {
      if (cell["quantizer"] == quantizer && cell["bits"] == bits) return &cell;
    }
    return nullptr;
  }

  RunDirectories dirs_;
  Experiment config_;
  SweepOptions options_;
};

TEST_F(SweepEndToEnd, TrainsSweepsAndWritesResults) {
  auto sweep = RunSweep(config_, options_);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  const double fp32 = (*sweep)["fp32"]["top1"];
  EXPECT_GT(fp32, 0.75) << "a 3-epoch MLP should clear 75 % on Fashion-MNIST";
  EXPECT_EQ((*sweep)["cells"].size(), 6u);
  EXPECT_FALSE((*sweep)["fp32"]["weights"]["from_cache"].get<bool>());

  const nlohmann::json* linear8 = Cell(*sweep, "linear", 8);
  const nlohmann::json* linear2 = Cell(*sweep, "linear", 2);
  const nlohmann::json* exp8 = Cell(*sweep, "exponential", 8);
  ASSERT_TRUE(linear8 && linear2 && exp8);
  EXPECT_NEAR((*linear8)["top1"].get<double>(), fp32, 0.01);
  EXPECT_NEAR((*exp8)["top1"].get<double>(), fp32, 0.01);
  EXPECT_LT((*linear2)["top1"].get<double>(), (*linear8)["top1"].get<double>());
  // Weight error falls with bits; sizes shrink with bits.
  EXPECT_GT((*linear8)["sqnr_db"].get<double>(), (*linear2)["sqnr_db"].get<double>());
  EXPECT_LT((*linear2)["model_bytes"].get<int64_t>(), (*linear8)["model_bytes"].get<int64_t>());
  EXPECT_LE((*linear2)["max_levels_used"].get<int64_t>(), 4);
  EXPECT_EQ((*linear8)["layers"].size(), 3u);
  EXPECT_GT((*linear8)["top1_agreement_with_fp32"].get<double>(), 0.97);

  // Self-describing: the config, the environment, the dataset.
  EXPECT_EQ((*sweep)["config"]["name"], "e2e");
  EXPECT_TRUE((*sweep)["environment"]["libraries"].contains("onednn"));
  EXPECT_EQ((*sweep)["dataset"]["examples"], 2000);

  std::string path = TestDir() + "/out/e2e.json";
  ASSERT_TRUE(WriteSweepResults(*sweep, path).ok());
  std::ifstream json_in(path);
  nlohmann::json reread = nlohmann::json::parse(json_in);
  EXPECT_EQ(reread["cells"].size(), 6u);
  std::ifstream md_in(TestDir() + "/out/e2e.md");
  std::string markdown((std::istreambuf_iterator<char>(md_in)), std::istreambuf_iterator<char>());
  EXPECT_NE(markdown.find("| quantizer \\ bits | 2 | 4 | 8 |"), std::string::npos) << markdown;
  EXPECT_NE(markdown.find("| exponential |"), std::string::npos) << markdown;

  // The same command again resumes from the work directory: nothing is recomputed and the
  // result is the same document.
  auto resumed = RunSweep(config_, options_);
  ASSERT_TRUE(resumed.ok()) << resumed.status();
  EXPECT_EQ((*resumed)["cells"], (*sweep)["cells"]);
  EXPECT_EQ((*resumed)["fp32"], (*sweep)["fp32"]);

  // A run with a fresh work directory loads the cached weights and reproduces the baseline.
  options_.work_dir = TestDir() + "/work_again";
  auto again = RunSweep(config_, options_);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE((*again)["fp32"]["weights"]["from_cache"].get<bool>());
  EXPECT_EQ((*again)["fp32"]["top1"].get<double>(), fp32);

  // A corrupted cache file is detected and retrained, giving the same (deterministic) net.
  std::string cache = (*again)["fp32"]["weights"]["path"];
  {
    std::fstream f(cache, std::ios::in | std::ios::out | std::ios::binary);
    f.seekp(200);
    f.put('\x5a');
  }
  options_.work_dir = TestDir() + "/work_retrained";
  auto retrained = RunSweep(config_, options_);
  ASSERT_TRUE(retrained.ok()) << retrained.status();
  EXPECT_FALSE((*retrained)["fp32"]["weights"]["from_cache"].get<bool>());
  EXPECT_EQ((*retrained)["fp32"]["top1"].get<double>(), fp32);
}

TEST_F(SweepEndToEnd, UnknownOverrideLayerListsLayers) {
  config_.mutable_layers()->add_overrides()->set_layer("fc9");
  auto sweep = RunSweep(config_, options_);
  ASSERT_FALSE(sweep.ok());
  EXPECT_NE(sweep.status().message().find("no layer 'fc9'"), std::string::npos) << sweep.status();
  EXPECT_NE(sweep.status().message().find("fc1, fc2, fc3"), std::string::npos) << sweep.status();
}

TEST_F(SweepEndToEnd, SkipFirstAndLastKeepsThoseLayersExact) {
  config_.mutable_layers()->set_mode(LayerSelection::SKIP_FIRST_AND_LAST);
  config_.clear_bits();
  config_.add_bits(2);
  auto sweep = RunSweep(config_, options_);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  const nlohmann::json* cell = Cell(*sweep, "linear", 2);
  ASSERT_NE(cell, nullptr);
  ASSERT_EQ((*cell)["layers"].size(), 1u);
  EXPECT_EQ((*cell)["layers"][0]["layer"], "fc2");
}

TEST_F(SweepEndToEnd, ActivationQuantizationIsCalibratedAndReported) {
  config_.mutable_activations()->set_bits(8);
  config_.mutable_activations()->set_calibration_images(500);
  config_.mutable_activations()->add_skip_layers("fc1");
  config_.clear_bits();
  config_.add_bits(8);
  auto sweep = RunSweep(config_, options_);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  const nlohmann::json& a = (*sweep)["activations"];
  EXPECT_EQ(a["calibration_images"], 500);
  // fc1 reads the image: skipped; fc2 and fc3 read ReLU outputs.
  EXPECT_EQ(a["quantized_sites"], 2);
  EXPECT_EQ(a["skipped_sites"], nlohmann::json({"fc1"}));
  EXPECT_TRUE(a["sites"].contains("fc2"));
  // Post-ReLU tensors get zero point 0 (unsigned grid).
  EXPECT_EQ(a["sites"]["fc2"]["zero_point"], 0);
  // 8-bit activations barely move an MLP: within 2 points of fp32, alone and with 8-bit weights.
  const double fp32 = (*sweep)["fp32"]["top1"];
  EXPECT_NEAR(a["fp32_weights"]["top1"].get<double>(), fp32, 0.02);
  EXPECT_NEAR((*Cell(*sweep, "linear", 8))["top1"].get<double>(), fp32, 0.02);
  EXPECT_NE(SweepMarkdown(*sweep).find("Activations: 8-bit uniform per tensor on the inputs of 2"), std::string::npos);

  config_.mutable_activations()->add_skip_layers("fc9");
  auto bad = RunSweep(config_, options_);
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("activations.skip_layers[1]"), std::string::npos) << bad.status();
}

// Quantization-aware training in a sweep: ternary weights retrained one epoch with the
// clipped STE (and 8-bit activations fake-quantized in training as in evaluation) beat
// direct post-training ternarization of the same fp32 net; the cell records its training.
TEST_F(SweepEndToEnd, QuantizationAwareCellsBeatDirectOnes) {
  std::string text = absl::StrCat(kConfig, R"(
activations { bits: 8 calibration_images: 256 }
quantizers { name: "ternary" label: "ternary direct" bits: [2] }
quantizers { name: "ternary" label: "ternary QAT" bits: [2]
  qat { train { data { limit: 12000 } epochs: 1 batch_size: 50 learning_rate: 0.01 } ste: CLIPPED } }
quantizers { name: "ternary" label: "ternary QAT distilled" bits: [2]
  qat { train { data { limit: 12000 } epochs: 1 batch_size: 50 learning_rate: 0.01 } loss: DISTILL_KL temperature: 2 } }
)");
  auto config = ParseExperiment(text, "qat.pbtxt", dirs_);
  ASSERT_TRUE(config.ok()) << config.status();
  auto sweep = RunSweep(*config, options_);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  const nlohmann::json* direct = Cell(*sweep, "ternary direct", 2);
  const nlohmann::json* qat = Cell(*sweep, "ternary QAT", 2);
  const nlohmann::json* distilled = Cell(*sweep, "ternary QAT distilled", 2);
  ASSERT_TRUE(direct && qat && distilled);
  EXPECT_FALSE(direct->contains("training"));
  ASSERT_TRUE(qat->contains("training"));
  const nlohmann::json& training = (*qat)["training"];
  EXPECT_EQ(training["epochs"].size(), 1u);
  EXPECT_EQ(training["activation_sites_fake_quantized"].get<int>(), 3);
  EXPECT_EQ(training["loss"], "LABELS");
  EXPECT_TRUE(training["epochs"][0].contains("test_top1"));
  EXPECT_GT((*qat)["top1"].get<double>(), (*direct)["top1"].get<double>() + 0.03)
      << "direct " << (*direct)["top1"] << ", retrained " << (*qat)["top1"];
  EXPECT_GT((*distilled)["top1"].get<double>(), (*direct)["top1"].get<double>() + 0.03)
      << "direct " << (*direct)["top1"] << ", distilled " << (*distilled)["top1"];
  // The Markdown shows the retrained cell's curve.
  const std::string md = SweepMarkdown(*sweep);
  EXPECT_NE(md.find("## Quantization-aware training: ternary QAT, 2 bits"), std::string::npos) << md;
  EXPECT_NE(md.find("## fp32 training"), std::string::npos);
}

}  // namespace
}  // namespace quantbench
