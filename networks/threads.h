// Thread count of oneDNN's CPU runtime.
//
// Debian's oneDNN 2.6 is built with the OpenMP runtime (libgomp; DNNL_CPU_RUNTIME ==
// DNNL_RUNTIME_OMP), so its primitives run on OpenMP's thread team. Without a call here
// OpenMP uses OMP_NUM_THREADS or else one thread per core.
//
// OpenMP's thread count is per calling thread: call SetNumThreads from the thread that runs
// GraphNetwork::Forward (or trains, training/trainer.h).
#ifndef QUANTBENCH_NETWORKS_THREADS_H_
#define QUANTBENCH_NETWORKS_THREADS_H_

#include <string>

namespace quantbench {

// Sets the number of threads oneDNN primitives use (omp_set_num_threads). n <= 0 is ignored.
// A no-op when oneDNN was built for a runtime other than OpenMP.
void SetNumThreads(int n);

// The thread count the next oneDNN primitive will use from this thread (1 without OpenMP).
int GetNumThreads();

// The CPU runtime oneDNN reports at run time (dnnl_version()->cpu_runtime): "OpenMP", "TBB",
// "sequential", "threadpool" or "unknown(<n>)".
std::string DnnlCpuRuntimeName();

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_THREADS_H_
