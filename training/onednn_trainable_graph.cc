// The oneDNN training backend.
//
// A Plan is built once per (batch, phase) and cached. It holds one oneDNN memory per value
// in the layout its producer chose (convolutions pick blocked layouts through
// format_tag::any; BatchNorm, ReLU, pooling and Add keep their input's layout), one gradient
// memory per value in the same layout, and three step lists:
//   * sync: per Forward, the reorders of the weights from the store's plain layout into the
//     layouts the forward (and, in training, backward-data) primitives chose;
//   * forward: the primitives in graph order, plus a reorder wherever a consumer wants a
//     different layout than the producer made (made once, shared by all such consumers);
//   * backward (training only): the backward primitives in reverse order. A value's first
//     gradient contribution is written straight into its gradient memory when the layouts
//     agree, every later one (fan-out: residual adds, concat, hooks) is accumulated by a
//     reorder with a sum post-op.
// Plain N, C, H, W only at the boundary: input, logits, dinput and the activation hooks.
// Weight gradients come back in the store's layout ([out, in/groups, kh, kw], [out, in]).
#include "training/onednn_trainable_graph.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "oneapi/dnnl/dnnl_debug.h"
#include "training/layer_reference.h"
#include "training/trainable_graph_base.h"

namespace quantbench {
namespace {

using dnnl::memory;
using tag = memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

memory::dims Dims(const TensorShape& s, int n) {
  return s.flat ? memory::dims{n, s.c} : memory::dims{n, s.c, s.h, s.w};
}
memory::desc PlainDesc(const TensorShape& s, int n) {
  return memory::desc(Dims(s, n), kF32, s.flat ? tag::nc : tag::nchw);
}
memory::desc AnyDesc(const TensorShape& s, int n) {
  return memory::desc(Dims(s, n), kF32, tag::any);
}
float* Ptr(const memory& m) { return static_cast<float*>(m.get_data_handle()); }

// True if a layout stores more elements than the tensor has (blocked channels not a
// multiple of the block).
bool HasPadding(const memory::desc& d) {
  for (int k = 0; k < d.data.ndims; ++k) {
    if (d.data.padded_dims[k] != d.data.dims[k]) return true;
  }
  return false;
}

constexpr size_t kAlignment = 4096;
struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

struct Step {
  dnnl::primitive primitive;  // or fn
  std::unordered_map<int, memory> args;
  std::function<absl::Status()> fn;
  bool dinput_only = false;  // backward steps that only serve dL/dinput
};

// Pooling window in oneDNN's terms: ceil_mode becomes extra bottom / right padding.
struct PoolGeometry {
  memory::dims kernel, strides, pad_l, pad_r;
  dnnl::algorithm alg = dnnl::algorithm::pooling_max;
  bool include_pad_with_extension = false;  // not expressible
};

PoolGeometry PoolGeometryOf(const Layer& l, const TensorShape& in) {
  PoolGeometry g;
  if (l.kind == LayerKind::kGlobalAvgPool) {
    g.kernel = {in.h, in.w};
    g.strides = {1, 1};
    g.pad_l = {0, 0};
    g.pad_r = {0, 0};
    g.alg = dnnl::algorithm::pooling_avg_exclude_padding;
    return g;
  }
  const int need_b = (l.shape.h - 1) * l.stride_h + l.kernel_h - in.h - l.pad_t;
  const int need_r = (l.shape.w - 1) * l.stride_w + l.kernel_w - in.w - l.pad_l;
  const bool extended = need_b > l.pad_b || need_r > l.pad_r;
  g.kernel = {l.kernel_h, l.kernel_w};
  g.strides = {l.stride_h, l.stride_w};
  g.pad_l = {l.pad_t, l.pad_l};
  g.pad_r = {std::max(l.pad_b, need_b), std::max(l.pad_r, need_r)};
  if (l.kind == LayerKind::kAvgPool) {
    const bool any_pad = l.pad_t || l.pad_l || l.pad_b || l.pad_r;
    g.include_pad_with_extension = l.count_include_pad && any_pad && extended;
    // Without declared padding PyTorch's include-pad divisor is the in-bounds count.
    g.alg = l.count_include_pad && any_pad ? dnnl::algorithm::pooling_avg_include_padding
                                           : dnnl::algorithm::pooling_avg_exclude_padding;
  }
  return g;
}

std::string PrimitiveKindName(const dnnl::primitive& p) {
  return dnnl_prim_kind2str(static_cast<dnnl_primitive_kind_t>(p.get_kind()));
}

absl::Status DnnlError(const dnnl::error& e, const std::string& what) {
  if (e.status == dnnl_unimplemented) {
    return absl::UnimplementedError(absl::StrCat("oneDNN has no implementation for ", what));
  }
  return absl::InternalError(absl::StrCat("oneDNN error while ", what, ": ", e.what()));
}

class OneDnnTrainableGraph : public TrainableGraphBase {
 public:
  OneDnnTrainableGraph(const Graph& graph, const TrainableGraphOptions& options)
      : TrainableGraphBase(graph, options), engine_(dnnl::engine::kind::cpu, 0), stream_(engine_) {}

 protected:
  absl::Status RunForward(absl::Span<const float> input, int batch, Phase phase,
                          absl::Span<float> logits) override;
  absl::Status RunBackward(absl::Span<const float> dlogits, ParamGradients* grads,
                           absl::Span<float> dinput) override;
  void HooksChanged() override {
    plans_.clear();
    train_plan_ = nullptr;
  }

