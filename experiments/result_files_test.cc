#include "experiments/result_files.h"

#include <gtest/gtest.h>

#include <string>

namespace quantbench {
namespace {

TEST(DumpJson, InvalidUtf8IsAStatusNamingTheField) {
  nlohmann::json sweep = {{"description", "fine"},
                          {"cells", {{{"quantizer", "linear"}}, {{"quantizer", std::string("bad \xff label")}}}}};
  auto text = DumpJson(sweep, 2, "results/x.json");
  ASSERT_FALSE(text.ok());
  EXPECT_EQ(text.status().message(),
            "results/x.json: field /cells/1/quantizer is not valid UTF-8; fix that text in the config");
}

TEST(DumpJson, InvalidUtf8InAKeyIsNamedToo) {
  nlohmann::json value = {{"params", {{std::string("k\xc3"), 1}}}};
  auto text = DumpJson(value, 1, "cell");
  ASSERT_FALSE(text.ok());
  EXPECT_NE(std::string(text.status().message()).find("/params/<a key that is not UTF-8>"), std::string::npos)
      << text.status();
}

TEST(DumpJson, ValidTextIsWhatDumpWrites) {
  nlohmann::json value = {{"description", "Größe – 3 bits"}, {"x", 1.5}};
  auto text = DumpJson(value, 2, "x");
  ASSERT_TRUE(text.ok()) << text.status();
  EXPECT_EQ(*text, value.dump(2));
}

nlohmann::json Layer(const std::string& name, double sparsity) {
  return {{"layer", name}, {"bits", 2}, {"weights", 100}, {"mse", 0.0}, {"sqnr_db", 10.0},
          {"levels_used", 3}, {"storage_bits", 232}, {"sparsity", sparsity}};
}

nlohmann::json Cell(const std::string& label, const std::string& name, int bits, double sparsity,
                    nlohmann::json layers) {
  return {{"quantizer", label}, {"name", name}, {"bits", bits}, {"top1", 0.5}, {"top5", 0.9},
          {"top1_agreement_with_fp32", 0.6}, {"sqnr_db", 10.0}, {"model_bytes", 100},
          {"effective_bits_per_weight", 2.3}, {"weight_sparsity", sparsity}, {"layers", layers}};
}

nlohmann::json Sweep() {
  return {{"experiment", "sparsity_check"},
          {"fp32", {{"top1", 0.9}, {"top5", 1.0}, {"model_bytes", 800}, {"weights", {{"source", "trained"}}}}},
          {"dataset", {{"examples", 10}}},
          {"cells", {Cell("tern", "ternary", 2, 0.25, {Layer("fc1", 0.125), Layer("fc2", 0.375)}),
                     Cell("lin", "linear", 4, 0.0625, {Layer("fc1", 0.0625), Layer("fc2", 0.0625)})}},
          {"environment", {{"git", {{"commit", "0123456789abcdef"}}}, {"host", {{"cpu", "cpu"}, {"threads", 1}}}}},
          {"timestamp", "now"},
          {"wall_seconds", 1.0},
          {"command", "sweep"}};
}

TEST(SweepMarkdown, SparsityOverallAndPerLayerForTernaryCells) {
  const std::string md = SweepMarkdown(Sweep(), {});
  EXPECT_NE(md.find("## Weight sparsity (% of quantized weights that are exactly 0)"), std::string::npos) << md;
  EXPECT_NE(md.find("| tern | 25.00 | — |"), std::string::npos) << md;
  EXPECT_NE(md.find("| lin | — | 6.25 |"), std::string::npos) << md;
  // Per layer: only the ternary cell is a column.
  EXPECT_NE(md.find("| layer | tern |\n|---|---:|\n| fc1 | 12.50 |\n| fc2 | 37.50 |\n"), std::string::npos) << md;
}

TEST(SweepMarkdown, OlderFilesWithoutSparsityHaveNoSparsityTable) {
  nlohmann::json sweep = Sweep();
  for (auto& c : sweep["cells"]) c.erase("weight_sparsity");
  EXPECT_EQ(SweepMarkdown(sweep, {}).find("Weight sparsity"), std::string::npos);
}

}  // namespace
}  // namespace quantbench
