#include "training/optimizer.h"

#include <cmath>
#include <set>
#include <utility>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// The arithmetic below mirrors PyTorch 1.13's single-tensor CPU kernels operation by
// operation, in float with the same scalar casts (hyper-parameters combined in double first
// where torch combines Python floats), so the two agree to rounding and a recipe means the
// same thing in both.

absl::Status CheckFinite(const char* field, double value) {
  if (!std::isfinite(value)) {
    return absl::InvalidArgumentError(absl::StrCat(field, ": ", value, " is not finite"));
  }
  return absl::OkStatus();
}

absl::Status CheckSpec(const OptimizerSpec& spec) {
  for (const auto& [field, value] : {std::pair<const char*, float>{"momentum", spec.momentum},
                                     {"beta1", spec.beta1},
                                     {"beta2", spec.beta2},
                                     {"eps", spec.eps},
                                     {"weight_decay", spec.weight_decay},
                                     {"clip_norm", spec.clip_norm}}) {
    QB_RETURN_IF_ERROR(CheckFinite(field, value));
  }
  if (spec.weight_decay < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("weight_decay: ", spec.weight_decay, " is negative"));
  }
  if (spec.clip_norm < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("clip_norm: ", spec.clip_norm, " is negative (0 disables clipping)"));
  }
  if (spec.kind == OptimizerSpec::kSgd) {
    if (spec.momentum < 0 || spec.momentum >= 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("momentum: ", spec.momentum, " is outside [0, 1)"));
    }
    if (spec.nesterov && spec.momentum == 0) {
      return absl::InvalidArgumentError("nesterov: needs a positive momentum");
    }
    if (spec.decoupled_weight_decay) {
      return absl::InvalidArgumentError(
          "decoupled_weight_decay: only Adam has a decoupled (AdamW) decay");
    }
    return absl::OkStatus();
  }
  if (spec.kind != OptimizerSpec::kAdam) {
    return absl::InvalidArgumentError(
        absl::StrCat("kind: unknown optimizer kind ", static_cast<int>(spec.kind)));
  }
  if (spec.beta1 < 0 || spec.beta1 >= 1) {
    return absl::InvalidArgumentError(absl::StrCat("beta1: ", spec.beta1, " is outside [0, 1)"));
  }
  if (spec.beta2 < 0 || spec.beta2 >= 1) {
    return absl::InvalidArgumentError(absl::StrCat("beta2: ", spec.beta2, " is outside [0, 1)"));
  }
  if (spec.eps < 0) {
    return absl::InvalidArgumentError(absl::StrCat("eps: ", spec.eps, " is negative"));
  }
  return absl::OkStatus();
}

// What SGD and Adam share: argument checks, global-norm clipping and the state.
class OptimizerBase : public Optimizer {
 public:
  explicit OptimizerBase(const OptimizerSpec& spec) : spec_(spec) {}

  void Reset() override { state_ = OptimizerState(); }
  const OptimizerState& state() const override { return state_; }

  absl::Status SetState(OptimizerState state) override {
    if (state.steps < 0) {
      return absl::InvalidArgumentError(absl::StrCat("optimizer state: ", state.steps, " steps"));
    }
    for (const auto& [name, buffer] : state.buffers) {
      if (buffers_per_value() == 0) {
        return absl::InvalidArgumentError(
            absl::StrCat("optimizer state: buffer '", name,
                         "' for an optimizer without state (SGD, momentum 0)"));
      }
      if (buffer.size() % buffers_per_value() != 0) {
        return absl::InvalidArgumentError(absl::StrCat("optimizer state: buffer '", name, "' has ",
                                                       buffer.size(), " values, not a multiple of ",
                                                       buffers_per_value()));
      }
    }
    state_ = std::move(state);
    return absl::OkStatus();
  }

  absl::Status Step(float lr, absl::Span<const TrainableTensor> tensors) override {
    QB_RETURN_IF_ERROR(CheckStep(lr, tensors));
    ++state_.steps;
    const float grad_scale = ClipScale(tensors);
    for (const TrainableTensor& t : tensors) Update(lr, grad_scale, t);
    return absl::OkStatus();
  }

 protected:
  // Floats of state per value of a tensor (SGD: velocity; Adam: m and s).
  virtual size_t buffers_per_value() const = 0;
  // Updates one tensor; the gradient is grad * grad_scale (clipping).
  virtual void Update(float lr, float grad_scale, const TrainableTensor& t) = 0;

  // The tensor's buffer, zero-filled (value-initialised) when it is new.
  std::vector<float>& Buffer(const TrainableTensor& t, bool* created) {
    auto [it, inserted] = state_.buffers.try_emplace(t.name);
    if (inserted) it->second.assign(t.values.size() * buffers_per_value(), 0.0f);
    *created = inserted;
    return it->second;
  }

  const OptimizerSpec spec_;
  OptimizerState state_;

