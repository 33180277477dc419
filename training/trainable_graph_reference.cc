#include "training/trainable_graph_reference.h"

#include <algorithm>
#include <vector>

#include "kernels/status_macros.h"
#include "training/layer_reference.h"
#include "training/trainable_graph_base.h"

namespace quantbench {
namespace {

using Buffer = std::vector<float>;

void AddInto(const Buffer& src, Buffer* dst) {
  for (size_t i = 0; i < src.size(); ++i) (*dst)[i] += src[i];
}

class ReferenceTrainableGraph : public TrainableGraphBase {
 public:
  ReferenceTrainableGraph(const Graph& graph, const TrainableGraphOptions& options)
      : TrainableGraphBase(graph, options) {
    const size_t n = graph_.layers.size();
    values_.resize(n);
    hooked_.resize(n);
    grads_.resize(n);
    hooked_grads_.resize(n);
    bn_mean_.resize(n);
    bn_var_.resize(n);
  }

 protected:
  absl::Status RunForward(absl::Span<const float> input, int batch, Phase phase,
                          absl::Span<float> logits) override {
    batch_ = batch;
    values_[0].assign(input.begin(), input.end());
    QB_RETURN_IF_ERROR(ApplyHook(0));
    for (int i = 1; i < static_cast<int>(graph_.layers.size()); ++i) {
      QB_RETURN_IF_ERROR(LayerForward(i, phase));
      QB_RETURN_IF_ERROR(ApplyHook(i));
    }
    std::copy(values_[graph_.output].begin(), values_[graph_.output].end(), logits.begin());
    return absl::OkStatus();
  }

  absl::Status RunBackward(absl::Span<const float> dlogits, ParamGradients* grads,
                           absl::Span<float> dinput) override {
    const int n = static_cast<int>(graph_.layers.size());
    for (int v = 0; v < n; ++v) {
      grads_[v].assign(values_[v].size(), 0.0f);
      if (value_hook(v)) hooked_grads_[v].assign(values_[v].size(), 0.0f);
    }
    std::copy(dlogits.begin(), dlogits.end(), grads_[graph_.output].begin());
    for (int i = n - 1; i >= 1; --i) {
      QB_RETURN_IF_ERROR(HookBackward(i));
      QB_RETURN_IF_ERROR(LayerBackward(i, grads));
    }
    QB_RETURN_IF_ERROR(HookBackward(0));
    if (!dinput.empty()) std::copy(grads_[0].begin(), grads_[0].end(), dinput.begin());
    return absl::OkStatus();
  }

 private:
  // What layer i reads as input `which`: the hooked value for sites.
  const Buffer& In(int i, int which = 0) const {
    const int v = graph_.layers[i].inputs[which];
    return is_site(i) && value_hook(v) ? hooked_[v] : values_[v];
  }
  // Where layer i's input-gradient contribution goes.
  Buffer* InGrad(int i, int which = 0) {
    const int v = graph_.layers[i].inputs[which];
    return is_site(i) && value_hook(v) ? &hooked_grads_[v] : &grads_[v];
  }

  absl::Status ApplyHook(int v) {
    ActivationHook* hook = value_hook(v);
    if (hook == nullptr) return absl::OkStatus();
    hooked_[v].resize(values_[v].size());
    return hook->Forward(values_[v], absl::MakeSpan(hooked_[v]));
  }

  absl::Status HookBackward(int v) {
    ActivationHook* hook = value_hook(v);
    if (hook == nullptr) return absl::OkStatus();
    scratch_.resize(values_[v].size());
    QB_RETURN_IF_ERROR(hook->Backward(hooked_grads_[v], absl::MakeSpan(scratch_)));
    AddInto(scratch_, &grads_[v]);
    return absl::OkStatus();
  }

