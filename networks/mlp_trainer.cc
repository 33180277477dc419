#include "networks/mlp_trainer.h"

#include <cmath>
#include <numeric>
#include <random>
#include <vector>

#include "Eigen/Core"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// Column-major throughout: a batch of activations is (features x batch), one sample per
// column, so gathering a shuffled minibatch copies contiguous images. A ParamStore weight
// [out, in] row-major is, viewed column-major, the (in x out) matrix W^T: no copies needed.
using Matrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::ColMajor>;
using Vector = Eigen::Matrix<float, Eigen::Dynamic, 1>;
using MatrixMap = Eigen::Map<Matrix>;
using VectorMap = Eigen::Map<Vector>;

// Uniform integer in [0, bound] from a 64-bit engine, unbiased (rejection), portable.
uint64_t UniformUpTo(std::mt19937_64& engine, uint64_t bound) {
  if (bound == UINT64_MAX) return engine();
  const uint64_t range = bound + 1;
  const uint64_t threshold = (0 - range) % range;  // 2^64 mod range
  while (true) {
    const uint64_t r = engine();
    if (r >= threshold) return r % range;
  }
}

void FisherYatesShuffle(std::vector<int64_t>& order, std::mt19937_64& engine) {
  for (int64_t i = static_cast<int64_t>(order.size()) - 1; i > 0; --i) {
    const int64_t j = static_cast<int64_t>(UniformUpTo(engine, static_cast<uint64_t>(i)));
    std::swap(order[i], order[j]);
  }
}

