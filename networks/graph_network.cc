#include "networks/graph_network.h"

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <map>
#include <set>
#include <unordered_map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "networks/activation_quant_params.h"
#include "networks/pack_quantized.h"
#include "networks/packed_conv.h"
#include "oneapi/dnnl/dnnl.hpp"
#include "quantizers/activation_quantizer.h"

namespace quantbench {
namespace {

using dnnl::memory;
using tag = dnnl::memory::format_tag;
constexpr memory::data_type kF32 = memory::data_type::f32;

absl::Status DnnlError(const dnnl::error& e, const std::string& what) {
  return absl::InternalError(absl::StrCat("oneDNN error while ", what, ": ", e.what(),
                                          " (dnnl_status ", static_cast<int>(e.status), ")"));
}

struct AlignedFree {
  void operator()(void* p) const { std::free(p); }
};

// One activation buffer (possibly shared by several values over time, possibly viewed with
// several descriptors).
struct Tensor {
  size_t bytes = 0;
  std::vector<memory> views;
  int first = 1 << 30;  // first / last exec touching it
  int last = -1;
  bool pooled = true;
};

struct Exec {
  dnnl::primitive primitive;
  std::unordered_map<int, memory> args;
  std::vector<int> tensors;  // touched
  std::string what;
  std::string layer;  // the conv / dense layer it runs, if any
  int packed = -1;  // >= 0: runs Plan::packed[packed] instead of a oneDNN primitive
};

struct ValueInfo {
  int tensor = -1;
  memory mem;  // view with the producer's descriptor
  bool planned = false;
  // Index of the exec after which the value is complete (-1: the input, ready before the
  // first exec); kNotTappable for values that are only views made for a consumer (Flatten).
  int producer = kNotTappable;
  static constexpr int kNotTappable = -2;
};

enum class Act { kNone, kRelu, kRelu6 };

void AppendAct(dnnl::post_ops* ops, Act act) {
  if (act == Act::kRelu) ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_relu, 0.0f, 0.0f);
  if (act == Act::kRelu6) ops->append_eltwise(1.0f, dnnl::algorithm::eltwise_clip, 0.0f, 6.0f);
}

Act ActOf(LayerKind kind) {
  if (kind == LayerKind::kRelu) return Act::kRelu;
  if (kind == LayerKind::kRelu6) return Act::kRelu6;
  return Act::kNone;
}

const char* ActName(Act act) { return act == Act::kRelu ? "relu" : act == Act::kRelu6 ? "relu6" : ""; }

GemmPostOp PostOpOf(Act act) {
  if (act == Act::kRelu) return GemmPostOp::kRelu;
  if (act == Act::kRelu6) return GemmPostOp::kRelu6;
  return GemmPostOp::kNone;
}

// A conv with one input channel per group runs fp32 even in packed mode: a per-group GEMM
// would have one row and kh*kw columns (see networks/README.md, "Packed execution").
bool IsDepthwise(const Layer& layer, int in_channels) {
  return layer.kind == LayerKind::kConv && layer.groups > 1 && in_channels == layer.groups;
}

// The packed GEMM view of a conv (NHWC) or dense layer (a 1x1 conv over a 1x1 image whose
// channels are the features in C, H, W order).
ConvGeometry GeometryOf(const Graph& graph, const Layer& layer) {
  const TensorShape& in = graph.layers[layer.inputs[0]].shape;
  ConvGeometry g;
  if (layer.kind == LayerKind::kDense) {
    g.in_c = static_cast<int>(in.NumElements());
    g.out_c = layer.out_channels;
    return g;
  }
  g.in_c = in.c;
  g.in_h = in.h;
  g.in_w = in.w;
  g.out_c = layer.out_channels;
  g.out_h = layer.shape.h;
  g.out_w = layer.shape.w;
  g.kernel_h = layer.kernel_h;
  g.kernel_w = layer.kernel_w;
  g.stride_h = layer.stride_h;
  g.stride_w = layer.stride_w;
  g.pad_t = layer.pad_t;
  g.pad_l = layer.pad_l;
  g.dilation = layer.dilation;
  g.groups = layer.groups;
  return g;
}

}  // namespace

struct GraphNetwork::Plan {
  struct ConvParams {
    std::string weight, bias, bn;  // bias / bn empty if absent
    float eps = 1e-5f;
    int out_channels = 0;
    memory user_weights;  // plain view, handle set while syncing
    memory weights;
    dnnl::reorder reorder;  // null if plain == oneDNN's layout
    memory bias_mem;        // null if the conv has no bias and no BN
  };
  struct DenseParams {
    std::string weight, bias;
    memory user_weights, weights;
    dnnl::reorder reorder;
    memory bias_mem;
  };
  struct BnParams {
    std::string name;
    memory scale, shift, mean, var;
  };
  // A conv or dense layer on packed weights (packed mode only).
  struct PackedLayer {
    std::string layer;
    std::string bias, bn;  // empty if absent
    float eps = 1e-5f;
    bool dense = false;
    PackedConv conv;        // weights installed by UsePackedWeights
    ConvEpilogue epilogue;  // activations from the plan; scale / shift from SyncPlan
    memory src, dst, residual;  // views (residual null if none); handles set with the buffers
  };

  dnnl::engine engine;
  dnnl::stream stream;
  std::vector<Tensor> tensors;
  std::vector<ValueInfo> values;
  std::vector<std::vector<std::pair<memory::desc, std::pair<memory, int>>>> conversions;
  std::vector<Exec> execs;
  std::vector<ConvParams> convs;
  std::vector<DenseParams> denses;
  std::vector<BnParams> bns;
  std::vector<PackedLayer> packed;
  // Packed mode: which layers run packed (the key for reusing this plan), the activation
  // type, im2col scratch, and the listed depthwise layers' packed form (storage only: they
  // run on fp32 values, see IsDepthwise).
  std::set<std::string> packed_layers;
  GemmActivations activations = GemmActivations::kFloat;
  std::vector<float> scratch;
  std::vector<std::pair<std::string, int64_t>> storage_only_bytes;
  memory input;
  memory probabilities;
  // produced_after[s]: the values complete before exec s runs (s = 0: the input), where
  // taps and activation quantization act.
  std::vector<std::vector<int>> produced_after;
  // A tapped value in plain NCHW: its own memory if the producer's layout is plain, else a
  // reorder into a separate buffer. Made on first use.
  struct TapView {
    memory plain;
    dnnl::reorder reorder;  // null when the value is already plain
  };
  std::map<int, TapView> tap_views;
  std::vector<std::unique_ptr<void, AlignedFree>> buffers;
  int64_t activation_bytes = 0;

  int NewTensor(size_t bytes) {
    Tensor t;
    t.bytes = bytes;
    tensors.push_back(std::move(t));
    return static_cast<int>(tensors.size()) - 1;
  }
  memory View(int tensor, const memory::desc& desc) {
    memory m(desc, engine, DNNL_MEMORY_NONE);
    tensors[tensor].views.push_back(m);
    return m;
  }
  // A new tensor holding `desc`, with a view.
  std::pair<memory, int> NewValueMemory(const memory::desc& desc) {
    const int t = NewTensor(desc.get_size());
    return {View(t, desc), t};
  }
  void Push(dnnl::primitive primitive, std::unordered_map<int, memory> args,
            std::vector<int> touched, std::string what) {
    Exec e;
    e.primitive = std::move(primitive);
    e.args = std::move(args);
    e.tensors = std::move(touched);
    e.what = std::move(what);
    execs.push_back(std::move(e));
  }
  // Value `v` in layout `want`: its own memory, or a (cached) reordered copy.
  std::pair<memory, int> Get(int v, const memory::desc& want) {
    const ValueInfo& info = values[v];
    if (info.mem.get_desc() == want) return {info.mem, info.tensor};
    for (auto& [desc, converted] : conversions[v]) {
      if (desc == want) return converted;
    }
    auto converted = NewValueMemory(want);
    Push(dnnl::reorder(info.mem, converted.first),
         {{DNNL_ARG_FROM, info.mem}, {DNNL_ARG_TO, converted.first}},
         {info.tensor, converted.second}, absl::StrCat("reorder of value ", v));
    conversions[v].push_back({want, converted});
    return converted;
  }
};

