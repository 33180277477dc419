#include "fuzz/fuzz_input_file.h"

#include <unistd.h>

#include <cstdio>
#include <cstdlib>

namespace quantbench {

std::string WriteFuzzInput(const uint8_t* data, size_t size, const std::string& tag) {
  const char* tmp = std::getenv("TEST_TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = std::getenv("TMPDIR");
  if (tmp == nullptr || *tmp == '\0') tmp = "/tmp";
  const std::string path = std::string(tmp) + "/quantbench-fuzz-" + std::to_string(getpid()) + "-" + tag;
  std::FILE* f = std::fopen(path.c_str(), "wb");
  if (f == nullptr || (size > 0 && std::fwrite(data, 1, size, f) != size) || std::fclose(f) != 0) {
    std::fprintf(stderr, "fuzz: cannot write %s\n", path.c_str());
    std::abort();
  }
  return path;
}

}  // namespace quantbench
