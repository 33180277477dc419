#include "experiments/learned_rounding_cell.h"

#include <chrono>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "kernels/status_macros.h"

namespace quantbench {

absl::StatusOr<const LayerGramCache::Entry*> LayerGramCache::Get(int64_t images,
                                                                 const std::function<void(const std::string&)>& log) {
  const int64_t n = images > 0 ? std::min(images, calibration_.count) : calibration_.count;
  auto it = entries_.find(n);
  if (it != entries_.end()) return &it->second;
  const auto start = std::chrono::steady_clock::now();
  // fp32 inputs: the symmetric variant. Activation quantization comes back on even on error.
  if (!activations_.empty()) QB_RETURN_IF_ERROR(network_.SetActivationQuantization({}));
  absl::StatusOr<std::map<std::string, LayerGram>> grams =
      CollectLayerGrams(network_, graph_, calibration_, n, batch_, {});
  if (!activations_.empty()) QB_RETURN_IF_ERROR(network_.SetActivationQuantization(activations_));
  QB_RETURN_IF_ERROR(Annotate(grams.status(), "learned_rounding: collecting the layer Grams"));
  Entry entry;
  entry.grams = *std::move(grams);
  entry.images = n;
  entry.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (log) {
    log(absl::StrFormat("learned rounding: Grams of %d layers from %d images in %.1f s", entry.grams.size(), n,
                        entry.seconds));
  }
  return &entries_.emplace(n, std::move(entry)).first->second;
}

LearnedRoundingOptions LearnedRoundingOptionsFrom(const LearnedRounding& spec) {
  // config.cc fills every default, so these are the values the result records.
  LearnedRoundingOptions o;
  o.iterations = spec.iterations();
  o.learning_rate = spec.learning_rate();
  o.regularization = spec.regularization();
  o.beta_start = spec.beta_start();
  o.beta_end = spec.beta_end();
  o.warmup = spec.warmup();
  return o;
}

absl::StatusOr<QuantizedTensor> LearnedRoundingQuantizer::Quantize(const WeightView& w, int bits) const {
  QB_ASSIGN_OR_RETURN(QuantizedTensor q, base_.Quantize(w, bits));
  const std::string layer =
      absl::EndsWith(w.name, ".weight") ? w.name.substr(0, w.name.size() - 7) : std::string(w.name);
  auto it = grams_.find(layer);
  if (it == grams_.end()) {
    return absl::FailedPreconditionError(absl::StrCat("learned_rounding: no input Gram for ", w.name,
                                                      " (only conv and dense layers have one)"));
  }
  if (q.kind != CodeKind::kUniform) {
    return absl::FailedPreconditionError(
        absl::StrCat("learned_rounding: the quantizer's grid for ", w.name,
                     " is not uniform (needs a linear / adjustable_threshold style grid)"));
  }
  const LayerGram& g = it->second;
  const int64_t rows = w.rows(), cols = w.row_size();
  if (g.cols != cols || rows % g.groups != 0) {
    return absl::InternalError(absl::StrCat("learned_rounding: Gram of ", layer, " is ", g.groups, " x ", g.cols,
                                            " for a weight of ", rows, " x ", cols));
  }
  std::vector<float> step(rows), zero(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t t = q.num_tables == 1 ? 0 : r;
    step[r] = q.scale[t];
    zero[r] = 0.5f * static_cast<float>(q.zero_point_x2[t]);
  }
  RoundingProblem p;
  p.rows = rows;
  p.cols = cols;
  p.weights = w.values;
  p.step = step;
  p.zero = zero;
  p.levels = q.levels_per_table;
  p.groups = g.groups;
  p.gram = g.gram;
  absl::StatusOr<RoundingResult> r = LearnRounding(p, options_);
  QB_RETURN_IF_ERROR(Annotate(r.status(), absl::StrCat("learned_rounding of ", w.name)));
  for (int64_t i = 0; i < rows * cols; ++i) {
    const int64_t t = q.num_tables == 1 ? 0 : i / cols;
    q.codes[i] = r->codes[i];
    q.values[i] = q.codebook[t * q.levels_per_table + r->codes[i]];
  }
  std::lock_guard<std::mutex> lock(mu_);
  seconds_ += r->seconds;
  layers_.push_back({{"layer", layer},
                     {"bits", bits},
                     {"rows", rows},
                     {"cols", cols},
                     {"groups", g.groups},
                     {"loss_nearest", r->loss_nearest},
                     {"loss_learned", r->loss_learned},
                     {"loss_ratio", r->loss_nearest > 0 ? r->loss_learned / r->loss_nearest : 1.0},
                     {"flipped_vs_nearest", static_cast<double>(r->flipped) / (rows * cols)},
                     {"undecided_before_hard_rounding", r->undecided},
                     {"seconds", r->seconds}});
  return q;
}

nlohmann::json LearnedRoundingQuantizer::layers() const {
  std::lock_guard<std::mutex> lock(mu_);
  return layers_;
}

double LearnedRoundingQuantizer::optimisation_seconds() const {
  std::lock_guard<std::mutex> lock(mu_);
  return seconds_;
}

}  // namespace quantbench