  absl::Status LayerForward(int i, Phase phase) {
    const Layer& l = graph_.layers[i];
    const TensorShape& in = input_shape(i);
    const LayerParams& p = layer_params(i);
    const Buffer& x = In(i);
    Buffer& y = values_[i];
    y.assign(static_cast<size_t>(batch_) * l.shape.NumElements(), 0.0f);
    const int64_t spatial = static_cast<int64_t>(in.h) * in.w;
    switch (l.kind) {
      case LayerKind::kInput:
        return absl::InternalError("second Input");
      case LayerKind::kConv:
        ConvForwardRef(l, in, batch_, x.data(), p.weight, p.bias, y.data());
        break;
      case LayerKind::kBatchNorm:
        if (phase == Phase::kTrain) {
          bn_mean_[i].resize(in.c);
          bn_var_[i].resize(in.c);
          BatchNormTrainForwardRef(batch_, in.c, spatial, l.eps, x.data(), p.weight, p.bias,
                                   y.data(), bn_mean_[i].data(), bn_var_[i].data());
          QB_RETURN_IF_ERROR(BatchNormUpdateRunningStatsRef(
              in.c, batch_ * spatial, options().batchnorm_momentum, bn_mean_[i].data(),
              bn_var_[i].data(), p.running_mean, p.running_var));
        } else {
          BatchNormEvalForwardRef<float>(batch_, in.c, spatial, l.eps, x.data(), p.weight,
                                         p.bias, p.running_mean, p.running_var, y.data());
        }
        break;
      case LayerKind::kRelu:
        ReluForwardRef<float>(y.size(), x.data(), y.data());
        break;
      case LayerKind::kRelu6:
        Relu6ForwardRef<float>(y.size(), x.data(), y.data());
        break;
      case LayerKind::kAdd: {
        const Buffer& x2 = In(i, 1);
        for (size_t j = 0; j < y.size(); ++j) y[j] = x[j] + x2[j];
        break;
      }
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool:
        PoolForwardRef(l, in, batch_, x.data(), y.data());
        break;
      case LayerKind::kGlobalAvgPool:
        GlobalAvgPoolForwardRef(batch_, in.c, spatial, x.data(), y.data());
        break;
      case LayerKind::kConcat: {
        std::vector<int> channels;
        std::vector<const float*> xs;
        for (size_t k = 0; k < l.inputs.size(); ++k) {
          channels.push_back(input_shape(i, k).c);
          xs.push_back(In(i, k).data());
        }
        ConcatForwardRef(batch_, spatial, channels, xs, y.data());
        break;
      }
      case LayerKind::kFlatten:
        y = x;
        break;
      case LayerKind::kDense:
        DenseForwardRef(batch_, in.c, l.out_channels, x.data(), p.weight, p.bias, y.data());
        break;
      case LayerKind::kPadChannels:
        PadChannelsForwardRef(batch_, in.c, spatial, l.pad_channels_before, l.pad_channels_after,
                              x.data(), y.data());
        break;
    }
    return absl::OkStatus();
  }

  absl::Status LayerBackward(int i, ParamGradients* grads) {
    const Layer& l = graph_.layers[i];
    const TensorShape& in = input_shape(i);
    const LayerParams& p = layer_params(i);
    const Buffer& x = In(i);
    const Buffer& dy = grads_[i];
    const int64_t spatial = static_cast<int64_t>(in.h) * in.w;
    scratch_.assign(x.size(), 0.0f);
    float* dx = scratch_.data();
    switch (l.kind) {
      case LayerKind::kInput:
        return absl::InternalError("second Input");
      case LayerKind::kConv:
        ConvBackwardRef(l, in, batch_, x.data(), p.weight, dy.data(), dx,
                        grads->grads[p.weight_index].data(),
                        p.bias_index >= 0 ? grads->grads[p.bias_index].data() : nullptr);
        break;
      case LayerKind::kBatchNorm:
        BatchNormTrainBackwardRef(batch_, in.c, spatial, l.eps, x.data(), p.weight,
                                  bn_mean_[i].data(), bn_var_[i].data(), dy.data(), dx,
                                  grads->grads[p.weight_index].data(),
                                  grads->grads[p.bias_index].data());
        break;
      case LayerKind::kRelu:
        ReluBackwardRef<float>(x.size(), x.data(), dy.data(), dx);
        break;
      case LayerKind::kRelu6:
        Relu6BackwardRef<float>(x.size(), x.data(), dy.data(), dx);
        break;
      case LayerKind::kAdd:
        AddInto(dy, InGrad(i, 0));
        AddInto(dy, InGrad(i, 1));
        return absl::OkStatus();
      case LayerKind::kMaxPool:
      case LayerKind::kAvgPool:
        PoolBackwardRef(l, in, batch_, x.data(), dy.data(), dx);
        break;
      case LayerKind::kGlobalAvgPool:
        GlobalAvgPoolBackwardRef(batch_, in.c, spatial, dy.data(), dx);
        break;
      case LayerKind::kConcat: {
        std::vector<int> channels;
        std::vector<Buffer> parts(l.inputs.size());
        std::vector<float*> dxs;
        for (size_t k = 0; k < l.inputs.size(); ++k) {
          channels.push_back(input_shape(i, k).c);
          parts[k].resize(values_[l.inputs[k]].size());
          dxs.push_back(parts[k].data());
        }
        ConcatBackwardRef(batch_, spatial, channels, dy.data(), dxs);
        for (size_t k = 0; k < l.inputs.size(); ++k) AddInto(parts[k], InGrad(i, k));
        return absl::OkStatus();
      }
      case LayerKind::kFlatten:
        std::copy(dy.begin(), dy.end(), scratch_.begin());
        break;
      case LayerKind::kDense:
        DenseBackwardRef(batch_, in.c, l.out_channels, x.data(), p.weight, dy.data(), dx,
                         grads->grads[p.weight_index].data(), grads->grads[p.bias_index].data());
        break;
      case LayerKind::kPadChannels:
        PadChannelsBackwardRef(batch_, in.c, spatial, l.pad_channels_before,
                               l.pad_channels_after, dy.data(), dx);
        break;
    }
    AddInto(scratch_, InGrad(i));
    return absl::OkStatus();
  }

  int batch_ = 0;
  std::vector<Buffer> values_, hooked_, grads_, hooked_grads_;
  std::vector<Buffer> bn_mean_, bn_var_;
  Buffer scratch_;
};

}  // namespace

std::unique_ptr<TrainableGraph> CreateReferenceTrainableGraph(
    const Graph& graph, const TrainableGraphOptions& options) {
  return std::make_unique<ReferenceTrainableGraph>(graph, options);
}

}  // namespace quantbench
