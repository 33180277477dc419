// The config text parser and validation (experiments/config.h) on arbitrary text. Paths
// resolve against a workspace that does not exist, so validation runs to the file checks and
// stops there; nothing is trained or read.
#include <cstddef>
#include <cstdint>
#include <string>

#include "experiments/config.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  quantbench::RunDirectories dirs;
  dirs.workspace = "/nonexistent-quantbench-fuzz";
  dirs.working = dirs.workspace;
  (void)quantbench::ParseExperiment(std::string(reinterpret_cast<const char*>(data), size), "fuzz.pbtxt", dirs);
  return 0;
}