absl::Status ValidateOptions(const SgdOptions& o) {
  if (o.epochs < 0) return absl::InvalidArgumentError(absl::StrCat("epochs = ", o.epochs, " < 0"));
  if (o.batch_size < 1) {
    return absl::InvalidArgumentError(absl::StrCat("batch_size = ", o.batch_size, " < 1"));
  }
  if (!std::isfinite(o.learning_rate) || o.learning_rate < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("learning_rate = ", o.learning_rate, " must be finite and >= 0"));
  }
  if (!std::isfinite(o.momentum) || o.momentum < 0 || o.momentum >= 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("momentum = ", o.momentum, " must be in [0, 1)"));
  }
  if (!std::isfinite(o.weight_decay) || o.weight_decay < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight_decay = ", o.weight_decay, " must be finite and >= 0"));
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TrainMlp(const MlpSpec& spec, const SgdOptions& options, const float* images,
                      const int32_t* labels, int64_t n, ParamStore* params,
                      std::function<void(int epoch, double loss, double train_acc)> on_epoch) {
  QB_RETURN_IF_ERROR(Annotate(ValidateOptions(options), "TrainMlp: bad SgdOptions"));
  if (params == nullptr) return absl::InvalidArgumentError("TrainMlp: params is null");
  if (n < 1) return absl::InvalidArgumentError(absl::StrCat("TrainMlp: n = ", n, " < 1"));
  if (images == nullptr || labels == nullptr) {
    return absl::InvalidArgumentError("TrainMlp: images or labels is null");
  }
  QB_RETURN_IF_ERROR(Annotate(CheckMlpParams(spec, *params), "TrainMlp"));
  for (int64_t i = 0; i < n; ++i) {
    if (labels[i] < 0 || labels[i] >= spec.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("TrainMlp: labels[", i, "] = ", labels[i],
                                                     " is not in [0, ", spec.num_classes, ")"));
    }
  }

  const int num_layers = MlpNumLayers(spec);
  const int64_t input_size = spec.input_size;
  std::vector<MatrixMap> wt;  // W^T of each layer, (in x out), aliasing the store
  std::vector<VectorMap> bias;
  std::vector<Matrix> wt_grad, wt_velocity;
  std::vector<Vector> bias_grad, bias_velocity;
  for (int l = 0; l < num_layers; ++l) {
    const auto [in, out] = MlpLayerDims(spec, l);
    Parameter* w = params->Find(MlpLayerName(l) + ".weight");
    Parameter* b = params->Find(MlpLayerName(l) + ".bias");
    wt.emplace_back(w->values.data(), in, out);
    bias.emplace_back(b->values.data(), out);
    wt_grad.emplace_back(in, out);
    wt_velocity.push_back(Matrix::Zero(in, out));
    bias_grad.emplace_back(out);
    bias_velocity.push_back(Vector::Zero(out));
  }

  // activations[0] is the input batch; activations[l + 1] the output of layer l (post-ReLU
  // for hidden layers, logits then probabilities for the last). delta[l]: dLoss/d(pre-act l).
  std::vector<Matrix> activations(num_layers + 1);
  std::vector<Matrix> delta(num_layers);

  std::vector<int64_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 engine(options.seed);
  constexpr double kPi = 3.14159265358979323846;

  for (int epoch = 0; epoch < options.epochs; ++epoch) {
    FisherYatesShuffle(order, engine);
    const float lr = static_cast<float>(options.learning_rate * 0.5 *
                                        (1.0 + std::cos(kPi * epoch / options.epochs)));
    double loss_sum = 0.0;
    int64_t correct = 0;

    for (int64_t start = 0; start < n; start += options.batch_size) {
      const int64_t batch = std::min<int64_t>(options.batch_size, n - start);

      // Gather the minibatch, one image per column.
      Matrix& x = activations[0];
      x.resize(input_size, batch);
      for (int64_t j = 0; j < batch; ++j) {
        x.col(j) = Eigen::Map<const Vector>(images + order[start + j] * input_size, input_size);
      }

      // Forward.
      for (int l = 0; l < num_layers; ++l) {
        Matrix& z = activations[l + 1];
        z.noalias() = wt[l].transpose() * activations[l];
        z.colwise() += bias[l];
        if (l + 1 < num_layers) z = z.cwiseMax(0.0f);
      }

      // Softmax cross-entropy; delta = (softmax - onehot) / batch.
      Matrix& logits = activations[num_layers];
      Matrix& d_out = delta[num_layers - 1];
      d_out.resize(logits.rows(), batch);
      const float inv_batch = 1.0f / static_cast<float>(batch);
      double batch_loss = 0.0;
      for (int64_t j = 0; j < batch; ++j) {
        const int label = labels[order[start + j]];
        Eigen::Index arg_max = 0;
        const float max_logit = logits.col(j).maxCoeff(&arg_max);
        if (arg_max == label) ++correct;
        auto e = d_out.col(j);
        e = (logits.col(j).array() - max_logit).exp().matrix();
        const float sum = e.sum();
        batch_loss += std::log(static_cast<double>(sum)) -
                      static_cast<double>(logits(label, j) - max_logit);
        e *= inv_batch / sum;
        e(label) -= inv_batch;
      }
      if (!std::isfinite(batch_loss)) {
        return absl::InternalError(absl::StrFormat(
            "TrainMlp: loss is not finite in epoch %d at sample %d (learning rate %g too "
            "high?)",
            epoch, start, lr));
      }
      loss_sum += batch_loss;

      // Backward.
      for (int l = num_layers - 1; l >= 0; --l) {
        wt_grad[l].noalias() = activations[l] * delta[l].transpose();
        bias_grad[l].noalias() = delta[l].rowwise().sum();
        if (l > 0) {
          delta[l - 1].noalias() = wt[l] * delta[l];
          // ReLU derivative: activations[l] is layer l-1's ReLU output.
          delta[l - 1] = (activations[l].array() > 0.0f).select(delta[l - 1], 0.0f);
        }
      }

      // SGD with classical momentum; weight decay on weights only.
      for (int l = 0; l < num_layers; ++l) {
        // Same association as torch.optim.SGD: d = g + wd * w; v = mu * v + d.
        wt_grad[l] += options.weight_decay * wt[l];
        wt_velocity[l] = options.momentum * wt_velocity[l] + wt_grad[l];
        wt[l] -= lr * wt_velocity[l];
        bias_velocity[l] = options.momentum * bias_velocity[l] + bias_grad[l];
        bias[l] -= lr * bias_velocity[l];
      }
    }
    if (on_epoch) {
      on_epoch(epoch, loss_sum / static_cast<double>(n),
               static_cast<double>(correct) / static_cast<double>(n));
    }
  }
  return absl::OkStatus();
}

std::string MlpTrainingCacheKey(const MlpSpec& spec, const SgdOptions& options,
                                uint64_t init_seed, const std::string& data_tag) {
  return absl::StrFormat(
      "mlp_trainer_v%d;spec=%s;init=he_normal_boxmuller;init_seed=%u;epochs=%d;batch=%d;"
      "lr=%.9g;momentum=%.9g;wd=%.9g;schedule=cosine_per_epoch;seed=%u;data=%s",
      kMlpTrainerVersion, MlpSpecToString(spec), init_seed, options.epochs, options.batch_size,
      options.learning_rate, options.momentum, options.weight_decay, options.seed, data_tag);
}

}  // namespace quantbench
