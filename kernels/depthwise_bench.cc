// PackedDepthwise vs oneDNN fp32 depthwise convolution on MobileNet-v2's 17 depthwise shapes
// (10 distinct ones), side by side in one run: NHWC activations, bias + ReLU6 fused on both
// sides (oneDNN: the conv's bias and an eltwise_clip post-op; ours: out_shift + ReLU6), 8-bit
// per-channel weights for ours (fp32 and int8 activations).
//
//   bazel build //kernels:depthwise_bench && bazel-bin/kernels/depthwise_bench --threads=1,2 --batches=1,32
//
// Every (shape, batch, threads) runs --rounds rounds alternating the three; each keeps its best
// median. The table gives microseconds per call and ours / oneDNN as a speed ratio (> 1: ours
// is faster), then the geomean over shapes.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <functional>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <omp.h>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "kernels/packed_depthwise.h"
#include "kernels/packed_matrix.h"
#include "oneapi/dnnl/dnnl.hpp"

ABSL_FLAG(std::string, threads, "1,2", "comma-separated thread counts");
ABSL_FLAG(std::string, batches, "1,32", "comma-separated batch sizes");
ABSL_FLAG(int, rounds, 3, "alternating rounds per row (best median kept)");
ABSL_FLAG(double, seconds, 0.3, "seconds of calls per side per round");

