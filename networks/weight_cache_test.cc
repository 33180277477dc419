#include "networks/weight_cache.h"

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include <zlib.h>

#include "gtest/gtest.h"
#include "networks/graph.h"

namespace quantbench {
namespace {

std::string TempPath(const std::string& name) {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : testing::TempDir();
  return base + "/weight_cache_test/" + name;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::filesystem::create_directories(std::filesystem::path(path).parent_path());
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

ParamStore SampleStore() {
  // A seeded 13-7-3 dense net (the mlp architecture's layout: fc1.weight [7, 13], ...).
  GraphBuilder b;
  absl::StatusOr<Graph> graph =
      b.Finish(b.Dense(b.Relu(b.Dense(b.Flatten(b.Input(13, 1, 1)), "fc1", 7)), "fc2", 3));
  EXPECT_TRUE(graph.ok()) << graph.status();
  if (!graph.ok()) return ParamStore();
  absl::StatusOr<ParamStore> init = InitGraphParams(*graph, 5);
  EXPECT_TRUE(init.ok()) << init.status();
  if (!init.ok()) return ParamStore();
  ParamStore store = *std::move(init);
  store.Find("fc2.bias")->values = {1.5f, -0.0f, 3e-38f};
  // A rank-0 and an empty tensor survive too.
  Parameter scalar;
  scalar.name = "scale";
  scalar.layer = "misc";
  scalar.layer_type = "scalar";
  scalar.values = {0.25f};
  EXPECT_TRUE(store.Add(scalar).ok());
  Parameter empty;
  empty.name = "empty";
  empty.layer = "misc";
  empty.layer_type = "dense";
  empty.kind = Parameter::kBias;
  empty.shape = {0, 4};
  EXPECT_TRUE(store.Add(empty).ok());
  Parameter gamma;
  gamma.name = "bn1.weight";
  gamma.layer = "bn1";
  gamma.layer_type = "batch_norm";
  gamma.kind = Parameter::kNormalization;
  gamma.shape = {2};
  gamma.values = {1.0f, 0.5f};
  EXPECT_TRUE(store.Add(gamma).ok());
  return store;
}

void ExpectSameStore(const ParamStore& a, const ParamStore& b) {
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    const Parameter& p = a.parameters()[i];
    const Parameter& q = b.parameters()[i];
    EXPECT_EQ(p.name, q.name);
    EXPECT_EQ(p.layer, q.layer);
    EXPECT_EQ(p.layer_type, q.layer_type);
    EXPECT_EQ(p.kind, q.kind);
    EXPECT_EQ(p.shape, q.shape);
    ASSERT_EQ(p.values.size(), q.values.size());
    // Bitwise, so -0.0 and NaN payloads count; an empty tensor's data() may be null, which
    // memcmp must not see even for 0 bytes.
    if (!p.values.empty()) {
      EXPECT_EQ(0, std::memcmp(p.values.data(), q.values.data(), p.values.size() * sizeof(float)))
          << p.name;
    }
  }
}

TEST(WeightCacheTest, RoundTripCreatesDirectories) {
  const std::string path = TempPath("round/trip/nested/weights.qbw");
  std::filesystem::remove_all(TempPath("round"));
  const ParamStore store = SampleStore();
  ASSERT_TRUE(SaveParamStore(path, store, "key-1").ok());
  auto loaded = LoadParamStore(path, "key-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectSameStore(store, *loaded);

  // Overwriting is atomic and leaves no temporary files behind.
  ASSERT_TRUE(SaveParamStore(path, *loaded, "key-2").ok());
  EXPECT_TRUE(LoadParamStore(path, "key-2").ok());
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(TempPath("round/trip/nested"))) {
    ++files;
    EXPECT_EQ(entry.path().filename(), "weights.qbw");
  }
  EXPECT_EQ(files, 1);
}

TEST(WeightCacheTest, MissingFileIsNotFound) {
  auto loaded = LoadParamStore(TempPath("does/not/exist.qbw"), "k");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kNotFound) << loaded.status();
}

TEST(WeightCacheTest, WrongKeyIsFailedPrecondition) {
  const std::string path = TempPath("key.qbw");
  ASSERT_TRUE(SaveParamStore(path, SampleStore(), "mlp 784-256-10 seed 1").ok());
  auto loaded = LoadParamStore(path, "mlp 784-256-10 seed 2");
  EXPECT_EQ(loaded.status().code(), absl::StatusCode::kFailedPrecondition) << loaded.status();
  EXPECT_NE(loaded.status().message().find("seed 1"), std::string::npos) << loaded.status();
}

TEST(WeightCacheTest, EmptyExpectedKeyAcceptsAnyKey) {
  const std::string path = TempPath("anykey.qbw");
  ASSERT_TRUE(SaveParamStore(path, SampleStore(), "written by someone else").ok());
  auto loaded = LoadParamStore(path, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  EXPECT_EQ(loaded->TotalCount(), SampleStore().TotalCount());
}

TEST(WeightCacheTest, EveryTruncationIsDataLoss) {
  const std::string path = TempPath("truncate.qbw");
  ASSERT_TRUE(SaveParamStore(path, SampleStore(), "k").ok());
  const std::string bytes = ReadBytes(path);
  ASSERT_GT(bytes.size(), 100u);
  const std::string cut = TempPath("truncated.qbw");
  for (size_t length = 0; length < bytes.size(); ++length) {
    WriteBytes(cut, bytes.substr(0, length));
    auto loaded = LoadParamStore(cut, "k");
    ASSERT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss)
        << "length " << length << ": " << loaded.status();
  }
  // Appended bytes are corruption too.
  WriteBytes(cut, bytes + "x");
  EXPECT_EQ(LoadParamStore(cut, "k").status().code(), absl::StatusCode::kDataLoss);
}

TEST(WeightCacheTest, EveryFlippedByteIsDataLoss) {
  const std::string path = TempPath("flip.qbw");
  ASSERT_TRUE(SaveParamStore(path, SampleStore(), "k").ok());
  const std::string bytes = ReadBytes(path);
  const std::string flipped_path = TempPath("flipped.qbw");
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    WriteBytes(flipped_path, flipped);
    auto loaded = LoadParamStore(flipped_path, "k");
    ASSERT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss)
        << "byte " << i << ": " << loaded.status();
  }
}

