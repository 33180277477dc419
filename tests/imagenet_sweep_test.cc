// The ImageNet path end to end without external data: JPEGs the test encodes itself, a
// seeded SqueezeNet 1.1, a sweep, and the agreement metrics that need no labels.
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <cmath>
#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "datasets/jpeg_codec.h"
#include "experiments/config.h"
#include "experiments/runner.h"

namespace quantbench {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

// Six 96x80 colour images with different smooth patterns, plus a labels file.
std::string WriteImages() {
  std::string dir = TestDir() + "/images";
  mkdir(dir.c_str(), 0755);
  std::ofstream labels(dir + "/labels.txt");
  for (int n = 0; n < 6; ++n) {
    const int width = 96, height = 80;
    std::vector<uint8_t> pixels(width * height * 3);
    for (int y = 0; y < height; ++y) {
      for (int x = 0; x < width; ++x) {
        for (int c = 0; c < 3; ++c) {
          double v = 127.5 + 120.0 * std::sin(0.05 * (n + 1) * x + 0.07 * (c + 1) * y + n);
          pixels[(y * width + x) * 3 + c] = static_cast<uint8_t>(std::lround(v));
        }
      }
    }
    auto jpeg = EncodeJpeg(pixels.data(), width, height, 3, 90);
    EXPECT_TRUE(jpeg.ok()) << jpeg.status();
    std::string name = absl::StrCat("img", n, ".jpg");
    std::ofstream(dir + "/" + name, std::ios::binary).write(reinterpret_cast<const char*>(jpeg->data()), jpeg->size());
    labels << name << " " << n * 100 << "\n";
  }
  return dir;
}

absl::StatusOr<nlohmann::json> Sweep(const std::string& dataset) {
  RunDirectories dirs{TestDir(), TestDir()};
  auto config = ParseExperiment(absl::StrCat(R"(name: "tiny_imagenet"
network { architecture: "squeezenet1_1" random_init { seed: 3 } input_shape: [3, 64, 64] eval_batch: 4 }
)", dataset, R"(
quantizers { name: "linear" }
quantizers { name: "exponential" }
bits: [2, 8]
)"), "tiny.pbtxt", dirs);
  if (!config.ok()) return config.status();
  SweepOptions options;
  options.dirs = dirs;
  options.cache_dir = TestDir() + "/cache";
  return RunSweep(*config, options);
}

TEST(ImageNetSweep, UnlabeledImagesReportAgreementOnly) {
  std::string dir = WriteImages();
  auto sweep = Sweep(absl::StrCat("dataset { kind: UNLABELED_IMAGES dir: \"", dir, "\" preprocessing { preset: \"torch\" } }"));
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ((*sweep)["dataset"]["examples"], 6);
  EXPECT_TRUE((*sweep)["fp32"]["top1"].is_null()) << "no labels: no accuracy";
  EXPECT_EQ((*sweep)["fp32"]["weights"]["source"], "random_init");
  ASSERT_EQ((*sweep)["cells"].size(), 4u);
  for (const auto& cell : (*sweep)["cells"]) {
    EXPECT_TRUE(cell["top1"].is_null());
    const double agree1 = cell["top1_agreement_with_fp32"], agree5 = cell["top5_agreement_with_fp32"];
    EXPECT_GE(agree1, 0.0);
    EXPECT_LE(agree1, agree5) << "fp32's top-1 within our top-5 is implied by equal top-1";
    EXPECT_EQ(cell["layers"].size(), 26u) << "squeezenet1_1 has 26 conv layers";
  }
}

TEST(ImageNetSweep, LabeledImagesReportAccuracyAndSizes) {
  std::string dir = WriteImages();
  auto sweep = Sweep(absl::StrCat("dataset { kind: LABELED_IMAGES dir: \"", dir,
                                  "\" labels: \"labels.txt\" preprocessing { preset: \"keras-tf\" resize_shorter: 72 } }"));
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  EXPECT_EQ((*sweep)["dataset"]["labeled_examples"], 6);
  EXPECT_TRUE((*sweep)["fp32"]["top1"].is_number());
  EXPECT_EQ((*sweep)["dataset"]["preprocessing"]["resize_shorter"], 72);
  const auto& cells = (*sweep)["cells"];
  // 8-bit linear weights: the seeded net's predictions barely move; 2-bit is 4x smaller.
  EXPECT_LT(cells[0]["model_bytes"].get<int64_t>(), cells[1]["model_bytes"].get<int64_t>() / 3);
  EXPECT_GT(cells[1]["sqnr_db"].get<double>(), 30.0);
}

TEST(ImageNetSweep, WrongImageSizeForTheNetworkIsAnError) {
  std::string dir = WriteImages();
  auto sweep = Sweep(absl::StrCat("dataset { kind: UNLABELED_IMAGES dir: \"", dir,
                                  "\" preprocessing { image_size: 32 } }"));
  ASSERT_FALSE(sweep.ok());
  EXPECT_NE(sweep.status().message().find("image_size 32"), std::string::npos) << sweep.status();
}

}  // namespace
}  // namespace quantbench
