#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstdlib>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "quantizers/quantizer.h"

namespace quantbench {

QuantizerRegistry& QuantizerRegistry::Global() {
  static QuantizerRegistry* registry = new QuantizerRegistry();
  return *registry;
}

void QuantizerRegistry::Register(QuantizerInfo info) {
  if (Find(info.name) != nullptr) {
    std::fprintf(stderr, "quantbench: two quantizers are registered as '%s'\n", info.name.c_str());
    std::abort();
  }
  entries_.push_back(std::move(info));
}

const QuantizerInfo* QuantizerRegistry::Find(const std::string& name) const {
  for (const QuantizerInfo& info : entries_) {
    if (info.name == name) return &info;
  }
  return nullptr;
}

std::vector<std::string> QuantizerRegistry::Names() const {
  std::vector<std::string> names;
  for (const QuantizerInfo& info : entries_) names.push_back(info.name);
  std::sort(names.begin(), names.end());
  return names;
}

absl::StatusOr<std::unique_ptr<Quantizer>> QuantizerRegistry::Create(
    const std::string& name, const std::map<std::string, std::string>& params) const {
  const QuantizerInfo* info = Find(name);
  if (info == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown quantizer '", name,
                                            "'; registered quantizers: ",
                                            absl::StrJoin(Names(), ", ")));
  }
  ParamMap map(params);
  auto quantizer = info->factory(map);
  if (!quantizer.ok()) {
    return absl::Status(quantizer.status().code(),
                        absl::StrCat("quantizer '", name, "': ", quantizer.status().message()));
  }
  std::vector<std::string> unread = map.UnreadKeys();
  if (!unread.empty()) {
    const auto& accepted = map.AcceptedKeys();
    return absl::InvalidArgumentError(absl::StrCat(
        "quantizer '", name, "': unknown parameter '", unread.front(), "'; accepted: ",
        accepted.empty() ? std::string("(none)") : absl::StrJoin(accepted, ", ")));
  }
  return quantizer;
}

absl::Status CheckQuantizerInput(const WeightView& weights, int bits) {
  if (bits < 1 || bits > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("bits = ", bits, " for tensor '", weights.name, "': expected 1 to 16"));
  }
  for (size_t i = 0; i < weights.values.size(); ++i) {
    if (!std::isfinite(weights.values[i])) {
      return absl::InvalidArgumentError(absl::StrCat("tensor '", weights.name, "' element ", i,
                                                     " is ", weights.values[i],
                                                     ": weights must be finite"));
    }
  }
  int64_t rows = weights.rows();
  if (rows <= 0 || weights.values.size() % rows != 0) {
    return absl::InvalidArgumentError(absl::StrCat("tensor '", weights.name, "' has ",
                                                   weights.values.size(),
                                                   " values, not a multiple of its ", rows,
                                                   " rows"));
  }
  return absl::OkStatus();
}

int64_t StorageBits(int64_t count, int bits, int64_t table_floats) {
  return count * bits + table_floats * 32;
}

}  // namespace quantbench