 private:
  // The oneDNN memories that face the ParamStore and the gradients of one layer.
  struct LayerMems {
    memory weight, bias;            // conv / dense, plain; handles = parameter values
    memory dweight, dbias;          // plain; handles = gradient vectors
    memory scale, shift, mean, var;  // BatchNorm (kEval: mean / var = running statistics)
    memory dscale, dshift;
  };
  struct WeightCopy {
    memory user, copy;
  };
  struct Plan {
    int batch = 0;
    bool train = false;
    std::vector<memory> val, hval, grad, hgrad;
    std::vector<LayerMems> lm;
    std::vector<Step> sync, fwd, bwd;
    std::vector<WeightCopy> weight_copies;
    std::map<std::pair<int, bool>, std::vector<memory>> conversions;
    std::vector<memory> temps;
    std::vector<std::pair<int, memory>> backward_copies;  // BackwardCopy's, with their role
    std::vector<bool> grad_started;  // build time, per 2 * value + hooked
    std::vector<int> fused_into_batchnorm;  // per ReLU layer: the BatchNorm computing it, or -1
    std::vector<bool> backward_reads_output;  // per layer: its backward reads its own output
    std::vector<int> fused_into_add;  // per ReLU / ReLU6 layer: the Add computing it, or -1
    // Gradient memories live in pooled buffers from their first contribution to their last
    // reader (build order is execution order), so a buffer serves many values in turn.
    struct GradBuffer {
      std::unique_ptr<void, AlignedFree> data;
      size_t bytes = 0;
      int users = 0;  // values whose gradient lives in it (an Add shares one)
    };
    std::vector<GradBuffer> grad_buffers;
    std::vector<int> grad_buffer_of;  // per value, -1 when none
    memory input, logits, dlogits, dinput;  // plain; handles of the last call
  };

  absl::StatusOr<Plan*> GetPlan(int batch, Phase phase);
  absl::Status BuildPlan(Plan* plan);
  absl::Status BuildLayer(Plan& p, int i, std::vector<std::function<void()>>* backward);
  void BuildHookForward(Plan& p, int v);
  void BuildHookBackward(Plan& p, int v);
  absl::Status Run(std::vector<Step>& steps, bool skip_dinput_only);

  // True if the memory of value v may be overwritten by its only reader (an in-place ReLU or
  // Add, whose backward does not read its input): no other reader, the backward of v's
  // producer does not read v (only a ReLU's does), and v is neither the input nor the logits.
  bool CanOverwrite(const Plan& p, int v) const {
    return v != 0 && v != graph_.output && consumers()[v].size() == 1 &&
           value_hook(v) == nullptr && !p.backward_reads_output[v];
  }
  bool Hooked(int layer, int which) const {
    return is_site(layer) && value_hook(graph_.layers[layer].inputs[which]) != nullptr;
  }
  // Value v (or its hooked version) in layout `want`: the value itself, or a converted copy
  // made by a reorder appended to `steps` (shared by later consumers).
  memory Need(Plan& p, int v, bool hooked, const memory::desc& want, std::vector<Step>* steps);
  Step Reorder(const memory& from, const memory& to, bool accumulate);
  // A workspace memory (what a forward keeps for its backward: max-pooling indices, the
  // fused ReLU's mask) added to `step`, or a null memory when the primitive needs none.
  memory AttachWorkspace(const memory::desc& desc, Step* step) {
    if (desc.get_size() == 0) return memory();
    memory workspace(desc, engine_);
    step->args[DNNL_ARG_WORKSPACE] = workspace;
    return workspace;
  }
  // Where a backward primitive writes dL/d(value v): the gradient memory itself when this is
  // its first contribution in the same layout (direct = true), else a scratch memory the
  // caller then hands to Contribute.
  std::pair<memory, bool> GradTarget(Plan& p, int v, bool hooked, const memory::desc& desc);
  void Contribute(Plan& p, int v, bool hooked, const memory& grad);
  // The gradient memory of value v, placed in a free pooled buffer on first use.
  const memory& Grad(Plan& p, int v);
  // Value v's gradient is value `from`'s (same memory).
  void ShareGrad(Plan& p, int v, int from);
  void ReleaseGrad(Plan& p, int v);
  // The weights in layout `desc`: the plain user memory itself, or a copy refreshed by a
  // reorder in the sync steps.
  memory WeightsIn(Plan& p, const memory& user, const memory::desc& desc);
  // The two backward primitives of a conv / dense layer and the layouts they chose. Each was
  // created with format_tag::any for every tensor, so it may want its src and diff_dst in
  // other layouts than the forward made them (see the conv case of BuildLayer).
  struct WeightedBackward {
    dnnl::primitive weights;  // backward-weights (+ bias)
    memory::desc src, diff_weights, weights_diff_dst;
    dnnl::primitive data;  // backward-data
    memory::desc data_weights, data_diff_dst, diff_src;
  };
  // The backward of conv / dense layer i (reading its input, or the hooked version, as `src`,
  // in the forward's layout): backward-weights (+ bias) into the store's layout, then
  // backward-data into the input's gradient; reorders into the layouts they chose first.
  void EmitWeightedBackward(Plan& p, int i, bool hooked, const memory& src,
                            const memory::desc& w_plain, const memory::desc* b_md,
                            const WeightedBackward& b);
  // `from` in layout `desc`: `from` itself, or a scratch memory (one per (role, layout),
  // shared by all layers: it is read only by the primitives right after the reorder that this
  // appends to the backward steps).
  memory BackwardCopy(Plan& p, int role, const memory& from, const memory::desc& desc,
                      bool dinput_only);

