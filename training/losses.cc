#include "training/losses.h"

#include <cmath>
#include <vector>

#include "absl/strings/str_cat.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

// Sizes shared by every loss: `inputs` are batch x classes matrices, `gradient` the same size
// or empty (no gradient wanted).
absl::Status CheckShapes(int batch, int classes, std::initializer_list<size_t> input_sizes,
                         size_t gradient_size) {
  if (batch <= 0 || classes <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("loss: batch ", batch, " x classes ", classes, " is empty"));
  }
  const size_t expected = static_cast<size_t>(batch) * static_cast<size_t>(classes);
  for (size_t size : input_sizes) {
    if (size != expected) {
      return absl::InvalidArgumentError(
          absl::StrCat("loss: ", size, " logits for batch ", batch, " x classes ", classes));
    }
  }
  if (gradient_size != 0 && gradient_size != expected) {
    return absl::InvalidArgumentError(absl::StrCat("loss: gradient buffer of ", gradient_size,
                                                   " values for batch ", batch, " x classes ",
                                                   classes));
  }
  return absl::OkStatus();
}

// log softmax(row / T), stabilised by the row maximum.
void LogSoftmax(const float* row, int classes, double inv_temperature, double* log_probs) {
  double max = row[0] * inv_temperature;
  for (int c = 1; c < classes; ++c) max = std::fmax(max, row[c] * inv_temperature);
  double sum = 0;
  for (int c = 0; c < classes; ++c) sum += std::exp(row[c] * inv_temperature - max);
  const double log_sum = max + std::log(sum);
  for (int c = 0; c < classes; ++c) log_probs[c] = row[c] * inv_temperature - log_sum;
}

// Index of the first maximum, or -1 if the row holds a NaN.
int ArgMax(const float* row, int classes) {
  int best = 0;
  for (int c = 0; c < classes; ++c) {
    if (std::isnan(row[c])) return -1;
    if (row[c] > row[best]) best = c;
  }
  return best;
}

}  // namespace

absl::StatusOr<double> SoftmaxCrossEntropy(absl::Span<const float> logits,
                                           absl::Span<const int32_t> labels, int batch, int classes,
                                           absl::Span<float> dlogits, int64_t* correct) {
  QB_RETURN_IF_ERROR(CheckShapes(batch, classes, {logits.size()}, dlogits.size()));
  if (labels.size() != static_cast<size_t>(batch)) {
    return absl::InvalidArgumentError(
        absl::StrCat("cross-entropy: ", labels.size(), " labels for a batch of ", batch));
  }
  for (int b = 0; b < batch; ++b) {
    if (labels[b] < 0 || labels[b] >= classes) {
      return absl::InvalidArgumentError(absl::StrCat(
          "cross-entropy: label ", labels[b], " of image ", b, " is outside [0, ", classes, ")"));
    }
  }
  std::vector<double> log_probs(classes);
  double total = 0;
  int64_t hits = 0;
  for (int b = 0; b < batch; ++b) {
    const float* row = logits.data() + static_cast<size_t>(b) * classes;
    LogSoftmax(row, classes, 1.0, log_probs.data());
    total -= log_probs[labels[b]];
    if (ArgMax(row, classes) == labels[b]) ++hits;
    if (!dlogits.empty()) {
      // d/dz of -log softmax(z)_y, averaged over the batch: (softmax(z) - onehot(y)) / B.
      float* grad = dlogits.data() + static_cast<size_t>(b) * classes;
      for (int c = 0; c < classes; ++c) {
        grad[c] =
            static_cast<float>((std::exp(log_probs[c]) - (c == labels[b] ? 1.0 : 0.0)) / batch);
      }
    }
  }
  if (correct != nullptr) *correct = hits;
  return total / batch;
}

absl::StatusOr<double> DistillationLoss(DistillationKind kind, absl::Span<const float> student,
                                        absl::Span<const float> teacher, int batch, int classes,
                                        float temperature, absl::Span<float> dstudent) {
  QB_RETURN_IF_ERROR(
      CheckShapes(batch, classes, {student.size(), teacher.size()}, dstudent.size()));
  const size_t n = student.size();
  const bool want_gradient = !dstudent.empty();
  switch (kind) {
    case DistillationKind::kRmse: {
      double sum_squares = 0;
      for (size_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(student[i]) - teacher[i];
        sum_squares += d * d;
      }
      const double loss = std::sqrt(sum_squares / n);
      if (want_gradient) {
        const double scale = loss > 0 ? 1.0 / (n * loss) : 0.0;
        for (size_t i = 0; i < n; ++i) {
          dstudent[i] = static_cast<float>((static_cast<double>(student[i]) - teacher[i]) * scale);
        }
      }
      return loss;
    }
    case DistillationKind::kL1: {
      constexpr double kSmoothing = 1e-5;  // the FAT code's constant
      double total = 0;
      for (size_t i = 0; i < n; ++i) {
        const double d = static_cast<double>(student[i]) - teacher[i];
        const double root = std::sqrt(d * d + kSmoothing);
        total += root;
        if (want_gradient) dstudent[i] = static_cast<float>(d / root / batch);
      }
      return total / batch;
    }
    case DistillationKind::kKl: {
      if (!std::isfinite(temperature) || temperature <= 0) {
        return absl::InvalidArgumentError(absl::StrCat("KL distillation: temperature ", temperature,
                                                       " is not a finite value > 0"));
      }
      const double t = temperature;
      std::vector<double> log_p_teacher(classes), log_p_student(classes);
      double total = 0;
      for (int b = 0; b < batch; ++b) {
        const size_t offset = static_cast<size_t>(b) * classes;
        LogSoftmax(teacher.data() + offset, classes, 1.0 / t, log_p_teacher.data());
        LogSoftmax(student.data() + offset, classes, 1.0 / t, log_p_student.data());
        for (int c = 0; c < classes; ++c) {
          const double p = std::exp(log_p_teacher[c]);
          // 0 * log 0 = 0: a teacher probability that underflowed contributes nothing.
          if (p > 0) total += p * (log_p_teacher[c] - log_p_student[c]);
          if (want_gradient) {
            // d/ds of T^2 KL / B = T^2 / B * (q - p) / T with q the student's softmax.
            dstudent[offset + c] = static_cast<float>(t * (std::exp(log_p_student[c]) - p) / batch);
          }
        }
      }
      return t * t * total / batch;
    }
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown distillation kind ", static_cast<int>(kind)));
}

}  // namespace quantbench
