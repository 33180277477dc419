// Folding BatchNorm into the preceding convolution, in the graph and in the ParamStore, for
// experiments that quantize the folded weights (what an inference engine actually runs).
#ifndef QUANTBENCH_NETWORKS_FOLD_BATCHNORM_H_
#define QUANTBENCH_NETWORKS_FOLD_BATCHNORM_H_

#include "absl/status/status.h"
#include "networks/graph.h"
#include "networks/param_store.h"

namespace quantbench {

// For every BatchNorm whose input is a Conv that feeds nothing else (and is not the graph
// output): rewrites the conv's weight and bias in `params`
//   w' = w * gamma / sqrt(var + eps),  b' = (b - mean) * gamma / sqrt(var + eps) + beta
// (adding "<conv>.bias", kind kBias, right after the weight if the conv had none), removes
// the BatchNorm's four parameters from `params` and the BatchNorm layer from `graph` (its
// consumers read the conv). Other parameters keep their order; graph->params is rebuilt.
// Other BatchNorms stay. Computed in double, rounded once to float.
// InvalidArgument (nothing changed) if the parameters do not match the graph.
// Networks created on the old graph must be re-created.
absl::Status FoldBatchNormIntoConvs(Graph* graph, ParamStore* params);

}  // namespace quantbench

#endif  // QUANTBENCH_NETWORKS_FOLD_BATCHNORM_H_
