// The CIFAR-10 binary reader (datasets/cifar10_binary.h) on arbitrary bytes as one batch file.
#include <cstddef>
#include <cstdint>

#include "datasets/cifar10_binary.h"
#include "fuzz/fuzz_input_file.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quantbench::WriteFuzzInput(data, size, "data_batch.bin");
  (void)quantbench::LoadCifar10BinaryFiles({path}, quantbench::Cifar10ClassNames());
  return 0;
}
