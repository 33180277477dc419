#include "training/checkpoint.h"

#include <dirent.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <random>
#include <sstream>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace quantbench {
namespace {

std::string TempDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  std::string base = dir != nullptr ? dir : "/tmp";
  std::string templ = base + "/checkpoint_test_XXXXXX";
  EXPECT_NE(mkdtemp(templ.data()), nullptr);
  return templ;
}

std::vector<std::string> ListDir(const std::string& dir) {
  std::vector<std::string> names;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return names;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") names.push_back(name);
  }
  closedir(d);
  return names;
}

std::string ReadBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

void WriteBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << bytes;
}

Parameter MakeParameter(const std::string& name, Parameter::Kind kind, std::vector<int64_t> shape,
                        std::mt19937_64& rng) {
  Parameter p;
  p.name = name;
  p.layer = name.substr(0, name.find('.'));
  p.layer_type = kind == Parameter::kNormalization ? "batch_norm" : "conv";
  p.kind = kind;
  p.shape = std::move(shape);
  std::normal_distribution<float> normal;
  p.values.resize(p.NumElements());
  for (float& v : p.values) v = normal(rng);
  return p;
}

TrainingCheckpoint MakeCheckpoint() {
  std::mt19937_64 rng(42);
  TrainingCheckpoint c;
  c.epochs_done = 7;
  EXPECT_TRUE(
      c.params.Add(MakeParameter("conv1.weight", Parameter::kWeight, {4, 3, 3, 3}, rng)).ok());
  EXPECT_TRUE(c.params.Add(MakeParameter("conv1.bias", Parameter::kBias, {4}, rng)).ok());
  EXPECT_TRUE(
      c.params.Add(MakeParameter("bn1.running_var", Parameter::kNormalization, {4}, rng)).ok());
  EXPECT_TRUE(c.params.Add(MakeParameter("empty.weight", Parameter::kWeight, {0, 5}, rng)).ok());
  c.optimizer.steps = 1234567890123LL;
  c.optimizer.buffers["conv1.weight"] = c.params.Find("conv1.weight")->values;
  c.optimizer.buffers["conv1.bias"] = {0.5f, -0.25f, 1e-30f, -0.0f, 3.0f, 2.0f, 1.0f, 0.0f};
  c.extra_tensors["fat.alpha.conv1"] = {1.0f, 0.75f, 0.5f, 0.9f};
  c.extra_tensors["fat.alpha.input"] = {};
  std::mt19937_64 trainer_rng(7);
  trainer_rng.discard(1000);
  std::ostringstream rng_state;
  rng_state << trainer_rng;
  c.rng_state = rng_state.str();
  c.history_json = R"({"epochs":[{"loss":1.5,"train_top1":0.42}], "note":"bytes \u0000 ok"})";
  c.history_json.push_back('\0');  // arbitrary bytes survive
  return c;
}

void ExpectEqual(const TrainingCheckpoint& a, const TrainingCheckpoint& b) {
  EXPECT_EQ(a.epochs_done, b.epochs_done);
  ASSERT_EQ(a.params.size(), b.params.size());
  for (size_t i = 0; i < a.params.size(); ++i) {
    const Parameter& x = a.params.parameters()[i];
    const Parameter& y = b.params.parameters()[i];
    EXPECT_EQ(x.name, y.name);
    EXPECT_EQ(x.layer, y.layer);
    EXPECT_EQ(x.layer_type, y.layer_type);
    EXPECT_EQ(x.kind, y.kind);
    EXPECT_EQ(x.shape, y.shape);
    // Bit patterns, so -0 and denormals count too.
    ASSERT_EQ(x.values.size(), y.values.size());
    // An empty tensor's data() may be null, which memcmp must not see even for 0 bytes.
    if (!x.values.empty()) {
      EXPECT_EQ(0, std::memcmp(x.values.data(), y.values.data(), x.values.size() * sizeof(float)))
          << x.name;
    }
  }
  EXPECT_EQ(a.optimizer.steps, b.optimizer.steps);
  EXPECT_EQ(a.optimizer.buffers, b.optimizer.buffers);
  EXPECT_EQ(a.extra_tensors, b.extra_tensors);
  EXPECT_EQ(a.rng_state, b.rng_state);
  EXPECT_EQ(a.history_json, b.history_json);
}

