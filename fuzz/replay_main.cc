// The fuzz targets' main() outside libFuzzer (the normal gcc build): runs
// LLVMFuzzerTestOneInput once per file named on the command line, so the seed corpus and the
// kept crash inputs replay as a regression test. A crash, sanitizer report or uncaught
// exception fails the run; the target's return value is ignored, as libFuzzer ignores it.
#include <cstdint>
#include <cstdio>
#include <fstream>
#include <iterator>
#include <vector>

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size);

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::ifstream in(argv[i], std::ios::binary);
    if (!in) {
      std::fprintf(stderr, "replay: cannot read %s\n", argv[i]);
      return 2;
    }
    std::vector<uint8_t> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::fprintf(stderr, "replay: %s (%zu bytes)\n", argv[i], bytes.size());
    LLVMFuzzerTestOneInput(bytes.data(), bytes.size());
  }
  std::fprintf(stderr, "replay: %d inputs, no crash\n", argc - 1);
  return 0;
}