namespace quantbench {
namespace {

using Clock = std::chrono::steady_clock;

struct DwShape {
  int channels, size, stride;
};
// MobileNet-v2 (224x224 input): input channels, input size, stride of each distinct
// depthwise conv (3x3, pad 1).
const DwShape kShapes[] = {{32, 112, 1},  {96, 112, 2}, {144, 56, 1}, {144, 56, 2},
                           {192, 28, 1},  {192, 28, 2}, {384, 14, 1}, {576, 14, 1},
                           {576, 14, 2},  {960, 7, 1}};

std::vector<int> IntList(const std::string& text) {
  std::vector<int> out;
  for (absl::string_view part : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    int v = 0;
    if (!absl::SimpleAtoi(part, &v) || v < 1) {
      std::fprintf(stderr, "depthwise_bench: '%s' is not a positive integer list\n", text.c_str());
      std::exit(2);
    }
    out.push_back(v);
  }
  return out;
}

// Median seconds per call of fn over `seconds` (after 3 warm-up calls).
double MedianSeconds(const std::function<void()>& fn, double seconds) {
  for (int i = 0; i < 3; ++i) fn();
  std::vector<double> runs;
  const auto start = Clock::now();
  while (runs.size() < 5 || std::chrono::duration<double>(Clock::now() - start).count() < seconds) {
    const auto t = Clock::now();
    fn();
    runs.push_back(std::chrono::duration<double>(Clock::now() - t).count());
  }
  std::sort(runs.begin(), runs.end());
  return runs[runs.size() / 2];
}

int Main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const std::vector<int> threads = IntList(absl::GetFlag(FLAGS_threads));
  const std::vector<int> batches = IntList(absl::GetFlag(FLAGS_batches));
  const int rounds = std::max(1, absl::GetFlag(FLAGS_rounds));
  const double seconds = absl::GetFlag(FLAGS_seconds);
  std::printf("PackedDepthwise (%s) vs oneDNN fp32 depthwise conv, 3x3 pad 1, bias + ReLU6\n\n",
              KernelIsaName(ActiveKernelIsa()));
  std::printf("| C x H x W / stride | batch | threads | oneDNN fp32 us | ours fp32-act us | ratio | "
              "ours int8-act us | ratio |\n|---|---:|---:|---:|---:|---:|---:|---:|\n");
  dnnl::engine engine(dnnl::engine::kind::cpu, 0);
  dnnl::stream stream(engine);
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uni(-1.0f, 1.0f);
  std::unordered_map<int, std::vector<double>> log_ratio_f32, log_ratio_i8;  // by threads
  for (const DwShape& shape : kShapes) {
    const int c = shape.channels, hw = shape.size, out = (hw + 2 - 3) / shape.stride + 1;
    // 8-bit per-channel weights: one 1 x 9 packed matrix per channel.
    std::vector<PackedMatrix> per_channel;
    std::vector<float> bias(c);
    for (int ch = 0; ch < c; ++ch) {
      std::vector<uint8_t> codes(9);
      for (uint8_t& v : codes) v = static_cast<uint8_t>(rng() % 256);
      const float scale = 0.01f * (1 + ch % 7);
      const int32_t zp2 = 255;
      per_channel.push_back(*PackUniform(8, 1, 9, codes, {&scale, 1}, {&zp2, 1}));
      bias[ch] = uni(rng);
    }
    const DepthwiseWeights w = *DepthwiseWeightsFromPacked(per_channel);
    DepthwiseGeometry g;
    g.channels = c;
    g.in_h = g.in_w = hw;
    g.out_h = g.out_w = out;
    g.kernel_h = g.kernel_w = 3;
    g.stride_h = g.stride_w = shape.stride;
    g.pad_t = g.pad_l = 1;
    // oneDNN's weights: [C][1][1][3][3] (goihw), the same dequantized values.
    std::vector<float> w_goihw(static_cast<size_t>(c) * 9);
    for (int ch = 0; ch < c; ++ch) {
      for (int t = 0; t < 9; ++t) w_goihw[ch * 9 + t] = w.values[t * c + ch];
    }
    for (int batch : batches) {
      std::vector<float> x(static_cast<size_t>(batch) * hw * hw * c);
      for (float& v : x) v = uni(rng);
      std::vector<float> y(static_cast<size_t>(batch) * out * out * c);
      using dt = dnnl::memory::data_type;
      using tag = dnnl::memory::format_tag;
      dnnl::memory::desc src_md({batch, c, hw, hw}, dt::f32, tag::nhwc);
      dnnl::memory::desc dst_md({batch, c, out, out}, dt::f32, tag::nhwc);
      dnnl::memory::desc w_any({c, 1, 1, 3, 3}, dt::f32, tag::any);
      dnnl::memory::desc b_md({c}, dt::f32, tag::x);
      dnnl::post_ops ops;
      ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
      dnnl::primitive_attr attr;
      attr.set_post_ops(ops);
      dnnl::convolution_forward::primitive_desc pd(
          dnnl::convolution_forward::desc(dnnl::prop_kind::forward_inference,
                                          dnnl::algorithm::convolution_direct, src_md, w_any, b_md,
                                          dst_md, {shape.stride, shape.stride}, {1, 1}, {1, 1}),
          attr, engine);
      dnnl::memory w_user({{c, 1, 1, 3, 3}, dt::f32, tag::goihw}, engine, w_goihw.data());
      dnnl::memory w_mem(pd.weights_desc(), engine);
      dnnl::reorder(w_user, w_mem).execute(stream, w_user, w_mem);
      dnnl::memory src(src_md, engine, x.data()), dst(dst_md, engine, y.data()),
          b_mem(b_md, engine, bias.data());
      dnnl::convolution_forward conv(pd);
      const std::unordered_map<int, dnnl::memory> args = {
          {DNNL_ARG_SRC, src}, {DNNL_ARG_WEIGHTS, w_mem}, {DNNL_ARG_BIAS, b_mem}, {DNNL_ARG_DST, dst}};
      for (int t : threads) {
        omp_set_num_threads(t);
        double best_dnnl = 1e9, best_f32 = 1e9, best_i8 = 1e9;
        for (int r = 0; r < rounds; ++r) {
          best_dnnl = std::min(best_dnnl, MedianSeconds([&] {
            conv.execute(stream, args);
            stream.wait();
          }, seconds));
          for (GemmActivations acts : {GemmActivations::kFloat, GemmActivations::kInt8}) {
            DepthwiseArgs a;
            a.x = x.data();
            a.y = y.data();
            a.batch = batch;
            a.activations = acts;
            a.threads = t;
            a.epilogue.out_shift = bias;
            a.epilogue.post_op = GemmPostOp::kRelu6;
            const double s = MedianSeconds([&] { (void)PackedDepthwise(g, w, a); }, seconds);
            double& best = acts == GemmActivations::kFloat ? best_f32 : best_i8;
            best = std::min(best, s);
          }
        }
        std::printf("| %d x %d x %d / %d | %d | %d | %.1f | %.1f | %.2f | %.1f | %.2f |\n", c, hw, hw,
                    shape.stride, batch, t, 1e6 * best_dnnl, 1e6 * best_f32, best_dnnl / best_f32,
                    1e6 * best_i8, best_dnnl / best_i8);
        std::fflush(stdout);
        log_ratio_f32[t * 1000 + batch].push_back(std::log(best_dnnl / best_f32));
        log_ratio_i8[t * 1000 + batch].push_back(std::log(best_dnnl / best_i8));
      }
    }
  }
  std::printf("\n");
  for (int t : threads) {
    for (int batch : batches) {
      auto geomean = [](const std::vector<double>& v) {
        double s = 0;
        for (double x : v) s += x;
        return std::exp(s / std::max<size_t>(1, v.size()));
      };
      std::printf("geomean ours / oneDNN fp32, batch %d, %d thread(s): fp32-act %.2fx, int8-act %.2fx\n",
                  batch, t, geomean(log_ratio_f32[t * 1000 + batch]),
                  geomean(log_ratio_i8[t * 1000 + batch]));
    }
  }
  return 0;
}

}  // namespace
}  // namespace quantbench

int main(int argc, char** argv) { return quantbench::Main(argc, argv); }
