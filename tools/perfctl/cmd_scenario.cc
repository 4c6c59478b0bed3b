// scenario load DIR: loads a scenario (DIR/scenario.json, e.g. deploy/examples/manufacturing)
// into a server, step by step.
//
// Each step IS a perfctl command (policy apply, import org-units, import employees, cycle open,
// goal set, goal progress, metric import, grade compute), parsed and run in-process by the same
// command tree as on the command line, so a scenario is validated, sent and deduplicated exactly
// as if an operator typed the commands: imports derive their keys from their rows and files;
// the other steps get --idempotency-key scenario:<SHA-256 of the step's content>. Loading a
// scenario twice therefore appends nothing the second time.
//
// Each step runs with `-o json`; its output is captured and summarized (or embedded in the JSON
// report). The first failing step stops the load: later steps depend on earlier ones.

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <chrono>
#include <memory>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/digest.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/records.h"

namespace perfctl {
namespace {

using nlohmann::json;
namespace v1 = perfledger::v1;

constexpr char kManifest[] = "scenario.json";
constexpr size_t kManifestBytesMax = 4 << 20;

// ---------------------------------------------------------------- the manifest

struct Cycle {
  std::string cycle_id;
  std::string name;
  std::string start;
  std::string end;
  std::string grades;  // comma-separated, best first; empty = the server's default
};

struct Compute {
  std::string cycle_id;
  std::string at;
  std::vector<std::string> employees;
};

struct Scenario {
  std::string dir;
  std::string description;
  std::string policy;
  std::vector<std::string> org_units;
  std::vector<std::string> employees;
  std::vector<Cycle> cycles;
  std::string goals;
  std::vector<std::string> metrics;
  std::vector<Compute> compute_grades;
  // After the grades: perfctl command lines, in order (what people do next: a plan's goals and
  // outcome, a dispute, recognition). An argument "{pip:<employee>}" is the id of the
  // employee's first improvement plan (the one the policy opened), looked up when the step runs.
  std::vector<std::vector<std::string>> then;
};

absl::StatusOr<json> ReadJsonFile(const std::string& path, size_t max_bytes) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  if (in.bad()) return UsageError(absl::StrCat(path, ": read error"));
  if (text.str().size() > max_bytes) {
    return UsageError(absl::StrCat(path, ": larger than ", max_bytes, " bytes"));
  }
  json value = json::parse(text.str(), nullptr, /*allow_exceptions=*/false);
  if (value.is_discarded()) return UsageError(absl::StrCat(path, ": not valid JSON"));
  return value;
}

// Refuses keys outside `known`: a typo ("org_unit") would otherwise silently skip a step.
absl::Status CheckKeys(const json& object, const std::string& where,
                       const std::vector<std::string>& known) {
  if (!object.is_object()) return UsageError(absl::StrCat(where, ": expected an object"));
  for (const auto& [key, value] : object.items()) {
    if (std::find(known.begin(), known.end(), key) == known.end()) {
      return UsageError(absl::StrCat(where, ": unknown key '", key, "' (known: ",
                                     absl::StrJoin(known, ", "), ")"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::string> GetString(const json& object, const std::string& where,
                                      const std::string& key, bool required) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) {
    if (required) return UsageError(absl::StrCat(where, ".", key, ": required"));
    return std::string();
  }
  if (!it->is_string()) return UsageError(absl::StrCat(where, ".", key, ": expected a string"));
  return it->get<std::string>();
}

// A file name or a list of them, each resolved against the scenario directory.
absl::StatusOr<std::vector<std::string>> GetFiles(const json& manifest, const std::string& dir,
                                                  const std::string& key) {
  std::vector<std::string> files;
  auto it = manifest.find(key);
  if (it == manifest.end() || it->is_null()) return files;
  std::vector<json> items;
  if (it->is_array()) items.assign(it->begin(), it->end());
  else items.push_back(*it);
  for (size_t i = 0; i < items.size(); ++i) {
    if (!items[i].is_string() || items[i].get<std::string>().empty()) {
      return UsageError(absl::StrCat(kManifest, ": ", key,
                                     it->is_array() ? absl::StrCat("[", i, "]") : "",
                                     ": expected a file name"));
    }
    std::filesystem::path path(items[i].get<std::string>());
    if (path.is_relative()) path = std::filesystem::path(dir) / path;
    std::error_code error;
    if (!std::filesystem::is_regular_file(path, error)) {
      return UsageError(absl::StrCat(kManifest, ": ", key, ": ", path.string(), ": no such file"));
    }
    files.push_back(path.lexically_normal().string());
  }
  return files;
}

absl::StatusOr<std::string> GetFile(const json& manifest, const std::string& dir,
                                    const std::string& key) {
  PERFCTL_ASSIGN_OR_RETURN(std::vector<std::string> files, GetFiles(manifest, dir, key));
  if (files.size() > 1) return UsageError(absl::StrCat(kManifest, ": ", key, ": one file expected"));
  return files.empty() ? std::string() : files.front();
}

absl::StatusOr<Scenario> ReadScenario(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / kManifest).string();
  PERFCTL_ASSIGN_OR_RETURN(json manifest, ReadJsonFile(path, kManifestBytesMax));
  PERFCTL_RETURN_IF_ERROR(CheckKeys(manifest, kManifest,
                                    {"description", "policy", "org_units", "employees", "cycles",
                                     "goals", "metrics", "compute_grades", "then"}));
  Scenario s;
  s.dir = dir;
  PERFCTL_ASSIGN_OR_RETURN(s.description, GetString(manifest, kManifest, "description", false));
  PERFCTL_ASSIGN_OR_RETURN(s.policy, GetFile(manifest, dir, "policy"));
  PERFCTL_ASSIGN_OR_RETURN(s.org_units, GetFiles(manifest, dir, "org_units"));
  PERFCTL_ASSIGN_OR_RETURN(s.employees, GetFiles(manifest, dir, "employees"));
  PERFCTL_ASSIGN_OR_RETURN(s.goals, GetFile(manifest, dir, "goals"));
  PERFCTL_ASSIGN_OR_RETURN(s.metrics, GetFiles(manifest, dir, "metrics"));
  if (auto it = manifest.find("cycles"); it != manifest.end() && !it->is_null()) {
    if (!it->is_array()) return UsageError(absl::StrCat(kManifest, ": cycles: expected a list"));
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      const std::string where = absl::StrCat(kManifest, ": cycles[", i, "]");
      PERFCTL_RETURN_IF_ERROR(CheckKeys(item, where, {"cycle_id", "name", "start", "end", "grades"}));
      Cycle c;
      PERFCTL_ASSIGN_OR_RETURN(c.cycle_id, GetString(item, where, "cycle_id", true));
      PERFCTL_ASSIGN_OR_RETURN(c.name, GetString(item, where, "name", false));
      if (c.name.empty()) c.name = c.cycle_id;
      PERFCTL_ASSIGN_OR_RETURN(c.start, GetString(item, where, "start", true));
      PERFCTL_ASSIGN_OR_RETURN(c.end, GetString(item, where, "end", true));
      if (auto g = item.find("grades"); g != item.end() && g->is_array()) {
        std::vector<std::string> grades;
        for (const json& grade : *g) {
          if (!grade.is_string()) return UsageError(absl::StrCat(where, ".grades: expected strings"));
          grades.push_back(grade.get<std::string>());
        }
        c.grades = absl::StrJoin(grades, ",");
      } else {
        PERFCTL_ASSIGN_OR_RETURN(c.grades, GetString(item, where, "grades", false));
      }
      s.cycles.push_back(std::move(c));
    }
  }
  if (auto it = manifest.find("compute_grades"); it != manifest.end() && !it->is_null()) {
    if (!it->is_array()) {
      return UsageError(absl::StrCat(kManifest, ": compute_grades: expected a list"));
    }
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      const std::string where = absl::StrCat(kManifest, ": compute_grades[", i, "]");
      PERFCTL_RETURN_IF_ERROR(CheckKeys(item, where, {"cycle_id", "at", "employee_ids"}));
      Compute c;
      PERFCTL_ASSIGN_OR_RETURN(c.cycle_id, GetString(item, where, "cycle_id", true));
      PERFCTL_ASSIGN_OR_RETURN(c.at, GetString(item, where, "at", false));
      if (auto e = item.find("employee_ids"); e != item.end()) {
        if (!e->is_array()) return UsageError(absl::StrCat(where, ".employee_ids: expected a list"));
        for (const json& id : *e) {
          if (!id.is_string()) return UsageError(absl::StrCat(where, ".employee_ids: expected strings"));
          c.employees.push_back(id.get<std::string>());
        }
      }
      s.compute_grades.push_back(std::move(c));
    }
  }
  if (auto it = manifest.find("then"); it != manifest.end() && !it->is_null()) {
    if (!it->is_array()) return UsageError(absl::StrCat(kManifest, ": then: expected a list"));
    for (size_t i = 0; i < it->size(); ++i) {
      const json& item = (*it)[i];
      const std::string where = absl::StrCat(kManifest, ": then[", i, "]");
      PERFCTL_RETURN_IF_ERROR(CheckKeys(item, where, {"perfctl", "note"}));
      auto args = item.find("perfctl");
      if (args == item.end() || !args->is_array() || args->empty()) {
        return UsageError(absl::StrCat(where, ".perfctl: expected the command line as a list"));
      }
      std::vector<std::string> line;
      for (const json& a : *args) {
        if (!a.is_string()) return UsageError(absl::StrCat(where, ".perfctl: expected strings"));
        line.push_back(a.get<std::string>());
      }
      s.then.push_back(std::move(line));
    }
  }
  return s;
}

// ---------------------------------------------------------------- steps

struct Step {
  std::string label;              // what the summary shows
  std::string kind;               // how its JSON output is summarized
  std::vector<std::string> args;  // the perfctl command line, without global flags
};

// "scenario:" + 32 hex of SHA-256 over the step's kind and content.
std::string StepKey(const std::string& kind, const std::string& content) {
  return absl::StrCat("scenario:", Sha256Hex(absl::StrCat(kind, "\n", content)).substr(0, 32));
}

std::string FileName(const std::string& path) {
  return std::filesystem::path(path).filename().string();
}

absl::StatusOr<std::string> ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return UsageError(absl::StrCat(path, ": cannot open: ", std::strerror(errno)));
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

// Does any row of the org-unit file name a manager? Such a file is applied twice: without
// managers before the employees (units must exist first), with them after.
absl::StatusOr<bool> HasManagers(const std::string& path) {
  PERFCTL_ASSIGN_OR_RETURN(FileFormat format, FileFormatFor(path, ""));
  PERFCTL_ASSIGN_OR_RETURN(std::vector<Row> rows, ReadRows(path, format, OrgUnitSchema()));
  for (const Row& row : rows) {
    if (!row.Get("manager_id").empty()) return true;
  }
  return false;
}

// goals.json: an array of SetGoal objects (owner_org_unit or owner_employee, key_results with
// optional direction and weight) with optional progress entries.
absl::Status AddGoalSteps(const std::string& path, std::vector<Step>* steps) {
  PERFCTL_ASSIGN_OR_RETURN(json goals, ReadJsonFile(path, kManifestBytesMax));
  const std::string file = FileName(path);
  if (!goals.is_array()) return UsageError(absl::StrCat(file, ": expected an array of goals"));
  // Parents first, through the same ordering as the imports.
  std::vector<Row> rows;
  for (size_t i = 0; i < goals.size(); ++i) {
    const std::string where = absl::StrCat(file, "[", i, "]");
    PERFCTL_RETURN_IF_ERROR(CheckKeys(goals[i], where,
                                      {"goal_id", "cycle_id", "owner_org_unit", "owner_employee",
                                       "parent_goal_id", "title", "description", "weight_bp",
                                       "key_results", "progress"}));
    Row row;
    row.location = where;
    PERFCTL_ASSIGN_OR_RETURN(row.values["goal_id"], GetString(goals[i], where, "goal_id", true));
    PERFCTL_ASSIGN_OR_RETURN(row.values["parent_goal_id"],
                             GetString(goals[i], where, "parent_goal_id", false));
    rows.push_back(std::move(row));
  }
  const Schema order{"goal", "goal_id", "parent_goal_id", {}, {}};
  std::vector<Step> progress_steps;
  for (size_t index : ParentsFirst(rows, order)) {
    const json& goal = goals[index];
    const std::string where = rows[index].location;
    const std::string goal_id = rows[index].Get("goal_id");
    Step step{absl::StrCat("goal set ", goal_id), "command", {"goal", "set", goal_id}};
    PERFCTL_ASSIGN_OR_RETURN(std::string cycle, GetString(goal, where, "cycle_id", true));
    PERFCTL_ASSIGN_OR_RETURN(std::string unit, GetString(goal, where, "owner_org_unit", false));
    PERFCTL_ASSIGN_OR_RETURN(std::string employee, GetString(goal, where, "owner_employee", false));
    if (unit.empty() == employee.empty()) {
      return UsageError(absl::StrCat(where, ": give exactly one of owner_org_unit, owner_employee"));
    }
    PERFCTL_ASSIGN_OR_RETURN(std::string title, GetString(goal, where, "title", true));
    PERFCTL_ASSIGN_OR_RETURN(std::string description, GetString(goal, where, "description", false));
    step.args.insert(step.args.end(), {"--cycle", cycle});
    if (!unit.empty()) step.args.insert(step.args.end(), {"--owner-org-unit", unit});
    else step.args.insert(step.args.end(), {"--owner-employee", employee});
    step.args.insert(step.args.end(), {"--title", title});
    if (!description.empty()) step.args.insert(step.args.end(), {"--description", description});
    if (!rows[index].Get("parent_goal_id").empty()) {
      step.args.insert(step.args.end(), {"--parent", rows[index].Get("parent_goal_id")});
    }
    if (auto w = goal.find("weight_bp"); w != goal.end()) {
      if (!w->is_number_unsigned()) return UsageError(absl::StrCat(where, ".weight_bp: expected an integer"));
      step.args.insert(step.args.end(), {"--weight-bp", absl::StrCat(w->get<uint64_t>())});
    }
    // Key results as `goal set --kr` specs: id:description:start:target:unit:direction[:weight].
    if (auto krs = goal.find("key_results"); krs != goal.end() && !krs->is_null()) {
      if (!krs->is_array()) return UsageError(absl::StrCat(where, ".key_results: expected a list"));
      for (size_t k = 0; k < krs->size(); ++k) {
        const json& kr = (*krs)[k];
        const std::string kw = absl::StrCat(where, ".key_results[", k, "]");
        PERFCTL_RETURN_IF_ERROR(CheckKeys(kr, kw, {"key_result_id", "description", "start_milli",
                                                   "target_milli", "unit", "direction", "weight_bp"}));
        PERFCTL_ASSIGN_OR_RETURN(std::string id, GetString(kr, kw, "key_result_id", true));
        if (absl::StrContains(id, ":")) {
          return UsageError(absl::StrCat(kw, ".key_result_id: ':' is not allowed in a key result id"));
        }
        PERFCTL_ASSIGN_OR_RETURN(std::string text, GetString(kr, kw, "description", false));
        PERFCTL_ASSIGN_OR_RETURN(std::string unit_name, GetString(kr, kw, "unit", false));
        PERFCTL_ASSIGN_OR_RETURN(std::string direction, GetString(kr, kw, "direction", false));
        int64_t start = 0;
        int64_t target = 0;
        for (auto [key, out] : {std::pair{"start_milli", &start}, std::pair{"target_milli", &target}}) {
          auto v = kr.find(key);
          if (v == kr.end() || !v->is_number_integer()) {
            return UsageError(absl::StrCat(kw, ".", key, ": expected an integer (milli-units)"));
          }
          *out = v->get<int64_t>();
        }
        // The CLI spells directions "higher"/"lower"; the documents may use the policy words.
        if (direction.empty()) direction = target >= start ? "higher" : "lower";
        direction = std::string(absl::StripSuffix(direction, "_is_better"));
        std::string spec = absl::StrCat(id, ":", text, ":", start, ":", target, ":", unit_name, ":",
                                        direction);
        if (auto w = kr.find("weight_bp"); w != kr.end()) {
          if (!w->is_number_unsigned()) {
            return UsageError(absl::StrCat(kw, ".weight_bp: expected an integer"));
          }
          absl::StrAppend(&spec, ":", w->get<uint64_t>());
        }
        step.args.insert(step.args.end(), {"--kr", spec});
      }
    }
    json definition = goal;
    definition.erase("progress");
    step.args.insert(step.args.end(), {"--idempotency-key", StepKey("goal", definition.dump())});
    steps->push_back(std::move(step));

    if (auto ps = goal.find("progress"); ps != goal.end() && !ps->is_null()) {
      if (!ps->is_array()) return UsageError(absl::StrCat(where, ".progress: expected a list"));
      for (size_t p = 0; p < ps->size(); ++p) {
        const json& entry = (*ps)[p];
        const std::string pw = absl::StrCat(where, ".progress[", p, "]");
        PERFCTL_RETURN_IF_ERROR(CheckKeys(entry, pw, {"key_result_id", "value_milli", "note", "at"}));
        PERFCTL_ASSIGN_OR_RETURN(std::string kr, GetString(entry, pw, "key_result_id", true));
        auto v = entry.find("value_milli");
        if (v == entry.end() || !v->is_number_integer()) {
          return UsageError(absl::StrCat(pw, ".value_milli: expected an integer (milli-units)"));
        }
        const std::string value = absl::StrCat(v->get<int64_t>());
        PERFCTL_ASSIGN_OR_RETURN(std::string note, GetString(entry, pw, "note", false));
        PERFCTL_ASSIGN_OR_RETURN(std::string at, GetString(entry, pw, "at", false));
        Step ps_step{absl::StrCat("goal progress ", goal_id, " ", kr, " ", value), "command",
                     {"goal", "progress", goal_id, kr, value}};
        if (!note.empty()) ps_step.args.insert(ps_step.args.end(), {"--note", note});
        if (!at.empty()) ps_step.args.insert(ps_step.args.end(), {"--at", at});
        ps_step.args.insert(ps_step.args.end(),
                            {"--idempotency-key",
                             StepKey("progress", json{{"goal_id", goal_id}, {"entry", entry}}.dump())});
        progress_steps.push_back(std::move(ps_step));
      }
    }
  }
  // Progress after every goal is set, so a roll-up never sees half a tree.
  for (Step& step : progress_steps) steps->push_back(std::move(step));
  return absl::OkStatus();
}

absl::StatusOr<std::vector<Step>> PlanSteps(const Scenario& s) {
  std::vector<Step> steps;
  if (!s.policy.empty()) {
    PERFCTL_ASSIGN_OR_RETURN(std::string document, ReadFileBytes(s.policy));
    const std::string comment = "perfctl scenario load";
    steps.push_back({absl::StrCat("policy apply ", FileName(s.policy)), "policy",
                     {"policy", "apply", s.policy, "--comment", comment, "--idempotency-key",
                      StepKey("policy", absl::StrCat(comment, "\n", document))}});
  }
  std::vector<std::string> with_managers;
  for (const std::string& file : s.org_units) {
    PERFCTL_ASSIGN_OR_RETURN(bool managers, HasManagers(file));
    if (managers) with_managers.push_back(file);
    steps.push_back({absl::StrCat("import org-units ", FileName(file),
                                  managers ? " --without-managers" : ""),
                     "import", {"import", "org-units", file}});
    if (managers) steps.back().args.push_back("--without-managers");
  }
  for (const std::string& file : s.employees) {
    steps.push_back({absl::StrCat("import employees ", FileName(file)), "import",
                     {"import", "employees", file}});
  }
  for (const std::string& file : with_managers) {
    steps.push_back({absl::StrCat("import org-units ", FileName(file)), "import",
                     {"import", "org-units", file}});
  }
  for (const Cycle& c : s.cycles) {
    Step step{absl::StrCat("cycle open ", c.cycle_id), "command",
              {"cycle", "open", c.cycle_id, "--name", c.name, "--start", c.start, "--end", c.end}};
    if (!c.grades.empty()) step.args.insert(step.args.end(), {"--grades", c.grades});
    step.args.insert(step.args.end(),
                     {"--idempotency-key",
                      StepKey("cycle", absl::StrJoin({c.cycle_id, c.name, c.start, c.end, c.grades}, "\n"))});
    steps.push_back(std::move(step));
  }
  if (!s.goals.empty()) PERFCTL_RETURN_IF_ERROR(AddGoalSteps(s.goals, &steps));
  for (const std::string& file : s.metrics) {
    steps.push_back({absl::StrCat("metric import ", FileName(file)), "metrics",
                     {"metric", "import", file}});
  }
  // A grade that already follows from its inputs is answered unchanged: re-running is harmless.
  for (const Compute& c : s.compute_grades) {
    Step step{absl::StrCat("grade compute --cycle ", c.cycle_id), "grades",
              {"grade", "compute", "--cycle", c.cycle_id}};
    if (!c.at.empty()) step.args.insert(step.args.end(), {"--at", c.at});
    for (const std::string& e : c.employees) step.args.insert(step.args.end(), {"--employee", e});
    steps.push_back(std::move(step));
  }
  for (const std::vector<std::string>& line : s.then) {
    // The label: the command and its first operand ("pip close {pip:W13}").
    std::vector<std::string> head;
    for (const std::string& arg : line) {
      if (absl::StartsWith(arg, "-") || head.size() == 3) break;
      head.push_back(arg);
    }
    Step step{absl::StrJoin(head, " "), "command", line};
    step.args.insert(step.args.end(),
                     {"--idempotency-key", StepKey("then", json(line).dump())});
    steps.push_back(std::move(step));
  }
  return steps;
}

// ---------------------------------------------------------------- running a step

// Redirects std::cout and std::cerr into strings for its lifetime.
class Capture {
 public:
  Capture() : old_out_(std::cout.rdbuf(out_.rdbuf())), old_err_(std::cerr.rdbuf(err_.rdbuf())) {}
  ~Capture() {
    std::cout.rdbuf(old_out_);
    std::cerr.rdbuf(old_err_);
  }
  Capture(const Capture&) = delete;
  Capture& operator=(const Capture&) = delete;
  std::string out() const { return out_.str(); }
  std::string err() const { return err_.str(); }

