// The idx reader (datasets/idx_dataset.h) on arbitrary bytes, raw or gzip: the input is the
// images file, its first bytes also decide a labels file, and both go through LoadIdxDataset.
#include <cstddef>
#include <cstdint>

#include "datasets/idx_dataset.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using quantbench::WriteFuzzInput;
  const std::string images = WriteFuzzInput(data, size, "images.idx");
  (void)quantbench::ReadIdxFile(images, 3);
  (void)quantbench::ReadIdxFile(images, 1);
  // The same bytes as both files: the pair must agree on the count, which garbage rarely does,
  // so the header checks and the label range check are reached either way.
  (void)quantbench::LoadIdxDataset(images, images, /*limit=*/0, quantbench::PixelNormalization{1.0f / 255, 0.0f, 1.0f});
  return 0;
}
