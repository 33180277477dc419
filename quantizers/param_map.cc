#include "quantizers/param_map.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace quantbench {

const std::string* ParamMap::Find(const std::string& key) {
  accepted_.insert(key);
  auto it = values_.find(key);
  return it == values_.end() ? nullptr : &it->second;
}

absl::StatusOr<double> ParamMap::GetDouble(const std::string& key, double default_value) {
  auto value = GetOptionalDouble(key);
  if (!value.ok()) return value.status();
  return value->value_or(default_value);
}

absl::StatusOr<std::optional<double>> ParamMap::GetOptionalDouble(const std::string& key) {
  const std::string* text = Find(key);
  if (text == nullptr) return std::optional<double>();
  char* end = nullptr;
  errno = 0;
  double value = std::strtod(text->c_str(), &end);
  if (text->empty() || end != text->c_str() + text->size() || errno != 0 || !std::isfinite(value)) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", key, "' = \"", *text, "\": expected a finite number"));
  }
  return std::optional<double>(value);
}

absl::StatusOr<std::vector<double>> ParamMap::GetDoubleList(const std::string& key,
                                                            std::vector<double> default_value) {
  const std::string* text = Find(key);
  if (text == nullptr) return default_value;
  std::vector<double> values;
  for (absl::string_view item : absl::StrSplit(*text, ',')) {
    const std::string trimmed(absl::StripAsciiWhitespace(item));
    char* end = nullptr;
    errno = 0;
    const double value = std::strtod(trimmed.c_str(), &end);
    if (trimmed.empty() || end != trimmed.c_str() + trimmed.size() || errno != 0 ||
        !std::isfinite(value)) {
      return absl::InvalidArgumentError(absl::StrCat("parameter '", key, "' = \"", *text,
                                                     "\": item ", values.size() + 1, " (\"",
                                                     trimmed,
                                                     "\") is not a finite number; expected a "
                                                     "comma-separated list of numbers"));
    }
    values.push_back(value);
  }
  return values;
}

absl::StatusOr<int> ParamMap::GetInt(const std::string& key, int default_value) {
  const std::string* text = Find(key);
  if (text == nullptr) return default_value;
  char* end = nullptr;
  errno = 0;
  long value = std::strtol(text->c_str(), &end, 10);
  if (text->empty() || end != text->c_str() + text->size() || errno != 0 || value < INT32_MIN ||
      value > INT32_MAX) {
    return absl::InvalidArgumentError(
        absl::StrCat("parameter '", key, "' = \"", *text, "\": expected an integer"));
  }
  return static_cast<int>(value);
}

absl::StatusOr<bool> ParamMap::GetBool(const std::string& key, bool default_value) {
  const std::string* text = Find(key);
  if (text == nullptr) return default_value;
  if (*text == "true" || *text == "1") return true;
  if (*text == "false" || *text == "0") return false;
  return absl::InvalidArgumentError(
      absl::StrCat("parameter '", key, "' = \"", *text, "\": expected true or false"));
}

absl::StatusOr<std::string> ParamMap::GetEnum(const std::string& key,
                                              const std::string& default_value,
                                              const std::vector<std::string>& allowed) {
  const std::string* text = Find(key);
  if (text == nullptr) return default_value;
  for (const std::string& option : allowed) {
    if (*text == option) return option;
  }
  return absl::InvalidArgumentError(absl::StrCat("parameter '", key, "' = \"", *text,
                                                 "\": expected one of ",
                                                 absl::StrJoin(allowed, ", ")));
}

std::vector<std::string> ParamMap::UnreadKeys() const {
  std::vector<std::string> unread;
  for (const auto& [key, value] : values_) {
    if (accepted_.count(key) == 0) unread.push_back(key);
  }
  return unread;
}

}  // namespace quantbench
