#include "experiments/cell_store.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "experiments/config.h"

namespace quantbench {
namespace {

std::string TestDir() {
  const char* dir = std::getenv("TEST_TMPDIR");
  return dir ? dir : "/tmp";
}

Experiment SmallConfig() {
  RunDirectories dirs{TestDir(), TestDir()};
  auto config = ParseExperiment(R"(name: "store"
network { architecture: "mlp" mlp { hidden: [8] } random_init { seed: 1 } }
quantizers { name: "linear" }
quantizers { name: "exponential" bits: [3, 5] }
quantizers { name: "ternary" bits: [2] }
bits: [2, 4, 8]
)", "store.pbtxt", dirs);
  EXPECT_TRUE(config.ok()) << config.status();
  return *config;
}

TEST(SweepCells, OrderAndKeysComeFromTheConfig) {
  std::vector<SweepCell> cells = SweepCells(SmallConfig());
  ASSERT_EQ(cells.size(), 6u);
  EXPECT_EQ(cells[0].key, "0000-q0-b2");
  EXPECT_EQ(cells[3].key, "0003-q1-b3");
  EXPECT_EQ(cells[5].key, "0005-q2-b2");
  EXPECT_EQ(cells[4].quantizer_index, 1);
  EXPECT_EQ(cells[4].bits, 5);
}

TEST(Shards, EveryCellInExactlyOneShardForAnyShardCount) {
  const std::vector<SweepCell> cells = SweepCells(SmallConfig());
  const int n = static_cast<int>(cells.size());
  for (int count = 1; count <= n + 3; ++count) {
    std::vector<int> owners(cells.size(), 0);
    for (int index = 0; index < count; ++index) {
      int in_shard = 0;
      for (const SweepCell& cell : cells) {
        if (InShard(cell, ShardSpec{index, count})) {
          ++owners[cell.index];
          ++in_shard;
        }
      }
      // Balanced: shard sizes differ by at most one cell.
      EXPECT_GE(in_shard, n / count) << index << "/" << count;
      EXPECT_LE(in_shard, (n + count - 1) / count) << index << "/" << count;
    }
    for (int owner : owners) EXPECT_EQ(owner, 1) << "shard count " << count;
  }
}

TEST(Shards, ParseAcceptsIOfNOnly) {
  auto ok = ParseShard("3/8");
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->index, 3);
  EXPECT_EQ(ok->count, 8);
  for (const char* bad : {"8/8", "-1/4", "1", "a/b", "1/0", "1/2/3"}) {
    auto parsed = ParseShard(bad);
    EXPECT_FALSE(parsed.ok()) << bad;
    EXPECT_NE(std::string(parsed.status().message()).find("--shard="), std::string::npos);
  }
}

TEST(ConfigHash, IgnoresOutputOnlyAndIsStable) {
  Experiment a = SmallConfig();
  Experiment b = a;
  b.set_output("/elsewhere/x.json");
  EXPECT_EQ(ConfigHash(a), ConfigHash(b));
  EXPECT_EQ(ConfigHash(a).size(), 16u);
  b.add_bits(6);
  EXPECT_NE(ConfigHash(a), ConfigHash(b));
  Experiment c = a;
  c.set_threads(3);
  EXPECT_NE(ConfigHash(a), ConfigHash(c)) << "thread count can change numbers, so it keys the work directory";
}

class Store : public ::testing::Test {
 protected:
  void SetUp() override {
    config_ = SmallConfig();
    dir_ = TestDir() + "/" + ::testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::remove_all(dir_);
    auto store = CellStore::Open(dir_, config_);
    ASSERT_TRUE(store.ok()) << store.status();
    store_.emplace(*std::move(store));
  }

  // A complete work directory: a header and every cell.
  void FillAll(const std::string& version) {
    ASSERT_TRUE(store_->WriteHeader({{"schema", "quantbench.sweep/1"}, {"setup_seconds", 1.5}}, version).ok());
    for (const SweepCell& cell : SweepCells(config_)) {
      ASSERT_TRUE(store_->WriteCell(cell, version, {{"index", cell.index}, {"seconds", 0.25}}).ok());
    }
  }

  std::string CellPath(int index) { return dir_ + "/cells/" + SweepCells(config_)[index].key + ".json"; }

