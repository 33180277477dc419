#include "training/param_gradients.h"

#include <algorithm>

namespace quantbench {
namespace {

bool EndsWith(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() &&
         s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

}  // namespace

bool IsTrainableParameter(const Parameter& parameter) {
  // Running statistics are estimated by the forward pass, never by the optimizer.
  return !(EndsWith(parameter.name, ".running_mean") || EndsWith(parameter.name, ".running_var"));
}

ParamGradients ParamGradients::ZerosLike(const ParamStore& store) {
  ParamGradients g;
  g.grads.resize(store.size());
  for (size_t i = 0; i < store.size(); ++i) {
    const Parameter& p = store.parameters()[i];
    if (IsTrainableParameter(p)) g.grads[i].assign(p.values.size(), 0.0f);
  }
  return g;
}

void ParamGradients::SetZero() {
  for (std::vector<float>& g : grads) std::fill(g.begin(), g.end(), 0.0f);
}

}  // namespace quantbench
