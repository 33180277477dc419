#include "networks/mlp.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <random>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/status_macros.h"
#include "networks/activation_quant_params.h"
#include "networks/normal_sampler.h"
#include "networks/pack_quantized.h"

namespace quantbench {
namespace {

constexpr int kMaxDim = 1 << 24;

using dnnl::memory;

absl::Status DnnlError(const dnnl::error& e, const char* what) {
  return absl::InternalError(absl::StrCat("oneDNN error while ", what, ": ", e.what(),
                                          " (dnnl_status ", static_cast<int>(e.status), ")"));
}

absl::Status CheckShape(const ParamStore& params, const std::string& name,
                        const std::vector<int64_t>& expected) {
  const Parameter* p = params.Find(name);
  if (p == nullptr) {
    return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "' (expected shape ",
                                                   ShapeToString(expected),
                                                   ") is missing from the store"));
  }
  if (p->shape != expected) {
    return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "': expected shape ",
                                                   ShapeToString(expected), ", found ",
                                                   ShapeToString(p->shape)));
  }
  if (static_cast<int64_t>(p->values.size()) != p->NumElements()) {
    return absl::InvalidArgumentError(absl::StrCat("parameter '", name, "': shape ",
                                                   ShapeToString(p->shape), " needs ",
                                                   p->NumElements(), " values, found ",
                                                   p->values.size()));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateMlpSpec(const MlpSpec& spec) {
  auto check = [](int value, const std::string& what) -> absl::Status {
    if (value < 1 || value > kMaxDim) {
      return absl::InvalidArgumentError(
          absl::StrCat("MlpSpec: ", what, " = ", value, " must be in [1, ", kMaxDim, "]"));
    }
    return absl::OkStatus();
  };
  QB_RETURN_IF_ERROR(check(spec.input_size, "input_size"));
  for (size_t i = 0; i < spec.hidden.size(); ++i) {
    QB_RETURN_IF_ERROR(check(spec.hidden[i], absl::StrCat("hidden[", i, "]")));
  }
  QB_RETURN_IF_ERROR(check(spec.num_classes, "num_classes"));
  return absl::OkStatus();
}

std::string MlpSpecToString(const MlpSpec& spec) {
  std::vector<int> dims;
  dims.push_back(spec.input_size);
  dims.insert(dims.end(), spec.hidden.begin(), spec.hidden.end());
  dims.push_back(spec.num_classes);
  return absl::StrJoin(dims, "-");
}

int MlpNumLayers(const MlpSpec& spec) { return static_cast<int>(spec.hidden.size()) + 1; }

std::string MlpLayerName(int index) { return absl::StrCat("fc", index + 1); }

std::pair<int, int> MlpLayerDims(const MlpSpec& spec, int index) {
  const int num_hidden = static_cast<int>(spec.hidden.size());
  const int in = index == 0 ? spec.input_size : spec.hidden[index - 1];
  const int out = index == num_hidden ? spec.num_classes : spec.hidden[index];
  return {in, out};
}

absl::Status CheckMlpParams(const MlpSpec& spec, const ParamStore& params) {
  QB_RETURN_IF_ERROR(ValidateMlpSpec(spec));
  for (int l = 0; l < MlpNumLayers(spec); ++l) {
    const auto [in, out] = MlpLayerDims(spec, l);
    const std::string layer = MlpLayerName(l);
    QB_RETURN_IF_ERROR(CheckShape(params, layer + ".weight", {out, in}));
    QB_RETURN_IF_ERROR(CheckShape(params, layer + ".bias", {out}));
  }
  return absl::OkStatus();
}

ParamStore InitMlpParams(const MlpSpec& spec, uint64_t seed) {
  ParamStore store;
  if (!ValidateMlpSpec(spec).ok()) return store;
  NormalSampler normal(seed);
  for (int l = 0; l < MlpNumLayers(spec); ++l) {
    const auto [in, out] = MlpLayerDims(spec, l);
    const std::string layer = MlpLayerName(l);
    const double stddev = std::sqrt(2.0 / in);

    Parameter weight;
    weight.name = layer + ".weight";
    weight.layer = layer;
    weight.layer_type = "dense";
    weight.kind = Parameter::kWeight;
    weight.shape = {out, in};
    weight.values.resize(static_cast<size_t>(out) * in);
    for (float& v : weight.values) v = static_cast<float>(stddev * normal.Next());

    Parameter bias;
    bias.name = layer + ".bias";
    bias.layer = layer;
    bias.layer_type = "dense";
    bias.kind = Parameter::kBias;
    bias.shape = {out};
    bias.values.assign(out, 0.0f);

    // Names are unique and sizes match by construction.
    (void)store.Add(std::move(weight));
    (void)store.Add(std::move(bias));
  }
  return store;
}

// ---------------------------------------------------------------------------------------------
// MlpNetwork

MlpNetwork::MlpNetwork(const MlpSpec& spec, ParamStore* params, int max_batch)
    : spec_(spec), params_(params), max_batch_(max_batch) {}

absl::StatusOr<std::unique_ptr<MlpNetwork>> MlpNetwork::Create(const MlpSpec& spec,
                                                                ParamStore* params,
                                                                int max_batch) {
  QB_RETURN_IF_ERROR(ValidateMlpSpec(spec));
  if (params == nullptr) return absl::InvalidArgumentError("MlpNetwork: params is null");
  if (max_batch < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("MlpNetwork: max_batch = ", max_batch, " must be >= 1"));
  }
  QB_RETURN_IF_ERROR(CheckMlpParams(spec, *params));
  std::unique_ptr<MlpNetwork> network(new MlpNetwork(spec, params, max_batch));
  QB_RETURN_IF_ERROR(network->Build());
  QB_RETURN_IF_ERROR(network->SyncParams());
  return network;
}

