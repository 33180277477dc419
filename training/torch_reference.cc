#include "training/torch_reference.h"

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "kernels/status_macros.h"

namespace quantbench {
namespace {

std::string GoldenPath() {
  const std::string path = "training/testdata/torch_reference.txt";
  if (const char* srcdir = std::getenv("TEST_SRCDIR")) {
    const char* workspace = std::getenv("TEST_WORKSPACE");
    return absl::StrCat(srcdir, "/", workspace ? workspace : "quantbench", "/", path);
  }
  return path;
}

absl::Status ParseError(int line, const std::string& what) {
  return absl::DataLossError(absl::StrCat("torch_reference.txt:", line, ": ", what));
}

bool ParseNumber(const std::string& token, float* v) { return absl::SimpleAtof(token, v); }
bool ParseNumber(const std::string& token, double* v) { return absl::SimpleAtod(token, v); }
bool ParseNumber(const std::string& token, int32_t* v) { return absl::SimpleAtoi(token, v); }

// tokens[first..] as numbers of type T.
template <typename T>
absl::StatusOr<std::vector<T>> Numbers(const std::vector<std::string>& tokens, size_t first,
                                       int line) {
  std::vector<T> values;
  for (size_t i = first; i < tokens.size(); ++i) {
    T v;
    if (!ParseNumber(tokens[i], &v)) return ParseError(line, "bad number " + tokens[i]);
    values.push_back(v);
  }
  return values;
}

// "key=value" tokens from `first` on.
absl::StatusOr<std::map<std::string, std::string>> Settings(const std::vector<std::string>& tokens,
                                                            size_t first, int line) {
  std::map<std::string, std::string> settings;
  for (size_t i = first; i < tokens.size(); ++i) {
    std::vector<std::string> kv = absl::StrSplit(tokens[i], absl::MaxSplits('=', 1));
    if (kv.size() != 2) return ParseError(line, "expected key=value, got " + tokens[i]);
    settings[kv[0]] = kv[1];
  }
  return settings;
}

}  // namespace

absl::StatusOr<TorchReference> LoadTorchReference() {
  const std::string path = GoldenPath();
  std::ifstream file(path);
  if (!file) return absl::NotFoundError("cannot open " + path);
  TorchReference reference;
  TorchOptimizerCase* optimizer = nullptr;
  TorchScheduleCase* schedule = nullptr;
  TorchLossCase* loss = nullptr;
  std::string text;
  int line = 0;
  while (std::getline(file, text)) {
    ++line;
    if (text.empty() || text[0] == '#') continue;
    std::vector<std::string> tokens = absl::StrSplit(text, ' ', absl::SkipEmpty());
    const std::string& tag = tokens[0];
    if (tag == "optimizer" || tag == "schedule" || tag == "loss") {
      if (optimizer != nullptr || schedule != nullptr || loss != nullptr) {
        return ParseError(line, "case inside a case");
      }
      if (tag == "loss") {
        if (tokens.size() < 2) return ParseError(line, "loss without a name");
        loss = &reference.losses.emplace_back();
        loss->name = tokens[1];
        QB_ASSIGN_OR_RETURN(loss->settings, Settings(tokens, 2, line));
      } else if (tag == "optimizer") {
        if (tokens.size() < 2) return ParseError(line, "optimizer without a name");
        optimizer = &reference.optimizers.emplace_back();
        optimizer->name = tokens[1];
        QB_ASSIGN_OR_RETURN(optimizer->settings, Settings(tokens, 2, line));
      } else {
        schedule = &reference.schedules.emplace_back();
        QB_ASSIGN_OR_RETURN(schedule->settings, Settings(tokens, 1, line));
      }
    } else if (tag == "end") {
      optimizer = nullptr;
      schedule = nullptr;
      loss = nullptr;
    } else if (loss != nullptr && tag == "input" && tokens.size() >= 2) {
      QB_ASSIGN_OR_RETURN(loss->inputs[tokens[1]], Numbers<float>(tokens, 2, line));
    } else if (loss != nullptr && tag == "labels") {
      QB_ASSIGN_OR_RETURN(loss->labels, Numbers<int32_t>(tokens, 1, line));
    } else if (loss != nullptr && tag == "value" && tokens.size() == 2) {
      if (!absl::SimpleAtod(tokens[1], &loss->value)) return ParseError(line, "bad value");
    } else if (loss != nullptr && tag == "grad") {
      QB_ASSIGN_OR_RETURN(loss->grad, Numbers<double>(tokens, 1, line));
    } else if (schedule != nullptr && tag == "lr" && tokens.size() == 4) {
      TorchScheduleCase::Point point;
      if (!absl::SimpleAtod(tokens[1], &point.progress) ||
          !absl::SimpleAtod(tokens[2], &point.lr)) {
        return ParseError(line, "bad lr line");
      }
      point.restart = tokens[3] == "1";
      schedule->points.push_back(point);
    } else if (optimizer != nullptr && tag == "tensor" && tokens.size() >= 3) {
      TorchOptimizerCase::Tensor tensor;
      tensor.name = tokens[1];
      tensor.decay = tokens[2] == "decay=1";
      QB_ASSIGN_OR_RETURN(tensor.values, Numbers<float>(tokens, 3, line));
      optimizer->tensors.push_back(std::move(tensor));
    } else if (optimizer != nullptr && tag == "step" && tokens.size() == 3) {
      TorchOptimizerCase::Step& step = optimizer->steps.emplace_back();
      if (tokens[2].rfind("lr=", 0) != 0 || !absl::SimpleAtof(tokens[2].substr(3), &step.lr)) {
        return ParseError(line, "bad step line");
      }
    } else if (optimizer != nullptr && (tag == "grad" || tag == "after") && tokens.size() >= 2) {
      if (optimizer->steps.empty()) return ParseError(line, tag + " before any step");
      auto& target = tag == "grad" ? optimizer->steps.back().grad : optimizer->steps.back().after;
      QB_ASSIGN_OR_RETURN(target[tokens[1]], Numbers<float>(tokens, 2, line));
    } else if (optimizer != nullptr && tag == "reset") {
      if (optimizer->steps.empty()) return ParseError(line, "reset before any step");
      optimizer->steps.back().reset_after = true;
    } else if (optimizer != nullptr && tag == "state" && tokens.size() >= 2) {
      QB_ASSIGN_OR_RETURN(optimizer->final_state[tokens[1]], Numbers<float>(tokens, 2, line));
    } else {
      return ParseError(line, "unexpected line: " + text);
    }
  }
  if (optimizer != nullptr || schedule != nullptr || loss != nullptr) {
    return ParseError(line, "last case has no end");
  }
  return reference;
}

bool NearlyEqual(double actual, double expected, double tolerance) {
  return std::fabs(actual - expected) <= tolerance * std::fmax(1.0, std::fabs(expected));
}

}  // namespace quantbench
