#include "datasets/class_folder_dataset.h"

#include <gtest/gtest.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "datasets/jpeg_codec.h"
#include "datasets/shared_data_for_tests.h"
#include "datasets/test_util.h"

namespace quantbench {
namespace {

namespace fs = std::filesystem;

// A random-pixel JPEG (components 1 or 3) of width x height, written to `path`.
void WriteRandomJpeg(const std::string& path, int width, int height, uint32_t seed,
                     int components = 3) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> pixels(static_cast<size_t>(width) * height * components);
  for (uint8_t& p : pixels) p = static_cast<uint8_t>(rng());
  auto jpeg = EncodeJpeg(pixels.data(), width, height, components, 90);
  ASSERT_TRUE(jpeg.ok()) << jpeg.status();
  WriteFileBytes(path, *jpeg);
}

// The CHW planes of a file as the codec decodes it (HWC), the expected image content.
std::vector<uint8_t> PlanesOf(const std::string& path) {
  auto image = DecodeJpegFile(path);
  EXPECT_TRUE(image.ok()) << image.status();
  if (!image.ok()) return {};
  const size_t plane = static_cast<size_t>(image->width) * image->height;
  std::vector<uint8_t> chw(3 * plane);
  for (size_t p = 0; p < plane; ++p) {
    for (size_t c = 0; c < 3; ++c) chw[c * plane + p] = image->pixels[3 * p + c];
  }
  return chw;
}

// root/train/{cat: 3 images, ant: 2, bee: 1 greyscale}, 7 x 5 pixels; files named so that
// listing order and sorted order differ.
class ClassFolderTest : public testing::Test {
 protected:
  void SetUp() override {
    root_ = FreshTestDir("class_folders");
    uint32_t seed = 1;
    for (const auto& [cls, files] : std::vector<std::pair<std::string, std::vector<std::string>>>{
             {"cat", {"z.jpg", "a.JPG", "m.jpeg"}}, {"ant", {"2.jpg", "1.jpg"}}, {"bee", {"x.jpg"}}}) {
      fs::create_directories(Dir(cls));
      for (const std::string& file : files) {
        WriteRandomJpeg(Dir(cls) + "/" + file, 7, 5, seed++, cls == "bee" ? 1 : 3);
      }
    }
    std::ofstream(Dir("cat") + "/notes.txt") << "not an image";
    fs::create_directories(root_ + "/train/.hidden");
  }
  std::string Dir(const std::string& cls) const { return root_ + "/train/" + cls; }

