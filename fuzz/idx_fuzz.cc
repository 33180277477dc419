// The idx reader (datasets/idx_dataset.h) on arbitrary bytes, raw or gzip, in memory: the input
// is gunzipped if it is gzip, parsed as images and as labels, and the pair goes through
// IdxDataset, as LoadIdxDataset does with two files.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "datasets/idx_dataset.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  auto bytes = quantbench::DecompressIfGzip(std::vector<uint8_t>(data, data + size), "fuzz.idx");
  if (!bytes.ok()) return 0;
  auto images = quantbench::ParseIdx(*bytes, 3, "images");
  auto labels = quantbench::ParseIdx(*bytes, 1, "labels");
  // The same bytes as both files must agree on the count, which garbage rarely does, so the
  // header checks and the label range check are reached either way.
  if (images.ok() && labels.ok()) {
    (void)quantbench::IdxDataset(*images, *labels, "images", "labels", /*limit=*/0,
                                 quantbench::PixelNormalization{1.0f / 255, 0.0f, 1.0f});
  }
  return 0;
}