GraphNetwork::GraphNetwork(const Graph& graph, ParamStore* params, int max_batch,
                           const GraphNetworkOptions& options)
    : graph_(graph),
      params_(params),
      max_batch_(max_batch),
      options_(options),
      value_quant_(graph.layers.size()) {
  // A site's tensor is the value its layer reads; a Flatten is only a view of its input.
  for (size_t i = 1; i < graph_.layers.size(); ++i) {
    const Layer& layer = graph_.layers[i];
    if (layer.kind != LayerKind::kConv && layer.kind != LayerKind::kDense) continue;
    int v = layer.inputs[0];
    while (graph_.layers[v].kind == LayerKind::kFlatten) v = graph_.layers[v].inputs[0];
    sites_.push_back({layer.name, v});
  }
}

GraphNetwork::~GraphNetwork() = default;

namespace {

memory::dims Dims4(int n, const TensorShape& s) { return {n, s.c, s.h, s.w}; }

std::string ImplName(const dnnl::primitive_desc_base& pd) {
  const char* name = pd.impl_info_str();
  return name == nullptr ? "?" : name;
}

}  // namespace

absl::StatusOr<std::unique_ptr<GraphNetwork>> GraphNetwork::Create(const Graph& graph,
                                                                    ParamStore* params,
                                                                    int max_batch) {
  return Create(graph, params, max_batch, GraphNetworkOptions());
}

absl::StatusOr<std::unique_ptr<GraphNetwork>> GraphNetwork::Create(
    const Graph& graph, ParamStore* params, int max_batch, const GraphNetworkOptions& options) {
  if (params == nullptr) return absl::InvalidArgumentError("GraphNetwork: params is null");
  if (max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("GraphNetwork: max_batch = ", max_batch, " must be >= 1"));
  }
  if (graph.layers.empty() || graph.layers[0].kind != LayerKind::kInput || graph.output <= 0 ||
      graph.output >= static_cast<int>(graph.layers.size())) {
    return absl::InvalidArgumentError("GraphNetwork: malformed graph (no input or output)");
  }
  QB_RETURN_IF_ERROR(CheckGraphParams(graph, *params));
  std::unique_ptr<GraphNetwork> network(new GraphNetwork(graph, params, max_batch, options));
  auto plan = std::make_unique<Plan>();
  QB_RETURN_IF_ERROR(network->BuildPlan({}, plan.get()));
  network->simulated_plan_ = std::move(plan);
  network->active_ = network->simulated_plan_.get();
  QB_RETURN_IF_ERROR(network->SyncParams());
  return network;
}

