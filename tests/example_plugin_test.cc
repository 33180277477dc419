// A quantizer registered from a test target runs through config validation and a whole sweep.
#include <gtest/gtest.h>

#include <fstream>

#include "experiments/config.h"
#include "experiments/runner.h"
#include "quantizers/quantizer.h"

namespace quantbench {
namespace {

TEST(ExamplePlugin, IsRegisteredAndValidatesItsParameters) {
  EXPECT_NE(QuantizerRegistry::Global().Find("my_sign"), nullptr);
  auto bad = QuantizerRegistry::Global().Create("my_sign", {{"gian", "2"}});
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.status().message().find("unknown parameter 'gian'; accepted: gain"), std::string::npos)
      << bad.status();
}

TEST(ExamplePlugin, RunsAWholeSweep) {
  const char* images = "/usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz";
  if (std::ifstream(images).fail()) GTEST_SKIP() << "missing " << images << " (Debian dataset-fashion-mnist)";
  const char* dir = std::getenv("TEST_TMPDIR");
  RunDirectories dirs{dir ? dir : "/tmp", dir ? dir : "/tmp"};
  auto config = ParseExperiment(R"(name: "plugin"
network { architecture: "mlp" mlp { hidden: [32] } train { data { limit: 3000 } epochs: 2 } }
dataset { limit: 500 }
quantizers { name: "my_sign" params { key: "gain" value: "0.8" } }
bits: [1]
)", "plugin.pbtxt", dirs);
  ASSERT_TRUE(config.ok()) << config.status();
  SweepOptions options;
  options.dirs = dirs;
  options.cache_dir = dirs.workspace + "/cache";
  auto sweep = RunSweep(*config, options);
  ASSERT_TRUE(sweep.ok()) << sweep.status();
  ASSERT_EQ((*sweep)["cells"].size(), 1u);
  const auto& cell = (*sweep)["cells"][0];
  EXPECT_EQ(cell["quantizer"], "my_sign gain=0.8");
  EXPECT_EQ(cell["max_levels_used"], 2);
  EXPECT_GT(cell["top1"].get<double>(), 0.1) << "a sign-quantized MLP still beats chance";
}

}  // namespace
}  // namespace quantbench
