#include "networks/graph.h"

#include <string>

#include "gtest/gtest.h"
#include "networks/param_store.h"

namespace quantbench {
namespace {

TEST(GraphTest, WindowOutputSizeFollowsPyTorch) {
  EXPECT_EQ(WindowOutputSize(224, 7, 2, 3, 3, 1, false), 112);
  EXPECT_EQ(WindowOutputSize(112, 3, 2, 1, 1, 1, false), 56);
  EXPECT_EQ(WindowOutputSize(10, 3, 2, 0, 0, 1, false), 4);
  EXPECT_EQ(WindowOutputSize(10, 3, 2, 0, 0, 1, true), 5);
  // ceil_mode never starts a window in the right padding: 5 with pad 1, k 2, s 2.
  EXPECT_EQ(WindowOutputSize(5, 2, 2, 1, 1, 1, true), 3);
  EXPECT_EQ(WindowOutputSize(4, 2, 2, 1, 1, 1, true), 3);
  EXPECT_EQ(WindowOutputSize(9, 3, 1, 2, 2, 2, false), 9);  // dilation 2
  EXPECT_LE(WindowOutputSize(2, 5, 1, 0, 0, 1, false), 0);
}

TEST(GraphTest, ShapesAndParams) {
  GraphBuilder b;
  int x = b.Input(3, 32, 30);
  int c = b.Conv(x, "conv1", 16, 3, 3, 2, 2, 1, 1, 1, 1, 1, false);
  EXPECT_EQ(b.shape(c), (TensorShape{16, 16, 15, false}));
  c = b.BatchNorm(c, "bn1");
  c = b.Relu(c);
  int dw = b.Conv(c, "dw", 16, 3, 1, 1, 16, true);
  int cat = b.Concat({c, dw});
  EXPECT_EQ(b.shape(cat).c, 32);
  int p = b.MaxPool(cat, 3, 2, 0, true);
  EXPECT_EQ(b.shape(p), (TensorShape{32, 8, 7, false}));
  int f = b.Flatten(b.GlobalAvgPool(p));
  EXPECT_EQ(b.shape(f), (TensorShape{32, 1, 1, true}));
  int d = b.Dense(f, "fc", 10);
  absl::StatusOr<Graph> g = b.Finish(d);
  ASSERT_TRUE(g.ok()) << g.status();
  EXPECT_EQ(g->num_classes, 10);
  EXPECT_EQ(g->input_shape(), (std::vector<int64_t>{3, 32, 30}));
  ASSERT_EQ(g->params.size(), 1u + 4u + 2u + 2u);
  EXPECT_EQ(g->params[0].name, "conv1.weight");
  EXPECT_EQ(g->params[0].shape, (std::vector<int64_t>{16, 3, 3, 3}));
  EXPECT_EQ(g->params[0].layer_type, "conv");
  EXPECT_EQ(g->params[1].name, "bn1.weight");
  EXPECT_EQ(g->params[1].kind, Parameter::kNormalization);
  EXPECT_EQ(g->params[4].name, "bn1.running_var");
  EXPECT_EQ(g->params[5].name, "dw.weight");
  EXPECT_EQ(g->params[5].layer_type, "depthwise_conv");
  EXPECT_EQ(g->params[5].shape, (std::vector<int64_t>{16, 1, 3, 3}));
  EXPECT_EQ(g->params[6].kind, Parameter::kBias);
  EXPECT_EQ(g->params[7].shape, (std::vector<int64_t>{10, 32}));
  EXPECT_EQ(g->NumTrainableParameters(), 16 * 27 + 32 + 16 * 9 + 16 + 320 + 10);

  absl::StatusOr<ParamStore> params = InitGraphParams(*g, 3);
  ASSERT_TRUE(params.ok());
  EXPECT_TRUE(CheckGraphParams(*g, *params).ok());
  EXPECT_EQ(params->Find("bn1.running_var")->values[0], 1.0f);
  EXPECT_EQ(params->Find("bn1.running_mean")->values[0], 0.0f);
  EXPECT_EQ(params->Find("fc.bias")->values[3], 0.0f);
  // Deterministic.
  absl::StatusOr<ParamStore> again = InitGraphParams(*g, 3);
  EXPECT_EQ(again->Find("conv1.weight")->values, params->Find("conv1.weight")->values);

  params->Find("dw.weight")->shape = {16, 2, 3, 3};
  absl::Status s = CheckGraphParams(*g, *params);
  EXPECT_EQ(s.message(), "parameter 'dw.weight': expected shape [16, 1, 3, 3], found [16, 2, 3, 3]");
  ParamStore empty;
  s = CheckGraphParams(*g, empty);
  EXPECT_EQ(s.message(),
            "parameter 'conv1.weight' (expected shape [16, 3, 3, 3]) is missing from the store");
}

TEST(GraphTest, BuilderErrorsStickUntilFinish) {
  GraphBuilder b;
  int x = b.Input(4, 8, 8);
  int c = b.Conv(x, "c", 6, 3, 1, 1, /*groups=*/4);  // 6 % 4 != 0
  EXPECT_EQ(c, -1);
  EXPECT_EQ(b.Relu(c), -1);
  absl::StatusOr<Graph> g = b.Finish(0);
  EXPECT_EQ(g.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(g.status().message().find("groups"), std::string::npos) << g.status();

  GraphBuilder d;
  x = d.Input(4, 8, 8);
  EXPECT_EQ(d.Dense(x, "fc", 3), -1);  // not flat
  EXPECT_FALSE(d.Finish(0).ok());

  GraphBuilder e;
  x = e.Input(4, 8, 8);
  int a = e.Conv(x, "same", 4, 1, 1, 0);
  int b2 = e.Conv(a, "same", 4, 1, 1, 0);
  EXPECT_NE(e.Finish(e.Flatten(e.GlobalAvgPool(b2))).status().message().find("duplicate"),
            std::string::npos);

  GraphBuilder f;
  x = f.Input(4, 8, 8);
  EXPECT_EQ(f.Add(f.Conv(x, "p", 4, 3, 1, 1), f.Conv(x, "q", 4, 3, 2, 1)), -1);
  EXPECT_FALSE(f.Finish(0).ok());

  GraphBuilder h;
  x = h.Input(4, 8, 8);
  EXPECT_NE(h.Finish(h.Conv(x, "spatial", 3, 1, 1, 0)).status().message().find("flat or C x 1 x 1"),
            std::string::npos);
}

TEST(GraphTest, PadChannelsShapesAndErrors) {
  GraphBuilder b;
  int x = b.Input(5, 4, 3);
  int p = b.PadChannels(x, 2, 7);
  EXPECT_EQ(b.shape(p), (TensorShape{14, 4, 3, false}));
  EXPECT_EQ(b.PadChannels(b.Flatten(p), 1, 1), -1);
  EXPECT_FALSE(b.ok());
  GraphBuilder negative;
  EXPECT_EQ(negative.PadChannels(negative.Input(5, 4, 3), -1, 0), -1);
  EXPECT_NE(negative.status().message().find("PadChannels"), std::string::npos)
      << negative.status();
}

TEST(GraphTest, FinishDropsDeadLayersButKeepsTheirParams) {
  GraphBuilder b;
  int x = b.Input(3, 8, 8);
  int c = b.Conv(x, "trunk", 4, 3, 1, 1);
  b.Dense(b.Flatten(c), "aux", 5);  // never reaches the output
  int out = b.Dense(b.Flatten(b.GlobalAvgPool(c)), "fc", 2);
  absl::StatusOr<Graph> g = b.Finish(out);
  ASSERT_TRUE(g.ok());
  for (const Layer& l : g->layers) EXPECT_NE(l.name, "aux");
  ASSERT_EQ(g->params.size(), 5u);
  EXPECT_EQ(g->params[1].name, "aux.weight");
  EXPECT_FALSE(g->params[1].used);
  EXPECT_TRUE(g->params[3].used);
  EXPECT_EQ(g->layers[g->output].name, "fc");
  // Layer inputs were renumbered consistently.
  for (size_t i = 0; i < g->layers.size(); ++i) {
    for (int in : g->layers[i].inputs) EXPECT_LT(in, static_cast<int>(i));
  }
}

}  // namespace
}  // namespace quantbench
