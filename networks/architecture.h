// Named network architectures (ImageNet convolutional nets) as graph builders.
//
// Each architecture file (networks/arch_*.cc) registers its builders with
// QUANTBENCH_REGISTER_ARCHITECTURE; the //networks:architectures library (alwayslink) holds
// them all, so a binary that depends on it finds every name in ArchitectureRegistry::Global().
//
//   absl::StatusOr<Graph> BuildFoo(const ArchitectureOptions& options);
//   QUANTBENCH_REGISTER_ARCHITECTURE("foo", "one-line description", BuildFoo);
//
// InitGraphParams / CheckGraphParams (declared in networks/graph.h) create and check the
// ParamStore of a built graph.
#ifndef QUANTBENCH_NETWORKS_ARCHITECTURE_H_
#define QUANTBENCH_NETWORKS_ARCHITECTURE_H_

#include <functional>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "networks/graph.h"

namespace quantbench {

struct ArchitectureOptions {
  int num_classes = 1000;
  int image_size = 0;  // 0 = the architecture's default (224, or 299 for inception_v3/xception)
  // Builder options, e.g. {"style", "keras"} for resnet50. Unknown keys are an error.
  std::map<std::string, std::string> variant;
};

struct Architecture {
  std::string name;
  std::string description;
  std::function<absl::StatusOr<Graph>(const ArchitectureOptions&)> build;
};

class ArchitectureRegistry {
 public:
  static ArchitectureRegistry& Global();

  // A second registration of a name is ignored (with a message on stderr).
  void Register(Architecture architecture);
  // nullptr if unknown.
  const Architecture* Find(const std::string& name) const;
  // Sorted.
  std::vector<std::string> Names() const;

  // Looks `name` up and builds it; NotFound lists the known names.
  absl::StatusOr<Graph> Build(const std::string& name, const ArchitectureOptions& options) const;

 private:
  std::map<std::string, std::unique_ptr<Architecture>> architectures_;
};

// Helpers for builders.
// options.image_size, or `default_size` if it is 0; InvalidArgument if negative.
absl::StatusOr<int> ArchitectureImageSize(const ArchitectureOptions& options, int default_size);
// InvalidArgument naming the first variant key not in `allowed`, and bad num_classes.
absl::Status CheckArchitectureOptions(const ArchitectureOptions& options,
                                      const std::set<std::string>& allowed_variant_keys);

namespace internal {
bool RegisterArchitectureAtStartup(Architecture architecture);
}  // namespace internal

}  // namespace quantbench

#define QB_ARCH_CONCAT_INNER_(a, b) a##b
#define QB_ARCH_CONCAT_(a, b) QB_ARCH_CONCAT_INNER_(a, b)

// QUANTBENCH_REGISTER_ARCHITECTURE(name, description, build): registers at static
// initialization. Use at namespace scope in a library with alwayslink = True.
#define QUANTBENCH_REGISTER_ARCHITECTURE(...)                                          \
  static const bool QB_ARCH_CONCAT_(qb_architecture_registered_, __COUNTER__) =      \
      ::quantbench::internal::RegisterArchitectureAtStartup(                           \
          ::quantbench::Architecture{__VA_ARGS__})

#endif  // QUANTBENCH_NETWORKS_ARCHITECTURE_H_
