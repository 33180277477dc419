#include "datasets/labeled_images.h"

#include "absl/strings/str_cat.h"

namespace quantbench {

int64_t LabeledImages::example_size() const {
  int64_t size = 1;
  for (int64_t d : example_shape) size *= d;
  return size;
}

absl::StatusOr<absl::Span<const float>> LabeledImages::Examples(
    int64_t first, int64_t n, std::vector<float>* scratch) const {
  if (first < 0 || n < 0 || first + n > count) {
    return absl::OutOfRangeError(absl::StrCat("examples [", first, ", ", first + n,
                                              ") requested from a set of ", count));
  }
  const int64_t example = example_size();
  const size_t values = static_cast<size_t>(n * example);
  if (source == nullptr) {
    if (static_cast<int64_t>(pixels.size()) < count * example) {
      return absl::InternalError(absl::StrCat("in-memory set holds ", pixels.size(),
                                              " values for ", count, " examples of ", example));
    }
    return absl::MakeConstSpan(pixels.data() + first * example, values);
  }
  scratch->resize(values);
  absl::Status read = source->Read(first, n, scratch->data());
  if (!read.ok()) return read;
  return absl::MakeConstSpan(scratch->data(), values);
}

}  // namespace quantbench
