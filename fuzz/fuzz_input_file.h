// The readers under test take paths (they open, mmap or gunzip files themselves), so a fuzz
// input is written to a file first: one per process under $TMPDIR, rewritten each run.
#ifndef QUANTBENCH_FUZZ_FUZZ_INPUT_FILE_H_
#define QUANTBENCH_FUZZ_FUZZ_INPUT_FILE_H_

#include <cstddef>
#include <cstdint>
#include <string>

namespace quantbench {

// Writes `data` to "$TMPDIR/quantbench-fuzz-<pid>-<tag>" (truncating) and returns the path.
// Aborts if the file cannot be written: a fuzzer that cannot write its input tests nothing.
std::string WriteFuzzInput(const uint8_t* data, size_t size, const std::string& tag);

}  // namespace quantbench

#endif  // QUANTBENCH_FUZZ_FUZZ_INPUT_FILE_H_
