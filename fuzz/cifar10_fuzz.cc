// The CIFAR-10 binary reader (datasets/cifar10_binary.h) on arbitrary bytes in memory as one
// batch file (ParseCifar10Batch, what LoadCifar10BinaryFiles runs on each file's bytes).
#include <cstddef>
#include <cstdint>

#include "datasets/cifar10_binary.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  (void)quantbench::ParseCifar10Batch(absl::MakeConstSpan(data, size), "data_batch.bin",
                                      quantbench::Cifar10ClassNames());
  return 0;
}