TEST(WeightCacheTest, GarbageIsDataLoss) {
  const std::string path = TempPath("garbage.qbw");
  std::mt19937_64 engine(1);
  for (int trial = 0; trial < 200; ++trial) {
    std::string garbage(engine() % 300, '\0');
    for (char& c : garbage) c = static_cast<char>(engine());
    // Half the trials start with the right magic so the parser gets further.
    if (trial % 2 == 0 && garbage.size() >= 8) garbage.replace(0, 8, "QBWEIGHT");
    WriteBytes(path, garbage);
    auto loaded = LoadParamStore(path, "k");
    ASSERT_EQ(loaded.status().code(), absl::StatusCode::kDataLoss)
        << "trial " << trial << ": " << loaded.status();
  }
  WriteBytes(path, "");
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
  WriteBytes(path, "QBWEIGHT");
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
}

// A file with a valid CRC but absurd sizes inside (as a buggy writer could produce) must be
// rejected without a giant allocation.
TEST(WeightCacheTest, HugeSizesWithValidCrcAreDataLoss) {
  auto le32 = [](uint32_t v) {
    std::string s(4, '\0');
    for (int i = 0; i < 4; ++i) s[i] = static_cast<char>(v >> (8 * i));
    return s;
  };
  auto le64 = [](uint64_t v) {
    std::string s(8, '\0');
    for (int i = 0; i < 8; ++i) s[i] = static_cast<char>(v >> (8 * i));
    return s;
  };
  auto with_crc = [&](std::string body) {
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
    return body + le32(crc);
  };
  const std::string header = std::string("QBWEIGHT") + le32(1) + le32(1) + "k";
  const std::string path = TempPath("huge.qbw");

  // Huge string length.
  WriteBytes(path, with_crc(header + le32(1) + le32(0xFFFFFFF0u)));
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
  // Huge dims whose product overflows int64.
  const std::string tensor_head = le32(1) + "w" + le32(1) + "l" + le32(1) + "t" + std::string(1, '\0');
  WriteBytes(path, with_crc(header + le32(1) + tensor_head + le32(2) + le64(uint64_t{1} << 40) +
                            le64(uint64_t{1} << 40)));
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
  // Huge rank.
  WriteBytes(path, with_crc(header + le32(1) + tensor_head + le32(0xFFFFFFFFu)));
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
  // Huge tensor count with no tensors.
  WriteBytes(path, with_crc(header + le32(0xFFFFFFFFu)));
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
  // Duplicate tensor names.
  const std::string tensor = tensor_head + le32(1) + le64(1) + le32(0);
  WriteBytes(path, with_crc(header + le32(2) + tensor + tensor));
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kDataLoss);
  // The same with a valid single tensor loads.
  WriteBytes(path, with_crc(header + le32(1) + tensor));
  auto ok = LoadParamStore(path, "k");
  ASSERT_TRUE(ok.ok()) << ok.status();
  EXPECT_EQ(ok->Find("w")->shape, std::vector<int64_t>({1}));
  // Another format version is a stale cache, not corruption.
  WriteBytes(path, with_crc(std::string("QBWEIGHT") + le32(2) + le32(1) + "k" + le32(0)));
  EXPECT_EQ(LoadParamStore(path, "k").status().code(), absl::StatusCode::kFailedPrecondition);
}

TEST(WeightCacheTest, UnwritableLocationIsAnError) {
  const std::string blocker = TempPath("blocker");
  WriteBytes(blocker, "a file, not a directory");
  absl::Status status = SaveParamStore(blocker + "/sub/weights.qbw", SampleStore(), "k");
  EXPECT_FALSE(status.ok());
  EXPECT_NE(status.message().find("blocker"), std::string::npos) << status;
}

}  // namespace
}  // namespace quantbench
