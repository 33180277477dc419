#include "training/learned_rounding.h"

#include <Eigen/Core>

#include "oneapi/dnnl/dnnl.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <memory>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"
#include "training/optimizer.h"

namespace quantbench {
namespace {

using RowMatrix = Eigen::Matrix<float, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// Where each weight sits on its row's grid: the code below it, the fraction above it, and
// whether rounding up is possible at all (floor inside 0 .. levels − 2). Weights past a grid
// end (MSE clipping clips some) keep that end whatever h says.
struct GridPosition {
  std::vector<int32_t> floor;
  std::vector<float> frac;
  std::vector<uint8_t> active;
  int64_t active_count = 0;
};

GridPosition Locate(const RoundingProblem& p) {
  GridPosition g;
  const int64_t n = p.rows * p.cols;
  g.floor.resize(n);
  g.frac.resize(n);
  g.active.resize(n);
  for (int64_t r = 0; r < p.rows; ++r) {
    const double s = p.step[r], z = p.zero[r];
    for (int64_t c = 0; c < p.cols; ++c) {
      const int64_t i = r * p.cols + c;
      if (!(s > 0)) {  // all-zero row: one level, nothing to learn
        g.floor[i] = static_cast<int32_t>(std::clamp<double>(std::round(z), 0, p.levels - 1));
        continue;
      }
      const double x = p.weights[i] / s + z;
      const double f = std::floor(x);
      if (f < 0) {
        g.floor[i] = 0;
      } else if (f > p.levels - 2) {
        g.floor[i] = static_cast<int32_t>(p.levels - 1);
      } else {
        g.floor[i] = static_cast<int32_t>(f);
        g.frac[i] = static_cast<float>(x - f);
        g.active[i] = 1;
        ++g.active_count;
      }
    }
  }
  return g;
}

// Reconstruction of D (rows × cols) per group; with dg, also D·G (for the gradient).
double GroupedQuadraticForm(const RoundingProblem& p, const RowMatrix& d, RowMatrix* dg) {
  const int64_t rows_per_group = p.rows / p.groups;
  double total = 0.0;
  if (dg != nullptr) dg->resize(p.rows, p.cols);
  for (int64_t g = 0; g < p.groups; ++g) {
    Eigen::Map<const Eigen::MatrixXf> gram(p.gram.data() + g * p.cols * p.cols, p.cols, p.cols);
    RowMatrix block(rows_per_group, p.cols);
    // The one costly product of a step (rows x K x K): oneDNN's sgemm dispatches to the CPU's
    // widest vectors at run time (the build targets x86-64-v2, where Eigen would use SSE only).
    // Small blocks (depthwise 3x3: K = 9) stay with Eigen, cheaper than a library call.
    const bool large = p.cols >= 32;
    if (!large || dnnl_sgemm('N', 'N', rows_per_group, p.cols, p.cols, 1.0f, d.data() + g * rows_per_group * p.cols,
                             p.cols, gram.data(), p.cols, 0.0f, block.data(), p.cols) != dnnl_success) {
      block.noalias() = d.middleRows(g * rows_per_group, rows_per_group) * gram;
    }
    total += static_cast<double>(block.cwiseProduct(d.middleRows(g * rows_per_group, rows_per_group)).sum());
    if (dg != nullptr) dg->middleRows(g * rows_per_group, rows_per_group) = block;
  }
  return total;
}

RowMatrix Difference(const RoundingProblem& p, absl::Span<const float> quantized) {
  RowMatrix d(p.rows, p.cols);
  for (int64_t i = 0; i < p.rows * p.cols; ++i) d.data()[i] = quantized[i] - p.weights[i];
  return d;
}

std::vector<float> Dequantize(const RoundingProblem& p, absl::Span<const int32_t> codes) {
  std::vector<float> out(codes.size());
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const int64_t i = r * p.cols + c;
      out[i] = static_cast<float>(static_cast<double>(p.step[r]) * (codes[i] - static_cast<double>(p.zero[r])));
    }
  }
  return out;
}