 private:
  std::ostringstream out_;
  std::ostringstream err_;
  std::streambuf* old_out_;
  std::streambuf* old_err_;
};

struct StepResult {
  int exit_code = 0;
  std::string error;  // the step's "perfctl: ..." line, without the prefix
  json output;        // its -o json document (null if it printed none)
};

constexpr char kPipPlaceholder[] = "{pip:";

// The step with its "{pip:<employee>}" arguments replaced by the id of the employee's first
// plan (by opening time), read from the PIP view once it has applied the log so far.
absl::StatusOr<Step> Resolve(Session& session, Step step) {
  for (std::string& arg : step.args) {
    if (!absl::StartsWith(arg, kPipPlaceholder) || !absl::EndsWith(arg, "}")) continue;
    const std::string employee =
        arg.substr(sizeof(kPipPlaceholder) - 1, arg.size() - sizeof(kPipPlaceholder));
    v1::ListPipsRequest request;
    request.set_employee_id(employee);
    std::optional<v1::PipPlan> first;
    // The reactor opens the plan asynchronously after the grade: wait for it a little.
    for (int attempt = 0; attempt < 100 && !first; attempt++) {
      PERFCTL_ASSIGN_OR_RETURN(v1::ListPipsResponse plans,
                               (CallUnary<v1::Views>(session, &v1::Views::Stub::ListPips, request)));
      for (const v1::PipPlan& p : plans.plans()) {
        if (!first || p.starts_at().seconds() < first->starts_at().seconds()) first = p;
      }
      if (!first) std::this_thread::sleep_for(std::chrono::milliseconds(100));
    }
    if (!first) return UsageError(absl::StrCat(arg, ": ", employee, " has no improvement plan"));
    arg = first->pip_id();
  }
  return step;
}

// Parses and runs one perfctl command line in-process, with the scenario's connection flags.
StepResult RunStep(const GlobalFlags& global, const Step& step) {
  CLI::App app("perfctl scenario step", "perfctl");
  app.fallthrough();
  app.require_subcommand(1);
  Session session(&app);
  AddImportCommands(app, session);
  AddCycleCommands(app, session);
  AddGoalCommands(app, session);
  AddMetricCommands(app, session);
  AddReviewCommands(app, session);
  AddPolicyCommands(app, session);
  AddPipCommands(app, session);
  AddDisputeCommands(app, session);
  AddRecognitionCommands(app, session);
  StepResult result;
  std::vector<std::string> args(step.args.rbegin(), step.args.rend());  // CLI11 wants them reversed
  try {
    app.parse(args);
  } catch (const CLI::ParseError& e) {
    result.exit_code = static_cast<int>(ExitCode::kUsage);
    result.error = absl::StrCat("perfctl ", absl::StrJoin(step.args, " "), ": ", e.what());
    return result;
  }
  if (!session.selected()) {
    result.exit_code = static_cast<int>(ExitCode::kUsage);
    result.error = "no command selected";
    return result;
  }
  session.flags() = global;
  session.flags().output = "json";
  std::string out;
  std::string err;
  {
    Capture capture;
    result.exit_code = session.Run();
    out = capture.out();
    err = capture.err();
  }
  result.output = json::parse(out, nullptr, /*allow_exceptions=*/false);
  if (result.output.is_discarded()) result.output = nullptr;
  for (absl::string_view line : absl::StrSplit(err, '\n')) {
    if (absl::ConsumePrefix(&line, "perfctl: ")) result.error = std::string(line);
  }
  if (result.exit_code != 0 && result.error.empty()) {
    result.error = std::string(absl::StripTrailingAsciiWhitespace(err));
  }
  return result;
}

uint64_t Count(const json& output, const char* key) {
  auto it = output.find(key);
  return it != output.end() && it->is_number_unsigned() ? it->get<uint64_t>() : 0;
}

// One line on what the step did, from its JSON output.
std::string Detail(const Step& step, const StepResult& r) {
  const json& o = r.output;
  if (!o.is_object()) return "";
  if (step.kind == "policy") {
    const bool dedup = o.value("deduplicated", false);
    if (o.contains("version")) {
      return absl::StrCat("version ", o["version"].get<uint64_t>(),
                          dedup ? " already published" : " published");
    }
    return dedup ? "already published" : "published";
  }
  if (step.kind == "import") {
    std::string text = absl::StrCat(Count(o, "rows"), " rows: ", Count(o, "accepted"), " accepted, ",
                                    Count(o, "already_present"), " already present, ",
                                    Count(o, "rejected"), " rejected");
    if (Count(o, "not_sent") > 0) absl::StrAppend(&text, ", ", Count(o, "not_sent"), " not sent");
    // The first rejected row says what to fix.
    for (const json& item : o.value("results", json::array())) {
      if (item.value("outcome", "") == "rejected") {
        absl::StrAppend(&text, "; ", item.value("location", ""), " (", item.value("id", ""),
                        "): ", item.value("reason", ""));
        break;
      }
    }
    return text;
  }
  if (step.kind == "metrics") {
    return absl::StrCat(Count(o, "sent_rows"), " observations in ", Count(o, "sent_batches"),
                        " batches (keyed by file content: a re-sent batch is not appended twice)");
  }
  if (step.kind == "grades") {
    std::map<std::string, int> by_grade;
    std::vector<std::string> graded;
    size_t skipped = 0;
    for (const json& g : o.value("grades", json::array())) {
      if (!g.value("skipped_reason", "").empty()) {
        ++skipped;
        continue;
      }
      graded.push_back(absl::StrCat(g.value("employee_id", ""), " ", g.value("grade", "")));
    }
    // Proto JSON prints 64-bit integers as strings.
    std::string version = "?";
    if (auto v = o.find("policy_version"); v != o.end()) {
      version = v->is_string() ? v->get<std::string>() : v->dump();
    }
    return absl::StrCat(graded.size(), " graded (", absl::StrJoin(graded, ", "), ")",
                        skipped > 0 ? absl::StrCat(", ", skipped, " skipped") : "",
                        ", policy version ", version);
  }
  // A plain command: its CommandResult.
  if (o.value("deduplicated", false)) return "already done (deduplicated)";
  const size_t events = o.contains("events") ? o["events"].size() : 0;
  return absl::StrCat(events, events == 1 ? " event" : " events", " appended");
}

absl::Status RunLoad(Session& session, const std::string& dir) {
  PERFCTL_ASSIGN_OR_RETURN(Scenario scenario, ReadScenario(dir));
  // Every file is read and checked before the first step is sent.
  PERFCTL_ASSIGN_OR_RETURN(std::vector<Step> steps, PlanSteps(scenario));
  const bool json_output = session.format() == OutputFormat::kJson;
  if (!json_output) {
    std::cout << "scenario " << dir;
    if (!scenario.description.empty()) std::cout << ": " << scenario.description;
    std::cout << '\n';
  }
  size_t label_width = 0;
  for (const Step& step : steps) label_width = std::max(label_width, step.label.size());
  StreamingTable table({"STEP", "COMMAND", "OUTCOME", "DETAIL"}, {4, label_width, 7, 0});
  json report_steps = json::array();
  size_t ok = 0;
  size_t failed = 0;
  absl::Status failure;
  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& step = steps[i];
    json entry = {{"step", i + 1}, {"command", step.label}, {"args", step.args}};
    if (failed > 0) {
      entry["outcome"] = "not run";
      report_steps.push_back(std::move(entry));
      if (!json_output) table.PrintRow(std::cout, {absl::StrCat(i + 1), step.label, "not run", ""});
      continue;
    }
    StepResult r;
    if (absl::StatusOr<Step> resolved = Resolve(session, step); resolved.ok()) {
      r = RunStep(session.flags(), *resolved);
    } else {
      r.exit_code = static_cast<int>(ExitCode::kUsage);
      r.error = std::string(resolved.status().message());
    }
    const bool success = r.exit_code == 0;
    (success ? ok : failed) += 1;
    std::string detail = Detail(step, r);
    if (!success) detail = detail.empty() ? r.error : absl::StrCat(r.error, " — ", detail);
    entry["outcome"] = success ? "ok" : "failed";
    entry["exit_code"] = r.exit_code;
    entry["detail"] = detail;
    if (!r.error.empty()) entry["error"] = r.error;
    entry["output"] = r.output;
    report_steps.push_back(std::move(entry));
    if (!json_output) {
      table.PrintRow(std::cout, {absl::StrCat(i + 1), step.label, success ? "ok" : "FAILED", detail});
    }
    if (!success) {
      // The step's own error is in the summary above; this line says where the load stopped.
      const std::string message =
          absl::StrCat("step ", i + 1, " (", step.label, ") failed; later steps not run");
      failure = r.exit_code == static_cast<int>(ExitCode::kUnavailable)
                    ? absl::UnavailableError(message)
                    : ReportedFailure(message);
    }
  }
  if (json_output) {
    json report = {{"scenario", dir},
                   {"description", scenario.description},
                   {"steps", std::move(report_steps)},
                   {"ok", ok},
                   {"failed", failed},
                   {"not_run", steps.size() - ok - failed}};
    std::cout << report.dump(2) << '\n';
  } else {
    std::cout << ok << " of " << steps.size() << " steps ok";
    if (failed > 0) std::cout << ", " << failed << " failed, " << steps.size() - ok - failed << " not run";
    std::cout << '\n';
  }
  return failure;
}

}  // namespace