// Plans the whole network once. The layers named in `packed_layers` (convs that are not
// depthwise, dense layers) become PackedLayers over plain NHWC (dense: flat) activations;
// their weights are installed later by UsePackedWeights. Everything else is oneDNN.
absl::Status GraphNetwork::BuildPlan(const std::set<std::string>& packed_layers,
                                     Plan* plan_out) const {
  Plan& plan = *plan_out;
  plan.packed_layers = packed_layers;
  const Graph& graph = graph_;
  const std::vector<Layer>& layers = graph_.layers;
  const int num_layers = static_cast<int>(layers.size());
  const int n = max_batch_;

  std::vector<std::vector<int>> consumers(num_layers);
  for (int i = 0; i < num_layers; ++i) {
    for (int x : layers[i].inputs) consumers[x].push_back(i);
  }
  auto sole_consumer = [&](int v) -> int {
    if (v == graph.output || consumers[v].size() != 1) return -1;
    return consumers[v][0];
  };

  // ---- groups: a conv chain conv [-> bn] [-> act] [-> add] [-> act], dense [-> act], or one
  // layer. A group runs at the position of its last member.
  struct Group {
    std::vector<int> members;  // layer indices, first = head
    int bn = -1, add = -1, add_other = -1;
    Act act1 = Act::kNone, act2 = Act::kNone;
    int last() const { return members.back(); }
  };
  std::vector<int> group_of(num_layers, -1);
  std::vector<Group> groups;
  for (int i = 1; i < num_layers; ++i) {
    if (group_of[i] >= 0) continue;
    Group g;
    g.members.push_back(i);
    const LayerKind kind = layers[i].kind;
    auto claim = [&](int j) { return j >= 0 && group_of[j] < 0; };
    if (kind == LayerKind::kConv) {
      int cur = i;
      int j = sole_consumer(cur);
      if (options_.fuse_batchnorm && claim(j) && layers[j].kind == LayerKind::kBatchNorm) {
        g.bn = j;
        g.members.push_back(j);
        cur = j;
        j = sole_consumer(cur);
      }
      if (claim(j) && ActOf(layers[j].kind) != Act::kNone) {
        g.act1 = ActOf(layers[j].kind);
        g.members.push_back(j);
        cur = j;
        j = sole_consumer(cur);
      }
      if (claim(j) && layers[j].kind == LayerKind::kAdd && layers[j].inputs[0] != layers[j].inputs[1]) {
        g.add = j;
        g.add_other = layers[j].inputs[0] == cur ? layers[j].inputs[1] : layers[j].inputs[0];
        g.members.push_back(j);
        cur = j;
        j = sole_consumer(cur);
        if (claim(j) && ActOf(layers[j].kind) != Act::kNone) {
          g.act2 = ActOf(layers[j].kind);
          g.members.push_back(j);
        }
      }
    } else if (kind == LayerKind::kDense || kind == LayerKind::kAdd) {
      const int j = sole_consumer(i);
      if (claim(j) && ActOf(layers[j].kind) != Act::kNone) {
        g.act1 = ActOf(layers[j].kind);
        g.members.push_back(j);
      }
    }
    for (int m : g.members) group_of[m] = static_cast<int>(groups.size());
    groups.push_back(std::move(g));
  }
  std::vector<int> order(groups.size());
  for (size_t k = 0; k < order.size(); ++k) order[k] = static_cast<int>(k);
  std::sort(order.begin(), order.end(),
            [&](int a, int b) { return groups[a].last() < groups[b].last(); });
  auto position = [&](int layer) { return groups[group_of[layer]].last(); };

  plan.values.resize(num_layers);
  plan.conversions.resize(num_layers);
  try {
    plan.engine = dnnl::engine(dnnl::engine::kind::cpu, 0);
    plan.stream = dnnl::stream(plan.engine);

    // Input: plain NCHW, written by Forward.
    {
      auto m = plan.NewValueMemory(memory::desc(Dims4(n, graph.input), kF32, tag::nchw));
      plan.input = m.first;
      plan.values[0] = {m.second, m.first, true, /*producer=*/-1};
    }
    auto set_value = [&](int v, std::pair<memory, int> m) {
      plan.values[v] = {m.second, m.first, true};
    };
    // Every group's last exec computes its output value (a group never ends with a reorder).
    auto mark_produced = [&](int v) {
      plan.values[v].producer = static_cast<int>(plan.execs.size()) - 1;
    };

    // A packed conv reads and writes plain NHWC (reorders are inserted where a oneDNN
    // neighbour made another layout); a packed dense layer reads its source as plain NCHW,
    // i.e. flat features in C, H, W order, and writes [n, out].
    auto add_packed = [&](const Group& g, int head, int out_value, std::string what) {
      const Layer& layer = layers[head];
      Plan::PackedLayer pl;
      pl.layer = layer.name;
      std::vector<int> touched;
      if (layer.kind == LayerKind::kDense) {
        pl.dense = true;
        pl.bias = layer.name + ".bias";
        int src_value = layer.inputs[0];
        if (layers[src_value].kind == LayerKind::kFlatten) src_value = layers[src_value].inputs[0];
        const TensorShape& src_shape = layers[src_value].shape;
        const memory::desc plain(Dims4(n, src_shape), kF32, tag::nchw);
        const ValueInfo& producer = plan.values[src_value];
        // For a 1x1 image NHWC and NCHW hold the same bytes: no reorder needed.
        const bool one_pixel = src_shape.h == 1 && src_shape.w == 1 &&
                               producer.mem.get_desc() ==
                                   memory::desc(Dims4(n, src_shape), kF32, tag::nhwc);
        std::pair<memory, int> src = one_pixel
                                         ? std::make_pair(plan.View(producer.tensor, plain), producer.tensor)
                                         : plan.Get(src_value, plain);
        const int out = layer.out_channels;
        const int t = plan.NewTensor(static_cast<size_t>(n) * out * sizeof(float));
        pl.src = src.first;
        pl.dst = plan.View(t, memory::desc({n, out}, kF32, tag::nc));
        touched = {src.second, t};
        pl.epilogue.post_op = PostOpOf(g.act1);
        if (g.act1 != Act::kNone) what += absl::StrCat(" +", ActName(g.act1));
        set_value(out_value, {plan.View(t, memory::desc({n, out, 1, 1}, kF32, tag::nchw)), t});
      } else {
        if (layer.bias) pl.bias = layer.name + ".bias";
        if (g.bn >= 0) {
          pl.bn = layers[g.bn].name;
          pl.eps = layers[g.bn].eps;
          what += absl::StrCat(" +bn '", pl.bn, "' (scale/shift)");
        }
        auto src = plan.Get(layer.inputs[0],
                            memory::desc(Dims4(n, layers[layer.inputs[0]].shape), kF32, tag::nhwc));
        const memory::desc dst_md(Dims4(n, layer.shape), kF32, tag::nhwc);
        auto dst = plan.NewValueMemory(dst_md);
        pl.src = src.first;
        pl.dst = dst.first;
        touched = {src.second, dst.second};
        if (g.act1 != Act::kNone) what += absl::StrCat(" +", ActName(g.act1));
        if (g.add >= 0) {
          auto residual = plan.Get(g.add_other, dst_md);
          pl.residual = residual.first;
          touched.push_back(residual.second);
          pl.epilogue.act_before_residual = PostOpOf(g.act1);
          pl.epilogue.post_op = PostOpOf(g.act2);
          what += " +residual";
          if (g.act2 != Act::kNone) what += absl::StrCat(" +", ActName(g.act2));
        } else {
          pl.epilogue.post_op = PostOpOf(g.act1);
        }
        set_value(out_value, dst);
      }
      plan.Push(dnnl::primitive(), {}, std::move(touched), what);
      plan.execs.back().layer = layer.name;
      plan.execs.back().packed = static_cast<int>(plan.packed.size());
      plan.packed.push_back(std::move(pl));
    };

    for (int gi : order) {
      const Group& g = groups[gi];
      const int head = g.members[0];
      const Layer& layer = layers[head];
      const int out_value = g.last();
      const int in0 = layer.inputs.empty() ? -1 : layer.inputs[0];
      const TensorShape in_shape = in0 >= 0 ? layers[in0].shape : TensorShape{};
      std::string what = absl::StrCat(LayerKindName(layer.kind), " '", layer.name, "'");

      if ((layer.kind == LayerKind::kConv || layer.kind == LayerKind::kDense) &&
          packed_layers.count(layer.name) > 0) {
        add_packed(g, head, out_value, what);
        mark_produced(out_value);
        continue;
      }
      switch (layer.kind) {
        case LayerKind::kConv: {
          const int ic = in_shape.c, oc = layer.out_channels, groups_n = layer.groups;
          memory::desc src_any(Dims4(n, in_shape), kF32, tag::any);
          memory::desc dst_any(Dims4(n, layer.shape), kF32, tag::any);
          memory::dims wdims =
              groups_n > 1 ? memory::dims{groups_n, oc / groups_n, ic / groups_n, layer.kernel_h,
                                          layer.kernel_w}
                           : memory::dims{oc, ic, layer.kernel_h, layer.kernel_w};
          memory::desc w_any(wdims, kF32, tag::any);
          memory::desc w_user(wdims, kF32, groups_n > 1 ? tag::goihw : tag::oihw);
          const bool has_bias = layer.bias || g.bn >= 0;
          memory::desc b_md({oc}, kF32, tag::x);
          const memory::dims strides = {layer.stride_h, layer.stride_w};
          const memory::dims dilates = {layer.dilation - 1, layer.dilation - 1};
          const memory::dims pad_l = {layer.pad_t, layer.pad_l};
          const memory::dims pad_r = {layer.pad_b, layer.pad_r};
          auto desc = has_bias ? dnnl::convolution_forward::desc(
                                     dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::convolution_direct, src_any, w_any, b_md,
                                     dst_any, strides, dilates, pad_l, pad_r)
                               : dnnl::convolution_forward::desc(
                                     dnnl::prop_kind::forward_inference,
                                     dnnl::algorithm::convolution_direct, src_any, w_any,
                                     dst_any, strides, dilates, pad_l, pad_r);
          dnnl::post_ops ops;
          AppendAct(&ops, g.act1);
          if (g.add >= 0) ops.append_sum(1.0f);
          AppendAct(&ops, g.act2);
          dnnl::primitive_attr attr;
          attr.set_post_ops(ops);
          dnnl::convolution_forward::primitive_desc pd(desc, attr, plan.engine);

          std::vector<int> touched;
          std::string sum_what;
          auto src = plan.Get(in0, pd.src_desc());
          touched.push_back(src.second);
          std::pair<memory, int> dst;
          if (g.add >= 0) {
            const int other = g.add_other;
            const ValueInfo& oi = plan.values[other];
            // In place if nothing reads the other operand's buffer later.
            bool in_place = oi.mem.get_desc() == pd.dst_desc() && other != 0;
            for (int u = 0; u < num_layers && in_place; ++u) {
              if (!plan.values[u].planned || plan.values[u].tensor != oi.tensor) continue;
              if (u == graph.output) in_place = false;
              for (int c : consumers[u]) {
                if (c != g.add && position(c) >= out_value) in_place = false;
              }
            }
            if (in_place) {
              dst = {oi.mem, oi.tensor};
            } else {
              dst = plan.NewValueMemory(pd.dst_desc());
              auto src_other = plan.Get(other, pd.dst_desc());
              plan.Push(dnnl::reorder(src_other.first, dst.first),
                        {{DNNL_ARG_FROM, src_other.first}, {DNNL_ARG_TO, dst.first}},
                        {src_other.second, dst.second}, "copy of the residual operand");
            }
            touched.push_back(dst.second);
            sum_what = in_place ? " +sum(in place)" : " +sum(copied)";
          } else {
            dst = plan.NewValueMemory(pd.dst_desc());
            touched.push_back(dst.second);
          }
          Plan::ConvParams cp;
          cp.weight = layer.name + ".weight";
          if (layer.bias) cp.bias = layer.name + ".bias";
          if (g.bn >= 0) {
            cp.bn = layers[g.bn].name;
            cp.eps = layers[g.bn].eps;
            what += absl::StrCat(" +bn '", cp.bn, "'");
          }
          if (g.act1 != Act::kNone) what += absl::StrCat(" +", ActName(g.act1));
          what += sum_what;
          if (g.act2 != Act::kNone) what += absl::StrCat(" +", ActName(g.act2));
          cp.out_channels = oc;
          cp.user_weights = memory(w_user, plan.engine, DNNL_MEMORY_NONE);
          cp.weights = memory(pd.weights_desc(), plan.engine);
          if (pd.weights_desc() != w_user) cp.reorder = dnnl::reorder(cp.user_weights, cp.weights);
          std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, src.first},
                                                  {DNNL_ARG_WEIGHTS, cp.weights},
                                                  {DNNL_ARG_DST, dst.first}};
          if (has_bias) {
            cp.bias_mem = memory(b_md, plan.engine);
            args[DNNL_ARG_BIAS] = cp.bias_mem;
          }
          plan.convs.push_back(std::move(cp));
          plan.Push(dnnl::convolution_forward(pd), std::move(args), std::move(touched),
                    absl::StrCat(what, " [", ImplName(pd), "]"));
          plan.execs.back().layer = layer.name;
          set_value(out_value, dst);
          break;
        }
        case LayerKind::kDense: {
          int src_value = in0;
          TensorShape src_shape = in_shape;
          if (layers[in0].kind == LayerKind::kFlatten) {
            src_value = layers[in0].inputs[0];
            src_shape = layers[src_value].shape;
          }
          const int out = layer.out_channels;
          memory::dims wdims = {out, src_shape.c, src_shape.h, src_shape.w};
          memory::desc src_any(Dims4(n, src_shape), kF32, tag::any);
          memory::desc w_any(wdims, kF32, tag::any);
          memory::desc w_user(wdims, kF32, tag::oihw);
          memory::desc b_md({out}, kF32, tag::x);
          memory::desc dst_md({n, out}, kF32, tag::nc);
          dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_any,
                                                 w_any, b_md, dst_md);
          dnnl::post_ops ops;
          AppendAct(&ops, g.act1);
          dnnl::primitive_attr attr;
          attr.set_post_ops(ops);
          dnnl::inner_product_forward::primitive_desc pd(desc, attr, plan.engine);
          auto src = plan.Get(src_value, pd.src_desc());
          const int t = plan.NewTensor(dst_md.get_size());
          memory dst = plan.View(t, dst_md);
          memory dst4 = plan.View(t, memory::desc({n, out, 1, 1}, kF32, tag::nchw));
          Plan::DenseParams dp;
          dp.weight = layer.name + ".weight";
          dp.bias = layer.name + ".bias";
          dp.user_weights = memory(w_user, plan.engine, DNNL_MEMORY_NONE);
          dp.weights = memory(pd.weights_desc(), plan.engine);
          if (pd.weights_desc() != w_user) dp.reorder = dnnl::reorder(dp.user_weights, dp.weights);
          dp.bias_mem = memory(b_md, plan.engine);
          plan.Push(dnnl::inner_product_forward(pd),
                    {{DNNL_ARG_SRC, src.first},
                     {DNNL_ARG_WEIGHTS, dp.weights},
                     {DNNL_ARG_BIAS, dp.bias_mem},
                     {DNNL_ARG_DST, dst}},
                    {src.second, t},
                    absl::StrCat(what, g.act1 != Act::kNone ? " +" : "", ActName(g.act1), " [",
                                 ImplName(pd), "]"));
          plan.denses.push_back(std::move(dp));
          set_value(out_value, {dst4, t});
          break;
        }
        case LayerKind::kFlatten: {
          bool needed = head == graph.output;
          for (int c : consumers[head]) needed |= layers[c].kind != LayerKind::kDense;
          if (!needed) break;  // Dense reads the source directly
          auto plain = plan.Get(in0, memory::desc(Dims4(n, in_shape), kF32, tag::nchw));
          memory flat = plan.View(plain.second, memory::desc(Dims4(n, layer.shape), kF32, tag::nchw));
          set_value(head, {flat, plain.second});
          break;
        }
        case LayerKind::kBatchNorm: {
          const memory::desc src_md = plan.values[in0].mem.get_desc();
          dnnl::batch_normalization_forward::desc desc(
              dnnl::prop_kind::forward_inference, src_md, layer.eps,
              dnnl::normalization_flags::use_global_stats | dnnl::normalization_flags::use_scale |
                  dnnl::normalization_flags::use_shift);
          dnnl::batch_normalization_forward::primitive_desc pd(desc, plan.engine);
          auto dst = plan.NewValueMemory(pd.dst_desc());
          memory::desc c_md({layer.shape.c}, kF32, tag::x);
          Plan::BnParams bp;
          bp.name = layer.name;
          bp.scale = memory(c_md, plan.engine);
          bp.shift = memory(c_md, plan.engine);
          bp.mean = memory(c_md, plan.engine);
          bp.var = memory(c_md, plan.engine);
          plan.Push(dnnl::batch_normalization_forward(pd),
                    {{DNNL_ARG_SRC, plan.values[in0].mem},
                     {DNNL_ARG_MEAN, bp.mean},
                     {DNNL_ARG_VARIANCE, bp.var},
                     {DNNL_ARG_SCALE, bp.scale},
                     {DNNL_ARG_SHIFT, bp.shift},
                     {DNNL_ARG_DST, dst.first}},
                    {plan.values[in0].tensor, dst.second},
                    absl::StrCat(what, " [", ImplName(pd), "]"));
          plan.bns.push_back(std::move(bp));
          set_value(head, dst);
          break;
        }
        case LayerKind::kRelu:
        case LayerKind::kRelu6: {
          const memory::desc src_md = plan.values[in0].mem.get_desc();
          const bool six = layer.kind == LayerKind::kRelu6;
          dnnl::eltwise_forward::desc desc(
              dnnl::prop_kind::forward_inference,
              six ? dnnl::algorithm::eltwise_clip : dnnl::algorithm::eltwise_relu, src_md, 0.0f,
              six ? 6.0f : 0.0f);
          dnnl::eltwise_forward::primitive_desc pd(desc, plan.engine);
          auto dst = plan.NewValueMemory(pd.dst_desc());
          plan.Push(dnnl::eltwise_forward(pd),
                    {{DNNL_ARG_SRC, plan.values[in0].mem}, {DNNL_ARG_DST, dst.first}},
                    {plan.values[in0].tensor, dst.second},
                    absl::StrCat(what, " [", ImplName(pd), "]"));
          set_value(head, dst);
          break;
        }
        case LayerKind::kAdd: {
          const ValueInfo& a = plan.values[layer.inputs[0]];
          const memory::desc a_md = a.mem.get_desc();
          auto b = plan.Get(layer.inputs[1], a_md);
          dnnl::binary::desc desc(dnnl::algorithm::binary_add, a_md, a_md, a_md);
          dnnl::post_ops ops;
          AppendAct(&ops, g.act1);
          dnnl::primitive_attr attr;
          attr.set_post_ops(ops);
          dnnl::binary::primitive_desc pd(desc, attr, plan.engine);
          auto dst = plan.NewValueMemory(pd.dst_desc());
          plan.Push(dnnl::binary(pd),
                    {{DNNL_ARG_SRC_0, a.mem}, {DNNL_ARG_SRC_1, b.first}, {DNNL_ARG_DST, dst.first}},
                    {a.tensor, b.second, dst.second},
                    absl::StrCat(what, g.act1 != Act::kNone ? " +" : "", ActName(g.act1), " [",
                                 ImplName(pd), "]"));
          set_value(out_value, dst);
          break;
        }
        case LayerKind::kMaxPool:
        case LayerKind::kAvgPool:
        case LayerKind::kGlobalAvgPool: {
          const memory::desc src_md = plan.values[in0].mem.get_desc();
          int kh = layer.kernel_h, kw = layer.kernel_w, sh = layer.stride_h, sw = layer.stride_w;
          int pt = layer.pad_t, pl = layer.pad_l, pb = layer.pad_b, pr = layer.pad_r;
          dnnl::algorithm alg = dnnl::algorithm::pooling_max;
          if (layer.kind == LayerKind::kGlobalAvgPool) {
            kh = in_shape.h;
            kw = in_shape.w;
            sh = sw = 1;
            pt = pl = pb = pr = 0;
            alg = dnnl::algorithm::pooling_avg_exclude_padding;
          } else {
            // ceil_mode: enlarge the bottom/right padding so that oneDNN's floor formula
            // gives the graph's output size.
            const int need_b = (layer.shape.h - 1) * sh + kh - in_shape.h - pt;
            const int need_r = (layer.shape.w - 1) * sw + kw - in_shape.w - pl;
            const bool extended = need_b > pb || need_r > pr;
            pb = std::max(pb, need_b);
            pr = std::max(pr, need_r);
            if (layer.kind == LayerKind::kAvgPool) {
              const bool any_pad = layer.pad_t || layer.pad_l || layer.pad_b || layer.pad_r;
              if (layer.count_include_pad && any_pad && extended) {
                return absl::UnimplementedError(absl::StrCat(
                    "avg_pool with count_include_pad, padding and a ceil_mode extension is not "
                    "supported (layer ",
                    head, ")"));
              }
              // Without declared padding, PyTorch's include-pad divisor is the in-bounds count.
              alg = layer.count_include_pad && any_pad
                        ? dnnl::algorithm::pooling_avg_include_padding
                        : dnnl::algorithm::pooling_avg_exclude_padding;
            }
          }
          memory::desc dst_any(Dims4(n, layer.shape), kF32, tag::any);
          dnnl::pooling_forward::desc desc(dnnl::prop_kind::forward_inference, alg, src_md,
                                           dst_any, {sh, sw}, {kh, kw}, {pt, pl}, {pb, pr});
          dnnl::pooling_forward::primitive_desc pd(desc, plan.engine);
          auto dst = plan.NewValueMemory(pd.dst_desc());
          std::unordered_map<int, memory> args = {{DNNL_ARG_SRC, plan.values[in0].mem},
                                                  {DNNL_ARG_DST, dst.first}};
          std::vector<int> touched = {plan.values[in0].tensor, dst.second};
          if (pd.workspace_desc().get_size() != 0) {
            auto ws = plan.NewValueMemory(pd.workspace_desc());
            args[DNNL_ARG_WORKSPACE] = ws.first;
            touched.push_back(ws.second);
          }
          plan.Push(dnnl::pooling_forward(pd), std::move(args), std::move(touched),
                    absl::StrCat(what, " [", ImplName(pd), "]"));
          set_value(head, dst);
          break;
        }
        case LayerKind::kConcat: {
          std::vector<memory::desc> mds;
          for (int x : layer.inputs) mds.push_back(plan.values[x].mem.get_desc());
          std::unique_ptr<dnnl::concat::primitive_desc> pd;
          bool plain = false;
          try {
            pd = std::make_unique<dnnl::concat::primitive_desc>(1, mds, plan.engine);
          } catch (const dnnl::error&) {
            plain = true;  // e.g. blocked inputs with channel counts off the block size
            for (size_t k = 0; k < mds.size(); ++k) {
              mds[k] = memory::desc(Dims4(n, layers[layer.inputs[k]].shape), kF32, tag::nchw);
            }
            pd = std::make_unique<dnnl::concat::primitive_desc>(1, mds, plan.engine);
          }
          std::unordered_map<int, memory> args;
          std::vector<int> touched;
          for (size_t k = 0; k < mds.size(); ++k) {
            auto src = plain ? plan.Get(layer.inputs[k], mds[k])
                             : std::make_pair(plan.values[layer.inputs[k]].mem,
                                              plan.values[layer.inputs[k]].tensor);
            args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(k)] = src.first;
            touched.push_back(src.second);
          }
          auto dst = plan.NewValueMemory(pd->dst_desc());
          args[DNNL_ARG_DST] = dst.first;
          touched.push_back(dst.second);
          plan.Push(dnnl::concat(*pd), std::move(args), std::move(touched),
                    absl::StrCat(what, " [", ImplName(*pd), "]"));
          set_value(head, dst);
          break;
        }
        case LayerKind::kPadChannels: {
          // oneDNN 2.6 has no pad primitive: a channel concat of [zeros, x, zeros]. Everything
          // is channels-last (x is reordered to it if it came blocked; the CIFAR ResNets'
          // pooled shortcut already is), so the concat interleaves per pixel and its output is
          // the layout the residual conv next to it uses. The zero blocks are constants of
          // their own (library-allocated, zeroed once, never shared with activations).
          const memory::desc nhwc(Dims4(n, in_shape), kF32, tag::nhwc);
          const ValueInfo& xi = plan.values[in0];
          const bool nchw = xi.mem.get_desc() == memory::desc(Dims4(n, in_shape), kF32, tag::nchw);
          const tag layout = nchw ? tag::nchw : tag::nhwc;
          auto src = nchw ? std::make_pair(xi.mem, xi.tensor) : plan.Get(in0, nhwc);
          std::vector<memory::desc> mds;
          std::unordered_map<int, memory> args;
          auto add_zeros = [&](int channels) {
            if (channels == 0) return;
            const memory::desc md(Dims4(n, {channels, in_shape.h, in_shape.w}), kF32, layout);
            memory zeros(md, plan.engine);
            std::memset(zeros.get_data_handle(), 0, md.get_size());
            args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(mds.size())] = zeros;
            mds.push_back(md);
          };
          add_zeros(layer.pad_channels_before);
          args[DNNL_ARG_MULTIPLE_SRC + static_cast<int>(mds.size())] = src.first;
          mds.push_back(src.first.get_desc());
          add_zeros(layer.pad_channels_after);
          const memory::desc dst_md(Dims4(n, layer.shape), kF32, layout);
          dnnl::concat::primitive_desc pd(dst_md, 1, mds, plan.engine);
          auto dst = plan.NewValueMemory(pd.dst_desc());
          args[DNNL_ARG_DST] = dst.first;
          plan.Push(dnnl::concat(pd), std::move(args), {src.second, dst.second},
                    absl::StrCat(what, " ", layer.pad_channels_before, "+", in_shape.c, "+",
                                 layer.pad_channels_after, " [", ImplName(pd), "]"));
          set_value(head, dst);
          break;
        }
        case LayerKind::kInput:
          return absl::InvalidArgumentError("GraphNetwork: a second Input layer");
      }
      // A needed Flatten is a view of a (possibly shared, cached) plain copy of its input,
      // made whenever the first consumer asked for it: not a step of its own.
      if (layer.kind != LayerKind::kFlatten && plan.values[out_value].planned) {
        mark_produced(out_value);
      }
    }

    // Softmax over the classes.
    {
      const int k = graph.num_classes;
      auto plain = plan.Get(graph.output, memory::desc({n, k, 1, 1}, kF32, tag::nchw));
      memory logits = plan.View(plain.second, memory::desc({n, k}, kF32, tag::nc));
      dnnl::softmax_forward::desc desc(dnnl::prop_kind::forward_inference, logits.get_desc(), 1);
      dnnl::softmax_forward::primitive_desc pd(desc, plan.engine);
      plan.probabilities = memory(pd.dst_desc(), plan.engine);
      plan.Push(dnnl::softmax_forward(pd),
                {{DNNL_ARG_SRC, logits}, {DNNL_ARG_DST, plan.probabilities}}, {plain.second},
                absl::StrCat("softmax [", ImplName(pd), "]"));
    }

    plan.produced_after.assign(plan.execs.size() + 1, {});
    for (int v = 0; v < num_layers; ++v) {
      const ValueInfo& info = plan.values[v];
      if (info.planned && info.producer != ValueInfo::kNotTappable) {
        plan.produced_after[info.producer + 1].push_back(v);
      }
    }

    // ---- buffers: lifetimes in exec order, greedy best-fit reuse.
    for (int e = 0; e < static_cast<int>(plan.execs.size()); ++e) {
      for (int t : plan.execs[e].tensors) {
        plan.tensors[t].first = std::min(plan.tensors[t].first, e);
        plan.tensors[t].last = std::max(plan.tensors[t].last, e);
      }
    }
    const int input_tensor = plan.values[0].tensor;
    plan.tensors[input_tensor].first = -1;
    struct Buffer {
      size_t bytes;
      void* data;
    };
    std::vector<Buffer> all;
    std::multimap<size_t, int> free_buffers;  // bytes -> index in all
    std::vector<int> buffer_of(plan.tensors.size(), -1);
    auto allocate = [&](int t) -> absl::Status {
      const size_t bytes = std::max<size_t>(plan.tensors[t].bytes, 64);
      auto it = free_buffers.lower_bound(bytes);
      if (it != free_buffers.end() && it->first <= 2 * bytes + (1 << 20)) {
        buffer_of[t] = it->second;
        free_buffers.erase(it);
        return absl::OkStatus();
      }
      const size_t rounded = (bytes + 63) / 64 * 64;
      void* data = std::aligned_alloc(64, rounded);
      if (data == nullptr) {
        return absl::ResourceExhaustedError(
            absl::StrCat("GraphNetwork: cannot allocate ", rounded, " bytes of activations"));
      }
      // Packed layers compute only a chunk's real rows; the padding rows then hold zeros or
      // an earlier chunk's values, never uninitialised bits.
      std::memset(data, 0, rounded);
      plan.buffers.emplace_back(data);
      all.push_back({rounded, data});
      plan.activation_bytes += static_cast<int64_t>(rounded);
      buffer_of[t] = static_cast<int>(all.size()) - 1;
      return absl::OkStatus();
    };
    std::vector<std::vector<int>> starts(plan.execs.size() + 1), ends(plan.execs.size() + 1);
    for (int t = 0; t < static_cast<int>(plan.tensors.size()); ++t) {
      const Tensor& tensor = plan.tensors[t];
      if (tensor.last < 0 && t != input_tensor) continue;  // never used
      starts[tensor.first + 1].push_back(t);
      ends[std::max(tensor.last, tensor.first) + 1].push_back(t);
    }
    for (size_t step = 0; step < starts.size(); ++step) {
      for (int t : starts[step]) QB_RETURN_IF_ERROR(allocate(t));
      for (int t : ends[step]) free_buffers.insert({all[buffer_of[t]].bytes, buffer_of[t]});
    }
    for (int t = 0; t < static_cast<int>(plan.tensors.size()); ++t) {
      if (buffer_of[t] < 0) continue;
      for (memory& view : plan.tensors[t].views) view.set_data_handle(all[buffer_of[t]].data);
    }
  } catch (const dnnl::error& e) {
    return DnnlError(e, "creating the network's primitives");
  }
  return absl::OkStatus();
}

