// The training checkpoint reader (training/checkpoint.h) on arbitrary bytes in memory
// (ParseTrainingCheckpoint, what LoadTrainingCheckpoint runs on a file's bytes). The key is
// the one the seed generator writes, so mutations of a valid file get past the key check.
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "training/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)quantbench::ParseTrainingCheckpoint(
      absl::string_view(reinterpret_cast<const char*>(data), size), "fuzz-seed");
  return 0;
}
