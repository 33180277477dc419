// Every layer type's scalar backward against central finite differences of its forward, in
// double precision on small odd shapes: d/dz sum(r * y(z)) for random r, for every input
// element and every parameter element.
#include "training/layer_reference.h"

#include <cmath>
#include <functional>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "networks/graph.h"

namespace quantbench {
namespace {

using Vec = std::vector<double>;

Vec Random(size_t n, uint32_t seed, double lo = -1.0, double hi = 1.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  Vec v(n);
  for (double& x : v) x = u(rng);
  return v;
}

double Dot(const Vec& a, const Vec& b) {
  double s = 0.0;
  for (size_t i = 0; i < a.size(); ++i) s += a[i] * b[i];
  return s;
}

// Central differences of L(z) = r . forward() in every element of *z, against `analytic`.
void ExpectGradient(Vec* z, const std::function<Vec()>& forward, const Vec& r,
                    const Vec& analytic, const std::string& what) {
  ASSERT_EQ(z->size(), analytic.size()) << what;
  const double h = 1e-6;
  for (size_t i = 0; i < z->size(); ++i) {
    const double saved = (*z)[i];
    (*z)[i] = saved + h;
    const double plus = Dot(r, forward());
    (*z)[i] = saved - h;
    const double minus = Dot(r, forward());
    (*z)[i] = saved;
    const double numeric = (plus - minus) / (2 * h);
    ASSERT_NEAR(analytic[i], numeric, 1e-6 * (1.0 + std::fabs(numeric)))
        << what << " element " << i;
  }
}

// A one-layer graph's layer (so shapes come from GraphBuilder, the production rule) and its
// input shape.
struct OneLayer {
  Layer layer;
  TensorShape in;
};

OneLayer Build(int c, int h, int w, const std::function<int(GraphBuilder&, int)>& add) {
  GraphBuilder b;
  const int x = b.Input(c, h, w);
  const int y = add(b, x);
  absl::StatusOr<Graph> g = b.Finish(b.Flatten(y));
  EXPECT_TRUE(g.ok()) << g.status();
  return {g->layers[1], g->layers[0].shape};
}

constexpr int kBatch = 3;

void CheckConv(const OneLayer& o, bool bias) {
  const Layer& l = o.layer;
  const int64_t in_n = kBatch * o.in.NumElements(), out_n = kBatch * l.shape.NumElements();
  Vec x = Random(in_n, 1);
  Vec w = Random(static_cast<size_t>(l.out_channels) * (o.in.c / l.groups) * l.kernel_h *
                     l.kernel_w,
                 2);
  Vec b = Random(l.out_channels, 3);
  const Vec r = Random(out_n, 4);
  auto forward = [&]() {
    Vec y(out_n);
    ConvForwardRef<double>(l, o.in, kBatch, x.data(), w.data(), bias ? b.data() : nullptr,
                           y.data());
    return y;
  };
  Vec dx(in_n), dw(w.size()), db(b.size());
  ConvBackwardRef<double>(l, o.in, kBatch, x.data(), w.data(), r.data(), dx.data(), dw.data(),
                          bias ? db.data() : nullptr);
  ExpectGradient(&x, forward, r, dx, "conv dx");
  ExpectGradient(&w, forward, r, dw, "conv dw");
  if (bias) ExpectGradient(&b, forward, r, db, "conv dbias");
}

TEST(LayerReferenceTest, ConvPlain) {
  CheckConv(Build(3, 5, 7, [](GraphBuilder& g, int x) { return g.Conv(x, "c", 5, 3, 1, 1); }),
            false);
}

TEST(LayerReferenceTest, ConvStridedDilatedAsymmetricPaddingBias) {
  CheckConv(Build(3, 7, 6,
                  [](GraphBuilder& g, int x) {
                    return g.Conv(x, "c", 4, 3, 2, 2, 1, 1, 0, 2, 1, 1, true, 2);
                  }),
            true);
}

TEST(LayerReferenceTest, ConvGrouped) {
  CheckConv(Build(6, 5, 5,
                  [](GraphBuilder& g, int x) { return g.Conv(x, "c", 9, 3, 1, 1, 3, true); }),
            true);
}

TEST(LayerReferenceTest, ConvDepthwise) {
  CheckConv(Build(5, 5, 7, [](GraphBuilder& g, int x) { return g.Conv(x, "c", 5, 3, 2, 1, 5); }),
            false);
}

TEST(LayerReferenceTest, BatchNormTrainGradients) {
  const int c = 3;
  const int64_t spatial = 5 * 7;
  const int64_t n = kBatch * c * spatial;
  Vec x = Random(n, 5, -2.0, 3.0);
  Vec gamma = Random(c, 6, 0.5, 1.5), beta = Random(c, 7);
  const Vec r = Random(n, 8);
  const double eps = 1e-5;
  auto forward = [&]() {
    Vec y(n), mean(c), var(c);
    BatchNormTrainForwardRef<double>(kBatch, c, spatial, eps, x.data(), gamma.data(), beta.data(),
                                     y.data(), mean.data(), var.data());
    return y;
  };
  Vec y(n), mean(c), var(c);
  BatchNormTrainForwardRef<double>(kBatch, c, spatial, eps, x.data(), gamma.data(), beta.data(),
                                   y.data(), mean.data(), var.data());
  // Batch statistics normalize: per channel, mean(y) = beta and var(y) = gamma^2 v / (v + eps).
  for (int ch = 0; ch < c; ++ch) {
    double s = 0.0, s2 = 0.0;
    for (int b = 0; b < kBatch; ++b) {
      for (int64_t i = 0; i < spatial; ++i) {
        const double e = y[(b * c + ch) * spatial + i];
        s += e;
        s2 += e * e;
      }
    }
    const double cnt = kBatch * spatial;
    EXPECT_NEAR(s / cnt, beta[ch], 1e-12);
    EXPECT_NEAR(s2 / cnt - (s / cnt) * (s / cnt),
                gamma[ch] * gamma[ch] * var[ch] / (var[ch] + eps), 1e-10);
  }
  Vec dx(n), dgamma(c), dbeta(c);
  BatchNormTrainBackwardRef<double>(kBatch, c, spatial, eps, x.data(), gamma.data(), mean.data(),
                                    var.data(), r.data(), dx.data(), dgamma.data(), dbeta.data());
  ExpectGradient(&x, forward, r, dx, "batch_norm dx");
  ExpectGradient(&gamma, forward, r, dgamma, "batch_norm dgamma");
  ExpectGradient(&beta, forward, r, dbeta, "batch_norm dbeta");
}

TEST(LayerReferenceTest, BatchNormRunningStatisticsFollowPyTorch) {
  const int c = 3;
  const int64_t spatial = 4 * 5;
  const Vec x = Random(kBatch * c * spatial, 9, -1.0, 4.0);
  Vec gamma(c, 1.0), beta(c, 0.0), y(x.size()), mean(c), var(c);
  BatchNormTrainForwardRef<double>(kBatch, c, spatial, 1e-5, x.data(), gamma.data(), beta.data(),
                                   y.data(), mean.data(), var.data());
  std::vector<float> running_mean = {0.5f, -1.0f, 2.0f}, running_var = {1.0f, 3.0f, 0.25f};
  const std::vector<float> old_mean = running_mean, old_var = running_var;
  ASSERT_TRUE(BatchNormUpdateRunningStatsRef<double>(c, kBatch * spatial, 0.1, mean.data(),
                                                     var.data(), running_mean.data(),
                                                     running_var.data())
                  .ok());
  for (int ch = 0; ch < c; ++ch) {
    // Independent statistics of the channel: mean and UNBIASED variance.
    Vec values;
    for (int b = 0; b < kBatch; ++b) {
      for (int64_t i = 0; i < spatial; ++i) values.push_back(x[(b * c + ch) * spatial + i]);
    }
    double m = 0.0;
    for (double e : values) m += e;
    m /= values.size();
    double ss = 0.0;
    for (double e : values) ss += (e - m) * (e - m);
    const double unbiased = ss / (values.size() - 1);
    EXPECT_NEAR(running_mean[ch], 0.9 * old_mean[ch] + 0.1 * m, 1e-6);
    EXPECT_NEAR(running_var[ch], 0.9 * old_var[ch] + 0.1 * unbiased, 1e-6);
  }
  EXPECT_EQ(BatchNormUpdateRunningStatsRef<double>(c, 1, 0.1, mean.data(), var.data(),
                                                   running_mean.data(), running_var.data())
                .code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(LayerReferenceTest, BatchNormEvalUsesRunningStatistics) {
  const Vec x = {1.0, 2.0, 3.0, 4.0};  // batch 1, 2 channels, 2 values each
  const Vec gamma = {2.0, 0.5}, beta = {1.0, -1.0}, mean = {1.0, 4.0}, var = {4.0, 1.0};
  Vec y(4);
  BatchNormEvalForwardRef<double>(1, 2, 2, 0.0, x.data(), gamma.data(), beta.data(), mean.data(),
                                  var.data(), y.data());
  EXPECT_DOUBLE_EQ(y[0], 1.0);   // (1 - 1) / 2 * 2 + 1
  EXPECT_DOUBLE_EQ(y[1], 2.0);   // (2 - 1) / 2 * 2 + 1
  EXPECT_DOUBLE_EQ(y[2], -1.5);  // (3 - 4) / 1 * 0.5 - 1
  EXPECT_DOUBLE_EQ(y[3], -1.0);
}

void CheckElementwise(bool relu6) {
  const int64_t n = 3 * 5 * 7;
  Vec x = Random(n, 10, -3.0, 9.0);
  const Vec r = Random(n, 11);
  auto forward = [&]() {
    Vec y(n);
    if (relu6) {
      Relu6ForwardRef<double>(n, x.data(), y.data());
    } else {
      ReluForwardRef<double>(n, x.data(), y.data());
    }
    return y;
  };
  const Vec y = forward();
  for (int64_t i = 0; i < n; ++i) {
    EXPECT_EQ(y[i], relu6 ? std::min(std::max(x[i], 0.0), 6.0) : std::max(x[i], 0.0));
  }
  Vec dx(n);
  if (relu6) {
    Relu6BackwardRef<double>(n, x.data(), r.data(), dx.data());
  } else {
    ReluBackwardRef<double>(n, x.data(), r.data(), dx.data());
  }
  ExpectGradient(&x, forward, r, dx, relu6 ? "relu6" : "relu");
}

TEST(LayerReferenceTest, Relu) { CheckElementwise(false); }
TEST(LayerReferenceTest, Relu6) { CheckElementwise(true); }

TEST(LayerReferenceTest, Relu6GradientIsZeroAtTheKinksLikePyTorch) {
  const Vec x = {0.0, 6.0, 3.0}, dy = {1.0, 1.0, 1.0};
  Vec dx(3);
  Relu6BackwardRef<double>(3, x.data(), dy.data(), dx.data());
  EXPECT_EQ(dx, (Vec{0.0, 0.0, 1.0}));
}

void CheckPool(const OneLayer& o, uint32_t seed) {
  const Layer& l = o.layer;
  const int64_t in_n = kBatch * o.in.NumElements(), out_n = kBatch * l.shape.NumElements();
  Vec x = Random(in_n, seed);
  const Vec r = Random(out_n, seed + 1);
  auto forward = [&]() {
    Vec y(out_n);
    PoolForwardRef<double>(l, o.in, kBatch, x.data(), y.data());
    return y;
  };
  Vec dx(in_n);
  PoolBackwardRef<double>(l, o.in, kBatch, x.data(), r.data(), dx.data());
  ExpectGradient(&x, forward, r, dx, LayerKindName(l.kind));
}

TEST(LayerReferenceTest, MaxPoolPaddedCeilMode) {
  CheckPool(Build(3, 5, 7, [](GraphBuilder& g, int x) { return g.MaxPool(x, 3, 2, 1, true); }),
            12);
  CheckPool(Build(3, 6, 5,
                  [](GraphBuilder& g, int x) { return g.MaxPool(x, 2, 3, 2, 1, 0, 1, 1, 0, false); }),
            13);
}

TEST(LayerReferenceTest, AvgPoolIncludeAndExcludePadding) {
  CheckPool(Build(3, 5, 7,
                  [](GraphBuilder& g, int x) { return g.AvgPool(x, 3, 2, 1, true, false); }),
            14);
  CheckPool(Build(3, 5, 7,
                  [](GraphBuilder& g, int x) { return g.AvgPool(x, 3, 2, 1, false, true); }),
            15);
  CheckPool(Build(3, 5, 7,
                  [](GraphBuilder& g, int x) { return g.AvgPool(x, 2, 2, 0, true, true); }),
            16);
}

TEST(LayerReferenceTest, AvgPoolDivisorFollowsPyTorch) {
  // 1 x 1 x 3 x 3 input of ones, 3x3 window, stride 2, padding 1, ceil_mode: PyTorch's
  // include-pad divisor is the window clipped to input + declared padding.
  const OneLayer o = Build(1, 3, 3, [](GraphBuilder& g, int x) {
    return g.AvgPool(x, 3, 2, 1, /*count_include_pad=*/true, /*ceil_mode=*/true);
  });
  ASSERT_EQ(o.layer.shape.h, 2);
  const Vec x(9, 1.0);
  Vec y(4);
  PoolForwardRef<double>(o.layer, o.in, 1, x.data(), y.data());
  // Window (0,0) covers rows -1..1: 4 of its 9 padded cells are real.
  EXPECT_DOUBLE_EQ(y[0], 4.0 / 9.0);
  EXPECT_DOUBLE_EQ(y[3], 4.0 / 9.0);  // rows 1..3 clipped to 1..3 (pad_b = 1): 3x3, 4 real
}

TEST(LayerReferenceTest, GlobalAvgPool) {
  const int c = 3;
  const int64_t spatial = 5 * 7;
  Vec x = Random(kBatch * c * spatial, 17);
  const Vec r = Random(kBatch * c, 18);
  auto forward = [&]() {
    Vec y(kBatch * c);
    GlobalAvgPoolForwardRef<double>(kBatch, c, spatial, x.data(), y.data());
    return y;
  };
  Vec dx(x.size());
  GlobalAvgPoolBackwardRef<double>(kBatch, c, spatial, r.data(), dx.data());
  ExpectGradient(&x, forward, r, dx, "global_avg_pool");
}

TEST(LayerReferenceTest, Concat) {
  const std::vector<int> channels = {2, 3, 1};
  const int64_t spatial = 5 * 3;
  Vec a = Random(kBatch * 2 * spatial, 19), b = Random(kBatch * 3 * spatial, 20),
      c = Random(kBatch * 1 * spatial, 21);
  const Vec r = Random(kBatch * 6 * spatial, 22);
  auto forward = [&]() {
    Vec y(r.size());
    ConcatForwardRef<double>(kBatch, spatial, channels, {a.data(), b.data(), c.data()}, y.data());
    return y;
  };
  const Vec y = forward();
  EXPECT_EQ(y[2 * spatial], b[0]);  // example 0: a's 2 channels, then b
  EXPECT_EQ(y[6 * spatial], a[2 * spatial]);  // example 1 starts with its own a
  Vec da(a.size()), db(b.size()), dc(c.size());
  ConcatBackwardRef<double>(kBatch, spatial, channels, r.data(), {da.data(), db.data(), dc.data()});
  ExpectGradient(&a, forward, r, da, "concat da");
  ExpectGradient(&b, forward, r, db, "concat db");
  ExpectGradient(&c, forward, r, dc, "concat dc");
}

TEST(LayerReferenceTest, PadChannels) {
  const int c = 3, before = 2, after = 1;
  const int64_t spatial = 5 * 7;
  Vec x = Random(kBatch * c * spatial, 23);
  const Vec r = Random(kBatch * (c + before + after) * spatial, 24);
  auto forward = [&]() {
    Vec y(r.size());
    PadChannelsForwardRef<double>(kBatch, c, spatial, before, after, x.data(), y.data());
    return y;
  };
  const Vec y = forward();
  EXPECT_EQ(y[0], 0.0);
  EXPECT_EQ(y[before * spatial], x[0]);
  EXPECT_EQ(y[(before + c) * spatial], 0.0);
  Vec dx(x.size());
  PadChannelsBackwardRef<double>(kBatch, c, spatial, before, after, r.data(), dx.data());
  ExpectGradient(&x, forward, r, dx, "pad_channels");
}

TEST(LayerReferenceTest, Dense) {
  const int in = 7, out = 5;
  Vec x = Random(kBatch * in, 25), w = Random(out * in, 26), b = Random(out, 27);
  const Vec r = Random(kBatch * out, 28);
  auto forward = [&]() {
    Vec y(kBatch * out);
    DenseForwardRef<double>(kBatch, in, out, x.data(), w.data(), b.data(), y.data());
    return y;
  };
  Vec dx(x.size()), dw(w.size()), db(b.size());
  DenseBackwardRef<double>(kBatch, in, out, x.data(), w.data(), r.data(), dx.data(), dw.data(),
                           db.data());
  ExpectGradient(&x, forward, r, dx, "dense dx");
  ExpectGradient(&w, forward, r, dw, "dense dw");
  ExpectGradient(&b, forward, r, db, "dense dbias");
}

}  // namespace
}  // namespace quantbench
