// The image tensor cache reader (datasets/image_tensor_cache.h) on arbitrary bytes: opened
// with the key and shape the seed generator writes (so mutations of a valid file reach the
// CRC and the reads), then every value read back in two chunks.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "datasets/image_tensor_cache.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quantbench::WriteFuzzInput(data, size, "images.qbimg");
  auto file = quantbench::ImageTensorFile::Open(path, "fuzz-seed", {2, 3, 4, 4});
  if (!file.ok()) return 0;
  std::vector<uint8_t> values((*file)->elements());
  const size_t half = values.size() / 2;
  (void)(*file)->Read(0, half, values.data());
  (void)(*file)->Read(half, values.size() - half, values.data() + half);
  (void)(*file)->Read(values.size(), 1, values.data());  // past the end: OutOfRange, not a read
  return 0;
}
