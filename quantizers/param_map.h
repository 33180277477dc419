// ParamMap: the typed, validated view of a quantizer's parameters from the experiment config.
//
// Configs carry parameters as strings (`params { key: "base" value: "0.5" }`) so that a new
// quantizer never has to touch the config schema. A quantizer's factory reads what it accepts
// through the typed getters; every getter records the key as accepted, so after the factory
// runs the registry can reject keys nobody read and list the accepted ones.
#ifndef QUANTBENCH_QUANTIZERS_PARAM_MAP_H_
#define QUANTBENCH_QUANTIZERS_PARAM_MAP_H_

#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/statusor.h"

namespace quantbench {

class ParamMap {
 public:
  ParamMap() = default;
  explicit ParamMap(std::map<std::string, std::string> values) : values_(std::move(values)) {}

  // Each getter returns the default when the key is absent, an InvalidArgument error naming
  // the key, the value and the expected form when the value does not parse.
  absl::StatusOr<double> GetDouble(const std::string& key, double default_value);
  absl::StatusOr<std::optional<double>> GetOptionalDouble(const std::string& key);
  absl::StatusOr<int> GetInt(const std::string& key, int default_value);
  absl::StatusOr<bool> GetBool(const std::string& key, bool default_value);
  // A comma-separated list of finite numbers ("1.0" or "0.9, 1, 0.75"); empty items are errors.
  absl::StatusOr<std::vector<double>> GetDoubleList(const std::string& key,
                                                    std::vector<double> default_value);
  // `allowed` lists the accepted values; anything else is an error that lists them.
  absl::StatusOr<std::string> GetEnum(const std::string& key, const std::string& default_value,
                                      const std::vector<std::string>& allowed);

  // Keys present in the config that no getter asked for.
  std::vector<std::string> UnreadKeys() const;
  // Keys some getter asked for: the parameters the quantizer accepts.
  const std::set<std::string>& AcceptedKeys() const { return accepted_; }
  const std::map<std::string, std::string>& values() const { return values_; }

 private:
  const std::string* Find(const std::string& key);

  std::map<std::string, std::string> values_;
  std::set<std::string> accepted_;
};

}  // namespace quantbench

#endif  // QUANTBENCH_QUANTIZERS_PARAM_MAP_H_
