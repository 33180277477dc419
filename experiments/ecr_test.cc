#include "experiments/ecr.h"

#include <gtest/gtest.h>

#include <cmath>

namespace quantbench {
namespace {

TEST(FloatSizeForAccuracy, InterpolatesInLogSizeOnTheMonotoneCurve) {
  // The 400-parameter net did worse than the 100-parameter one: the curve keeps 0.8 there.
  std::vector<FloatPoint> curve = {{1600, 0.9}, {100, 0.8}, {400, 0.7}};
  auto mid = FloatSizeForAccuracy(curve, 0.85);
  ASSERT_TRUE(mid.ok());
  EXPECT_EQ(mid->bound, "exact");
  // From (400, 0.8) to (1600, 0.9): halfway in log size is 800.
  EXPECT_NEAR(mid->parameters, 800.0, 1e-9);
  auto low = FloatSizeForAccuracy(curve, 0.5);
  EXPECT_EQ(low->bound, "upper");
  EXPECT_EQ(low->parameters, 100);
  auto high = FloatSizeForAccuracy(curve, 0.95);
  EXPECT_EQ(high->bound, "lower");
  EXPECT_EQ(high->parameters, 1600);
  EXPECT_FALSE(FloatSizeForAccuracy({}, 0.5).ok());
}

nlohmann::json Sweep(double parameters, double top1, std::vector<std::pair<int, double>> cells) {
  nlohmann::json sweep = {{"schema", "quantbench.sweep/1"}, {"fp32", {{"parameters", parameters}, {"top1", top1}}}};
  sweep["cells"] = nlohmann::json::array();
  for (auto [bits, acc] : cells) {
    // 90 % of the parameters quantized, the rest (biases) fp32.
    sweep["cells"].push_back({{"quantizer", "ternary"},
                              {"bits", bits},
                              {"top1", acc},
                              {"quantized_weights", 0.9 * parameters},
                              {"model_bytes", (bits * 0.9 + 32 * 0.1) * parameters / 8 + 100}});
  }
  return sweep;
}

TEST(EffectiveCompression, ChargesQuantizedNetsForTheSizeTheyNeed) {
  std::vector<nlohmann::json> sweeps = {Sweep(1000, 0.80, {{2, 0.75}}), Sweep(8000, 0.90, {{2, 0.85}})};
  auto report = EffectiveCompression(sweeps, {"small.json", "large.json"});
  ASSERT_TRUE(report.ok()) << report.status();
  ASSERT_EQ((*report)["cells"].size(), 2u);
  const auto& small = (*report)["cells"][0];
  EXPECT_EQ(small["bound"], "upper");  // 0.75 is below every float net
  const auto& large = (*report)["cells"][1];
  EXPECT_EQ(large["bound"], "exact");
  // 0.85 is halfway between the float nets: P_f = sqrt(1000 * 8000).
  const double pf = std::sqrt(1000.0 * 8000.0);
  const double nominal = 2 * 0.9 * 8000 + 32 * 0.1 * 8000;
  EXPECT_NEAR(large["ecr_nominal"].get<double>(), 32 * pf / nominal, 1e-9);
  EXPECT_NEAR(large["plain_ratio"].get<double>(), 32 * 8000 / nominal, 1e-9);
  EXPECT_LT(large["ecr_storage"].get<double>(), large["ecr_nominal"].get<double>());
  std::string md = EffectiveCompressionMarkdown(*report);
  EXPECT_NE(md.find("large.json (8000 parameters)"), std::string::npos) << md;
  EXPECT_NE(md.find("| ternary | <"), std::string::npos) << md;
}

TEST(EffectiveCompression, RejectsUnlabelledOrSingleSweeps) {
  EXPECT_FALSE(EffectiveCompression({Sweep(1000, 0.8, {})}, {"one.json"}).ok());
  nlohmann::json unlabeled = Sweep(1000, 0.8, {});
  unlabeled["fp32"]["top1"] = nullptr;
  auto report = EffectiveCompression({unlabeled, Sweep(2000, 0.9, {})}, {"u.json", "l.json"});
  ASSERT_FALSE(report.ok());
  EXPECT_NE(std::string(report.status().message()).find("u.json: missing or null field 'fp32.top1'"),
            std::string::npos)
      << report.status();
}

}  // namespace
}  // namespace quantbench
