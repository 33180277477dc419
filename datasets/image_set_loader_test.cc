#include "datasets/image_set_loader.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <string>
#include <vector>

#include "datasets/cifar10_binary.h"
#include "datasets/jpeg_codec.h"
#include "datasets/test_util.h"

namespace quantbench {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> OneRecord(uint8_t label, uint8_t value) {
  std::vector<uint8_t> record(kCifar10RecordBytes, value);
  record[0] = label;
  return record;
}

TEST(ImageSetLoader, BinaryBatchesInTheFolderOrItsCifarSubfolder) {
  for (const std::string& sub : {std::string(), std::string("/cifar-10-batches-bin")}) {
    const std::string dir = FreshTestDir("loader_binary");
    fs::create_directories(dir + sub);
    WriteFileBytes(dir + sub + "/test_batch.bin", OneRecord(7, 200));
    ImageSetLoadInfo info;
    auto set = LoadImageSetSplit(dir, "test", ClassFolderOptions{}, &info);
    ASSERT_TRUE(set.ok()) << set.status();
    EXPECT_EQ(info.format, "cifar10-binary");
    EXPECT_EQ(info.dir, dir + sub);
    ASSERT_EQ(set->count, 1);
    EXPECT_EQ(set->labels[0], 7);
    EXPECT_EQ(set->pixels[3071], 200);
    // The train split of this folder lacks its batches: the binary reader's error, by name.
    ExpectStatus(LoadImageSetSplit(dir, "train", ClassFolderOptions{}).status(),
                 absl::StatusCode::kNotFound, {"data_batch_1.bin"});
    ClassFolderOptions wrong;
    wrong.expected_classes = {"a", "b"};
    ExpectStatus(LoadImageSetSplit(dir, "test", wrong).status(),
                 absl::StatusCode::kInvalidArgument, {"differ from the expected classes"});
  }
}

TEST(ImageSetLoader, OtherwiseClassFolders) {
  const std::string dir = FreshTestDir("loader_folders");
  fs::create_directories(dir + "/test/only");
  const std::vector<uint8_t> pixels(4 * 4 * 3, 90);
  auto jpeg = EncodeJpeg(pixels.data(), 4, 4, 3, 95);
  ASSERT_TRUE(jpeg.ok());
  WriteFileBytes(dir + "/test/only/0.jpg", *jpeg);
  ImageSetLoadInfo info;
  auto set = LoadImageSetSplit(dir, "test", ClassFolderOptions{}, &info);
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(info.format, "class-folders");
  EXPECT_EQ(info.dir, dir + "/test");
  EXPECT_EQ(info.class_folders.cache_note, "disabled");
  EXPECT_EQ(set->count, 1);
  EXPECT_EQ(set->class_names, std::vector<std::string>{"only"});
  ExpectStatus(LoadImageSetSplit(dir, "train", ClassFolderOptions{}).status(),
               absl::StatusCode::kNotFound, {dir + "/train", "split folder missing"});
}

}  // namespace
}  // namespace quantbench
