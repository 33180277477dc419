// AugmentBatch against torchvision itself: for the crop offsets and flips our hash draws,
// torchvision's functional pad / crop / hflip / to_tensor / normalize on a PIL image (what
// RandomCrop(32, padding=4) and RandomHorizontalFlip do after drawing) must give the same
// float32 values. Runs datasets/torchvision_augmentation.py with Debian's /usr/bin/python3;
// skips, saying why, when python3, torchvision, PIL or numpy are missing.
#include <gtest/gtest.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "datasets/augmentation.h"
#include "datasets/test_util.h"

namespace quantbench {
namespace {

constexpr char kPython[] = "/usr/bin/python3";
constexpr char kScript[] = "datasets/torchvision_augmentation.py";

std::string TorchvisionUnavailable() {
  if (!std::ifstream(kPython)) return absl::StrCat(kPython, " is missing");
  const std::string probe =
      absl::StrCat(kPython, " -c 'import torch, torchvision, PIL, numpy' >/dev/null 2>&1");
  if (std::system(probe.c_str()) != 0) {
    return absl::StrCat(kPython, " cannot import torch, torchvision, PIL and numpy (Debian: "
                                 "python3-torchvision, python3-pil, python3-numpy)");
  }
  return "";
}

template <typename T>
void Put(std::string* out, const T& v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

void CompareWithTorchvision(int channels, int height, int width, int padding, uint32_t seed) {
  std::mt19937 rng(seed);
  ImageSet set;
  set.count = 40;
  set.channels = channels;
  set.height = height;
  set.width = width;
  set.num_classes = 1;
  set.class_names = {"x"};
  set.labels.assign(40, 0);
  set.pixels.resize(static_cast<size_t>(set.count * set.image_size()));
  for (uint8_t& p : set.pixels) p = static_cast<uint8_t>(rng());
  AugmentationOptions options = CifarTrainAugmentation(seed);
  options.crop_padding = padding;
  options.mean.resize(channels, 0.45f);
  options.std.resize(channels, 0.25f);

  std::vector<int64_t> indices;
  for (int64_t i = 0; i < set.count; ++i) indices.push_back(i);
  const int epoch = 3;
  std::vector<float> ours(static_cast<size_t>(set.count * set.image_size()));
  std::vector<int32_t> labels(set.count);
  ASSERT_TRUE(AugmentBatch(set, indices, epoch, options, absl::MakeSpan(ours),
                           absl::MakeSpan(labels))
                  .ok());

  std::string request;
  for (int32_t v : {static_cast<int32_t>(set.count), channels, height, width, padding}) Put(&request, v);
  for (float m : options.mean) Put(&request, m);
  for (float s : options.std) Put(&request, s);
  int flips = 0;
  for (int64_t i = 0; i < set.count; ++i) {
    const ExampleAugmentation a = AugmentationFor(options, epoch, i);
    flips += a.flip;
    for (int32_t v : {a.top, a.left, static_cast<int32_t>(a.flip)}) Put(&request, v);
  }
  request.append(reinterpret_cast<const char*>(set.pixels.data()), set.pixels.size());
  const std::string dir = FreshTestDir(absl::StrCat("torchvision_aug_", channels, "_", height));
  const std::string in = dir + "/in.bin", out = dir + "/out.bin", err = dir + "/stderr.txt";
  std::ofstream(in, std::ios::binary) << request;
  const std::string command =
      absl::StrCat(kPython, " ", kScript, " '", in, "' '", out, "' 2>'", err, "'");
  ASSERT_EQ(std::system(command.c_str()), 0) << command << ": see " << err;

  std::ifstream result(out, std::ios::binary);
  std::vector<float> theirs(ours.size());
  result.read(reinterpret_cast<char*>(theirs.data()),
              static_cast<std::streamsize>(theirs.size() * sizeof(float)));
  ASSERT_EQ(result.gcount(), static_cast<std::streamsize>(theirs.size() * sizeof(float)));
  for (size_t k = 0; k < ours.size(); ++k) {
    ASSERT_EQ(ours[k], theirs[k]) << "value " << k << " (example " << k / set.image_size() << ")";
  }
  EXPECT_GT(flips, 5);  // both branches were exercised
  EXPECT_LT(flips, 35);
}

TEST(TorchvisionAugmentation, Cifar32x32Padding4) {
  if (const std::string why = TorchvisionUnavailable(); !why.empty()) GTEST_SKIP() << why;
  CompareWithTorchvision(3, 32, 32, 4, 11);
}

TEST(TorchvisionAugmentation, OddShapeGreyscaleAndWidePadding) {
  if (const std::string why = TorchvisionUnavailable(); !why.empty()) GTEST_SKIP() << why;
  CompareWithTorchvision(1, 7, 9, 5, 12);
}

}  // namespace
}  // namespace quantbench
