// bazel run //experiments:report [-- --workspace=DIR]
//
// Reads the paper data files (experiments/papers/*.json) and every sweep result under results/,
// and writes results/papers/<paper>.md for each paper plus results/papers/README.md
// (experiments/paper_report.h). One line on stderr and a non-zero exit on any error.
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "experiments/paper_report.h"
#include "experiments/result_files.h"
#include "kernels/atomic_file.h"

ABSL_FLAG(std::string, workspace, "", "the quantbench checkout (default: where bazel run was started from)");

namespace {

int Fail(const std::string& message) {
  std::fprintf(stderr, "report: error: %s\n", message.c_str());
  return 1;
}

}  // namespace

int main(int argc, char** argv) {
  namespace fs = std::filesystem;
  absl::SetProgramUsageMessage("bazel run //experiments:report  (writes results/papers/)");
  absl::ParseCommandLine(argc, argv);
  std::string root = absl::GetFlag(FLAGS_workspace);
  if (root.empty()) {
    const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    root = ws != nullptr ? ws : ".";
  }
  // Every sweep result under results/, by its workspace-relative path.
  std::map<std::string, nlohmann::json> sweeps;
  std::error_code error;
  for (fs::recursive_directory_iterator it(root + "/results", error), end; !error && it != end; it.increment(error)) {
    if (it->path().extension() != ".json") continue;
    const std::string relative = fs::relative(it->path(), root).string();
    if (relative.rfind("results/papers/", 0) == 0) continue;
    absl::StatusOr<nlohmann::json> sweep = quantbench::ReadSweepFile(it->path().string());
    if (sweep.ok()) sweeps.emplace(relative, *std::move(sweep));  // other JSON (ecr.json) is not a sweep
  }
  if (error) return Fail(root + "/results: " + error.message());
  const quantbench::ResultLookup lookup = [&](const std::string& path) -> const nlohmann::json* {
    auto it = sweeps.find(path);
    return it == sweeps.end() ? nullptr : &it->second;
  };
  const auto figure_exists = [&](const std::string& name) { return fs::exists(root + "/results/" + name); };
  std::vector<std::string> paper_files;
  for (const auto& entry : fs::directory_iterator(root + "/experiments/papers", error)) {
    if (entry.path().extension() == ".json") paper_files.push_back(entry.path().string());
  }
  if (error || paper_files.empty()) return Fail(root + "/experiments/papers: no paper data files");
  std::sort(paper_files.begin(), paper_files.end());
  std::vector<std::pair<nlohmann::json, quantbench::PaperReport>> papers;
  for (const std::string& file : paper_files) {
    std::FILE* in = std::fopen(file.c_str(), "rb");
    if (in == nullptr) return Fail(file + ": cannot open");
    std::string text;
    char buffer[4096];
    for (size_t n; (n = std::fread(buffer, 1, sizeof(buffer), in)) > 0;) text.append(buffer, n);
    std::fclose(in);
    nlohmann::json paper = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (paper.is_discarded() || !paper.contains("paper")) return Fail(file + ": not a paper data file");
    quantbench::PaperReport report;
    try {
      report = quantbench::RenderPaperReport(paper, lookup, figure_exists);
    } catch (const nlohmann::json::exception& e) {
      return Fail(file + ": " + e.what());
    }
    const std::string out = root + "/results/papers/" + paper["paper"].get<std::string>() + ".md";
    absl::Status written = quantbench::WriteFileAtomically(out, report.markdown);
    if (!written.ok()) return Fail(std::string(written.message()));
    std::printf("wrote %s\n", out.c_str());
    papers.emplace_back(std::move(paper), std::move(report));
  }
  std::vector<std::pair<std::string, nlohmann::json>> ordered(sweeps.begin(), sweeps.end());
  const std::string index = root + "/results/papers/README.md";
  absl::Status written =
      quantbench::WriteFileAtomically(index, quantbench::PapersIndexMarkdown(papers, quantbench::BitsToReachMarkdown(ordered)));
  if (!written.ok()) return Fail(std::string(written.message()));
  std::printf("wrote %s\n", index.c_str());
  return 0;
}