 private:
  // Everything is checked before anything changes, so a failed step leaves no half update.
  absl::Status CheckStep(float lr, absl::Span<const TrainableTensor> tensors) const {
    if (!std::isfinite(lr) || lr < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("learning rate ", lr, " is not a finite value >= 0"));
    }
    std::set<std::string> names;
    for (const TrainableTensor& t : tensors) {
      if (t.name.empty()) return absl::InvalidArgumentError("a trainable tensor has an empty name");
      if (!names.insert(t.name).second) {
        return absl::InvalidArgumentError(
            absl::StrCat("trainable tensor '", t.name, "' appears twice in one step"));
      }
      if (t.grad.size() != t.values.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("trainable tensor '", t.name, "': ", t.grad.size(),
                         " gradient values for ", t.values.size(), " values"));
      }
      auto it = state_.buffers.find(t.name);
      if (it != state_.buffers.end() &&
          it->second.size() != t.values.size() * buffers_per_value()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "trainable tensor '", t.name, "' has ", t.values.size(),
            " values but its optimizer state holds ", it->second.size() / buffers_per_value(),
            " (a tensor changed size between steps)"));
      }
    }
    return absl::OkStatus();
  }

  // torch.nn.utils.clip_grad_norm_: coefficient max_norm / (total_norm + 1e-6), clamped to 1.
  float ClipScale(absl::Span<const TrainableTensor> tensors) const {
    if (spec_.clip_norm <= 0) return 1.0f;
    double sum_squares = 0;
    for (const TrainableTensor& t : tensors) {
      for (float g : t.grad) sum_squares += static_cast<double>(g) * g;
    }
    const float total_norm = static_cast<float>(std::sqrt(sum_squares));
    const float coefficient = spec_.clip_norm / (total_norm + 1e-6f);
    return coefficient < 1.0f ? coefficient : 1.0f;
  }
};

class Sgd final : public OptimizerBase {
 public:
  using OptimizerBase::OptimizerBase;

 private:
  size_t buffers_per_value() const override { return spec_.momentum != 0 ? 1 : 0; }

  void Update(float lr, float grad_scale, const TrainableTensor& t) override {
    const float decay = t.decay ? spec_.weight_decay : 0.0f;
    const float momentum = spec_.momentum;
    bool first = true;
    float* velocity = momentum != 0 ? Buffer(t, &first).data() : nullptr;
    for (size_t i = 0; i < t.values.size(); ++i) {
      float d = t.grad[i] * grad_scale;
      if (decay != 0) d = d + decay * t.values[i];
      if (velocity != nullptr) {
        // torch: the first step copies the gradient into the buffer (no (1 - dampening)).
        velocity[i] = first ? d : velocity[i] * momentum + d;
        d = spec_.nesterov ? d + momentum * velocity[i] : velocity[i];
      }
      t.values[i] = t.values[i] + (-lr) * d;
    }
  }
};

class Adam final : public OptimizerBase {
 public:
  using OptimizerBase::OptimizerBase;

 private:
  size_t buffers_per_value() const override { return 2; }

  void Update(float lr, float grad_scale, const TrainableTensor& t) override {
    const size_t n = t.values.size();
    bool created = false;
    std::vector<float>& buffer = Buffer(t, &created);
    float* m = buffer.data();
    float* s = buffer.data() + n;
    const double beta1 = spec_.beta1;
    const double beta2 = spec_.beta2;
    const auto step = static_cast<double>(state_.steps);
    const float step_size = static_cast<float>(lr / (1.0 - std::pow(beta1, step)));
    const float bias_correction2_sqrt = static_cast<float>(std::sqrt(1.0 - std::pow(beta2, step)));
    const float one_minus_beta1 = static_cast<float>(1.0 - beta1);
    const float one_minus_beta2 = static_cast<float>(1.0 - beta2);
    const bool decay = t.decay && spec_.weight_decay != 0;
    const float coupled_decay = decay && !spec_.decoupled_weight_decay ? spec_.weight_decay : 0.0f;
    const float decoupled_factor =
        static_cast<float>(1.0 - static_cast<double>(lr) * static_cast<double>(spec_.weight_decay));
    for (size_t i = 0; i < n; ++i) {
      if (decay && spec_.decoupled_weight_decay) t.values[i] = t.values[i] * decoupled_factor;
      float g = t.grad[i] * grad_scale;
      if (coupled_decay != 0) g = g + coupled_decay * t.values[i];
      m[i] = m[i] * spec_.beta1;
      m[i] = m[i] + one_minus_beta1 * g;
      s[i] = s[i] * spec_.beta2;
      s[i] = s[i] + one_minus_beta2 * g * g;
      const float denom = std::sqrt(s[i]) / bias_correction2_sqrt + spec_.eps;
      t.values[i] = t.values[i] + (-step_size) * m[i] / denom;
    }
  }
};

}  // namespace

absl::StatusOr<std::unique_ptr<Optimizer>> Optimizer::Create(const OptimizerSpec& spec) {
  QB_RETURN_IF_ERROR(CheckSpec(spec));
  if (spec.kind == OptimizerSpec::kSgd) return std::unique_ptr<Optimizer>(new Sgd(spec));
  return std::unique_ptr<Optimizer>(new Adam(spec));
}

}  // namespace quantbench