absl::Status MlpNetwork::Build() {
  try {
    engine_ = dnnl::engine(dnnl::engine::kind::cpu, 0);
    stream_ = dnnl::stream(engine_);
    const memory::dim batch = max_batch_;
    memory::desc src_md({batch, spec_.input_size}, memory::data_type::f32,
                        memory::format_tag::nc);
    input_ = memory(src_md, engine_);

    for (int l = 0; l < MlpNumLayers(spec_); ++l) {
      const auto [in, out] = MlpLayerDims(spec_, l);
      const bool is_output = l + 1 == MlpNumLayers(spec_);
      Layer layer;
      layer.weight_name = MlpLayerName(l) + ".weight";
      layer.bias_name = MlpLayerName(l) + ".bias";
      layer.in = in;
      layer.out = out;

      memory::desc weights_any({out, in}, memory::data_type::f32, memory::format_tag::any);
      memory::desc bias_md({out}, memory::data_type::f32, memory::format_tag::x);
      memory::desc dst_md({batch, out}, memory::data_type::f32, memory::format_tag::nc);
      dnnl::inner_product_forward::desc desc(dnnl::prop_kind::forward_inference, src_md,
                                             weights_any, bias_md, dst_md);
      dnnl::primitive_attr attr;
      if (!is_output) {
        dnnl::post_ops ops;
        ops.append_eltwise(/*scale=*/1.0f, dnnl::algorithm::eltwise_relu, /*alpha=*/0.0f,
                           /*beta=*/0.0f);
        attr.set_post_ops(ops);
      }
      dnnl::inner_product_forward::primitive_desc pd(desc, attr, engine_);
      layer.primitive = dnnl::inner_product_forward(pd);

      memory::desc user_weights_md({out, in}, memory::data_type::f32, memory::format_tag::oi);
      // The handle is replaced by the store's buffer in every SyncParams.
      layer.user_weights = memory(user_weights_md, engine_, DNNL_MEMORY_NONE);
      layer.weights = memory(pd.weights_desc(), engine_);
      if (pd.weights_desc() != user_weights_md) {
        layer.weights_reorder = dnnl::reorder(layer.user_weights, layer.weights);
      }
      layer.bias = memory(pd.bias_desc(), engine_);
      layer.dst = memory(pd.dst_desc(), engine_);
      // Packed layers write only a chunk's real rows; the others must hold numbers.
      std::memset(layer.dst.get_data_handle(), 0, layer.dst.get_desc().get_size());
      layers_.push_back(std::move(layer));
      src_md = dst_md;
    }

    dnnl::softmax_forward::desc softmax_desc(dnnl::prop_kind::forward_inference,
                                             layers_.back().dst.get_desc(), /*softmax_axis=*/1);
    dnnl::softmax_forward::primitive_desc softmax_pd(softmax_desc, engine_);
    softmax_ = dnnl::softmax_forward(softmax_pd);
    probabilities_ = memory(softmax_pd.dst_desc(), engine_);
  } catch (const dnnl::error& e) {
    return DnnlError(e, "creating the MLP primitives");
  }
  return absl::OkStatus();
}

absl::Status MlpNetwork::SyncParams() {
  // Validate everything first, so that an error leaves the network's weights untouched.
  QB_RETURN_IF_ERROR(CheckMlpParams(spec_, *params_));
  return SyncParamsImpl();
}