void AddScenarioCommands(CLI::App& app, Session& session) {
  CLI::App* scenario = app.add_subcommand("scenario", "Load a scenario directory (scenario.json)");
  scenario->require_subcommand(1);
  auto dir = std::make_shared<std::string>();
  CLI::App* load = scenario->add_subcommand(
      "load", "Run a scenario's steps: policy, org units, employees, cycles, goals, metrics, grades");
  load->add_option("DIR", *dir, "Directory holding scenario.json and the files it names")->required();
  load->footer(absl::StrCat(
      "\nscenario.json keys (all optional but their order is fixed): policy (file), org_units"
      "\n(file or list), employees, cycles ([{cycle_id, name, start, end, grades}]), goals"
      "\n(goals.json: SetGoal objects with key_results and progress), metrics (CSV), and"
      "\ncompute_grades ([{cycle_id, at, employee_ids}]), then ([{perfctl: [args...], note}]: what"
      "\npeople do next, e.g. a plan's goals and outcome, a dispute, recognition; an argument"
      "\n\"{pip:<employee>}\" is the employee's first plan). Org-unit files naming managers are"
      "\napplied without them before the employees and with them after. Each step is the perfctl"
      "\ncommand of the same name with an idempotency key derived from its content, so loading"
      "\ntwice appends nothing. The first failing step stops the load (exit 1).",
      Examples({"perfctl scenario load deploy/examples/manufacturing",
                "perfctl scenario load deploy/examples/manufacturing -o json"})));
  load->callback([&session, dir] {
    session.Select(absl::StrCat("scenario load ", *dir),
                   [&session, dir] { return RunLoad(session, *dir); });
  });
}

}  // namespace perfctl