absl::Status CheckProblem(const RoundingProblem& p) {
  if (p.rows < 1 || p.cols < 1) return absl::InvalidArgumentError("learned rounding: empty weight tensor");
  if (static_cast<int64_t>(p.weights.size()) != p.rows * p.cols) {
    return absl::InvalidArgumentError(absl::StrCat("learned rounding: ", p.weights.size(), " weights for ", p.rows,
                                                   " x ", p.cols));
  }
  if (static_cast<int64_t>(p.step.size()) != p.rows || static_cast<int64_t>(p.zero.size()) != p.rows) {
    return absl::InvalidArgumentError("learned rounding: step and zero need one value per row");
  }
  if (p.levels < 1) return absl::InvalidArgumentError("learned rounding: levels must be >= 1");
  if (p.groups < 1 || p.rows % p.groups != 0) {
    return absl::InvalidArgumentError(absl::StrCat("learned rounding: ", p.rows, " rows do not split into ",
                                                   p.groups, " groups"));
  }
  if (static_cast<int64_t>(p.gram.size()) != p.groups * p.cols * p.cols) {
    return absl::InvalidArgumentError(absl::StrCat("learned rounding: Gram has ", p.gram.size(), " values, expected ",
                                                   p.groups, " x ", p.cols, " x ", p.cols));
  }
  for (float v : p.weights) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("learned rounding: non-finite weight");
  }
  for (float v : p.gram) {
    if (!std::isfinite(v)) return absl::InvalidArgumentError("learned rounding: non-finite Gram entry");
  }
  for (int64_t r = 0; r < p.rows; ++r) {
    if (!std::isfinite(p.step[r]) || p.step[r] < 0 || !std::isfinite(p.zero[r])) {
      return absl::InvalidArgumentError(absl::StrCat("learned rounding: bad grid in row ", r));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status CheckLearnedRoundingOptions(const LearnedRoundingOptions& o) {
  if (o.iterations < 1) return absl::InvalidArgumentError(absl::StrCat("iterations: ", o.iterations, " is below 1"));
  if (!(o.learning_rate > 0)) return absl::InvalidArgumentError("learning_rate: must be positive");
  if (!(o.regularization >= 0)) return absl::InvalidArgumentError("regularization: must be >= 0");
  if (!(o.beta_end >= 1) || !(o.beta_start >= o.beta_end)) {
    return absl::InvalidArgumentError(
        absl::StrCat("beta_start / beta_end: need beta_start >= beta_end >= 1, got ", o.beta_start, " / ", o.beta_end));
  }
  if (!(o.warmup >= 0 && o.warmup < 1)) return absl::InvalidArgumentError("warmup: must be in [0, 1)");
  if (!(o.zeta > 1) || !(o.gamma < 0)) return absl::InvalidArgumentError("zeta / gamma: need zeta > 1 and gamma < 0");
  return absl::OkStatus();
}

float RectifiedSigmoid(float v, float zeta, float gamma) {
  const float sig = 1.0f / (1.0f + std::exp(-v));
  return std::clamp(sig * (zeta - gamma) + gamma, 0.0f, 1.0f);
}

float RectifiedSigmoidGradient(float v, float zeta, float gamma) {
  const float sig = 1.0f / (1.0f + std::exp(-v));
  const float raw = sig * (zeta - gamma) + gamma;
  return raw <= 0.0f || raw >= 1.0f ? 0.0f : sig * (1.0f - sig) * (zeta - gamma);
}

float RectifiedSigmoidInverse(float frac, float zeta, float gamma) {
  const double sig = (std::clamp(frac, 0.0f, 1.0f) - static_cast<double>(gamma)) / (zeta - static_cast<double>(gamma));
  return static_cast<float>(std::log(sig / (1.0 - sig)));
}

double RoundingRegularizer(double h, double beta) { return 1.0 - std::pow(std::abs(2.0 * h - 1.0), beta); }

double RoundingRegularizerGradient(double h, double beta) {
  const double u = 2.0 * h - 1.0;
  if (u == 0.0) return 0.0;
  return -2.0 * beta * std::pow(std::abs(u), beta - 1.0) * (u > 0 ? 1.0 : -1.0);
}

AnnealedBeta BetaAt(int iteration, const LearnedRoundingOptions& o) {
  const int warm = static_cast<int>(o.warmup * o.iterations);
  if (iteration < warm) return {};
  const int span = std::max(1, o.iterations - 1 - warm);
  const double t = std::min(1.0, static_cast<double>(iteration - warm) / span);
  return {true, o.beta_start + (o.beta_end - o.beta_start) * t};
}

double ReconstructionLoss(const RoundingProblem& problem, absl::Span<const float> quantized) {
  return GroupedQuadraticForm(problem, Difference(problem, quantized), nullptr);
}

std::vector<int32_t> NearestCodes(const RoundingProblem& p) {
  std::vector<int32_t> codes(p.rows * p.cols);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const int64_t i = r * p.cols + c;
      const double x = p.step[r] > 0 ? p.weights[i] / static_cast<double>(p.step[r]) + p.zero[r] : p.zero[r];
      codes[i] = static_cast<int32_t>(std::clamp<double>(std::round(x), 0, p.levels - 1));
    }
  }
  return codes;
}

