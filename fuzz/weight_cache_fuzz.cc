// The .qbw reader (networks/weight_cache.h) on arbitrary bytes, any key accepted, and the
// loaded store checked against the tiny mlp as a config's weights_file would be.
#include <cstddef>
#include <cstdint>

#include "fuzz/fuzz_input_file.h"
#include "fuzz/tiny_network.h"
#include "networks/weight_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string path = quantbench::WriteFuzzInput(data, size, "weights.qbw");
  auto store = quantbench::LoadParamStore(path, /*expected_key=*/"");
  if (store.ok()) (void)quantbench::CheckGraphParams(quantbench::FuzzTinyNetwork().graph, *store);
  return 0;
}