absl::Status GraphNetwork::SyncParams() {
  QB_RETURN_IF_ERROR(CheckGraphParams(graph_, *params_));
  QB_RETURN_IF_ERROR(SyncPlan(simulated_plan_.get()));
  if (packed_plan_ != nullptr) QB_RETURN_IF_ERROR(SyncPlan(packed_plan_.get()));
  return absl::OkStatus();
}

// The store's values into one plan: fp32 weights (BatchNorm folded) for the oneDNN layers,
// bias / BatchNorm as the epilogue's per-channel scale and shift for the packed layers (BN
// can not be folded into packed codes: it would change every row's scale and the codes'
// meaning).
absl::Status GraphNetwork::SyncBatchNorm(const std::string& bn) {
  bool found = false;
  for (const Layer& layer : graph_.layers) found |= layer.kind == LayerKind::kBatchNorm && layer.name == bn;
  if (!found) {
    return absl::InvalidArgumentError(
        absl::StrCat("SyncBatchNorm: '", bn, "' is not a BatchNorm layer of this network"));
  }
  QB_RETURN_IF_ERROR(CheckGraphParams(graph_, *params_));
  QB_RETURN_IF_ERROR(SyncPlan(simulated_plan_.get(), &bn));
  if (packed_plan_ != nullptr) QB_RETURN_IF_ERROR(SyncPlan(packed_plan_.get(), &bn));
  return absl::OkStatus();
}