  dnnl::engine engine_;
  dnnl::stream stream_;
  std::map<std::pair<int, bool>, std::unique_ptr<Plan>> plans_;
  Plan* train_plan_ = nullptr;
};

Step OneDnnTrainableGraph::Reorder(const memory& from, const memory& to, bool accumulate) {
  dnnl::primitive_attr attr;
  if (accumulate) {
    dnnl::post_ops ops;
    ops.append_sum(1.0f);
    attr.set_post_ops(ops);
  }
  dnnl::reorder::primitive_desc pd(engine_, from.get_desc(), engine_, to.get_desc(), attr);
  Step s;
  s.primitive = dnnl::reorder(pd);
  s.args = {{DNNL_ARG_FROM, from}, {DNNL_ARG_TO, to}};
  return s;
}

memory OneDnnTrainableGraph::Need(Plan& p, int v, bool hooked, const memory::desc& want,
                                  std::vector<Step>* steps) {
  const memory& src = hooked ? p.hval[v] : p.val[v];
  if (src.get_desc() == want) return src;
  std::vector<memory>& copies = p.conversions[{v, hooked}];
  for (const memory& m : copies) {
    if (m.get_desc() == want) return m;
  }
  memory m(want, engine_);
  steps->push_back(Reorder(src, m, false));
  copies.push_back(m);
  return m;
}

const memory& OneDnnTrainableGraph::Grad(Plan& p, int v) {
  if (p.grad[v]) return p.grad[v];
  const memory::desc desc = p.val[v].get_desc();
  const size_t bytes = desc.get_size();
  int best = -1;
  for (size_t b = 0; b < p.grad_buffers.size(); ++b) {
    const Plan::GradBuffer& buf = p.grad_buffers[b];
    if (buf.users == 0 && buf.bytes >= bytes &&
        (best < 0 || buf.bytes < p.grad_buffers[best].bytes)) {
      best = static_cast<int>(b);
    }
  }
  if (best < 0) {
    Plan::GradBuffer buf;
    // Page-aligned, as oneDNN's own allocations: its kernels are tuned for aligned rows.
    buf.data.reset(std::aligned_alloc(kAlignment, (bytes + kAlignment - 1) / kAlignment * kAlignment));
    buf.bytes = bytes;
    p.grad_buffers.push_back(std::move(buf));
    best = static_cast<int>(p.grad_buffers.size()) - 1;
  }
  ++p.grad_buffers[best].users;
  p.grad_buffer_of[v] = best;
  p.grad[v] = memory(desc, engine_, p.grad_buffers[best].data.get());
  return p.grad[v];
}

void OneDnnTrainableGraph::ShareGrad(Plan& p, int v, int from) {
  p.grad[v] = Grad(p, from);
  p.grad_buffer_of[v] = p.grad_buffer_of[from];
  ++p.grad_buffers[p.grad_buffer_of[v]].users;
  p.grad_started[2 * v] = true;
}

void OneDnnTrainableGraph::ReleaseGrad(Plan& p, int v) {
  if (p.grad_buffer_of[v] < 0) return;
  --p.grad_buffers[p.grad_buffer_of[v]].users;
  p.grad_buffer_of[v] = -1;
}

std::pair<memory, bool> OneDnnTrainableGraph::GradTarget(Plan& p, int v, bool hooked,
                                                         const memory::desc& desc) {
  const memory& target = hooked ? p.hgrad[v] : Grad(p, v);
  const int key = 2 * v + (hooked ? 1 : 0);
  if (!p.grad_started[key] && target.get_desc() == desc) {
    p.grad_started[key] = true;
    return {target, true};
  }
  // Scratch is consumed by the Contribute right after the primitive: one per layout.
  for (const memory& t : p.temps) {
    if (t.get_desc() == desc) return {t, false};
  }
  p.temps.emplace_back(desc, engine_);
  return {p.temps.back(), false};
}

void OneDnnTrainableGraph::Contribute(Plan& p, int v, bool hooked, const memory& grad) {
  const int key = 2 * v + (hooked ? 1 : 0);
  Step s = Reorder(grad, hooked ? p.hgrad[v] : Grad(p, v), p.grad_started[key]);
  s.dinput_only = v == 0;
  p.grad_started[key] = true;
  p.bwd.push_back(std::move(s));
}

memory OneDnnTrainableGraph::WeightsIn(Plan& p, const memory& user, const memory::desc& desc) {
  if (user.get_desc() == desc) return user;
  for (const WeightCopy& c : p.weight_copies) {
    if (c.user == user && c.copy.get_desc() == desc) return c.copy;
  }
  memory copy(desc, engine_);
  p.sync.push_back(Reorder(user, copy, false));
  p.weight_copies.push_back({user, copy});
  return copy;
}

void OneDnnTrainableGraph::BuildHookForward(Plan& p, int v) {
  const TensorShape& s = graph_.layers[v].shape;
  const memory::desc plain = PlainDesc(s, p.batch);
  memory x = Need(p, v, false, plain, &p.fwd);
  memory y(plain, engine_);
  const size_t count = static_cast<size_t>(p.batch) * s.NumElements();
  Step step;
  step.fn = [this, v, x, y, count]() {
    return value_hook(v)->Forward(absl::MakeConstSpan(Ptr(x), count),
                                  absl::MakeSpan(Ptr(y), count));
  };
  p.fwd.push_back(std::move(step));
  p.hval[v] = y;
  if (p.train) p.hgrad[v] = memory(plain, engine_);
}

void OneDnnTrainableGraph::BuildHookBackward(Plan& p, int v) {
  if (!p.grad_started[2 * v + 1]) return;
  const TensorShape& s = graph_.layers[v].shape;
  memory dy = p.hgrad[v];
  memory dx(dy.get_desc(), engine_);
  const size_t count = static_cast<size_t>(p.batch) * s.NumElements();
  Step step;
  step.fn = [this, v, dx, dy, count]() {
    return value_hook(v)->Backward(absl::MakeConstSpan(Ptr(dy), count),
                                   absl::MakeSpan(Ptr(dx), count));
  };
  step.dinput_only = v == 0;
  p.bwd.push_back(std::move(step));
  Contribute(p, v, false, dx);
}

memory OneDnnTrainableGraph::BackwardCopy(Plan& p, int role, const memory& from,
                                          const memory::desc& desc, bool dinput_only) {
  if (from.get_desc() == desc) return from;
  memory to;
  for (const auto& [r, m] : p.backward_copies) {
    if (r == role && m.get_desc() == desc) to = m;
  }
  if (!to) {
    to = memory(desc, engine_);
    p.backward_copies.emplace_back(role, to);
  }
  Step s = Reorder(from, to, false);
  s.dinput_only = dinput_only;
  p.bwd.push_back(std::move(s));
  return to;
}

void OneDnnTrainableGraph::EmitWeightedBackward(Plan& p, int i, bool hooked, const memory& src,
                                                const memory::desc& w_plain,
                                                const memory::desc* b_md,
                                                const WeightedBackward& b) {
  const int v = graph_.layers[i].inputs[0];
  LayerMems& m = p.lm[i];
  enum Role { kSrc, kDiffDstWeights, kDiffDstData };
  m.dweight = memory(w_plain, engine_, DNNL_MEMORY_NONE);
  const memory dw = b.diff_weights == w_plain ? m.dweight : memory(b.diff_weights, engine_);
  const memory w_src = BackwardCopy(p, kSrc, src, b.src, false);
  const memory w_diff_dst = BackwardCopy(p, kDiffDstWeights, Grad(p, i), b.weights_diff_dst, false);
  Step ws;
  ws.primitive = b.weights;
  ws.args = {{DNNL_ARG_SRC, w_src}, {DNNL_ARG_DIFF_DST, w_diff_dst}, {DNNL_ARG_DIFF_WEIGHTS, dw}};
  if (b_md != nullptr) {
    m.dbias = memory(*b_md, engine_, DNNL_MEMORY_NONE);
    ws.args[DNNL_ARG_DIFF_BIAS] = m.dbias;
  }
  p.bwd.push_back(std::move(ws));
  if (!(dw == m.dweight)) p.bwd.push_back(Reorder(dw, m.dweight, false));

  const memory d_diff_dst = b.data_diff_dst == w_diff_dst.get_desc()
                                ? w_diff_dst
                                : BackwardCopy(p, kDiffDstData, Grad(p, i), b.data_diff_dst, v == 0);
  auto [target, direct] = GradTarget(p, v, hooked, b.diff_src);
  Step ds;
  ds.primitive = b.data;
  ds.args = {{DNNL_ARG_DIFF_DST, d_diff_dst},
             {DNNL_ARG_WEIGHTS, WeightsIn(p, m.weight, b.data_weights)},
             {DNNL_ARG_DIFF_SRC, target}};
  ds.dinput_only = v == 0;
  p.bwd.push_back(std::move(ds));
  if (!direct) Contribute(p, v, hooked, target);
}

absl::Status OneDnnTrainableGraph::BuildLayer(Plan& p, int i,
                                              std::vector<std::function<void()>>* backward) {
  const Layer& l = graph_.layers[i];
  const int n = p.batch;
  const int v = l.inputs[0];
  const TensorShape& in = input_shape(i);
  const bool train = p.train;
  const dnnl::prop_kind prop =
      train ? dnnl::prop_kind::forward_training : dnnl::prop_kind::forward_inference;
  LayerMems& m = p.lm[i];
  switch (l.kind) {
    case LayerKind::kInput:
      return absl::InternalError("second Input");

    case LayerKind::kConv: {
      const bool hk = Hooked(i, 0);
      const memory::dims w_dims =
          l.groups > 1 ? memory::dims{l.groups, l.out_channels / l.groups, in.c / l.groups,
                                      l.kernel_h, l.kernel_w}
                       : memory::dims{l.out_channels, in.c, l.kernel_h, l.kernel_w};
      const memory::desc w_plain(w_dims, kF32, l.groups > 1 ? tag::goihw : tag::oihw);
      const memory::desc w_any(w_dims, kF32, tag::any);
      const memory::desc b_md({l.out_channels}, kF32, tag::x);
      const memory::desc src_any(Dims(in, n), kF32, tag::any);
      const memory::dims strides = {l.stride_h, l.stride_w};
      const memory::dims dil = {l.dilation - 1, l.dilation - 1};
      const memory::dims pad_l = {l.pad_t, l.pad_l}, pad_r = {l.pad_b, l.pad_r};
      const auto alg = dnnl::algorithm::convolution_direct;
      const dnnl::convolution_forward::desc desc =
          l.bias ? dnnl::convolution_forward::desc(prop, alg, src_any, w_any, b_md,
                                                   AnyDesc(l.shape, n), strides, dil, pad_l, pad_r)
                 : dnnl::convolution_forward::desc(prop, alg, src_any, w_any, AnyDesc(l.shape, n),
                                                   strides, dil, pad_l, pad_r);
      const dnnl::convolution_forward::primitive_desc pd(desc, engine_);
      const memory src = Need(p, v, hk, pd.src_desc(), &p.fwd);
      p.val[i] = memory(pd.dst_desc(), engine_);
      m.weight = memory(w_plain, engine_, DNNL_MEMORY_NONE);
      Step s;
      s.primitive = dnnl::convolution_forward(pd);
      s.args = {{DNNL_ARG_SRC, src},
                {DNNL_ARG_WEIGHTS, WeightsIn(p, m.weight, pd.weights_desc())},
                {DNNL_ARG_DST, p.val[i]}};
      if (l.bias) {
        m.bias = memory(b_md, engine_, DNNL_MEMORY_NONE);
        s.args[DNNL_ARG_BIAS] = m.bias;
      }
      p.fwd.push_back(std::move(s));
      if (!train) break;
      // The backward primitives choose their own layouts (format_tag::any for src, diff_src,
      // weights and diff_dst) instead of inheriting the forward's: the forward of a conv with
      // few input channels (e.g. 3 or 8) reads plain NCHW src, a layout for which oneDNN 2.6
      // has no jit backward-data (and, at 8 channels, no jit backward-weights), and with it
      // fixed it falls back to the scalar ref:any implementation (resiliency CNN at x0.25,
      // batch 128: backward 5.0 s per step with ref, 10 ms with jit; training/README.md). With any it picks jit kernels
      // (nChw16c backward-data, nChw8c / plain backward-weights); the src and diff_dst are
      // reordered into those layouts where they differ. Where the forward's layouts are
      // what the backward wants too (16-channel multiples: ResNets, MobileNet) nothing is added.
      backward->push_back([this, &p, i, hk, pd, src, src_any, w_plain, w_any, b_md, strides, dil,
                           pad_l, pad_r, alg, n]() {
        const Layer& l = graph_.layers[i];
        const memory::desc dst_any = AnyDesc(l.shape, n);
        const dnnl::convolution_backward_weights::desc wd =
            l.bias ? dnnl::convolution_backward_weights::desc(alg, src_any, w_any, b_md, dst_any,
                                                              strides, dil, pad_l, pad_r)
                   : dnnl::convolution_backward_weights::desc(alg, src_any, w_any, dst_any,
                                                              strides, dil, pad_l, pad_r);
        const dnnl::convolution_backward_weights::primitive_desc wpd(wd, engine_, pd);
        const dnnl::convolution_backward_data::desc dd(alg, src_any, w_any, dst_any, strides, dil,
                                                       pad_l, pad_r);
        const dnnl::convolution_backward_data::primitive_desc dpd(dd, engine_, pd);
        EmitWeightedBackward(p, i, hk, src, w_plain, l.bias ? &b_md : nullptr,
                             {dnnl::convolution_backward_weights(wpd), wpd.src_desc(),
                              wpd.diff_weights_desc(), wpd.diff_dst_desc(),
                              dnnl::convolution_backward_data(dpd), dpd.weights_desc(),
                              dpd.diff_dst_desc(), dpd.diff_src_desc()});
      });
      break;
    }

    case LayerKind::kBatchNorm: {
      const int64_t count = static_cast<int64_t>(n) * in.h * in.w;
      if (train && count < 2) {
        return absl::InvalidArgumentError(absl::StrCat(
            "batch_norm '", l.name, "' in training mode needs more than 1 value per channel, got ",
            count, " (batch ", n, ")"));
      }
      const memory::desc data = p.val[v].get_desc();
      const memory::desc c_md({in.c}, kF32, tag::x);
      auto flags = dnnl::normalization_flags::use_scale | dnnl::normalization_flags::use_shift;
      // A ReLU that is the BatchNorm's only reader runs inside it (oneDNN keeps the mask in
      // a workspace for the backward): one pass over the tensor less each way.
      const std::vector<int>& readers = consumers()[i];
      const int relu = readers.size() == 1 && graph_.layers[readers[0]].kind == LayerKind::kRelu &&
                               i != graph_.output
                           ? readers[0]
                           : -1;
      if (relu >= 0) flags = flags | dnnl::normalization_flags::fuse_norm_relu;
      const auto bwd_flags = flags;
      if (!train) flags = flags | dnnl::normalization_flags::use_global_stats;
      const dnnl::batch_normalization_forward::desc desc(prop, data, l.eps, flags);
      const dnnl::batch_normalization_forward::primitive_desc pd(desc, engine_);
      p.val[i] = memory(pd.dst_desc(), engine_);
      if (relu >= 0) p.fused_into_batchnorm[relu] = i;
      m.scale = memory(c_md, engine_, DNNL_MEMORY_NONE);
      m.shift = memory(c_md, engine_, DNNL_MEMORY_NONE);
      if (train) {
        m.mean = memory(pd.mean_desc(), engine_);
        m.var = memory(pd.variance_desc(), engine_);
      } else {
        m.mean = memory(c_md, engine_, DNNL_MEMORY_NONE);
        m.var = memory(c_md, engine_, DNNL_MEMORY_NONE);
      }
      Step s;
      s.primitive = dnnl::batch_normalization_forward(pd);
      s.args = {{DNNL_ARG_SRC, p.val[v]}, {DNNL_ARG_DST, p.val[i]},  {DNNL_ARG_SCALE, m.scale},
                {DNNL_ARG_SHIFT, m.shift}, {DNNL_ARG_MEAN, m.mean}, {DNNL_ARG_VARIANCE, m.var}};
      const memory workspace = AttachWorkspace(pd.workspace_desc(), &s);
      p.fwd.push_back(std::move(s));
      if (!train) break;
      Step update;
      update.fn = [this, i, count, c = in.c, mean = m.mean, var = m.var]() {
        const LayerParams& lp = layer_params(i);
        return BatchNormUpdateRunningStatsRef<float>(c, count, options().batchnorm_momentum,
                                                     Ptr(mean), Ptr(var), lp.running_mean,
                                                     lp.running_var);
      };
      p.fwd.push_back(std::move(update));
      backward->push_back([this, &p, i, v, pd, data, c_md, bwd_flags, workspace, relu]() {
        const Layer& l = graph_.layers[i];
        LayerMems& m = p.lm[i];
        const dnnl::batch_normalization_backward::desc bd(dnnl::prop_kind::backward, data, data,
                                                          l.eps, bwd_flags);
        const dnnl::batch_normalization_backward::primitive_desc bpd(bd, engine_, pd);
        auto [target, direct] = GradTarget(p, v, false, bpd.diff_src_desc());
        m.dscale = memory(c_md, engine_, DNNL_MEMORY_NONE);
        m.dshift = memory(c_md, engine_, DNNL_MEMORY_NONE);
        Step s;
        s.primitive = dnnl::batch_normalization_backward(bpd);
        s.args = {{DNNL_ARG_SRC, p.val[v]},        {DNNL_ARG_MEAN, m.mean},
                  {DNNL_ARG_VARIANCE, m.var},      {DNNL_ARG_SCALE, m.scale},
                  // oneDNN 2.6 checks for SHIFT with use_shift although the backward
                  // does not read it.
                  {DNNL_ARG_SHIFT, m.shift},
                  {DNNL_ARG_DIFF_DST, Grad(p, relu >= 0 ? relu : i)},
                  {DNNL_ARG_DIFF_SRC, target},
                  {DNNL_ARG_DIFF_SCALE, m.dscale}, {DNNL_ARG_DIFF_SHIFT, m.dshift}};
        if (workspace) s.args[DNNL_ARG_WORKSPACE] = workspace;
        p.bwd.push_back(std::move(s));
        if (!direct) Contribute(p, v, false, target);
      });
      break;
    }

    case LayerKind::kRelu:
    case LayerKind::kRelu6: {
      if (p.fused_into_batchnorm[i] >= 0) {
        // Computed by the BatchNorm before it; so is its backward, from this value's gradient.
        const int bn = p.fused_into_batchnorm[i];
        p.val[i] = p.val[bn];
        backward->push_back([&p, bn]() { p.grad_started[2 * bn] = true; });
        break;
      }
      // The backward reads the output (x > 0 iff y > 0, 0 < x < 6 iff 0 < y < 6), so the
      // input is free to be overwritten in place. clip_v2 passes the gradient on 0 < x < 6
      // only, as PyTorch's hardtanh.
      const auto alg = l.kind == LayerKind::kRelu
                           ? dnnl::algorithm::eltwise_relu_use_dst_for_bwd
                           : dnnl::algorithm::eltwise_clip_v2_use_dst_for_bwd;
      const float beta = l.kind == LayerKind::kRelu ? 0.0f : 6.0f;
      const memory::desc data = p.val[v].get_desc();
      const dnnl::eltwise_forward::desc desc(prop, alg, data, 0.0f, beta);
      const dnnl::eltwise_forward::primitive_desc pd(desc, engine_);
      p.backward_reads_output[i] = true;
      if (p.fused_into_add[i] >= 0) {
        // The Add before it applied the activation as a post-op: its memory holds our output.
        p.val[i] = p.val[v];
      } else {
        p.val[i] = CanOverwrite(p, v) ? p.val[v] : memory(pd.dst_desc(), engine_);
        Step s;
        s.primitive = dnnl::eltwise_forward(pd);
        s.args = {{DNNL_ARG_SRC, p.val[v]}, {DNNL_ARG_DST, p.val[i]}};
        p.fwd.push_back(std::move(s));
      }
      if (!train) break;
      backward->push_back([this, &p, i, v, pd, data, alg, beta]() {
        const dnnl::eltwise_backward::desc bd(alg, data, data, 0.0f, beta);
        const dnnl::eltwise_backward::primitive_desc bpd(bd, engine_, pd);
        auto [target, direct] = GradTarget(p, v, false, bpd.diff_src_desc());
        Step s;
        s.primitive = dnnl::eltwise_backward(bpd);
        s.args = {{DNNL_ARG_DST, p.val[i]}, {DNNL_ARG_DIFF_DST, Grad(p, i)},
                  {DNNL_ARG_DIFF_SRC, target}};
        s.dinput_only = v == 0;
        p.bwd.push_back(std::move(s));
        if (!direct) Contribute(p, v, false, target);
      });
      break;
    }

    case LayerKind::kAdd: {
      const int b = l.inputs[1];
      const memory::desc data = p.val[v].get_desc();
      const memory mb = Need(p, b, false, data, &p.fwd);
      const dnnl::binary::desc desc(dnnl::algorithm::binary_add, data, data, data);
      // A ReLU / ReLU6 that is the sum's only reader becomes a post-op (its backward still
      // runs, from its output). Not over channel-padded blocked layouts (e.g. 8 channels in
      // nChw16c): oneDNN 2.6's jit:uni binary skips the post-op on part of such tensors.
      const std::vector<int>& readers = consumers()[i];
      const LayerKind next = readers.size() == 1 ? graph_.layers[readers[0]].kind : LayerKind::kAdd;
      dnnl::primitive_attr attr;
      if ((next == LayerKind::kRelu || next == LayerKind::kRelu6) && i != graph_.output &&
          !HasPadding(data)) {
        dnnl::post_ops ops;
        if (next == LayerKind::kRelu) {
          ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
        } else {
          ops.append_eltwise(1.0f, dnnl::algorithm::eltwise_clip_v2, 0.0f, 6.0f);
        }
        attr.set_post_ops(ops);
        p.fused_into_add[readers[0]] = i;
      }
      const dnnl::binary::primitive_desc pd(desc, attr, engine_);
      // The backward of an Add reads nothing: the sum may overwrite a dead operand.
      p.val[i] = v != b && CanOverwrite(p, v)                      ? p.val[v]
                 : v != b && mb == p.val[b] && CanOverwrite(p, b) ? p.val[b]
                                                                  : memory(pd.dst_desc(), engine_);
      Step s;
      s.primitive = dnnl::binary(pd);
      s.args = {{DNNL_ARG_SRC_0, p.val[v]}, {DNNL_ARG_SRC_1, mb}, {DNNL_ARG_DST, p.val[i]}};
      p.fwd.push_back(std::move(s));
      if (!train) break;
      backward->push_back([this, &p, i, v, b]() {
        // dL/da = dL/db = dL/dsum: the first operand whose gradient has no contribution yet
        // (and the same layout) takes the sum's gradient memory itself. The other is copied
        // now, before anything accumulates into the shared memory.
        int other = b;
        const memory::desc& sum = p.val[i].get_desc();
        if (v != b && !p.grad_started[2 * v] && p.val[v].get_desc() == sum) {
          ShareGrad(p, v, i);
        } else if (v != b && !p.grad_started[2 * b] && p.val[b].get_desc() == sum) {
          ShareGrad(p, b, i);
          other = v;
        } else {
          Contribute(p, v, false, Grad(p, i));
        }
        Contribute(p, other, false, Grad(p, i));
      });
      break;
    }

    case LayerKind::kMaxPool:
    case LayerKind::kAvgPool:
    case LayerKind::kGlobalAvgPool: {
      const PoolGeometry g = PoolGeometryOf(l, in);
      const memory::desc src = p.val[v].get_desc();
      const dnnl::pooling_forward::desc desc(prop, g.alg, src, AnyDesc(l.shape, n), g.strides,
                                             g.kernel, g.pad_l, g.pad_r);
      const dnnl::pooling_forward::primitive_desc pd(desc, engine_);
      p.val[i] = memory(pd.dst_desc(), engine_);
      Step s;
      s.primitive = dnnl::pooling_forward(pd);
      s.args = {{DNNL_ARG_SRC, p.val[v]}, {DNNL_ARG_DST, p.val[i]}};
      const memory workspace = AttachWorkspace(pd.workspace_desc(), &s);
      p.fwd.push_back(std::move(s));
      if (!train) break;
      backward->push_back([this, &p, i, v, pd, src, g, workspace]() {
        const dnnl::pooling_backward::desc bd(g.alg, src, pd.dst_desc(), g.strides, g.kernel,
                                              g.pad_l, g.pad_r);
        const dnnl::pooling_backward::primitive_desc bpd(bd, engine_, pd);
        auto [target, direct] = GradTarget(p, v, false, bpd.diff_src_desc());
        Step s;
        s.primitive = dnnl::pooling_backward(bpd);
        s.args = {{DNNL_ARG_DIFF_DST, Grad(p, i)}, {DNNL_ARG_DIFF_SRC, target}};
        if (workspace) s.args[DNNL_ARG_WORKSPACE] = workspace;
        s.dinput_only = v == 0;
        p.bwd.push_back(std::move(s));
        if (!direct) Contribute(p, v, false, target);
      });
      break;
    }

    case LayerKind::kConcat: {
      // Plain output: the backward slices it at any channel offset.
      const memory::desc dst = PlainDesc(l.shape, n);
      std::vector<memory::desc> srcs;
      for (int x : l.inputs) srcs.push_back(p.val[x].get_desc());
      const dnnl::concat::primitive_desc pd(dst, 1, srcs, engine_);
      p.val[i] = memory(dst, engine_);
      Step s;
      s.primitive = dnnl::concat(pd);
      for (size_t k = 0; k < l.inputs.size(); ++k) {
        s.args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k)] = p.val[l.inputs[k]];
      }
      s.args[DNNL_ARG_DST] = p.val[i];
      p.fwd.push_back(std::move(s));
      if (!train) break;
      backward->push_back([this, &p, i, dst, n]() {
        const Layer& l = graph_.layers[i];
        int offset = 0;
        for (int x : l.inputs) {
          const TensorShape& s = graph_.layers[x].shape;
          const memory::desc part = dst.submemory_desc(Dims(s, n), {0, offset, 0, 0});
          Contribute(p, x, false, memory(part, engine_, Grad(p, i).get_data_handle()));
          offset += s.c;
        }
      });
      break;
    }

