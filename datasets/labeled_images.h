// A labelled image classification set as the evaluation sees it: a count of examples of one
// shape, one label each, and the examples as float tensors, either held in memory (idx sets,
// small and cheap) or streamed batch by batch from an ExampleSource (JPEG sets, whose float
// tensor would not fit in memory: 50,000 images at 224 are 30 GB of floats).
//
// Callers ask for a range of examples with Examples(); they never need to know which of the
// two it is. Code that wants the whole in-memory vector (idx training) may still use `pixels`,
// which is filled for in-memory sets only.
#ifndef QUANTBENCH_DATASETS_LABELED_IMAGES_H_
#define QUANTBENCH_DATASETS_LABELED_IMAGES_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"

namespace quantbench {

// Where a streamed set's examples come from. Implementations must be safe to call from
// several threads at once (Read is const and may not share mutable state).
class ExampleSource {
 public:
  virtual ~ExampleSource() = default;
  // Writes examples [first, first + n) as n * example_size floats to `out`. The caller has
  // checked 0 <= first, n >= 0, first + n <= count. Errors name the backing file.
  virtual absl::Status Read(int64_t first, int64_t n, float* out) const = 0;
};

struct LabeledImages {
  int64_t count = 0;
  std::vector<int64_t> example_shape;  // e.g. {784} for 28x28 idx images, {3, S, S} for JPEGs
  // In-memory examples, count * example_size floats; empty when `source` is set.
  std::vector<float> pixels;
  // Streamed examples (shared: copies of a LabeledImages read the same file).
  std::shared_ptr<const ExampleSource> source;
  std::vector<int32_t> labels;  // count; -1 = unlabelled
  int num_classes = 0;          // max label + 1, or the dataset's class count

  int64_t example_size() const;

  // Examples [first, first + n) as n * example_size floats: a view into `pixels`, or read
  // from `source` into *scratch (resized as needed; the view points into it and is valid until
  // *scratch changes). OutOfRange for a range outside [0, count); Internal when an in-memory
  // set's `pixels` is shorter than count * example_size.
  absl::StatusOr<absl::Span<const float>> Examples(int64_t first, int64_t n,
                                                   std::vector<float>* scratch) const;
};

}  // namespace quantbench

#endif  // QUANTBENCH_DATASETS_LABELED_IMAGES_H_
