#include "datasets/augmentation.h"

#include <gtest/gtest.h>

#include <cstring>
#include <numeric>
#include <random>
#include <set>
#include <vector>

#include "datasets/test_util.h"

namespace quantbench {
namespace {

// count random images of c x h x w, pixels in [lo, 255] (lo > 0 keeps them apart from padding).
ImageSet RandomSet(int64_t count, int c, int h, int w, uint32_t seed, int lo = 0) {
  std::mt19937 rng(seed);
  ImageSet set;
  set.count = count;
  set.channels = c;
  set.height = h;
  set.width = w;
  set.num_classes = 7;
  set.class_names.assign(7, "k");
  set.pixels.resize(static_cast<size_t>(count * set.image_size()));
  for (uint8_t& p : set.pixels) p = static_cast<uint8_t>(lo + rng() % (256 - lo));
  for (int64_t i = 0; i < count; ++i) set.labels.push_back(static_cast<int32_t>(rng() % 7));
  return set;
}

std::vector<float> Batch(const ImageSet& set, const std::vector<int64_t>& indices, int epoch,
                         const AugmentationOptions& options, bool ref = false,
                         std::vector<int32_t>* labels_out = nullptr) {
  std::vector<float> x(indices.size() * set.image_size());
  std::vector<int32_t> labels(indices.size());
  const absl::Status status = ref ? AugmentBatchRef(set, indices, epoch, options,
                                                    absl::MakeSpan(x), absl::MakeSpan(labels))
                                  : AugmentBatch(set, indices, epoch, options, absl::MakeSpan(x),
                                                 absl::MakeSpan(labels));
  EXPECT_TRUE(status.ok()) << status;
  if (labels_out) *labels_out = labels;
  return x;
}

std::vector<int64_t> Iota(int64_t n) {
  std::vector<int64_t> v(n);
  std::iota(v.begin(), v.end(), 0);
  return v;
}

TEST(Augmentation, RowWiseEqualsReferenceBitForBitOnOddShapes) {
  struct Shape { int c, h, w, pad; };
  for (const Shape& s : std::vector<Shape>{{3, 32, 32, 4}, {1, 7, 5, 2}, {5, 3, 9, 4},
                                           {2, 1, 1, 3}, {3, 11, 13, 0}, {3, 6, 4, 9}}) {
    const ImageSet set = RandomSet(23, s.c, s.h, s.w, 17u + s.c * 100u + s.h);
    std::vector<int64_t> indices = {22, 0, 5, 5, 17, 3, 9, 12, 1, 20, 8};
    for (int mode = 0; mode < 4; ++mode) {
      AugmentationOptions options;
      options.random_crop = mode & 1;
      options.horizontal_flip = mode & 2;
      options.crop_padding = s.pad;
      options.seed = 42 + mode;
      for (int c = 0; c < s.c; ++c) {
        options.mean.push_back(0.1f * c + 0.3f);
        options.std.push_back(0.2f + 0.05f * c);
      }
      for (int epoch : {0, 1, 7}) {
        std::vector<int32_t> labels, labels_ref;
        const std::vector<float> fast = Batch(set, indices, epoch, options, false, &labels);
        const std::vector<float> ref = Batch(set, indices, epoch, options, true, &labels_ref);
        ASSERT_EQ(fast.size(), ref.size());
        EXPECT_EQ(std::memcmp(fast.data(), ref.data(), fast.size() * sizeof(float)), 0)
            << s.c << "x" << s.h << "x" << s.w << " pad " << s.pad << " mode " << mode
            << " epoch " << epoch;
        EXPECT_EQ(labels, labels_ref);
        for (size_t i = 0; i < indices.size(); ++i) EXPECT_EQ(labels[i], set.labels[indices[i]]);
      }
    }
  }
}

TEST(Augmentation, OffAndNoNormalisationIsThePixelsOver255) {
  const ImageSet set = RandomSet(5, 3, 6, 7, 3);
  const std::vector<float> x = Batch(set, {4, 1}, 3, AugmentationOptions{});
  const int64_t size = set.image_size();
  for (int64_t k = 0; k < size; ++k) {
    EXPECT_EQ(x[k], static_cast<float>(set.image(4)[k]) / 255.0f);
    EXPECT_EQ(x[size + k], static_cast<float>(set.image(1)[k]) / 255.0f);
  }
}

TEST(Augmentation, OffWithNormalisationIsTorchvisionsNormalize) {
  const ImageSet set = RandomSet(3, 3, 5, 5, 8);
  const AugmentationOptions options = [] {
    AugmentationOptions o = CifarTrainAugmentation(1);
    o.random_crop = false;
    o.horizontal_flip = false;
    return o;
  }();
  const std::vector<float> x = Batch(set, {2}, 0, options);
  for (int c = 0; c < 3; ++c) {
    for (int k = 0; k < 25; ++k) {
      const float v = static_cast<float>(set.image(2)[c * 25 + k]) / 255.0f;
      EXPECT_EQ(x[c * 25 + k], (v - options.mean[c]) / options.std[c]);
    }
  }
}

// The crop as torchvision defines it: zero-pad the image by p, take the H x W window at
// (top, left); written here independently of both implementations.
std::vector<float> PaddedWindow(const ImageSet& set, int64_t i, int p, int top, int left,
                                bool flip) {
  const int H = set.height, W = set.width, Hp = H + 2 * p, Wp = W + 2 * p;
  std::vector<float> out;
  for (int c = 0; c < set.channels; ++c) {
    std::vector<uint8_t> padded(static_cast<size_t>(Hp) * Wp, 0);
    for (int y = 0; y < H; ++y) {
      for (int x = 0; x < W; ++x) padded[(y + p) * Wp + x + p] = set.image(i)[(c * H + y) * W + x];
    }
    for (int y = 0; y < H; ++y) {
      std::vector<float> row;
      for (int x = 0; x < W; ++x) row.push_back(padded[(y + top) * Wp + x + left] / 255.0f);
      if (flip) std::reverse(row.begin(), row.end());
      out.insert(out.end(), row.begin(), row.end());
    }
  }
  return out;
}

TEST(Augmentation, CropIsAWindowOfTheZeroPaddedImageAndPadIsZero) {
  const ImageSet set = RandomSet(200, 3, 8, 10, 5, /*lo=*/1);
  AugmentationOptions options;
  options.random_crop = true;
  options.crop_padding = 4;
  options.seed = 9;
  const std::vector<int64_t> indices = Iota(200);
  const std::vector<float> x = Batch(set, indices, 2, options);
  std::set<std::pair<int, int>> offsets;
  for (int64_t i = 0; i < 200; ++i) {
    const ExampleAugmentation a = AugmentationFor(options, 2, i);
    ASSERT_GE(a.top, 0);
    ASSERT_LE(a.top, 8);
    ASSERT_GE(a.left, 0);
    ASSERT_LE(a.left, 8);
    EXPECT_FALSE(a.flip);
    offsets.insert({a.top, a.left});
    const std::vector<float> expected = PaddedWindow(set, i, 4, a.top, a.left, false);
    const float* got = x.data() + i * set.image_size();
    int zeros = 0;
    for (size_t k = 0; k < expected.size(); ++k) {
      EXPECT_EQ(got[k], expected[k]) << "example " << i << " value " << k;
      zeros += got[k] == 0.0f;
    }
    // Pixels are >= 1, so the zeros are exactly the padding inside the window.
    const int rows_in = 8 - std::abs(a.top - 4), cols_in = 10 - std::abs(a.left - 4);
    EXPECT_EQ(zeros, 3 * (8 * 10 - rows_in * cols_in)) << "example " << i;
  }
  EXPECT_GT(offsets.size(), 60u);  // of the 81 offsets, most occur among 200 examples
}

TEST(Augmentation, FlipIsAnExactMirrorForAboutHalfTheExamples) {
  const ImageSet set = RandomSet(400, 2, 5, 9, 6);
  AugmentationOptions options;
  options.horizontal_flip = true;
  options.seed = 3;
  const std::vector<float> x = Batch(set, Iota(400), 0, options);
  int flipped = 0;
  for (int64_t i = 0; i < 400; ++i) {
    const ExampleAugmentation a = AugmentationFor(options, 0, i);
    EXPECT_EQ(a.top, 4);
    EXPECT_EQ(a.left, 4);
    flipped += a.flip;
    for (int c = 0; c < 2; ++c) {
      for (int y = 0; y < 5; ++y) {
        for (int xo = 0; xo < 9; ++xo) {
          const int src = a.flip ? 8 - xo : xo;
          ASSERT_EQ(x[i * 90 + (c * 5 + y) * 9 + xo], set.image(i)[(c * 5 + y) * 9 + src] / 255.0f);
        }
      }
    }
  }
  EXPECT_GT(flipped, 160);
  EXPECT_LT(flipped, 240);
}

TEST(Augmentation, DrawsDependOnSeedEpochAndExampleOnly) {
  const ImageSet set = RandomSet(50, 3, 8, 8, 2);
  AugmentationOptions options = CifarTrainAugmentation(123);
  // The same example gives the same floats whatever batch it is in and wherever in it.
  const std::vector<float> whole = Batch(set, Iota(50), 4, options);
  const std::vector<float> alone = Batch(set, {37}, 4, options);
  const std::vector<float> shuffled = Batch(set, {9, 37, 2}, 4, options);
  const int64_t size = set.image_size();
  EXPECT_EQ(std::memcmp(alone.data(), whole.data() + 37 * size, size * sizeof(float)), 0);
  EXPECT_EQ(std::memcmp(shuffled.data() + size, whole.data() + 37 * size, size * sizeof(float)), 0);
  // Same (seed, epoch): same draws; another epoch or seed: other draws for most examples.
  int other_epoch = 0, other_seed = 0;
  AugmentationOptions reseeded = options;
  reseeded.seed = 124;
  for (int64_t i = 0; i < 50; ++i) {
    const ExampleAugmentation a = AugmentationFor(options, 4, i);
    const ExampleAugmentation b = AugmentationFor(options, 4, i);
    EXPECT_TRUE(a.top == b.top && a.left == b.left && a.flip == b.flip);
    const ExampleAugmentation e = AugmentationFor(options, 5, i);
    const ExampleAugmentation s = AugmentationFor(reseeded, 4, i);
    other_epoch += (e.top != a.top || e.left != a.left || e.flip != a.flip);
    other_seed += (s.top != a.top || s.left != a.left || s.flip != a.flip);
  }
  EXPECT_GT(other_epoch, 40);
  EXPECT_GT(other_seed, 40);
  EXPECT_NE(std::memcmp(Batch(set, {37}, 5, options).data(), alone.data(), size * sizeof(float)), 0);
}

TEST(Augmentation, ChannelMeanStdOfAConstantAndATwoValueSet) {
  ImageSet set = RandomSet(2, 2, 2, 2, 1);
  // channel 0 all 51; channel 1 half 0, half 255.
  for (int64_t i = 0; i < 2; ++i) {
    uint8_t* p = set.pixels.data() + i * 8;
    std::fill(p, p + 4, 51);
    p[4] = p[5] = 0;
    p[6] = p[7] = 255;
  }
  std::vector<double> mean, std;
  ChannelMeanStd(set, &mean, &std);
  EXPECT_DOUBLE_EQ(mean[0], 0.2);
  EXPECT_DOUBLE_EQ(std[0], 0.0);
  EXPECT_DOUBLE_EQ(mean[1], 0.5);
  EXPECT_DOUBLE_EQ(std[1], 0.5);
}

TEST(Augmentation, BadArgumentsAreErrorsNotCrashes) {
  const ImageSet set = RandomSet(4, 3, 4, 4, 1);
  std::vector<float> x(2 * 48);
  std::vector<int32_t> labels(2);
  const std::vector<int64_t> good = {0, 3};
  const std::vector<int64_t> bad = {0, 4};
  const std::vector<int64_t> negative = {-1, 0};
  AugmentationOptions options;
  for (const auto* indices : {&bad, &negative}) {
    ExpectStatus(AugmentBatch(set, *indices, 0, options, absl::MakeSpan(x), absl::MakeSpan(labels)),
                 absl::StatusCode::kInvalidArgument, {"example index", "outside 0..3"});
    ExpectStatus(AugmentBatchRef(set, *indices, 0, options, absl::MakeSpan(x), absl::MakeSpan(labels)),
                 absl::StatusCode::kInvalidArgument, {"outside 0..3"});
  }
  std::vector<float> short_x(95);
  ExpectStatus(AugmentBatch(set, good, 0, options, absl::MakeSpan(short_x), absl::MakeSpan(labels)),
               absl::StatusCode::kInvalidArgument, {"96 floats", "got 95"});
  options.mean = {0.5f, 0.5f};
  ExpectStatus(AugmentBatch(set, good, 0, options, absl::MakeSpan(x), absl::MakeSpan(labels)),
               absl::StatusCode::kInvalidArgument, {"mean has 2 values for 3 channels"});
  options.mean.clear();
  options.std = {1.0f, 0.0f, 1.0f};
  ExpectStatus(AugmentBatch(set, good, 0, options, absl::MakeSpan(x), absl::MakeSpan(labels)),
               absl::StatusCode::kInvalidArgument, {"std 0"});
  options.std.clear();
  options.crop_padding = -1;
  ExpectStatus(AugmentBatch(set, good, 0, options, absl::MakeSpan(x), absl::MakeSpan(labels)),
               absl::StatusCode::kInvalidArgument, {"crop_padding -1"});
  ImageSet broken = set;
  broken.pixels.pop_back();
  ExpectStatus(AugmentBatch(broken, good, 0, AugmentationOptions{}, absl::MakeSpan(x),
                            absl::MakeSpan(labels)),
               absl::StatusCode::kInvalidArgument, {"inconsistent image set"});
}

}  // namespace
}  // namespace quantbench