  Experiment config_;
  std::string dir_;
  std::optional<CellStore> store_;
};

TEST_F(Store, MergeAssemblesCellsInSweepOrder) {
  FillAll("v1");
  auto merged = MergeCells(*store_, "v1", false);
  ASSERT_TRUE(merged.ok()) << merged.status();
  ASSERT_EQ((*merged)["cells"].size(), 6u);
  for (int i = 0; i < 6; ++i) EXPECT_EQ((*merged)["cells"][i]["index"], i);
  EXPECT_DOUBLE_EQ((*merged)["wall_seconds"].get<double>(), 1.5 + 6 * 0.25);
  EXPECT_FALSE(merged->contains("config_hash"));
  EXPECT_FALSE(merged->contains("setup_seconds"));
}

TEST_F(Store, MergeListsMissingCells) {
  FillAll("v1");
  std::filesystem::remove(CellPath(2));
  std::filesystem::remove(CellPath(4));
  auto merged = MergeCells(*store_, "v1", false);
  ASSERT_FALSE(merged.ok());
  const std::string message(merged.status().message());
  EXPECT_NE(message.find("2 cells missing: 0002-q0-b8, 0004-q1-b5"), std::string::npos) << message;
}

TEST_F(Store, MergeRejectsADuplicatedCellFile) {
  FillAll("v1");
  std::filesystem::copy_file(CellPath(0), CellPath(1), std::filesystem::copy_options::overwrite_existing);
  auto merged = MergeCells(*store_, "v1", false);
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(std::string(merged.status().message()).find("not matching their name: 0001-q0-b4"), std::string::npos)
      << merged.status();
}

TEST_F(Store, MergeRejectsCellsOfAnotherConfig) {
  FillAll("v1");
  std::ifstream in(CellPath(3));
  nlohmann::json cell = nlohmann::json::parse(in);
  cell["config_hash"] = "0123456789abcdef";
  std::ofstream(CellPath(3)) << cell.dump();
  auto merged = MergeCells(*store_, "v1", false);
  ASSERT_FALSE(merged.ok());
  EXPECT_NE(std::string(merged.status().message()).find("another config hash: 0003-q1-b3"), std::string::npos)
      << merged.status();
}

TEST_F(Store, MixedCodeVersionsNeedTheFlag) {
  FillAll("v1");
  auto refused = MergeCells(*store_, "v2", false);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(std::string(refused.status().message()).find("--allow_mixed_versions"), std::string::npos);
  auto allowed = MergeCells(*store_, "v2", true);
  ASSERT_TRUE(allowed.ok()) << allowed.status();
  EXPECT_EQ((*allowed)["mixed_code_versions"].size(), 7u) << "the header and six cells";
}

TEST_F(Store, AnotherConfigCannotOpenTheDirectory) {
  Experiment other = config_;
  other.add_bits(6);
  auto store = CellStore::Open(dir_, other);
  ASSERT_FALSE(store.ok());
  EXPECT_NE(std::string(store.status().message()).find("use another work directory"), std::string::npos);
}

TEST_F(Store, CorruptCellFileIsAnErrorNamingIt) {
  FillAll("v1");
  std::ofstream(CellPath(1)) << "{\"trunc";
  auto read = store_->ReadCell(SweepCells(config_)[1].key);
  ASSERT_FALSE(read.ok());
  EXPECT_NE(std::string(read.status().message()).find(CellPath(1)), std::string::npos) << read.status();
}

TEST_F(Store, StatusCountsDoneFailedPending) {
  const std::vector<SweepCell> cells = SweepCells(config_);
  ASSERT_TRUE(store_->WriteCell(cells[0], "v1", {{"index", 0}}).ok());
  ASSERT_TRUE(store_->WriteCell(cells[1], "v1", {{"index", 1}}).ok());
  ASSERT_TRUE(store_->WriteFailure(cells[2].key, "linear, 8 bits: out of memory").ok());
  auto status = ReadSweepStatus(*store_);
  ASSERT_TRUE(status.ok()) << status.status();
  EXPECT_EQ(status->Summary(), "6 cells: 2 done, 0 running, 1 failed, 3 pending");
  ASSERT_EQ(status->lines.size(), 1u);
  EXPECT_EQ(status->lines[0], "failed: 0002-q0-b8: linear, 8 bits: out of memory");
}

TEST(CellStoreOpenExisting, NamesADirectoryThatIsNotAWorkDirectory) {
  auto store = CellStore::OpenExisting(TestDir() + "/nothing_here");
  ASSERT_FALSE(store.ok());
  EXPECT_NE(std::string(store.status().message()).find("not a sweep work directory"), std::string::npos);
}

}  // namespace
}  // namespace quantbench
