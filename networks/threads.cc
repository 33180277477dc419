#include "networks/threads.h"

#include "absl/strings/str_cat.h"
#include "oneapi/dnnl/dnnl.h"

#if DNNL_CPU_THREADING_RUNTIME == DNNL_RUNTIME_OMP
#include <omp.h>
#define QB_DNNL_USES_OPENMP 1
#else
#define QB_DNNL_USES_OPENMP 0
#endif

namespace quantbench {

void SetNumThreads(int n) {
  if (n <= 0) return;
#if QB_DNNL_USES_OPENMP
  omp_set_num_threads(n);
#endif
}

int GetNumThreads() {
#if QB_DNNL_USES_OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}

std::string DnnlCpuRuntimeName() {
  const dnnl_version_t* version = dnnl_version();
  switch (version->cpu_runtime) {
    case DNNL_RUNTIME_OMP:
      return "OpenMP";
    case DNNL_RUNTIME_TBB:
      return "TBB";
    case DNNL_RUNTIME_SEQ:
      return "sequential";
    case DNNL_RUNTIME_THREADPOOL:
      return "threadpool";
    default:
      return absl::StrCat("unknown(", version->cpu_runtime, ")");
  }
}

}  // namespace quantbench