namespace {

RoundingObjective Objective(const RoundingProblem& p, const GridPosition& pos, absl::Span<const float> v,
                            double loss_nearest, const AnnealedBeta& beta, const LearnedRoundingOptions& o,
                            std::vector<float>* grad) {
  const int64_t n = p.rows * p.cols;
  std::vector<float> soft(n), h(n);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const int64_t i = r * p.cols + c;
      h[i] = pos.active[i] ? RectifiedSigmoid(v[i], o.zeta, o.gamma) : 0.0f;
      soft[i] = static_cast<float>(static_cast<double>(p.step[r]) * (pos.floor[i] + h[i] - static_cast<double>(p.zero[r])));
    }
  }
  RowMatrix dg;
  const double scale = loss_nearest > 0 ? 1.0 / loss_nearest : 1.0;
  RoundingObjective out;
  out.reconstruction = scale * GroupedQuadraticForm(p, Difference(p, soft), grad ? &dg : nullptr);
  const double reg_weight = pos.active_count > 0 ? o.regularization / static_cast<double>(pos.active_count) : 0.0;
  double reg = 0.0;
  if (grad != nullptr) grad->assign(n, 0.0f);
  for (int64_t r = 0; r < p.rows; ++r) {
    for (int64_t c = 0; c < p.cols; ++c) {
      const int64_t i = r * p.cols + c;
      if (!pos.active[i]) continue;
      if (beta.active) reg += RoundingRegularizer(h[i], beta.beta);
      if (grad == nullptr) continue;
      double dh = 2.0 * scale * dg.data()[i] * p.step[r];
      if (beta.active) dh += o.regularization / pos.active_count * RoundingRegularizerGradient(h[i], beta.beta);
      (*grad)[i] = static_cast<float>(dh * RectifiedSigmoidGradient(v[i], o.zeta, o.gamma));
    }
  }
  out.regularizer = pos.active_count > 0 ? reg / pos.active_count : 0.0;
  out.total = out.reconstruction + reg_weight * reg;
  return out;
}

}  // namespace

RoundingObjective EvaluateRoundingObjective(const RoundingProblem& problem, absl::Span<const float> v,
                                            double loss_nearest, const AnnealedBeta& beta,
                                            const LearnedRoundingOptions& options, std::vector<float>* grad) {
  return Objective(problem, Locate(problem), v, loss_nearest, beta, options, grad);
}

absl::StatusOr<RoundingResult> LearnRounding(const RoundingProblem& p, const LearnedRoundingOptions& o) {
  const auto start = std::chrono::steady_clock::now();
  QB_RETURN_IF_ERROR(CheckProblem(p));
  QB_RETURN_IF_ERROR(CheckLearnedRoundingOptions(o));
  const int64_t n = p.rows * p.cols;
  RoundingResult result;
  result.nearest = NearestCodes(p);
  result.loss_nearest = ReconstructionLoss(p, Dequantize(p, result.nearest));
  const GridPosition pos = Locate(p);
  std::vector<float> v(n, 0.0f), grad;
  for (int64_t i = 0; i < n; ++i) {
    if (pos.active[i]) v[i] = RectifiedSigmoidInverse(pos.frac[i], o.zeta, o.gamma);
  }
  if (result.loss_nearest > 0 && pos.active_count > 0) {
    OptimizerSpec adam;
    adam.kind = OptimizerSpec::kAdam;
    QB_ASSIGN_OR_RETURN(std::unique_ptr<Optimizer> optimizer, Optimizer::Create(adam));
    for (int it = 0; it < o.iterations; ++it) {
      const AnnealedBeta beta = BetaAt(it, o);
      const RoundingObjective obj = Objective(p, pos, v, result.loss_nearest, beta, o, &grad);
      if (it == o.iterations - 1) {
        result.loss_soft = obj.reconstruction * result.loss_nearest;
        result.regularizer_final = obj.regularizer;
      }
      const TrainableTensor tensor{"v", absl::MakeSpan(v), grad, false};
      QB_RETURN_IF_ERROR(optimizer->Step(o.learning_rate, {tensor}));
    }
  }
  result.codes.resize(n);
  for (int64_t i = 0; i < n; ++i) {
    if (!pos.active[i]) {
      result.codes[i] = pos.floor[i];
      continue;
    }
    const float h = RectifiedSigmoid(v[i], o.zeta, o.gamma);
    result.undecided += h > 0.01f && h < 0.99f;
    result.codes[i] = pos.floor[i] + (h >= 0.5f ? 1 : 0);
  }
  if (!(result.loss_nearest > 0)) result.codes = result.nearest;  // exact already (or nothing to learn)
  result.loss_learned = ReconstructionLoss(p, Dequantize(p, result.codes));
  for (int64_t i = 0; i < n; ++i) result.flipped += result.codes[i] != result.nearest[i];
  result.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return result;
}

}  // namespace quantbench
