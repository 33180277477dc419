#include "networks/architecture.h"

#include <cstdio>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace quantbench {

ArchitectureRegistry& ArchitectureRegistry::Global() {
  static ArchitectureRegistry* registry = new ArchitectureRegistry();
  return *registry;
}

void ArchitectureRegistry::Register(Architecture architecture) {
  if (architectures_.count(architecture.name) != 0) {
    std::fprintf(stderr, "quantbench: architecture '%s' registered twice; keeping the first\n",
                 architecture.name.c_str());
    return;
  }
  std::string name = architecture.name;
  architectures_[name] = std::make_unique<Architecture>(std::move(architecture));
}

const Architecture* ArchitectureRegistry::Find(const std::string& name) const {
  auto it = architectures_.find(name);
  return it == architectures_.end() ? nullptr : it->second.get();
}

std::vector<std::string> ArchitectureRegistry::Names() const {
  std::vector<std::string> names;
  for (const auto& [name, unused] : architectures_) names.push_back(name);
  return names;
}

absl::StatusOr<Graph> ArchitectureRegistry::Build(const std::string& name,
                                                  const ArchitectureOptions& options) const {
  const Architecture* architecture = Find(name);
  if (architecture == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown architecture '", name, "'; known: ",
                                            absl::StrJoin(Names(), ", ")));
  }
  absl::StatusOr<Graph> graph = architecture->build(options);
  if (!graph.ok()) {
    return absl::Status(graph.status().code(),
                        absl::StrCat(name, ": ", graph.status().message()));
  }
  return graph;
}

absl::StatusOr<int> ArchitectureImageSize(const ArchitectureOptions& options, int default_size) {
  if (options.image_size < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("image_size = ", options.image_size, " is negative"));
  }
  return options.image_size == 0 ? default_size : options.image_size;
}

absl::Status CheckArchitectureOptions(const ArchitectureOptions& options,
                                      const std::set<std::string>& allowed_variant_keys) {
  if (options.num_classes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("num_classes = ", options.num_classes, " must be >= 1"));
  }
  for (const auto& [key, value] : options.variant) {
    if (allowed_variant_keys.count(key) == 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "unknown variant option '", key, "' (known: ",
          allowed_variant_keys.empty() ? "none" : absl::StrJoin(allowed_variant_keys, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

namespace internal {
bool RegisterArchitectureAtStartup(Architecture architecture) {
  ArchitectureRegistry::Global().Register(std::move(architecture));
  return true;
}
}  // namespace internal

}  // namespace quantbench
