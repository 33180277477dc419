// Where trained weights, checkpoints and decoded images are cached.
#ifndef QUANTBENCH_EXPERIMENTS_CACHE_DIRECTORY_H_
#define QUANTBENCH_EXPERIMENTS_CACHE_DIRECTORY_H_

#include <string>

namespace quantbench {

// $QUANTBENCH_CACHE_DIR, else $XDG_CACHE_HOME/quantbench, else ~/.cache/quantbench.
std::string DefaultCacheDirectory();

}  // namespace quantbench

#endif  // QUANTBENCH_EXPERIMENTS_CACHE_DIRECTORY_H_
