#include "datasets/image_tensor_cache.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <utility>
#include <vector>

namespace quantbench {
namespace {

std::string TempDir(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  const std::string path = std::string(dir ? dir : "/tmp") + "/" + name;
  std::filesystem::remove_all(path);
  return path;
}

std::vector<char> ReadAll(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::vector<char>(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteAll(const std::string& path, const std::vector<char>& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// Pseudo-random bytes (xorshift), so misplaced chunks or offsets cannot go unnoticed.
std::vector<uint8_t> Values(size_t n, uint32_t seed = 12345) {
  std::vector<uint8_t> values(n);
  uint32_t x = seed;
  for (size_t i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    values[i] = static_cast<uint8_t>(x >> 24);
  }
  return values;
}

int FilesIn(const std::string& dir) {
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) files += entry.is_regular_file();
  return files;
}

TEST(ImageTensorCache, RoundTripAndNoTemporaryLeft) {
  const std::string dir = TempDir("cache-roundtrip");
  const std::string key = "decoder x\npreset=torch\n/a.jpg\t10\t5.0\n";
  const std::string path = ImageTensorCachePath(dir, key);
  EXPECT_EQ(path.rfind(dir + "/images-", 0), 0u) << path;
  const std::vector<int64_t> shape = {2, 3, 5, 5};
  const std::vector<uint8_t> values = Values(150);
  ASSERT_TRUE(SaveImageTensor(path, key, shape, values).ok());  // creates `dir`
  auto loaded = LoadImageTensor(path, key, shape);
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(*loaded, values);
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir)) {
    ++files;
    EXPECT_EQ(entry.path().string(), path);
  }
  EXPECT_EQ(files, 1);
  // Overwriting works (rename over an existing file).
  std::vector<uint8_t> other = Values(150);
  other[17] ^= 0xff;
  ASSERT_TRUE(SaveImageTensor(path, key, shape, other).ok());
  EXPECT_EQ(*LoadImageTensor(path, key, shape), other);
}

TEST(ImageTensorCache, PathDependsOnTheKey) {
  EXPECT_EQ(ImageTensorCachePath("/c", "k1"), ImageTensorCachePath("/c/", "k1"));
  EXPECT_NE(ImageTensorCachePath("/c", "k1"), ImageTensorCachePath("/c", "k2"));
}

TEST(ImageTensorCache, MissingIsNotFound) {
  auto loaded = LoadImageTensor(TempDir("cache-missing") + "/x.qbimg", "k", {1});
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound) << loaded.status();
}

TEST(ImageTensorCache, OtherKeyOrShapeIsFailedPrecondition) {
  const std::string path = TempDir("cache-key") + "/t.qbimg";
  ASSERT_TRUE(SaveImageTensor(path, "key A", {2, 3}, Values(6)).ok());
  auto other_key = LoadImageTensor(path, "key B", {2, 3});
  EXPECT_EQ(other_key.status().code(), absl::StatusCode::kFailedPrecondition) << other_key.status();
  auto other_shape = LoadImageTensor(path, "key A", {3, 2});
  EXPECT_EQ(other_shape.status().code(), absl::StatusCode::kFailedPrecondition)
      << other_shape.status();
}

TEST(ImageTensorCache, CorruptionIsDataLoss) {
  const std::string path = TempDir("cache-corrupt") + "/t.qbimg";
  const std::vector<int64_t> shape = {4, 3, 8, 8};
  ASSERT_TRUE(SaveImageTensor(path, "key", shape, Values(768)).ok());
  const std::vector<char> good = ReadAll(path);

  std::vector<char> flipped = good;
  flipped[good.size() / 2] ^= 0x10;  // inside the pixel data
  WriteAll(path, flipped);
  auto crc = LoadImageTensor(path, "key", shape);
  EXPECT_EQ(crc.status().code(), absl::StatusCode::kDataLoss) << crc.status();
  EXPECT_NE(crc.status().message().find("CRC"), std::string::npos) << crc.status();

  std::vector<char> truncated(good.begin(), good.end() - 100);
  WriteAll(path, truncated);
  EXPECT_EQ(LoadImageTensor(path, "key", shape).status().code(), absl::StatusCode::kDataLoss);

  std::vector<char> bad_magic = good;
  bad_magic[0] = 'X';
  WriteAll(path, bad_magic);
  EXPECT_EQ(LoadImageTensor(path, "key", shape).status().code(), absl::StatusCode::kDataLoss);

  std::vector<char> huge_key = good;  // key length field = 0xffffffff: rejected, not allocated
  for (int i = 12; i < 16; ++i) huge_key[i] = '\xff';
  WriteAll(path, huge_key);
  EXPECT_EQ(LoadImageTensor(path, "key", shape).status().code(), absl::StatusCode::kDataLoss);

  WriteAll(path, {});
  EXPECT_EQ(LoadImageTensor(path, "key", shape).status().code(), absl::StatusCode::kDataLoss);

  WriteAll(path, good);
  EXPECT_TRUE(LoadImageTensor(path, "key", shape).ok());
}

TEST(ImageTensorCache, SaveChecksTheShape) {
  const std::string path = TempDir("cache-shape") + "/t.qbimg";
  EXPECT_FALSE(SaveImageTensor(path, "k", {2, 2}, Values(5)).ok());
  EXPECT_FALSE(std::filesystem::exists(path));
}

// A tensor bigger than the 8 MiB buffer the CRC pass streams through, written in odd-sized
// chunks: read back exactly, at any offset, and a flipped byte in the last, partial CRC
// chunk is still caught.
TEST(ImageTensorCache, StreamedWriteAndRangedReadsOfAFileLargerThanAChunk) {
  const std::string dir = TempDir("cache-stream");
  const std::string path = dir + "/big.qbimg";
  const std::vector<int64_t> shape = {7, 3, 613, 653};  // 8.4 MB, odd dimensions
  const size_t total = size_t{7} * 3 * 613 * 653;
  const std::vector<uint8_t> values = Values(total, 99);
  auto writer = ImageTensorWriter::Create(path, "key", shape);
  ASSERT_TRUE(writer.ok()) << writer.status();
  for (size_t done = 0; done < total;) {
    const size_t n = std::min<size_t>(1000003, total - done);
    ASSERT_TRUE((*writer)->Append(values.data() + done, n).ok());
    done += n;
  }
  EXPECT_FALSE(std::filesystem::exists(path));  // nothing visible before the commit
  auto committed = (*writer)->Commit();
  ASSERT_TRUE(committed.ok()) << committed.status();
  EXPECT_EQ(FilesIn(dir), 1);

  auto opened = ImageTensorFile::Open(path, "key", shape);
  ASSERT_TRUE(opened.ok()) << opened.status();
  for (const ImageTensorFile* file : {committed->get(), opened->get()}) {
    EXPECT_EQ(file->elements(), total);
    for (const auto& [offset, n] : std::vector<std::pair<size_t, size_t>>{
             {0, 1}, {0, 1201}, {total - 17, 17}, {(size_t{8} << 20) - 3, 9}, {4567891, 600013}}) {
      std::vector<uint8_t> got(n);
      ASSERT_TRUE(file->Read(offset, n, got.data()).ok());
      EXPECT_TRUE(std::equal(got.begin(), got.end(), values.begin() + offset)) << offset;
    }
    uint8_t byte = 0;
    EXPECT_EQ(file->Read(total, 1, &byte).code(), absl::StatusCode::kOutOfRange);
    EXPECT_EQ(file->Read(total - 1, 2, &byte).code(), absl::StatusCode::kOutOfRange);
  }

  std::vector<char> bytes = ReadAll(path);
  bytes[bytes.size() - 4 - 1000] ^= 0x01;  // past the first 8 MiB of the CRC pass
  WriteAll(path, bytes);
  auto corrupt = ImageTensorFile::Open(path, "key", shape);
  EXPECT_EQ(corrupt.status().code(), absl::StatusCode::kDataLoss) << corrupt.status();
}

TEST(ImageTensorCache, WriterChecksTheCountAndLeavesNoTemporaryBehind) {
  const std::string dir = TempDir("cache-writer");
  const std::string path = dir + "/t.qbimg";
  const std::vector<uint8_t> values = Values(30);
  {
    auto writer = ImageTensorWriter::Create(path, "k", {5, 6});
    ASSERT_TRUE(writer.ok()) << writer.status();
    ASSERT_TRUE((*writer)->Append(values.data(), 29).ok());
    EXPECT_EQ((*writer)->Append(values.data(), 2).code(), absl::StatusCode::kInvalidArgument);
    auto short_commit = (*writer)->Commit();  // 29 of 30 values
    EXPECT_EQ(short_commit.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ((*writer)->Append(values.data(), 1).code(), absl::StatusCode::kFailedPrecondition);
  }
  EXPECT_FALSE(std::filesystem::exists(path));
  EXPECT_EQ(FilesIn(dir), 0);
  {
    auto abandoned = ImageTensorWriter::Create(path, "k", {5, 6});
    ASSERT_TRUE(abandoned.ok());
    ASSERT_TRUE((*abandoned)->Append(values.data(), 10).ok());
  }  // destroyed uncommitted, e.g. a JPEG failed halfway through decoding
  EXPECT_EQ(FilesIn(dir), 0);
}

// An open file keeps reading what it verified when another writer replaces the path.
TEST(ImageTensorCache, OpenFileSurvivesReplacement) {
  const std::string path = TempDir("cache-replace") + "/t.qbimg";
  const std::vector<uint8_t> first = Values(64, 1);
  ASSERT_TRUE(SaveImageTensor(path, "k", {64}, first).ok());
  auto file = ImageTensorFile::Open(path, "k", {64});
  ASSERT_TRUE(file.ok());
  ASSERT_TRUE(SaveImageTensor(path, "k", {64}, Values(64, 2)).ok());
  std::vector<uint8_t> got(64);
  ASSERT_TRUE((*file)->Read(0, 64, got.data()).ok());
  EXPECT_EQ(got, first);
}

// A version-1 file (floats) from an older build is stale, not corrupt: it gets rewritten.
TEST(ImageTensorCache, OlderFormatVersionIsFailedPrecondition) {
  const std::string path = TempDir("cache-version") + "/t.qbimg";
  ASSERT_TRUE(SaveImageTensor(path, "k", {4}, Values(4)).ok());
  std::vector<char> bytes = ReadAll(path);
  ASSERT_EQ(bytes[8], static_cast<char>(kImageTensorCacheVersion));
  bytes[8] = 1;
  WriteAll(path, bytes);
  auto loaded = LoadImageTensor(path, "k", {4});
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
  EXPECT_NE(loaded.status().message().find("version 1"), std::string::npos) << loaded.status();
}

}  // namespace
}  // namespace quantbench
