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

}  // namespace
}  // namespace quantbench