    case LayerKind::kPadChannels: {
      const memory::desc out = PlainDesc(l.shape, n);
      const memory x = Need(p, v, false, PlainDesc(in, n), &p.fwd);
      p.val[i] = memory(out, engine_);
      Step s;
      s.fn = [n, in, l, x, y = p.val[i]]() {
        PadChannelsForwardRef<float>(n, in.c, static_cast<int64_t>(in.h) * in.w,
                                     l.pad_channels_before, l.pad_channels_after, Ptr(x), Ptr(y));
        return absl::OkStatus();
      };
      p.fwd.push_back(std::move(s));
      if (!train) break;
      backward->push_back([this, &p, i, v, out, in, n]() {
        const memory::desc part =
            out.submemory_desc(Dims(in, n), {0, graph_.layers[i].pad_channels_before, 0, 0});
        Contribute(p, v, false, memory(part, engine_, Grad(p, i).get_data_handle()));
      });
      break;
    }

    case LayerKind::kFlatten: {
      const memory::desc in_plain = PlainDesc(in, n);
      p.val[i] = memory(PlainDesc(l.shape, n), engine_);
      p.fwd.push_back(Reorder(p.val[v], memory(in_plain, engine_, p.val[i].get_data_handle()),
                              false));
      if (!train) break;
      backward->push_back([this, &p, i, v, in_plain]() {
        Contribute(p, v, false, memory(in_plain, engine_, Grad(p, i).get_data_handle()));
      });
      break;
    }

