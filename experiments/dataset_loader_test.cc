// Consistency checks before any work (issue #14): data that does not fit the network is an
// error naming the field when the set is loaded, not a crash in training or evaluation.
#include "experiments/dataset_loader.h"

#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "gtest/gtest.h"

namespace quantbench {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

void WriteIdx(const std::string& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& data) {
  std::string bytes = {0, 0, 8, static_cast<char>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes += static_cast<char>(d >> shift);
  }
  bytes.append(data.begin(), data.end());
  std::ofstream(path, std::ios::binary) << bytes;
}

// Three 28 x 28 images labelled 0, 9, 4.
DatasetSpec ThreeImages() {
  WriteIdx(TestDir() + "/images", {3, 28, 28}, std::vector<uint8_t>(3 * 784, 100));
  WriteIdx(TestDir() + "/labels", {3}, {0, 9, 4});
  DatasetSpec spec;
  spec.set_kind(DatasetSpec::IDX);
  spec.set_dir(TestDir());
  spec.set_images("images");
  spec.set_labels("labels");
  spec.mutable_preprocessing()->set_scale(1.0f / 255);
  spec.mutable_preprocessing()->set_std(1.0f);
  return spec;
}

TEST(DatasetLoader, LoadsDataThatFitsTheNetwork) {
  auto loaded = LoadDataset(ThreeImages(), {784}, 10, 1, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->data.count, 3);
}

// The first crash: input_shape [1000] against 784-value examples.
TEST(DatasetLoader, InputShapeMismatchIsAnError) {
  auto loaded = LoadDataset(ThreeImages(), {1000}, 10, 1, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_TRUE(absl::StrContains(loaded.status().message(), "784 values but the network takes 1000")) << loaded.status();
}

// Label 9 with 5 classes used to train for a whole epoch and then fail in the loss (or, with
// random_init, evaluate silently against logits that cannot be right).
TEST(DatasetLoader, LabelsBeyondNumClassesNameTheField) {
  auto loaded = LoadDataset(ThreeImages(), {784}, 5, 1, "");
  ASSERT_FALSE(loaded.ok());
  EXPECT_EQ(loaded.status().message(),
            "dataset: example 1 has label 9 but network.num_classes is 5: set num_classes to at least 10 or use data "
            "with labels in [0, 5)");
}

}  // namespace
}  // namespace quantbench
