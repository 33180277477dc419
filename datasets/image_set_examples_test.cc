#include "datasets/image_set_examples.h"

#include <gtest/gtest.h>

#include <memory>
#include <random>
#include <vector>

#include "datasets/test_util.h"

namespace quantbench {
namespace {

std::shared_ptr<ImageSet> SmallSet() {
  auto set = std::make_shared<ImageSet>();
  set->count = 9;
  set->channels = 3;
  set->height = 3;
  set->width = 5;
  set->num_classes = 4;
  set->class_names = {"a", "b", "c", "d"};
  std::mt19937 rng(5);
  set->pixels.resize(static_cast<size_t>(set->count * set->image_size()));
  for (uint8_t& p : set->pixels) p = static_cast<uint8_t>(rng());
  for (int64_t i = 0; i < set->count; ++i) set->labels.push_back(static_cast<int32_t>(i % 4));
  return set;
}

TEST(ImageSetExamples, BatchesAreTheNormalisedPixels) {
  const auto set = SmallSet();
  const std::vector<float> mean = {0.5f, 0.25f, 0.125f}, std = {0.2f, 0.3f, 0.4f};
  auto images = ImageSetAsLabeledImages(set, mean, std);
  ASSERT_TRUE(images.ok()) << images.status();
  EXPECT_EQ(images->count, 9);
  EXPECT_EQ(images->example_shape, (std::vector<int64_t>{3, 3, 5}));
  EXPECT_EQ(images->labels, set->labels);
  EXPECT_EQ(images->num_classes, 4);
  std::vector<float> scratch;
  auto batch = images->Examples(2, 5, &scratch);
  ASSERT_TRUE(batch.ok()) << batch.status();
  ASSERT_EQ(batch->size(), 5u * 45);
  for (int64_t i = 0; i < 5; ++i) {
    for (int c = 0; c < 3; ++c) {
      for (int k = 0; k < 15; ++k) {
        const float v = static_cast<float>(set->image(2 + i)[c * 15 + k]) / 255.0f;
        EXPECT_EQ((*batch)[i * 45 + c * 15 + k], (v - mean[c]) / std[c]);
      }
    }
  }
  EXPECT_EQ(images->Examples(8, 2, &scratch).status().code(), absl::StatusCode::kOutOfRange);
}

TEST(ImageSetExamples, BadSetOrNormalisationIsAnError) {
  auto set = SmallSet();
  ExpectStatus(ImageSetAsLabeledImages(set, {0.5f}, {}).status(),
               absl::StatusCode::kInvalidArgument, {"mean has 1 values for 3 channels"});
  set->labels[3] = 4;
  ExpectStatus(ImageSetAsLabeledImages(set, {}, {}).status(), absl::StatusCode::kInvalidArgument,
               {"label 4 of image 3"});
  ExpectStatus(ImageSetAsLabeledImages(nullptr, {}, {}).status(),
               absl::StatusCode::kInvalidArgument, {"no set"});
}

}  // namespace
}  // namespace quantbench