    case LayerKind::kDense: {
      const bool hk = Hooked(i, 0);
      const memory::desc src_md = PlainDesc(in, n);
      const memory::desc w_plain({l.out_channels, in.c}, kF32, tag::oi);
      const memory::desc w_any({l.out_channels, in.c}, kF32, tag::any);
      const memory::desc b_md({l.out_channels}, kF32, tag::x);
      const memory::desc dst_md = PlainDesc(l.shape, n);
      const dnnl::inner_product_forward::desc desc(prop, src_md, w_any, b_md, dst_md);
      const dnnl::inner_product_forward::primitive_desc pd(desc, engine_);
      const memory src = Need(p, v, hk, pd.src_desc(), &p.fwd);
      p.val[i] = memory(pd.dst_desc(), engine_);
      m.weight = memory(w_plain, engine_, DNNL_MEMORY_NONE);
      m.bias = memory(b_md, engine_, DNNL_MEMORY_NONE);
      Step s;
      s.primitive = dnnl::inner_product_forward(pd);
      s.args = {{DNNL_ARG_SRC, src},
                {DNNL_ARG_WEIGHTS, WeightsIn(p, m.weight, pd.weights_desc())},
                {DNNL_ARG_BIAS, m.bias},
                {DNNL_ARG_DST, p.val[i]}};
      p.fwd.push_back(std::move(s));
      if (!train) break;
      backward->push_back([this, &p, i, hk, pd, src, w_plain, w_any, b_md]() {
        const dnnl::inner_product_backward_weights::desc wd(pd.src_desc(), w_any, b_md,
                                                            pd.dst_desc());
        const dnnl::inner_product_backward_weights::primitive_desc wpd(wd, engine_, pd);
        const dnnl::inner_product_backward_data::desc dd(pd.src_desc(), w_any, pd.dst_desc());
        const dnnl::inner_product_backward_data::primitive_desc dpd(dd, engine_, pd);
        EmitWeightedBackward(p, i, hk, src, w_plain, &b_md,
                             {dnnl::inner_product_backward_weights(wpd), wpd.src_desc(),
                              wpd.diff_weights_desc(), wpd.diff_dst_desc(),
                              dnnl::inner_product_backward_data(dpd), dpd.weights_desc(),
                              dpd.diff_dst_desc(), dpd.diff_src_desc()});
      });
      break;
    }
  }
  return absl::OkStatus();
}