absl::Status GraphNetwork::SyncPlan(Plan* plan_ptr, const std::string* only_bn) {
  Plan& plan = *plan_ptr;
  auto values = [&](const std::string& name) -> const std::vector<float>& {
    return params_->Find(name)->values;
  };
  auto copy_to = [](const memory& m, const std::vector<float>& v) {
    std::memcpy(m.get_data_handle(), v.data(), v.size() * sizeof(float));
  };
  try {
    std::vector<float> scratch;
    for (Plan::ConvParams& cp : plan.convs) {
      if (only_bn != nullptr && cp.bn != *only_bn) continue;
      const std::vector<float>& w = values(cp.weight);
      const float* source = w.data();
      std::vector<float> bias(cp.out_channels, 0.0f);
      if (!cp.bias.empty()) bias = values(cp.bias);
      if (!cp.bn.empty()) {
        const std::vector<float>& gamma = values(cp.bn + ".weight");
        const std::vector<float>& beta = values(cp.bn + ".bias");
        const std::vector<float>& mean = values(cp.bn + ".running_mean");
        const std::vector<float>& var = values(cp.bn + ".running_var");
        scratch.resize(w.size());
        const size_t per_out = w.size() / cp.out_channels;
        for (int o = 0; o < cp.out_channels; ++o) {
          const double scale = gamma[o] / std::sqrt(static_cast<double>(var[o]) + cp.eps);
          for (size_t k = 0; k < per_out; ++k) {
            scratch[o * per_out + k] = static_cast<float>(w[o * per_out + k] * scale);
          }
          bias[o] = static_cast<float>((bias[o] - mean[o]) * scale + beta[o]);
        }
        source = scratch.data();
      }
      if (cp.reorder) {
        cp.user_weights.set_data_handle(const_cast<float*>(source));
        cp.reorder.execute(plan.stream,
                           {{DNNL_ARG_FROM, cp.user_weights}, {DNNL_ARG_TO, cp.weights}});
        plan.stream.wait();
        cp.user_weights.set_data_handle(DNNL_MEMORY_NONE);
      } else {
        std::memcpy(cp.weights.get_data_handle(), source, w.size() * sizeof(float));
      }
      if (cp.bias_mem) copy_to(cp.bias_mem, bias);
    }
    for (Plan::DenseParams& dp : plan.denses) {
      if (only_bn != nullptr) break;  // dense layers have no BatchNorm
      std::vector<float>& w = params_->Find(dp.weight)->values;
      if (dp.reorder) {
        dp.user_weights.set_data_handle(w.data());
        dp.reorder.execute(plan.stream,
                           {{DNNL_ARG_FROM, dp.user_weights}, {DNNL_ARG_TO, dp.weights}});
        plan.stream.wait();
        dp.user_weights.set_data_handle(DNNL_MEMORY_NONE);
      } else {
        copy_to(dp.weights, w);
      }
      copy_to(dp.bias_mem, values(dp.bias));
    }
    for (Plan::BnParams& bp : plan.bns) {
      if (only_bn != nullptr && bp.name != *only_bn) continue;
      copy_to(bp.scale, values(bp.name + ".weight"));
      copy_to(bp.shift, values(bp.name + ".bias"));
      copy_to(bp.mean, values(bp.name + ".running_mean"));
      copy_to(bp.var, values(bp.name + ".running_var"));
    }
  } catch (const dnnl::error& e) {
    return DnnlError(e, "syncing the parameters");
  }
  for (Plan::PackedLayer& pl : plan.packed) {
    if (only_bn != nullptr && pl.bn != *only_bn) continue;
    ConvEpilogue& ep = pl.epilogue;
    ep.out_scale.clear();
    ep.out_shift.clear();
    if (!pl.bias.empty()) ep.out_shift = values(pl.bias);
    if (pl.bn.empty()) continue;
    // y = (conv + b - mean) * gamma / sqrt(var + eps) + beta = conv * scale + shift.
    const std::vector<float>& gamma = values(pl.bn + ".weight");
    const std::vector<float>& beta = values(pl.bn + ".bias");
    const std::vector<float>& mean = values(pl.bn + ".running_mean");
    const std::vector<float>& var = values(pl.bn + ".running_var");
    const size_t channels = gamma.size();
    ep.out_scale.resize(channels);
    std::vector<float> shift(channels);
    for (size_t o = 0; o < channels; ++o) {
      const double scale = gamma[o] / std::sqrt(static_cast<double>(var[o]) + pl.eps);
      const double bias = ep.out_shift.empty() ? 0.0 : ep.out_shift[o];
      ep.out_scale[o] = static_cast<float>(scale);
      shift[o] = static_cast<float>((bias - mean[o]) * scale + beta[o]);
    }
    ep.out_shift = std::move(shift);
  }
  return absl::OkStatus();
}