TEST(CheckpointTest, RoundTripsEveryField) {
  const std::string dir = TempDir();
  const std::string path = dir + "/sub/dir/run.ckpt";  // parents are created
  const TrainingCheckpoint saved = MakeCheckpoint();
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "spec-hash-1", saved).ok());
  auto loaded = LoadTrainingCheckpoint(path, "spec-hash-1");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectEqual(saved, *loaded);
  // The generator continues where the saved one was.
  std::mt19937_64 original(7), restored;
  original.discard(1000);
  std::istringstream(loaded->rng_state) >> restored;
  EXPECT_EQ(original(), restored());
  // Overwriting leaves exactly the one file, no temporaries.
  TrainingCheckpoint next = saved;
  next.epochs_done = 8;
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "spec-hash-1", next).ok());
  EXPECT_EQ(LoadTrainingCheckpoint(path, "spec-hash-1")->epochs_done, 8);
  EXPECT_EQ(ListDir(dir + "/sub/dir"), std::vector<std::string>{"run.ckpt"});
}

TEST(CheckpointTest, EmptyCheckpointRoundTrips) {
  const std::string path = TempDir() + "/empty.ckpt";
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "", TrainingCheckpoint()).ok());
  auto loaded = LoadTrainingCheckpoint(path, "");
  ASSERT_TRUE(loaded.ok()) << loaded.status();
  ExpectEqual(TrainingCheckpoint(), *loaded);
}

TEST(CheckpointTest, EveryTruncationIsDataLoss) {
  const std::string dir = TempDir();
  const std::string path = dir + "/run.ckpt";
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "key", MakeCheckpoint()).ok());
  const std::string bytes = ReadBytes(path);
  ASSERT_GT(bytes.size(), 500u);
  const std::string cut = dir + "/cut.ckpt";
  for (size_t length = 0; length < bytes.size(); ++length) {
    WriteBytes(cut, bytes.substr(0, length));
    const absl::Status status = LoadTrainingCheckpoint(cut, "key").status();
    ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << "length " << length << ": " << status;
  }
  // Trailing garbage after a valid file too.
  WriteBytes(cut, bytes + "x");
  EXPECT_EQ(LoadTrainingCheckpoint(cut, "key").status().code(), absl::StatusCode::kDataLoss);
}

TEST(CheckpointTest, EveryFlippedByteIsDataLoss) {
  const std::string dir = TempDir();
  const std::string path = dir + "/run.ckpt";
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "key", MakeCheckpoint()).ok());
  const std::string bytes = ReadBytes(path);
  const std::string bad = dir + "/bad.ckpt";
  for (size_t i = 0; i < bytes.size(); ++i) {
    std::string flipped = bytes;
    flipped[i] = static_cast<char>(flipped[i] ^ (1 << (i % 8)));
    WriteBytes(bad, flipped);
    const absl::Status status = LoadTrainingCheckpoint(bad, "key").status();
    ASSERT_EQ(status.code(), absl::StatusCode::kDataLoss) << "byte " << i << ": " << status;
  }
}

TEST(CheckpointTest, OtherKeyIsFailedPrecondition) {
  const std::string path = TempDir() + "/run.ckpt";
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "spec-A", MakeCheckpoint()).ok());
  const absl::Status status = LoadTrainingCheckpoint(path, "spec-B").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(status.message().find("spec-A"), std::string::npos) << status;
}

// Little-endian fields and a valid CRC: files that pass the integrity check but are not what
// this build writes.
void AppendLe(std::string* bytes, uint64_t value, int size) {
  for (int i = 0; i < size; ++i) bytes->push_back(static_cast<char>(value >> (8 * i)));
}
std::string WithCrc(std::string body) {
  AppendLe(&body, crc32(0L, reinterpret_cast<const Bytef*>(body.data()), body.size()), 4);
  return body;
}

TEST(CheckpointTest, OtherVersionIsFailedPrecondition) {
  const std::string path = TempDir() + "/run.ckpt";
  ASSERT_TRUE(SaveTrainingCheckpoint(path, "key", MakeCheckpoint()).ok());
  std::string body = ReadBytes(path);
  body.resize(body.size() - 4);
  body[8] = 2;  // the u32 version after the 8-byte magic
  WriteBytes(path, WithCrc(body));
  const absl::Status status = LoadTrainingCheckpoint(path, "key").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition) << status;
  EXPECT_NE(status.message().find("version 2"), std::string::npos) << status;
}

