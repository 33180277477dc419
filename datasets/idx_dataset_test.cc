#include "datasets/idx_dataset.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <cstdio>
#include <fstream>
#include <string>
#include <vector>

namespace quantbench {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  return std::string(dir ? dir : "/tmp") + "/" + name;
}

std::vector<uint8_t> IdxBytes(std::vector<uint32_t> dims, const std::vector<uint8_t>& data) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), data.begin(), data.end());
  return bytes;
}

void WriteRaw(const std::string& path, const std::vector<uint8_t>& bytes) {
  std::ofstream out(path, std::ios::binary);
  out.write(reinterpret_cast<const char*>(bytes.data()), bytes.size());
}

void WriteGzip(const std::string& path, const std::vector<uint8_t>& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  ASSERT_NE(f, nullptr);
  ASSERT_EQ(gzwrite(f, bytes.data(), bytes.size()), static_cast<int>(bytes.size()));
  gzclose(f);
}

std::vector<uint8_t> Pixels(int n) {
  std::vector<uint8_t> pixels(n * 2 * 3);
  for (size_t i = 0; i < pixels.size(); ++i) pixels[i] = static_cast<uint8_t>(i * 7);
  return pixels;
}

TEST(IdxDataset, ReadsRawAndGzipIdentically) {
  std::vector<uint8_t> images = IdxBytes({4, 2, 3}, Pixels(4));
  std::vector<uint8_t> labels = IdxBytes({4}, {3, 1, 4, 1});
  WriteRaw(TempPath("raw-images"), images);
  WriteRaw(TempPath("raw-labels"), labels);
  WriteGzip(TempPath("gz-images.gz"), images);
  WriteGzip(TempPath("gz-labels.gz"), labels);
  auto raw = LoadIdxDataset(TempPath("raw-images"), TempPath("raw-labels"), 0, {});
  auto gz = LoadIdxDataset(TempPath("gz-images.gz"), TempPath("gz-labels.gz"), 0, {});
  ASSERT_TRUE(raw.ok()) << raw.status();
  ASSERT_TRUE(gz.ok()) << gz.status();
  EXPECT_EQ(raw->count, 4);
  EXPECT_EQ(raw->example_shape, std::vector<int64_t>({6}));
  EXPECT_EQ(raw->labels, std::vector<int32_t>({3, 1, 4, 1}));
  EXPECT_EQ(raw->num_classes, 5);
  EXPECT_EQ(raw->pixels, gz->pixels);
  EXPECT_FLOAT_EQ(raw->pixels[1], 7.0f / 255.0f);
}

TEST(IdxDataset, AppliesNormalizationAndLimit) {
  WriteRaw(TempPath("n-images"), IdxBytes({4, 2, 3}, Pixels(4)));
  WriteRaw(TempPath("n-labels"), IdxBytes({4}, {0, 1, 2, 3}));
  auto set = LoadIdxDataset(TempPath("n-images"), TempPath("n-labels"), 2, {1.0f, 10.0f, 2.0f});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, 2);
  EXPECT_EQ(set->pixels.size(), 12u);
  EXPECT_FLOAT_EQ(set->pixels[2], (14.0f - 10.0f) / 2.0f);
}

TEST(IdxDataset, BadMagicNamesFileAndExpectation) {
  std::vector<uint8_t> bytes = IdxBytes({4}, {0, 1, 2, 3});  // labels where images expected
  WriteRaw(TempPath("magic"), bytes);
  auto array = ReadIdxFile(TempPath("magic"), 3);
  ASSERT_FALSE(array.ok());
  EXPECT_NE(array.status().message().find("magic"), std::string::npos) << array.status();
  EXPECT_NE(array.status().message().find(TempPath("magic")), std::string::npos);
  EXPECT_NE(array.status().message().find("0x00000803"), std::string::npos) << array.status();
}

TEST(IdxDataset, TruncatedDataIsDataLoss) {
  std::vector<uint8_t> bytes = IdxBytes({4, 2, 3}, Pixels(4));
  bytes.resize(bytes.size() - 5);
  WriteRaw(TempPath("short"), bytes);
  auto array = ReadIdxFile(TempPath("short"), 3);
  ASSERT_FALSE(array.ok());
  EXPECT_TRUE(absl::IsDataLoss(array.status())) << array.status();
  EXPECT_NE(array.status().message().find("truncated"), std::string::npos);
}

// 2^31 * 2^31 * 4 wraps a 64-bit product to 0, which a header-only file "holds": the reader
// accepted it as 2^31 images of 2^33 pixels each (found while writing the idx fuzz target).
TEST(IdxDataset, DimensionProductThatWrapsIsDataLoss) {
  WriteRaw(TempPath("wrap"), IdxBytes({0x80000000u, 0x80000000u, 4}, {}));
  WriteRaw(TempPath("wrap_labels"), IdxBytes({0x80000000u}, {}));
  auto array = ReadIdxFile(TempPath("wrap"), 3);
  ASSERT_FALSE(array.ok());
  EXPECT_TRUE(absl::IsDataLoss(array.status())) << array.status();
  auto set = LoadIdxDataset(TempPath("wrap"), TempPath("wrap_labels"), 0, {});
  EXPECT_FALSE(set.ok());
}

