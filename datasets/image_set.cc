#include "datasets/image_set.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace quantbench {

absl::Status ValidateImageSet(const ImageSet& set) {
  if (set.count < 0 || set.channels < 1 || set.height < 1 || set.width < 1) {
    return absl::InvalidArgumentError(absl::StrCat("image set: bad shape ", set.count, " x ",
                                                   set.channels, " x ", set.height, " x ",
                                                   set.width));
  }
  if (static_cast<int64_t>(set.pixels.size()) != set.count * set.image_size()) {
    return absl::InvalidArgumentError(absl::StrCat("image set: ", set.pixels.size(),
                                                   " pixel bytes for ", set.count, " images of ",
                                                   set.image_size()));
  }
  if (static_cast<int64_t>(set.labels.size()) != set.count) {
    return absl::InvalidArgumentError(absl::StrCat("image set: ", set.labels.size(),
                                                   " labels for ", set.count, " images"));
  }
  if (set.num_classes < 1 || static_cast<int>(set.class_names.size()) != set.num_classes) {
    return absl::InvalidArgumentError(absl::StrCat("image set: ", set.class_names.size(),
                                                   " class names for ", set.num_classes,
                                                   " classes"));
  }
  for (int64_t i = 0; i < set.count; ++i) {
    if (set.labels[i] < 0 || set.labels[i] >= set.num_classes) {
      return absl::InvalidArgumentError(absl::StrCat("image set: label ", set.labels[i],
                                                     " of image ", i, " is outside 0..",
                                                     set.num_classes - 1));
    }
  }
  return absl::OkStatus();
}

std::vector<int64_t> ClassCounts(const ImageSet& set) {
  std::vector<int64_t> counts(static_cast<size_t>(std::max(0, set.num_classes)), 0);
  for (int32_t label : set.labels) {
    if (label >= 0 && label < set.num_classes) ++counts[static_cast<size_t>(label)];
  }
  return counts;
}

}  // namespace quantbench
