// Learned rounding (AdaRound: Nagel et al., "Up or Down? Adaptive Rounding for Post-Training
// Quantization", ICML 2020): each weight of a layer is rounded up or down on its (given)
// uniform grid, the choice learnt to reconstruct the layer's fp32 output.
//
//   W~ = s · (clip(floor(W/s + z) + h(V), 0, L−1) − z)       (grid value s·(code − z))
//   h(V) = clip(sigmoid(V)·(ζ − γ) + γ, 0, 1),  ζ = 1.1, γ = −0.1  (rectified sigmoid)
//   loss = rec(W~) / rec(nearest) + λ · mean_ij (1 − |2h(V_ij) − 1|^β)
//
// V starts where h(V) = frac(W/s + z) (so W~ = W before the first step), β is annealed from
// β_start to β_end after a warm-up without the regulariser, Adam updates V, and at the end
// every weight is rounded hard (up where h ≥ 0.5).
//
// The reconstruction: without the activation function, the mean squared output error of a
// layer over all its input columns x (im2col columns of every training image) is a quadratic
// form in D = W~ − W: rec = mean_x ||D x||² = tr(D G Dᵀ) with G = mean_x x xᵀ (K × K). G is
// accumulated once (training/layer_grams.h), so every step costs one rows × K × K product
// whatever the number of images, with gradient ∂rec/∂W~ = 2 D G. Grouped and depthwise
// convolutions have one G per group (a depthwise channel: K = kh·kw).
//
// Choices where the paper leaves room (recorded in the result): the loss is normalised by the
// nearest-rounding reconstruction error and the regulariser by the weight count, so λ means
// the same in every layer whatever its scale (Adam is invariant to a common factor); weights
// whose floor already sits at a grid end (clipped) get no gradient and keep that end.
#ifndef QUANTBENCH_TRAINING_LEARNED_ROUNDING_H_
#define QUANTBENCH_TRAINING_LEARNED_ROUNDING_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

struct LearnedRoundingOptions {
  int iterations = 2000;
  float learning_rate = 1e-2f;   // Adam on V
  float regularization = 100.0f;  // λ (relative to the nearest-rounding error, see above)
  float beta_start = 20.0f;
  float beta_end = 2.0f;
  float warmup = 0.2f;           // fraction of the iterations without the regulariser
  float zeta = 1.1f;
  float gamma = -0.1f;
};

// InvalidArgument naming the field (iterations >= 1, learning_rate > 0, regularization >= 0,
// beta_start >= beta_end >= 1, warmup in [0, 1), zeta > 1, gamma < 0).
absl::Status CheckLearnedRoundingOptions(const LearnedRoundingOptions& options);

// h(V) and dh/dV (0 where the clip is active).
float RectifiedSigmoid(float v, float zeta, float gamma);
float RectifiedSigmoidGradient(float v, float zeta, float gamma);
// The V with h(V) = frac (frac in [0, 1]; the ends map to finite V that give h = 0 / 1).
float RectifiedSigmoidInverse(float frac, float zeta, float gamma);

// 1 − |2h − 1|^β and its derivative with respect to h.
double RoundingRegularizer(double h, double beta);
double RoundingRegularizerGradient(double h, double beta);

// β at `iteration` of `options.iterations`, and whether the regulariser is on: off during the
// warm-up, then β falls from beta_start to beta_end linearly in the remaining iterations.
struct AnnealedBeta {
  bool active = false;
  double beta = 0.0;
};
AnnealedBeta BetaAt(int iteration, const LearnedRoundingOptions& options);

// One layer's rounding problem. Weights are rows × cols, row-major (a conv's [out, in/g, kh, kw]
// flattened per output channel); row r lies on the grid s[r]·(code − z[r]), code in
// 0 .. levels − 1. gram holds `groups` symmetric cols × cols blocks (row r uses block
// r / (rows / groups)), each the mean of x xᵀ over that group's input columns.
struct RoundingProblem {
  int64_t rows = 0;
  int64_t cols = 0;
  absl::Span<const float> weights;
  absl::Span<const float> step;  // per row, > 0 (a zero step row is left at its nearest code)
  absl::Span<const float> zero;  // per row, in codes (zero_point_x2 / 2)
  int64_t levels = 0;
  int64_t groups = 1;
  absl::Span<const float> gram;
};

struct RoundingResult {
  std::vector<int32_t> codes;     // hard, rows × cols
  std::vector<int32_t> nearest;   // nearest-rounding codes (ties away from zero, as the grids)
  double loss_nearest = 0.0;      // rec of nearest rounding
  double loss_learned = 0.0;      // rec of the hard learned rounding
  double loss_soft = 0.0;         // rec of the soft W~ at the last step
  double regularizer_final = 0.0; // mean regulariser at the last step (β_end)
  int64_t flipped = 0;            // codes differing from nearest rounding
  int64_t undecided = 0;          // weights with h in (0.01, 0.99) before the hard rounding
  double seconds = 0.0;
};

// rec = Σ_groups tr(D_g G_g D_gᵀ) for D = quantized − weights (both rows × cols).
double ReconstructionLoss(const RoundingProblem& problem, absl::Span<const float> quantized);

// The nearest-rounding codes of a problem (code = clip(round(W/s + z)), ties away from zero).
std::vector<int32_t> NearestCodes(const RoundingProblem& problem);

// Learns the rounding. InvalidArgument naming the field for inconsistent sizes, non-finite
// values, a non-positive level count or bad options.
absl::StatusOr<RoundingResult> LearnRounding(const RoundingProblem& problem, const LearnedRoundingOptions& options);

// The loss the optimiser minimises (for tests): total, and its gradient with respect to V.
struct RoundingObjective {
  double total = 0.0;
  double reconstruction = 0.0;  // rec / rec(nearest)
  double regularizer = 0.0;     // mean, 0 when inactive
};
RoundingObjective EvaluateRoundingObjective(const RoundingProblem& problem, absl::Span<const float> v,
                                            double loss_nearest, const AnnealedBeta& beta,
                                            const LearnedRoundingOptions& options, std::vector<float>* grad);

}  // namespace quantbench

#endif  // QUANTBENCH_TRAINING_LEARNED_ROUNDING_H_
