#include "experiments/image_tensor_cache.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
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

std::vector<float> Values(size_t n) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = static_cast<float>(i) * 0.25f - 7.0f;
  return values;
}

TEST(ImageTensorCache, RoundTripAndNoTemporaryLeft) {
  const std::string dir = TempDir("cache-roundtrip");
  const std::string key = "decoder x\npreset=torch\n/a.jpg\t10\t5.0\n";
  const std::string path = ImageTensorCachePath(dir, key);
  EXPECT_EQ(path.rfind(dir + "/images-", 0), 0u) << path;
  const std::vector<int64_t> shape = {2, 3, 5, 5};
  const std::vector<float> values = Values(150);
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
  std::vector<float> other = Values(150);
  other[17] = 1e9f;
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
  flipped[good.size() / 2] ^= 0x10;  // inside the float data
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

}  // namespace
}  // namespace quantbench