absl::Status MlpNetwork::SyncParamsImpl() {
  try {
    for (Layer& layer : layers_) {
      Parameter* weight = params_->Find(layer.weight_name);
      const Parameter* bias = params_->Find(layer.bias_name);
      if (layer.weights_reorder) {
        layer.user_weights.set_data_handle(weight->values.data());
        layer.weights_reorder.execute(
            stream_, {{DNNL_ARG_FROM, layer.user_weights}, {DNNL_ARG_TO, layer.weights}});
      } else {
        std::memcpy(layer.weights.get_data_handle(), weight->values.data(),
                    weight->values.size() * sizeof(float));
      }
      // Biases are always plain (format x).
      std::memcpy(layer.bias.get_data_handle(), bias->values.data(),
                  bias->values.size() * sizeof(float));
    }
    stream_.wait();
    for (Layer& layer : layers_) layer.user_weights.set_data_handle(DNNL_MEMORY_NONE);
  } catch (const dnnl::error& e) {
    return DnnlError(e, "reordering the weights");
  }
  return absl::OkStatus();
}

absl::Status MlpNetwork::CheckForwardSpans(absl::Span<const float> input, int batch,
                                           size_t probabilities_size) const {
  if (batch < 0) {
    return absl::InvalidArgumentError(absl::StrCat("Forward: batch = ", batch, " is negative"));
  }
  const int64_t in = spec_.input_size;
  const int64_t classes = spec_.num_classes;
  if (static_cast<int64_t>(input.size()) != batch * in) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Forward: input has ", input.size(), " floats, expected batch * input_size = ", batch,
        " * ", in, " = ", batch * in));
  }
  if (static_cast<int64_t>(probabilities_size) != batch * classes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "Forward: probabilities has room for ", probabilities_size,
        " floats, expected batch * num_classes = ", batch, " * ", classes, " = ",
        batch * classes));
  }
  return absl::OkStatus();
}

absl::Status MlpNetwork::Forward(absl::Span<const float> input, int batch,
                                 absl::Span<float> probabilities) {
  QB_RETURN_IF_ERROR(CheckForwardSpans(input, batch, probabilities.size()));
  const int64_t in = spec_.input_size;
  const int64_t classes = spec_.num_classes;
  for (int start = 0; start < batch; start += max_batch_) {
    const int rows = std::min(max_batch_, batch - start);
    QB_RETURN_IF_ERROR(ForwardChunk(input.data() + start * in, rows,
                                    probabilities.data() + start * classes, nullptr));
  }
  return absl::OkStatus();
}

std::vector<std::string> MlpNetwork::ActivationSites() const {
  std::vector<std::string> sites;
  for (int l = 0; l < MlpNumLayers(spec_); ++l) sites.push_back(MlpLayerName(l));
  return sites;
}

absl::Status MlpNetwork::ObserveActivations(absl::Span<const float> input, int batch,
                                            const ObserveFn& observe) {
  const int64_t classes = spec_.num_classes;
  QB_RETURN_IF_ERROR(
      CheckForwardSpans(input, batch, static_cast<size_t>(std::max(batch, 0)) * classes));
  // The probabilities of one chunk only: observation does not return them.
  std::vector<float> discarded(static_cast<size_t>(std::min(batch, max_batch_)) * classes);
  const int64_t in = spec_.input_size;
  for (int start = 0; start < batch; start += max_batch_) {
    const int rows = std::min(max_batch_, batch - start);
    QB_RETURN_IF_ERROR(
        ForwardChunk(input.data() + start * in, rows, discarded.data(), &observe));
  }
  return absl::OkStatus();
}

absl::Status MlpNetwork::SetActivationQuantization(
    const std::map<std::string, ActivationQuantParams>& params) {
  // Validate everything first: an error changes nothing.
  std::vector<std::optional<ActivationQuantParams>> quant(layers_.size());
  for (const auto& [site, p] : params) {
    size_t l = 0;
    while (l < layers_.size() && MlpLayerName(static_cast<int>(l)) != site) ++l;
    if (l == layers_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "SetActivationQuantization: '", site, "' is not a layer of the ",
          MlpSpecToString(spec_), " MLP (sites: fc1 .. ", MlpLayerName(MlpNumLayers(spec_) - 1),
          ")"));
    }
    QB_RETURN_IF_ERROR(CheckActivationQuantParams(site, p));
    quant[l] = p;
  }
  for (size_t l = 0; l < layers_.size(); ++l) layers_[l].input_quant = quant[l];
  return absl::OkStatus();
}

