#include "experiments/activation_calibration.h"

#include <algorithm>
#include <set>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "kernels/status_macros.h"
#include "networks/activation_pass.h"

namespace quantbench {

absl::StatusOr<ActivationCalibrationResult> CalibrateActivations(Network& network, const LabeledImages& data,
                                                                 const ActivationQuantization& spec, int batch) {
  const std::vector<std::string> sites = network.ActivationSites();
  const std::set<std::string> site_set(sites.begin(), sites.end());
  std::set<std::string> skip;
  for (int i = 0; i < spec.skip_layers_size(); ++i) {
    if (site_set.count(spec.skip_layers(i)) == 0) {
      return absl::InvalidArgumentError(absl::StrCat("activations.skip_layers[", i, "]: the network has no conv or dense layer '",
                                                     spec.skip_layers(i), "'; its layers: ", absl::StrJoin(sites, ", ")));
    }
    skip.insert(spec.skip_layers(i));
  }
  QB_ASSIGN_OR_RETURN(ActivationCalibration calibration,
                      ParseActivationCalibration(spec.calibration().empty() ? "minmax" : spec.calibration()));
  const double percentile = spec.percentile() > 0 ? spec.percentile() : 99.99;

  ActivationCalibrationResult result;
  const int64_t wanted = spec.calibration_images() > 0 ? spec.calibration_images() : kDefaultCalibrationImages;
  result.images = std::min<int64_t>(wanted, data.count);
  if (result.images == 0) return absl::InvalidArgumentError("activations: no images to calibrate on");
  std::map<std::string, ActivationObserver> observers;
  absl::Status observe_status;
  auto observe = [&](const std::string& layer, absl::Span<const float> values) {
    if (skip.count(layer) != 0 || !observe_status.ok()) return;
    absl::Status s = observers[layer].Observe(values);
    if (!s.ok()) observe_status = Annotate(s, absl::StrCat("observing the input of ", layer));
  };
  // JPEG sets stream: one batch decoded at a time. After a failed observation `observe` ignores
  // the remaining batches, and that error is returned before one of the pass.
  const absl::Status pass = ObserveActivationsOverImages(network, data, result.images, batch, observe);
  QB_RETURN_IF_ERROR(observe_status);
  QB_RETURN_IF_ERROR(pass);
  for (const std::string& site : sites) {
    if (skip.count(site) != 0) {
      result.skipped.push_back(site);
      continue;
    }
    auto it = observers.find(site);
    if (it == observers.end()) return absl::InternalError(absl::StrCat("activation site ", site, " was never observed"));
    auto params = it->second.Compute(spec.bits(), calibration, percentile);
    if (!params.ok()) return Annotate(params.status(), absl::StrCat("activations of ", site));
    result.params[site] = *params;
    result.ranges[site] = {it->second.min(), it->second.max()};
  }
  return result;
}

}  // namespace quantbench