absl::Status GraphNetwork::UsePackedWeights(const std::vector<PackedParam>& params,
                                            GemmActivations activations) {
  QB_RETURN_IF_ERROR(CheckGraphParams(graph_, *params_));
  const std::vector<Layer>& layers = graph_.layers;
  std::map<std::string, int> layer_of_weight;
  for (int i = 1; i < static_cast<int>(layers.size()); ++i) {
    if (layers[i].kind == LayerKind::kConv || layers[i].kind == LayerKind::kDense) {
      layer_of_weight[layers[i].name + ".weight"] = i;
    }
  }
  std::set<std::string> unused;
  for (const ParamSpec& spec : graph_.params) {
    if (!spec.used) unused.insert(spec.name);
  }

  // Pack everything first: an error leaves the network as it was.
  std::map<std::string, PackedConv> convs;  // layer name -> packed conv / dense
  std::vector<std::pair<std::string, int64_t>> storage_only;
  std::set<std::string> seen;
  for (const PackedParam& p : params) {
    if (!seen.insert(p.param).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("UsePackedWeights: parameter '", p.param, "' is listed twice"));
    }
    if (p.tensor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("UsePackedWeights: parameter '", p.param, "' has no QuantizedTensor"));
    }
    auto it = layer_of_weight.find(p.param);
    if (it == layer_of_weight.end()) {
      if (unused.count(p.param) > 0) continue;  // never run (e.g. inception_v3's AuxLogits)
      return absl::InvalidArgumentError(absl::StrCat(
          "UsePackedWeights: '", p.param,
          "' is not the weight of a conv or dense layer of this network (expected "
          "'<layer>.weight')"));
    }
    const Layer& layer = layers[it->second];
    const ConvGeometry geometry = GeometryOf(graph_, layer);
    PackRequest request;
    request.name = p.param;
    request.shape = params_->Find(p.param)->shape;
    request.bits = p.bits;
    request.order = layer.kind == LayerKind::kConv ? PackColumnOrder::kConvTapsMajor
                                                   : PackColumnOrder::kAsStored;
    if (IsDepthwise(layer, geometry.in_c)) {
      // Stored packed (so its bytes are real), run fp32 on the store's identical values.
      QB_ASSIGN_OR_RETURN(PackedMatrix m, PackQuantizedRows(*p.tensor, request));
      storage_only.push_back({layer.name, m.StorageBytes()});
      continue;
    }
    std::vector<PackedMatrix> group_weights;
    for (int grp = 0; grp < geometry.groups; ++grp) {
      request.row_begin = grp * geometry.out_per_group();
      request.row_end = request.row_begin + geometry.out_per_group();
      QB_ASSIGN_OR_RETURN(PackedMatrix m, PackQuantizedRows(*p.tensor, request));
      group_weights.push_back(std::move(m));
    }
    absl::StatusOr<PackedConv> conv = PackedConv::Create(geometry, std::move(group_weights));
    if (!conv.ok()) return Annotate(conv.status(), absl::StrCat("layer '", layer.name, "'"));
    convs.emplace(layer.name, std::move(conv).value());
  }

  std::set<std::string> names;
  for (const auto& entry : convs) names.insert(entry.first);
  std::unique_ptr<Plan> fresh;
  Plan* plan = packed_plan_.get();
  if (plan == nullptr || plan->packed_layers != names) {
    fresh = std::make_unique<Plan>();
    QB_RETURN_IF_ERROR(BuildPlan(names, fresh.get()));
    QB_RETURN_IF_ERROR(SyncPlan(fresh.get()));
    plan = fresh.get();
  }
  int64_t scratch = 0;
  for (Plan::PackedLayer& pl : plan->packed) {
    pl.conv = std::move(convs.at(pl.layer));
    scratch = std::max(scratch, pl.conv.ScratchFloats());
  }
  plan->scratch.assign(static_cast<size_t>(scratch), 0.0f);
  plan->activations = activations;
  plan->storage_only_bytes = std::move(storage_only);
  if (fresh != nullptr) packed_plan_ = std::move(fresh);
  active_ = packed_plan_.get();
  return absl::OkStatus();
}