absl::Status OneDnnTrainableGraph::BuildPlan(Plan* plan) {
  Plan& p = *plan;
  const int num = static_cast<int>(graph_.layers.size());
  p.val.resize(num);
  p.hval.resize(num);
  p.grad.resize(num);
  p.hgrad.resize(num);
  p.lm.resize(num);
  p.grad_started.assign(2 * num, false);
  p.fused_into_batchnorm.assign(num, -1);
  p.backward_reads_output.assign(num, false);
  p.fused_into_add.assign(num, -1);
  p.grad_buffer_of.assign(num, -1);
  p.input = memory(PlainDesc(graph_.input, p.batch), engine_);
  p.val[0] = p.input;
  if (value_hook(0)) BuildHookForward(p, 0);
  std::vector<std::function<void()>> backward(num);
  for (int i = 1; i < num; ++i) {
    std::vector<std::function<void()>> one;
    QB_RETURN_IF_ERROR(BuildLayer(p, i, &one));
    if (!one.empty()) backward[i] = std::move(one[0]);
    if (value_hook(i)) BuildHookForward(p, i);
  }
  const memory::desc out_plain = PlainDesc(graph_.layers[graph_.output].shape, p.batch);
  p.logits = memory(out_plain, engine_, DNNL_MEMORY_NONE);
  p.fwd.push_back(Reorder(p.val[graph_.output], p.logits, false));
  if (!p.train) return absl::OkStatus();

  p.dlogits = memory(out_plain, engine_, DNNL_MEMORY_NONE);
  Contribute(p, graph_.output, false, p.dlogits);
  for (int i = num - 1; i >= 1; --i) {
    if (value_hook(i)) BuildHookBackward(p, i);
    // A layer whose output gets no gradient (it does not reach the logits) has none to pass.
    if (p.grad_started[2 * i] && backward[i]) backward[i]();
    // The last reader of a gradient is its producer's backward (a fused ReLU's is its
    // BatchNorm's): its buffer is free for the values still to come.
    if (p.fused_into_batchnorm[i] < 0) ReleaseGrad(p, i);
    if (graph_.layers[i].kind == LayerKind::kBatchNorm) {
      for (int c : consumers()[i]) {
        if (p.fused_into_batchnorm[c] == i) ReleaseGrad(p, c);
      }
    }
  }
  if (value_hook(0)) BuildHookBackward(p, 0);
  p.dinput = memory(PlainDesc(graph_.input, p.batch), engine_, DNNL_MEMORY_NONE);
  if (p.grad_started[0]) {
    Step s = Reorder(Grad(p, 0), p.dinput, false);
    s.dinput_only = true;
    p.bwd.push_back(std::move(s));
  }
  return absl::OkStatus();
}

