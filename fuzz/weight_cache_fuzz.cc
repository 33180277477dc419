// The .qbw reader (networks/weight_cache.h) on arbitrary bytes in memory (ParseParamStore, what
// LoadParamStore runs on a file's bytes), any key accepted, and the loaded store checked against
// the tiny mlp as a config's weights_file would be.
#include <cstddef>
#include <cstdint>
#include <string>

#include "fuzz/tiny_network.h"
#include "networks/weight_cache.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string bytes(reinterpret_cast<const char*>(data), size);
  auto store = quantbench::ParseParamStore(bytes, /*expected_key=*/"");
  if (store.ok()) (void)quantbench::CheckGraphParams(quantbench::FuzzTinyNetwork().graph, *store);
  return 0;
}
