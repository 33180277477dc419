// The training checkpoint reader (training/checkpoint.h) on arbitrary bytes. The key is the
// one the seed generator writes, so mutations of a valid file get past the key check.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_input_file.h"
#include "training/checkpoint.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quantbench::WriteFuzzInput(data, size, "run.checkpoint");
  (void)quantbench::LoadTrainingCheckpoint(path, "fuzz-seed");
  return 0;
}