absl::StatusOr<OneDnnTrainableGraph::Plan*> OneDnnTrainableGraph::GetPlan(int batch,
                                                                          Phase phase) {
  const std::pair<int, bool> key{batch, phase == Phase::kTrain};
  auto it = plans_.find(key);
  if (it != plans_.end()) return it->second.get();
  auto plan = std::make_unique<Plan>();
  plan->batch = batch;
  plan->train = phase == Phase::kTrain;
  try {
    QB_RETURN_IF_ERROR(BuildPlan(plan.get()));
  } catch (const dnnl::error& e) {
    return DnnlError(e, absl::StrCat("planning the graph for batch ", batch));
  }
  Plan* raw = plan.get();
  plans_[key] = std::move(plan);
  return raw;
}

absl::Status OneDnnTrainableGraph::Run(std::vector<Step>& steps, bool skip_dinput_only) {
  size_t index = 0;
  try {
    for (; index < steps.size(); ++index) {
      Step& s = steps[index];
      if (skip_dinput_only && s.dinput_only) continue;
      if (s.fn) {
        stream_.wait();
        QB_RETURN_IF_ERROR(s.fn());
      } else {
        s.primitive.execute(stream_, s.args);
      }
    }
    stream_.wait();
  } catch (const dnnl::error& e) {
    return DnnlError(e, absl::StrCat("executing step ", index, " of ", steps.size(), " (",
                                     steps[index].fn ? std::string("cpu")
                                                     : PrimitiveKindName(steps[index].primitive),
                                     ")"));
  }
  return absl::OkStatus();
}

