#include "networks/param_store.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quantbench {

int64_t Parameter::NumElements() const {
  int64_t count = 1;
  for (int64_t d : shape) count *= d;
  return count;
}

absl::StatusOr<int64_t> ShapeNumElements(const std::vector<int64_t>& shape) {
  int64_t count = 1;
  for (int64_t d : shape) {
    if (d < 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("negative dimension in shape ", ShapeToString(shape)));
    }
    if (d != 0 && count > std::numeric_limits<int64_t>::max() / d) {
      return absl::InvalidArgumentError(
          absl::StrCat("shape ", ShapeToString(shape), " has too many elements"));
    }
    count *= d;
  }
  return count;
}

std::string ShapeToString(const std::vector<int64_t>& shape) {
  return absl::StrCat("[", absl::StrJoin(shape, ", "), "]");
}

absl::Status ParamStore::Add(Parameter parameter) {
  if (parameter.name.empty()) {
    return absl::InvalidArgumentError("parameter with an empty name");
  }
  if (Find(parameter.name) != nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("duplicate parameter '", parameter.name, "'"));
  }
  auto count = ShapeNumElements(parameter.shape);
  if (!count.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", parameter.name, "': ", count.status().message()));
  }
  if (static_cast<uint64_t>(*count) != parameter.values.size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "parameter '", parameter.name, "': shape ", ShapeToString(parameter.shape), " needs ",
        *count, " values, got ", parameter.values.size()));
  }
  parameters_.push_back(std::move(parameter));
  return absl::OkStatus();
}

Parameter* ParamStore::Find(const std::string& name) {
  for (Parameter& p : parameters_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

const Parameter* ParamStore::Find(const std::string& name) const {
  for (const Parameter& p : parameters_) {
    if (p.name == name) return &p;
  }
  return nullptr;
}

int64_t ParamStore::TotalCount() const {
  int64_t total = 0;
  for (const Parameter& p : parameters_) total += static_cast<int64_t>(p.values.size());
  return total;
}

}  // namespace quantbench