void GraphNetwork::UseSimulatedWeights() { active_ = simulated_plan_.get(); }

int64_t GraphNetwork::packed_weight_bytes() const {
  if (active_ != packed_plan_.get() || active_ == nullptr) return 0;
  int64_t bytes = 0;
  for (const Plan::PackedLayer& pl : active_->packed) bytes += pl.conv.StorageBytes();
  for (const auto& entry : active_->storage_only_bytes) bytes += entry.second;
  return bytes;
}

absl::Status GraphNetwork::CheckForwardSpans(absl::Span<const float> input, int batch,
                                             size_t probabilities_size) const {
  if (batch < 0) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: batch = ", batch, " is negative"));
  }
  const int64_t in = graph_.input.NumElements();
  const int64_t classes = graph_.num_classes;
  if (static_cast<int64_t>(input.size()) != batch * in) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: input has ", input.size(),
                                                   " floats, expected batch * C*H*W = ", batch,
                                                   " * ", in, " = ", batch * in));
  }
  if (static_cast<int64_t>(probabilities_size) != batch * classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Forward: probabilities has room for ", probabilities_size,
        " floats, expected batch * num_classes = ", batch, " * ", classes, " = ", batch * classes));
  }
  return absl::OkStatus();
}

absl::Status GraphNetwork::Forward(absl::Span<const float> input, int batch,
                                   absl::Span<float> probabilities) {
  QB_RETURN_IF_ERROR(CheckForwardSpans(input, batch, probabilities.size()));
  return RunChunks(input, batch, probabilities.data(), nullptr);
}

absl::Status GraphNetwork::RunChunks(absl::Span<const float> input, int batch,
                                     float* probabilities, const Taps* taps) {
  const int64_t in = graph_.input.NumElements();
  const int64_t classes = graph_.num_classes;
  for (int start = 0; start < batch; start += max_batch_) {
    const int rows = std::min(max_batch_, batch - start);
    QB_RETURN_IF_ERROR(ForwardChunk(input.data() + start * in, rows,
                                    probabilities == nullptr ? nullptr
                                                             : probabilities + start * classes,
                                    taps));
  }
  return absl::OkStatus();
}

// A short chunk runs through the max_batch primitives with zero rows appended: every layer
// computes each example independently, so the padding never changes the real rows.
absl::Status GraphNetwork::ForwardChunk(const float* input, int rows, float* probabilities,
                                        const Taps* taps) {
  Plan& plan = *active_;
  const size_t in = static_cast<size_t>(graph_.input.NumElements());
  const size_t classes = static_cast<size_t>(graph_.num_classes);
  try {
    float* src = static_cast<float*>(plan.input.get_data_handle());
    std::memcpy(src, input, rows * in * sizeof(float));
    if (rows < max_batch_) {
      std::memset(src + rows * in, 0, (max_batch_ - rows) * in * sizeof(float));
    }
    QB_RETURN_IF_ERROR(ValuesReady(plan, 0, rows, taps));
    for (size_t step = 0; step < plan.execs.size(); ++step) {
      Exec& e = plan.execs[step];
      if (e.packed < 0) {
        e.primitive.execute(plan.stream, e.args);
      } else {
        plan.stream.wait();  // the packed layer reads what oneDNN wrote
        const Plan::PackedLayer& pl = plan.packed[e.packed];
        const float* residual =
            pl.residual ? static_cast<const float*>(pl.residual.get_data_handle()) : nullptr;
        // Only the real rows: the padding rows' values are never read back.
        const absl::Status status = pl.conv.Run(
            static_cast<const float*>(pl.src.get_data_handle()), residual,
            static_cast<float*>(pl.dst.get_data_handle()), rows, pl.epilogue, plan.activations,
            plan.scratch.data());
        if (!status.ok()) return Annotate(status, absl::StrCat("packed layer '", pl.layer, "'"));
      }
      QB_RETURN_IF_ERROR(ValuesReady(plan, static_cast<int>(step) + 1, rows, taps));
    }
    plan.stream.wait();
    if (probabilities != nullptr) {
      std::memcpy(probabilities, plan.probabilities.get_data_handle(),
                  rows * classes * sizeof(float));
    }
  } catch (const dnnl::error& e) {
    return DnnlError(e, "running the forward pass");
  }
  return absl::OkStatus();
}

