#include "experiments/size_curves.h"

#include <cmath>

#include <gtest/gtest.h>

#include "absl/strings/str_format.h"

namespace quantbench {
namespace {

nlohmann::json Cell(const std::string& label, int bits, double top1) {
  return {{"quantizer", label}, {"bits", bits}, {"top1", top1}};
}

nlohmann::json Sweep(double parameters, double fp32, nlohmann::json cells) {
  return {{"fp32", {{"top1", fp32}, {"parameters", parameters}}}, {"cells", cells}};
}

TEST(RepeatGroup, StripsOnlyATrailingSeedNumber) {
  EXPECT_EQ(RepeatGroup("uniform, retrained, seed 12"), "uniform, retrained");
  EXPECT_EQ(RepeatGroup("uniform, retrained"), "uniform, retrained");
  EXPECT_EQ(RepeatGroup("x, seed "), "x, seed ");
  EXPECT_EQ(RepeatGroup("x, seed 2b"), "x, seed 2b");
  EXPECT_EQ(RepeatGroup("x, seed 1, seed 2"), "x, seed 1");
}

TEST(SizeCurves, MeanSampleStdAndGapPerGroupAndWidth) {
  const std::vector<nlohmann::json> sweeps = {
      Sweep(100, 0.90, {Cell("direct", 2, 0.50), Cell("direct", 4, 0.85), Cell("qat, seed 1", 2, 0.80),
                        Cell("qat, seed 2", 2, 0.82), Cell("qat, seed 3", 2, 0.87)}),
      Sweep(400, 0.92, {Cell("direct", 2, 0.60), Cell("qat, seed 1", 2, 0.915)})};
  auto curves = SizeCurves(sweeps, {"small.json", "big.json"});
  ASSERT_TRUE(curves.ok()) << curves.status();
  const nlohmann::json& rows = (*curves)["rows"];
  ASSERT_EQ(rows.size(), 5u);
  // Sweep order, then first appearance: direct@2, direct@4, qat@2.
  EXPECT_EQ(rows[2]["group"], "qat");
  EXPECT_EQ(rows[2]["n"], 3);
  const double mean = (0.80 + 0.82 + 0.87) / 3;
  const double std = std::sqrt(((0.80 - mean) * (0.80 - mean) + (0.82 - mean) * (0.82 - mean) +
                                (0.87 - mean) * (0.87 - mean)) / 2);
  EXPECT_NEAR(rows[2]["mean_top1"].get<double>(), mean, 1e-12);
  EXPECT_NEAR(rows[2]["std_top1"].get<double>(), std, 1e-12);
  EXPECT_NEAR(rows[2]["gap_to_fp32"].get<double>(), 0.90 - mean, 1e-12);
  EXPECT_EQ(rows[4]["sweep"], "big.json");
  EXPECT_EQ(rows[4]["n"], 1);
  EXPECT_EQ(rows[4]["std_top1"].get<double>(), 0.0);
  EXPECT_NEAR(rows[4]["gap_to_fp32"].get<double>(), 0.005, 1e-12);

  const std::string md = SizeCurvesMarkdown(*curves);
  EXPECT_NE(md.find("### qat (n = 3)"), std::string::npos) << md;
  EXPECT_NE(md.find(absl::StrFormat("%.2f ± %.2f (%+.2f)", 100 * mean, 100 * std, 100 * (0.90 - mean))), std::string::npos) << md;
  EXPECT_NE(md.find("big.json (400 params, fp32 92.00) | 91.50 (+0.50) |"), std::string::npos) << md;
}

TEST(SizeCurves, UnlabelledSweepNamesTheFileAndField) {
  auto curves = SizeCurves({nlohmann::json{{"fp32", {{"top1", nullptr}, {"parameters", 10}}}}}, {"x.json"});
  ASSERT_FALSE(curves.ok());
  EXPECT_NE(std::string(curves.status().message()).find("x.json: missing or null field 'fp32.top1'"),
            std::string::npos)
      << curves.status();
}

}  // namespace
}  // namespace quantbench
