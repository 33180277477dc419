// A deliberate data race inside an OpenMP loop, for tools/sanitizers.sh tsan: the step fails
// unless ThreadSanitizer reports it. It proves that the suppressions (tools/tsan.supp) and the
// libomp + Archer setup hide only library internals, not races in our parallel loops.
#include <cstdio>

int main() {
  long sum = 0;
#pragma omp parallel for num_threads(2) schedule(static, 1)
  for (int i = 0; i < 4096; ++i) sum += i;  // unsynchronised read-modify-write: the race
  std::printf("%ld\n", sum);
  return 0;
}