TEST(IdxDataset, TruncatedGzipIsDataLoss) {
  std::vector<uint8_t> bytes = IdxBytes({40, 20, 30}, std::vector<uint8_t>(24000, 9));
  WriteGzip(TempPath("cut.gz"), bytes);
  std::ifstream in(TempPath("cut.gz"), std::ios::binary);
  std::vector<uint8_t> gz((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
  gz.resize(gz.size() / 2);
  WriteRaw(TempPath("cut.gz"), gz);
  auto array = ReadIdxFile(TempPath("cut.gz"), 3);
  ASSERT_FALSE(array.ok());
  EXPECT_TRUE(absl::IsDataLoss(array.status())) << array.status();
}

std::vector<uint8_t> GzipBytes(const std::string& name, const std::vector<uint8_t>& bytes) {
  WriteGzip(TempPath(name), bytes);
  std::ifstream in(TempPath(name), std::ios::binary);
  return std::vector<uint8_t>((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
}

// `cat a.gz b.gz` decompresses to the concatenation, as gunzip (and zlib's gzread) do.
TEST(IdxDataset, ConcatenatedGzipMembersDecompressToTheConcatenation) {
  const std::vector<uint8_t> whole = IdxBytes({4, 2, 3}, Pixels(4));
  const std::vector<uint8_t> head(whole.begin(), whole.begin() + 10);
  const std::vector<uint8_t> tail(whole.begin() + 10, whole.end());
  std::vector<uint8_t> gz = GzipBytes("head.gz", head);
  const std::vector<uint8_t> gz_tail = GzipBytes("tail.gz", tail);
  gz.insert(gz.end(), gz_tail.begin(), gz_tail.end());
  auto bytes = DecompressIfGzip(gz, "two members");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, whole);
  auto array = ParseIdx(*bytes, 3, "two members");
  ASSERT_TRUE(array.ok()) << array.status();
  EXPECT_EQ(array->dims, std::vector<uint32_t>({4, 2, 3}));
}

TEST(IdxDataset, TrailingBytesAfterGzipAreDataLoss) {
  std::vector<uint8_t> gz = GzipBytes("trail.gz", IdxBytes({1}, {7}));
  gz.push_back(0x42);
  auto bytes = DecompressIfGzip(gz, "trail.gz");
  ASSERT_FALSE(bytes.ok());
  EXPECT_TRUE(absl::IsDataLoss(bytes.status())) << bytes.status();
  EXPECT_NE(bytes.status().message().find("1 trailing bytes"), std::string::npos) << bytes.status();
}

TEST(IdxDataset, RawBytesPassThroughUnchanged) {
  const std::vector<uint8_t> raw = IdxBytes({2}, {0, 1});
  auto bytes = DecompressIfGzip(raw, "raw");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, raw);
}

TEST(IdxDataset, CountMismatchIsAnError) {
  WriteRaw(TempPath("m-images"), IdxBytes({4, 2, 3}, Pixels(4)));
  WriteRaw(TempPath("m-labels"), IdxBytes({3}, {0, 1, 2}));
  auto set = LoadIdxDataset(TempPath("m-images"), TempPath("m-labels"), 0, {});
  ASSERT_FALSE(set.ok());
  EXPECT_NE(set.status().message().find("4 images"), std::string::npos) << set.status();
  EXPECT_NE(set.status().message().find("3 labels"), std::string::npos) << set.status();
}

TEST(IdxDataset, MissingFileIsNotFound) {
  auto array = ReadIdxFile(TempPath("does-not-exist"), 1);
  ASSERT_FALSE(array.ok());
  EXPECT_TRUE(absl::IsNotFound(array.status())) << array.status();
}

TEST(IdxDataset, TooShortHeader) {
  WriteRaw(TempPath("tiny"), {0, 0});
  EXPECT_TRUE(absl::IsDataLoss(ReadIdxFile(TempPath("tiny"), 1).status()));
  WriteRaw(TempPath("tiny2"), {0, 0, 8, 3, 0, 0});
  EXPECT_TRUE(absl::IsDataLoss(ReadIdxFile(TempPath("tiny2"), 3).status()));
}

TEST(IdxDataset, ReadsInstalledFashionMnistWhenPresent) {
  const std::string images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  const std::string labels = "/usr/share/datasets/fashion-mnist/t10k-labels-idx1-ubyte.gz";
  if (std::ifstream(images).fail()) GTEST_SKIP() << "missing " << images << " (Debian dataset-fashion-mnist)";
  auto set = LoadIdxDataset(images, labels, 0, {});
  ASSERT_TRUE(set.ok()) << set.status();
  EXPECT_EQ(set->count, 10000);
  EXPECT_EQ(set->example_shape, std::vector<int64_t>({784}));
  EXPECT_EQ(set->num_classes, 10);
  std::vector<int> histogram(10);
  for (int32_t label : set->labels) histogram[label]++;
  for (int count : histogram) EXPECT_EQ(count, 1000);  // the test split is balanced
}

}  // namespace
}  // namespace quantbench