// Runs between execs, so it costs one lookup per value when nothing is tapped or quantized.
// May throw dnnl::error (ForwardChunk catches it).
absl::Status GraphNetwork::ValuesReady(Plan& plan, int step, int rows, const Taps* taps) {
  for (int v : plan.produced_after[step]) {
    const bool tapped = taps != nullptr && taps->wanted[v];
    const std::optional<ActivationQuantParams>& quant = value_quant_[v];
    if (!tapped && !quant.has_value()) continue;
    plan.stream.wait();
    const memory& mem = plan.values[v].mem;
    if (tapped) {
      auto it = plan.tap_views.find(v);
      if (it == plan.tap_views.end()) {
        const memory::desc plain(Dims4(max_batch_, graph_.layers[v].shape), kF32, tag::nchw);
        Plan::TapView view;
        if (mem.get_desc() == plain) {
          view.plain = mem;
        } else {
          view.plain = memory(plain, plan.engine);
          view.reorder = dnnl::reorder(mem, view.plain);
        }
        it = plan.tap_views.emplace(v, std::move(view)).first;
      }
      const Plan::TapView& view = it->second;
      if (view.reorder) {
        view.reorder.execute(plan.stream, {{DNNL_ARG_FROM, mem}, {DNNL_ARG_TO, view.plain}});
        plan.stream.wait();
      }
      const size_t n = static_cast<size_t>(rows) * graph_.layers[v].shape.NumElements();
      QB_RETURN_IF_ERROR(
          (*taps->tap)(v, {static_cast<const float*>(view.plain.get_data_handle()), n}));
    }
    if (quant.has_value()) {
      // The whole buffer, whatever its layout: elementwise, and 0 (channel padding of blocked
      // layouts, padding rows) maps to 0.
      FakeQuantizeActivations(
          {static_cast<float*>(mem.get_data_handle()), mem.get_desc().get_size() / sizeof(float)},
          *quant);
    }
  }
  return absl::OkStatus();
}

absl::Status GraphNetwork::ForwardWithTaps(absl::Span<const float> input, int batch,
                                           const std::vector<int>& values, const ValueTap& tap,
                                           absl::Span<float> probabilities) {
  QB_RETURN_IF_ERROR(CheckForwardSpans(
      input, batch,
      probabilities.empty() ? static_cast<size_t>(std::max(batch, 0)) * graph_.num_classes
                            : probabilities.size()));
  const int num_values = static_cast<int>(graph_.layers.size());
  Taps taps;
  taps.wanted.assign(num_values, false);
  taps.tap = &tap;
  for (int v : values) {
    if (v < 0 || v >= num_values) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ForwardWithTaps: value ", v, " is not a value id of this graph (0..", num_values - 1,
          ")"));
    }
    const Layer& layer = graph_.layers[v];
    if (layer.kind == LayerKind::kFlatten) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ForwardWithTaps: value ", v, " is a Flatten; tap its input ", layer.inputs[0],
          " (the same numbers)"));
    }
    const ValueInfo& info = active_->values[v];
    if (!info.planned || info.producer == ValueInfo::kNotTappable) {
      return absl::InvalidArgumentError(absl::StrCat(
          "ForwardWithTaps: value ", v, " (", LayerKindName(layer.kind), " '", layer.name,
          "') is fused into a primitive and never stored in this plan; a conv's output before "
          "its BatchNorm needs GraphNetworkOptions::fuse_batchnorm = false"));
    }
    taps.wanted[v] = true;
  }
  return RunChunks(input, batch, probabilities.empty() ? nullptr : probabilities.data(), &taps);
}

std::vector<std::string> GraphNetwork::ActivationSites() const {
  std::vector<std::string> names;
  for (const auto& site : sites_) names.push_back(site.first);
  return names;
}

absl::StatusOr<int> GraphNetwork::ActivationSiteValue(const std::string& site) const {
  for (const auto& [name, value] : sites_) {
    if (name == site) return value;
  }
  return absl::NotFoundError(absl::StrCat("'", site, "' is not a conv or dense layer of this network"));
}

absl::Status GraphNetwork::ObserveActivations(
    absl::Span<const float> input, int batch,
    const std::function<void(const std::string& layer, absl::Span<const float> values)>&
        observe) {
  std::map<int, std::vector<const std::string*>> sites_of_value;
  std::vector<int> values;
  for (const auto& [name, value] : sites_) {
    if (sites_of_value[value].empty()) values.push_back(value);
    sites_of_value[value].push_back(&name);
  }
  const ValueTap tap = [&](int value, absl::Span<const float> data) {
    for (const std::string* site : sites_of_value[value]) observe(*site, data);
    return absl::OkStatus();
  };
  return ForwardWithTaps(input, batch, values, tap, {});
}

absl::Status GraphNetwork::SetActivationQuantization(
    const std::map<std::string, ActivationQuantParams>& params) {
  // Validate everything first: an error changes nothing.
  std::vector<std::optional<ActivationQuantParams>> quant(graph_.layers.size());
  std::vector<const std::string*> set_by(graph_.layers.size(), nullptr);
  for (const auto& [site, p] : params) {
    absl::StatusOr<int> value = ActivationSiteValue(site);
    if (!value.ok()) {
      std::string known;
      for (size_t k = 0; k < sites_.size() && k < 6; ++k) {
        known += absl::StrCat(k > 0 ? ", " : "", sites_[k].first);
      }
      if (sites_.size() > 6) known += absl::StrCat(", ... (", sites_.size(), " sites)");
      return absl::InvalidArgumentError(absl::StrCat("SetActivationQuantization: ",
                                                     value.status().message(),
                                                     "; its sites: ", known));
    }
    QB_RETURN_IF_ERROR(CheckActivationQuantParams(site, p));
    if (quant[*value].has_value() && !SameActivationQuantParams(*quant[*value], p)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SetActivationQuantization: sites '", *set_by[*value], "' and '", site,
          "' read the same tensor but ask for different quantization (bits/scale/zero point ",
          quant[*value]->bits, "/", quant[*value]->scale, "/", quant[*value]->zero_point,
          " vs ", p.bits, "/", p.scale, "/", p.zero_point, ")"));
    }
    quant[*value] = p;
    set_by[*value] = &site;
  }
  value_quant_ = std::move(quant);
  return absl::OkStatus();
}

std::vector<std::string> GraphNetwork::DescribePlan() const {
  std::vector<std::string> lines;
  const Plan& plan = *active_;
  std::set<std::string> storage_only;
  for (const auto& entry : plan.storage_only_bytes) storage_only.insert(entry.first);
  const char* activations = plan.activations == GemmActivations::kInt8 ? "int8" : "fp32";
  for (const Exec& e : plan.execs) {
    if (e.packed >= 0) {
      const PackedConv& conv = plan.packed[e.packed].conv;
      const int groups = conv.geometry().groups;
      lines.push_back(absl::StrCat(
          e.what, " [packed ",
          conv.group_weights().empty() ? "?" : DescribePackedMatrix(conv.group_weights()[0]),
          groups > 1 ? absl::StrCat(", ", groups, " groups") : "",
          conv.geometry().needs_im2col() ? ", im2col" : "", ", ", activations,
          " activations]"));
    } else if (storage_only.count(e.layer) > 0) {
      lines.push_back(absl::StrCat(
          e.what, " (listed packed; depthwise runs fp32 on the store's quantized values)"));
    } else {
      lines.push_back(e.what);
    }
  }
  return lines;
}

int64_t GraphNetwork::activation_bytes() const { return active_->activation_bytes; }

}  // namespace quantbench