TEST(CheckpointTest, ImpossibleSizesWithAValidCrcAreDataLoss) {
  const std::string path = TempDir() + "/sizes.ckpt";
  auto header = [] {
    std::string b = "QBTRAINC";
    AppendLe(&b, 1, 4);  // version
    AppendLe(&b, 3, 8);  // key length
    b += "key";
    AppendLe(&b, 0, 4);  // epochs_done
    return b;
  };
  // A parameter of shape [2^40, 2^40]: must be refused before anything is allocated.
  std::string huge_shape = header();
  AppendLe(&huge_shape, 1, 4);  // one parameter
  for (int i = 0; i < 3; ++i) {
    AppendLe(&huge_shape, 1, 8);
    huge_shape += "w";
  }
  AppendLe(&huge_shape, 0, 1);  // kind
  AppendLe(&huge_shape, 2, 4);  // rank
  AppendLe(&huge_shape, uint64_t{1} << 40, 8);
  AppendLe(&huge_shape, uint64_t{1} << 40, 8);
  // A name that claims 2^62 bytes.
  std::string huge_name = header();
  AppendLe(&huge_name, 1, 4);
  AppendLe(&huge_name, uint64_t{1} << 62, 8);
  // An optimizer buffer that claims 2^61 floats.
  std::string huge_buffer = header();
  AppendLe(&huge_buffer, 0, 4);  // no parameters
  AppendLe(&huge_buffer, 5, 8);  // steps
  AppendLe(&huge_buffer, 1, 4);  // one buffer
  AppendLe(&huge_buffer, 1, 8);
  huge_buffer += "w";
  AppendLe(&huge_buffer, uint64_t{1} << 61, 8);
  // A bad parameter kind.
  std::string bad_kind = header();
  AppendLe(&bad_kind, 1, 4);
  for (int i = 0; i < 3; ++i) {
    AppendLe(&bad_kind, 1, 8);
    bad_kind += "w";
  }
  AppendLe(&bad_kind, 9, 1);
  for (const std::string& body : {huge_shape, huge_name, huge_buffer, bad_kind}) {
    WriteBytes(path, WithCrc(body));
    const absl::Status status = LoadTrainingCheckpoint(path, "key").status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss) << status;
  }
}

TEST(CheckpointTest, MissingIsNotFound) {
  const std::string dir = TempDir();
  EXPECT_EQ(LoadTrainingCheckpoint(dir + "/nope.ckpt", "key").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(LoadTrainingCheckpoint(dir + "/no/such/dir/x.ckpt", "key").status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_TRUE(ListDir(dir).empty());
}

TEST(CheckpointTest, GarbageIsDataLossWithoutHugeAllocations) {
  const std::string dir = TempDir();
  const std::string path = dir + "/garbage.ckpt";
  std::mt19937_64 rng(3);
  for (int trial = 0; trial < 200; ++trial) {
    std::string bytes = "QBTRAINC";  // past the magic check, so the CRC and sizes are what fail
    const int length = static_cast<int>(rng() % 200);
    for (int i = 0; i < length; ++i) bytes.push_back(static_cast<char>(rng()));
    WriteBytes(path, bytes);
    EXPECT_EQ(LoadTrainingCheckpoint(path, "key").status().code(), absl::StatusCode::kDataLoss);
  }
  WriteBytes(path, "not a checkpoint at all");
  EXPECT_EQ(LoadTrainingCheckpoint(path, "key").status().code(), absl::StatusCode::kDataLoss);
}

TEST(CheckpointTest, UnwritablePathFailsCleanly) {
  const std::string dir = TempDir();
  const std::string blocker = dir + "/file";
  WriteBytes(blocker, "x");
  // A regular file where a directory should be.
  EXPECT_FALSE(SaveTrainingCheckpoint(blocker + "/run.ckpt", "key", MakeCheckpoint()).ok());
  EXPECT_EQ(ListDir(dir), std::vector<std::string>{"file"});
  TrainingCheckpoint negative;
  negative.epochs_done = -1;
  EXPECT_EQ(SaveTrainingCheckpoint(dir + "/n.ckpt", "key", negative).code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace quantbench