  std::string root_;
};

TEST_F(ClassFolderTest, LabelsFollowSortedFoldersAndPixelsAreTheDecodedPlanes) {
  ClassFolderLoadInfo info;
  auto set = LoadClassFolderSplit(root_, "train", ClassFolderOptions{}, &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(ValidateImageSet(*set).ok()) << ValidateImageSet(*set);
  EXPECT_EQ(info.cache_note, "disabled");
  EXPECT_EQ(set->class_names, (std::vector<std::string>{"ant", "bee", "cat"}));
  EXPECT_EQ(set->num_classes, 3);
  EXPECT_EQ(set->labels, (std::vector<int32_t>{0, 0, 1, 2, 2, 2}));
  EXPECT_EQ(ClassCounts(*set), (std::vector<int64_t>{2, 1, 3}));
  ASSERT_EQ(set->count, 6);
  EXPECT_EQ(set->channels, 3);
  EXPECT_EQ(set->height, 5);
  EXPECT_EQ(set->width, 7);
  const std::vector<std::string> order = {"ant/1.jpg", "ant/2.jpg", "bee/x.jpg",
                                          "cat/a.JPG", "cat/m.jpeg", "cat/z.jpg"};
  for (size_t i = 0; i < order.size(); ++i) {
    const std::vector<uint8_t> expected = PlanesOf(root_ + "/train/" + order[i]);
    ASSERT_EQ(expected.size(), static_cast<size_t>(set->image_size()));
    EXPECT_EQ(std::memcmp(set->image(i), expected.data(), expected.size()), 0) << order[i];
  }
  // The greyscale image has R = G = B.
  const uint8_t* bee = set->image(2);
  EXPECT_EQ(std::memcmp(bee, bee + 35, 35), 0);
  EXPECT_EQ(std::memcmp(bee, bee + 70, 35), 0);
}

TEST_F(ClassFolderTest, ThreadCountDoesNotChangeThePixels) {
  ClassFolderOptions one, three;
  one.threads = 1;
  three.threads = 3;
  auto a = LoadClassFolderSplit(root_, "train", one);
  auto b = LoadClassFolderSplit(root_, "train", three);
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_EQ(a->pixels, b->pixels);
  EXPECT_EQ(a->labels, b->labels);
}

TEST_F(ClassFolderTest, CacheRoundTripsAndNoticesChangedFiles) {
  ClassFolderOptions options;
  options.cache_dir = FreshTestDir("class_folder_cache");
  ClassFolderLoadInfo cold, warm, changed;
  auto first = LoadClassFolderSplit(root_, "train", options, &cold);
  ASSERT_TRUE(first.ok()) << first.status();
  EXPECT_FALSE(cold.cache_hit);
  EXPECT_EQ(cold.cache_note, "miss (no cache file); written");
  ASSERT_TRUE(fs::exists(cold.cache_path)) << cold.cache_path;

  auto second = LoadClassFolderSplit(root_, "train", options, &warm);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_TRUE(warm.cache_hit) << warm.cache_note;
  EXPECT_EQ(warm.cache_path, cold.cache_path);
  EXPECT_EQ(second->pixels, first->pixels);
  EXPECT_EQ(second->labels, first->labels);
  EXPECT_EQ(second->class_names, first->class_names);

  // Replacing an image changes its size/mtime, hence the key: decoded again, new content.
  WriteRandomJpeg(Dir("ant") + "/1.jpg", 7, 5, 1234);
  fs::last_write_time(Dir("ant") + "/1.jpg",
                      fs::last_write_time(Dir("ant") + "/1.jpg") + std::chrono::seconds(5));
  auto third = LoadClassFolderSplit(root_, "train", options, &changed);
  ASSERT_TRUE(third.ok()) << third.status();
  EXPECT_FALSE(changed.cache_hit);
  EXPECT_NE(changed.cache_path, cold.cache_path);
  const std::vector<uint8_t> expected = PlanesOf(Dir("ant") + "/1.jpg");
  EXPECT_EQ(std::memcmp(third->image(0), expected.data(), expected.size()), 0);
}

TEST_F(ClassFolderTest, CorruptCacheFileIsRecomputed) {
  ClassFolderOptions options;
  options.cache_dir = FreshTestDir("class_folder_cache_corrupt");
  ClassFolderLoadInfo cold, again;
  auto first = LoadClassFolderSplit(root_, "train", options, &cold);
  ASSERT_TRUE(first.ok()) << first.status();
  {
    std::fstream file(cold.cache_path, std::ios::in | std::ios::out | std::ios::binary);
    file.seekp(static_cast<std::streamoff>(fs::file_size(cold.cache_path) - 20));
    file.put('\x5a');
  }
  auto second = LoadClassFolderSplit(root_, "train", options, &again);
  ASSERT_TRUE(second.ok()) << second.status();
  EXPECT_FALSE(again.cache_hit);
  EXPECT_NE(again.cache_note.find("recomputed; written"), std::string::npos) << again.cache_note;
  EXPECT_EQ(second->pixels, first->pixels);
}

TEST_F(ClassFolderTest, UnwritableCacheStillLoads) {
  ClassFolderOptions options;
  options.cache_dir = FreshTestDir("class_folder_cache_blocked") + "/file";
  WriteFileBytes(options.cache_dir, {1, 2, 3});  // a file where the folder should be
  ClassFolderLoadInfo info;
  auto set = LoadClassFolderSplit(root_, "train", options, &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_NE(info.cache_note.find("cannot write"), std::string::npos) << info.cache_note;
  EXPECT_EQ(set->count, 6);
}

TEST_F(ClassFolderTest, MissingSplitIsNotFound) {
  ExpectStatus(LoadClassFolderSplit(root_, "test", ClassFolderOptions{}).status(),
               absl::StatusCode::kNotFound, {root_ + "/test", "split folder missing"});
}

TEST_F(ClassFolderTest, SplitWithoutClassFoldersIsAnError) {
  fs::create_directories(root_ + "/empty/.hidden");
  ExpectStatus(LoadClassFolderSplit(root_, "empty", ClassFolderOptions{}).status(),
               absl::StatusCode::kInvalidArgument, {root_ + "/empty", "no class folders"});
}

TEST_F(ClassFolderTest, EmptyClassFolderIsAnErrorNamingIt) {
  fs::create_directories(Dir("dog"));
  std::ofstream(Dir("dog") + "/readme.txt") << "no images";
  ExpectStatus(LoadClassFolderSplit(root_, "train", ClassFolderOptions{}).status(),
               absl::StatusCode::kInvalidArgument, {Dir("dog"), "empty class folder"});
}

TEST_F(ClassFolderTest, MixedImageSizesNameTheOddFile) {
  WriteRandomJpeg(Dir("cat") + "/m.jpeg", 8, 5, 77);
  for (int threads : {1, 2}) {
    ClassFolderOptions options;
    options.threads = threads;
    ExpectStatus(LoadClassFolderSplit(root_, "train", options).status(),
                 absl::StatusCode::kInvalidArgument,
                 {Dir("cat") + "/m.jpeg", "8x5", "ant/1.jpg is 7x5", "same size"});
  }
}

TEST_F(ClassFolderTest, TruncatedJpegIsDataLossNamingTheFirstBadFile) {
  for (const std::string& file : {Dir("cat") + "/z.jpg", Dir("bee") + "/x.jpg"}) {
    const auto size = fs::file_size(file);
    fs::resize_file(file, size / 2);
  }
  for (int threads : {1, 3}) {
    ClassFolderOptions options;
    options.threads = threads;
    ExpectStatus(LoadClassFolderSplit(root_, "train", options).status(),
                 absl::StatusCode::kDataLoss, {Dir("bee") + "/x.jpg"});
  }
}

TEST_F(ClassFolderTest, ExpectedClassesMustMatch) {
  ClassFolderOptions options;
  options.expected_classes = {"ant", "bee", "cat", "dog"};
  ExpectStatus(LoadClassFolderSplit(root_, "train", options).status(),
               absl::StatusCode::kInvalidArgument, {"[ant, bee, cat]", "[ant, bee, cat, dog]"});
  options.expected_classes = {"ant", "bee", "cat"};
  EXPECT_TRUE(LoadClassFolderSplit(root_, "train", options).ok());
}

TEST_F(ClassFolderTest, PerClassLimitKeepsTheFirstImagesOfEveryClass) {
  ClassFolderOptions options;
  options.per_class_limit = 2;
  auto set = LoadClassFolderSplit(root_, "train", options);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->labels, (std::vector<int32_t>{0, 0, 1, 2, 2}));
  const std::vector<uint8_t> expected = PlanesOf(Dir("cat") + "/m.jpeg");  // a.JPG, m.jpeg kept
  EXPECT_EQ(std::memcmp(set->image(4), expected.data(), expected.size()), 0);
  options.per_class_limit = -1;
  ExpectStatus(LoadClassFolderSplit(root_, "train", options).status(),
               absl::StatusCode::kInvalidArgument, {"per_class_limit -1"});
}

// ---- the staged CIFAR-10 JPEGs, if this machine has them

TEST(RealCifar10Jpeg, TestSplitCountsShapesMeansAndCache) {
  const std::string root = SharedDataDir() + "/cifar10_jpeg";
  if (!fs::is_directory(root + "/test")) GTEST_SKIP() << MissingSharedDataMessage(root + "/test");
  ClassFolderOptions options;
  options.cache_dir = FreshTestDir("cifar10_jpeg_cache");
  ClassFolderLoadInfo cold, warm;
  auto set = LoadClassFolderSplit(root, "test", options, &cold);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(ValidateImageSet(*set).ok());
  EXPECT_EQ(set->count, 10000);
  EXPECT_EQ(set->channels, 3);
  EXPECT_EQ(set->height, 32);
  EXPECT_EQ(set->width, 32);
  EXPECT_EQ(set->class_names,
            (std::vector<std::string>{"airplane", "automobile", "bird", "cat", "deer", "dog",
                                      "frog", "horse", "ship", "truck"}));
  EXPECT_EQ(ClassCounts(*set), std::vector<int64_t>(10, 1000));
  // Per-channel means of x / 255 as shared/data/README.md measured them with Pillow (an
  // independent decoder): 0.4941 / 0.4851 / 0.4504, given to 4 digits.
  const double readme_mean[3] = {0.4941, 0.4851, 0.4504};
  const int64_t plane = 32 * 32;
  for (int c = 0; c < 3; ++c) {
    double sum = 0;
    for (int64_t i = 0; i < set->count; ++i) {
      for (int64_t k = 0; k < plane; ++k) sum += set->image(i)[c * plane + k];
    }
    EXPECT_NEAR(sum / (255.0 * plane * set->count), readme_mean[c], 6e-5) << "channel " << c;
  }
  auto again = LoadClassFolderSplit(root, "test", options, &warm);
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(warm.cache_hit) << warm.cache_note;
  EXPECT_EQ(again->pixels, set->pixels);
  EXPECT_EQ(again->labels, set->labels);
  std::printf("cifar10_jpeg test split: cold %.2f s, warm %.2f s\n", cold.seconds, warm.seconds);
}

}  // namespace
}  // namespace quantbench