absl::Status OneDnnTrainableGraph::RunForward(absl::Span<const float> input, int batch,
                                              Phase phase, absl::Span<float> logits) {
  QB_ASSIGN_OR_RETURN(Plan * p, GetPlan(batch, phase));
  if (phase == Phase::kTrain) train_plan_ = nullptr;
  for (size_t i = 0; i < graph_.layers.size(); ++i) {
    const LayerParams& lp = layer_params(static_cast<int>(i));
    LayerMems& m = p->lm[i];
    const bool bn = graph_.layers[i].kind == LayerKind::kBatchNorm;
    // oneDNN only reads these; the const_cast is for its untyped handles.
    if (m.weight) m.weight.set_data_handle(const_cast<float*>(lp.weight));
    if (m.bias) m.bias.set_data_handle(const_cast<float*>(lp.bias));
    if (bn) {
      m.scale.set_data_handle(const_cast<float*>(lp.weight));
      m.shift.set_data_handle(const_cast<float*>(lp.bias));
      if (!p->train) {
        m.mean.set_data_handle(lp.running_mean);
        m.var.set_data_handle(lp.running_var);
      }
    }
  }
  std::memcpy(Ptr(p->input), input.data(), input.size() * sizeof(float));
  p->logits.set_data_handle(logits.data());
  QB_RETURN_IF_ERROR(Run(p->sync, false));
  QB_RETURN_IF_ERROR(Run(p->fwd, false));
  if (phase == Phase::kTrain) train_plan_ = p;
  return absl::OkStatus();
}

absl::Status OneDnnTrainableGraph::RunBackward(absl::Span<const float> dlogits,
                                               ParamGradients* grads, absl::Span<float> dinput) {
  if (train_plan_ == nullptr) {
    return absl::FailedPreconditionError("Backward: no kTrain Forward to differentiate");
  }
  Plan* p = train_plan_;
  for (size_t i = 0; i < graph_.layers.size(); ++i) {
    const LayerParams& lp = layer_params(static_cast<int>(i));
    LayerMems& m = p->lm[i];
    if (m.dweight) m.dweight.set_data_handle(grads->grads[lp.weight_index].data());
    if (m.dbias) m.dbias.set_data_handle(grads->grads[lp.bias_index].data());
    if (m.dscale) m.dscale.set_data_handle(grads->grads[lp.weight_index].data());
    if (m.dshift) m.dshift.set_data_handle(grads->grads[lp.bias_index].data());
  }
  p->dlogits.set_data_handle(const_cast<float*>(dlogits.data()));
  if (!dinput.empty()) p->dinput.set_data_handle(dinput.data());
  return Run(p->bwd, dinput.empty());
}

}  // namespace

absl::StatusOr<std::unique_ptr<TrainableGraph>> CreateOneDnnTrainableGraph(
    const Graph& graph, const TrainableGraphOptions& options) {
  for (size_t i = 1; i < graph.layers.size(); ++i) {
    const Layer& l = graph.layers[i];
    if (l.kind == LayerKind::kAvgPool &&
        PoolGeometryOf(l, graph.layers[l.inputs[0]].shape).include_pad_with_extension) {
      return absl::UnimplementedError(absl::StrCat(
          "avg_pool layer ", i,
          " with count_include_pad, padding and a ceil_mode extension is not supported by the "
          "oneDNN training backend"));
    }
  }
  return std::unique_ptr<TrainableGraph>(new OneDnnTrainableGraph(graph, options));
}

}  // namespace quantbench