// A chunk with rows < max_batch runs through the same max_batch primitives, with the unused
// input rows set to zero and their outputs dropped. Every row of an inner product and of a
// softmax is computed independently of the others, so padding does not change the real rows.
// The alternative, a second primitive set per distinct batch size, would pay oneDNN's
// primitive creation (JIT code generation) again for what is at most one short chunk per pass
// over a data set; padding costs at most one max_batch worth of compute per pass.
absl::Status MlpNetwork::ForwardChunk(const float* input, int rows, float* probabilities,
                                      const ObserveFn* observe) {
  const size_t in = static_cast<size_t>(spec_.input_size);
  const size_t classes = static_cast<size_t>(spec_.num_classes);
  try {
    float* src = static_cast<float*>(input_.get_data_handle());
    std::memcpy(src, input, rows * in * sizeof(float));
    if (rows < max_batch_) {
      std::memset(src + rows * in, 0, (max_batch_ - rows) * in * sizeof(float));
    }
    dnnl::memory layer_input = input_;
    for (size_t l = 0; l < layers_.size(); ++l) {
      Layer& layer = layers_[l];
      if (observe != nullptr || layer.input_quant.has_value()) {
        stream_.wait();  // the previous layer's output is complete
        float* x = static_cast<float*>(layer_input.get_data_handle());
        const size_t n = static_cast<size_t>(rows) * layer.in;
        if (observe != nullptr) (*observe)(MlpLayerName(static_cast<int>(l)), {x, n});
        // Only the real rows: the padding rows' results are dropped anyway.
        if (layer.input_quant.has_value()) FakeQuantizeActivations({x, n}, *layer.input_quant);
      }
      if (packed_mode_ && layer.packed) {
        stream_.wait();  // the GEMM reads what oneDNN wrote
        GemmArgs args;
        args.x = static_cast<const float*>(layer_input.get_data_handle());
        args.x_stride = layer.in;
        args.m = rows;
        args.y = static_cast<float*>(layer.dst.get_data_handle());
        args.y_stride = layer.out;
        args.activations = activations_;
        args.epilogue.out_shift = absl::Span<const float>(
            static_cast<const float*>(layer.bias.get_data_handle()), layer.out);
        args.epilogue.post_op = l + 1 < layers_.size() ? GemmPostOp::kRelu : GemmPostOp::kNone;
        const absl::Status status = PackedGemm(layer.packed_weights, args);
        if (!status.ok()) return Annotate(status, absl::StrCat("packed layer '", layer.weight_name, "'"));
      } else {
        layer.primitive.execute(stream_, {{DNNL_ARG_SRC, layer_input},
                                          {DNNL_ARG_WEIGHTS, layer.weights},
                                          {DNNL_ARG_BIAS, layer.bias},
                                          {DNNL_ARG_DST, layer.dst}});
      }
      layer_input = layer.dst;
    }
    softmax_.execute(stream_, {{DNNL_ARG_SRC, layer_input}, {DNNL_ARG_DST, probabilities_}});
    stream_.wait();
    std::memcpy(probabilities, probabilities_.get_data_handle(), rows * classes * sizeof(float));
  } catch (const dnnl::error& e) {
    return DnnlError(e, "running the MLP forward pass");
  }
  return absl::OkStatus();
}

absl::Status MlpNetwork::UsePackedWeights(const std::vector<PackedParam>& params,
                                          GemmActivations activations) {
  QB_RETURN_IF_ERROR(CheckMlpParams(spec_, *params_));
  // Pack everything first: an error leaves the network as it was.
  std::vector<std::unique_ptr<PackedMatrix>> packed(layers_.size());
  for (const PackedParam& p : params) {
    size_t l = 0;
    while (l < layers_.size() && layers_[l].weight_name != p.param) ++l;
    if (l == layers_.size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "UsePackedWeights: '", p.param, "' is not a weight of the ", MlpSpecToString(spec_),
          " MLP (fc1.weight .. ", layers_.back().weight_name, ")"));
    }
    if (packed[l] != nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("UsePackedWeights: parameter '", p.param, "' is listed twice"));
    }
    if (p.tensor == nullptr) {
      return absl::InvalidArgumentError(
          absl::StrCat("UsePackedWeights: parameter '", p.param, "' has no QuantizedTensor"));
    }
    PackRequest request;
    request.name = p.param;
    request.shape = {layers_[l].out, layers_[l].in};
    request.bits = p.bits;
    QB_ASSIGN_OR_RETURN(PackedMatrix m, PackQuantizedRows(*p.tensor, request));
    packed[l] = std::make_unique<PackedMatrix>(std::move(m));
  }
  for (size_t l = 0; l < layers_.size(); ++l) {
    layers_[l].packed = packed[l] != nullptr;
    layers_[l].packed_weights = packed[l] != nullptr ? std::move(*packed[l]) : PackedMatrix();
  }
  activations_ = activations;
  packed_mode_ = true;
  return absl::OkStatus();
}

void MlpNetwork::UseSimulatedWeights() { packed_mode_ = false; }

int64_t MlpNetwork::packed_weight_bytes() const {
  if (!packed_mode_) return 0;
  int64_t bytes = 0;
  for (const Layer& layer : layers_) {
    if (layer.packed) bytes += layer.packed_weights.StorageBytes();
  }
  return bytes;
}

}  // namespace quantbench
