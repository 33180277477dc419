#include "datasets/cifar10_binary.h"

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <random>
#include <string>
#include <vector>

#include "datasets/test_util.h"

namespace quantbench {
namespace {

// `records` random records whose labels are given; returns the file's bytes.
std::vector<uint8_t> Records(const std::vector<uint8_t>& labels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<uint8_t> bytes;
  for (uint8_t label : labels) {
    bytes.push_back(label);
    for (int i = 0; i < kCifar10RecordBytes - 1; ++i) bytes.push_back(static_cast<uint8_t>(rng()));
  }
  return bytes;
}

// A cifar-10-batches-bin folder with 5 train batches of 1..5 records and a 3-record test batch.
class Cifar10BinaryTest : public testing::Test {
 protected:
  void SetUp() override {
    dir_ = FreshTestDir("cifar10_bin");
    for (int b = 1; b <= 5; ++b) {
      std::vector<uint8_t> labels;
      for (int r = 0; r < b; ++r) labels.push_back(static_cast<uint8_t>((b + r) % 10));
      train_[b - 1] = Records(labels, static_cast<uint32_t>(b));
      WriteFileBytes(Path("data_batch_" + std::to_string(b) + ".bin"), train_[b - 1]);
    }
    test_ = Records({9, 0, 3}, 99);
    WriteFileBytes(Path("test_batch.bin"), test_);
  }
  std::string Path(const std::string& name) const { return dir_ + "/" + name; }

  std::string dir_;
  std::vector<uint8_t> train_[5];
  std::vector<uint8_t> test_;
};

TEST_F(Cifar10BinaryTest, TrainSplitIsTheFiveBatchesInOrderWithPlanesAsStored) {
  auto set = LoadCifar10Binary(dir_, "train");
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_TRUE(ValidateImageSet(*set).ok()) << ValidateImageSet(*set);
  ASSERT_EQ(set->count, 1 + 2 + 3 + 4 + 5);
  EXPECT_EQ(set->channels, 3);
  EXPECT_EQ(set->height, 32);
  EXPECT_EQ(set->width, 32);
  EXPECT_EQ(set->num_classes, 10);
  EXPECT_EQ(set->class_names, Cifar10ClassNames());
  int64_t i = 0;
  for (int b = 0; b < 5; ++b) {
    for (int r = 0; r <= b; ++r, ++i) {
      const uint8_t* record = train_[b].data() + r * kCifar10RecordBytes;
      EXPECT_EQ(set->labels[i], record[0]) << "image " << i;
      // R plane, then G, then B, rows top to bottom: NCHW as stored.
      EXPECT_EQ(std::memcmp(set->image(i), record + 1, 3072), 0) << "image " << i;
      EXPECT_EQ(set->image(i)[2 * 1024 + 31 * 32 + 31], record[3072]);  // last blue pixel
    }
  }
}

TEST_F(Cifar10BinaryTest, TestSplitAndMetaFileNames) {
  // batches.meta.txt as distributed: ten names, then blank lines.
  std::ofstream(Path("batches.meta.txt"))
      << "c0\nc1\nc2\nc3\nc4\nc5\nc6\nc7\nc8\nc9\n\n\n";
  auto set = LoadCifar10Binary(dir_, "test");
  ASSERT_TRUE(set.ok()) << set.status();
  ASSERT_EQ(set->count, 3);
  EXPECT_EQ(set->labels, (std::vector<int32_t>{9, 0, 3}));
  EXPECT_EQ(set->class_names.front(), "c0");
  EXPECT_EQ(set->class_names.back(), "c9");
  EXPECT_EQ(std::memcmp(set->pixels.data() + 3072, test_.data() + kCifar10RecordBytes + 1, 3072), 0);
}

TEST_F(Cifar10BinaryTest, MetaFileWithWrongCountIsAnError) {
  std::ofstream(Path("batches.meta.txt")) << "a\nb\n";
  ExpectStatus(LoadCifar10Binary(dir_, "test").status(), absl::StatusCode::kInvalidArgument,
               {"batches.meta.txt", "2 class names, expected 10"});
}

TEST_F(Cifar10BinaryTest, MissingBatchIsNotFoundNamingIt) {
  std::filesystem::remove(Path("data_batch_3.bin"));
  ExpectStatus(LoadCifar10Binary(dir_, "train").status(), absl::StatusCode::kNotFound,
               {"data_batch_3.bin", "cannot open"});
}

TEST_F(Cifar10BinaryTest, TruncatedBatchIsDataLoss) {
  std::vector<uint8_t> cut(test_.begin(), test_.end() - 100);
  WriteFileBytes(Path("test_batch.bin"), cut);
  ExpectStatus(LoadCifar10Binary(dir_, "test").status(), absl::StatusCode::kDataLoss,
               {"test_batch.bin", std::to_string(cut.size()) + " bytes", "3073-byte records"});
}

TEST_F(Cifar10BinaryTest, EmptyBatchIsDataLoss) {
  WriteFileBytes(Path("test_batch.bin"), {});
  ExpectStatus(LoadCifar10Binary(dir_, "test").status(), absl::StatusCode::kDataLoss,
               {"test_batch.bin", "empty"});
}

TEST_F(Cifar10BinaryTest, LabelAboveNineIsDataLossNamingTheRecord) {
  std::vector<uint8_t> bad = test_;
  bad[2 * kCifar10RecordBytes] = 10;
  WriteFileBytes(Path("test_batch.bin"), bad);
  ExpectStatus(LoadCifar10Binary(dir_, "test").status(), absl::StatusCode::kDataLoss,
               {"test_batch.bin", "record 2", "byte offset 6146", "label 10"});
}

TEST_F(Cifar10BinaryTest, UnknownSplitIsInvalidArgument) {
  ExpectStatus(LoadCifar10Binary(dir_, "val").status(), absl::StatusCode::kInvalidArgument,
               {"\"val\"", "train", "test"});
}

TEST(Cifar10Binary, MissingFolderIsNotFound) {
  ExpectStatus(LoadCifar10Binary("/nonexistent/cifar", "test").status(),
               absl::StatusCode::kNotFound, {"/nonexistent/cifar/test_batch.bin"});
}

}  // namespace
}  // namespace quantbench
