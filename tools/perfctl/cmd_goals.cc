// goal set|revise|progress|close.

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "perfledger/v1/ledger.grpc.pb.h"
#include "tools/perfctl/commands.h"
#include "tools/perfctl/limits.h"
#include "tools/perfctl/parse.h"
#include "tools/perfctl/stream_reader.h"

namespace perfctl {
namespace {

namespace v1 = perfledger::v1;

constexpr char kKrFormat[] = "id:description:start:target:unit[:direction[:weight_bp]]";

// Parses one --kr. The description is free text and may contain colons, so the fixed fields are
// matched from the right: the longest tail (start:target:unit[:direction[:weight]]) whose
// numbers and direction parse wins, and whatever lies between the id and that tail is the
// description.
absl::StatusOr<v1::KeyResult> ParseKeyResult(const std::string& spec, bool* has_weight) {
  const std::vector<std::string> parts = absl::StrSplit(spec, ':');
  const std::string field = absl::StrCat("--kr '", spec, "'");
  for (size_t tail = 5; tail >= 3; --tail) {
    if (parts.size() < tail + 2) continue;  // the id and a description come first
    const size_t first = parts.size() - tail;
    v1::KeyResult kr;
    kr.set_key_result_id(parts[0]);
    std::vector<std::string> description(parts.begin() + 1, parts.begin() + first);
    kr.set_description(absl::StrJoin(description, ":"));
    auto start = ParseInt64(field, parts[first]);
    auto target = ParseInt64(field, parts[first + 1]);
    if (!start.ok() || !target.ok()) continue;
    kr.set_start_milli(*start);
    kr.set_target_milli(*target);
    kr.set_unit(parts[first + 2]);
    if (tail >= 4) {
      auto direction = ParseDirection(field, parts[first + 3]);
      if (!direction.ok()) continue;
      kr.set_direction(*direction);
    } else {
      kr.set_direction(kr.target_milli() >= kr.start_milli() ? v1::DIRECTION_HIGHER_IS_BETTER
                                                            : v1::DIRECTION_LOWER_IS_BETTER);
    }
    *has_weight = tail == 5;
    if (tail == 5) {
      auto weight = ParseUint32(field, parts[first + 4]);
      if (!weight.ok()) continue;
      kr.set_weight_bp(*weight);
    }
    PERFCTL_RETURN_IF_ERROR(ValidateId(absl::StrCat(field, " id"), kr.key_result_id()));
    return kr;
  }
  return UsageError(absl::StrCat(field, ": expected ", kKrFormat,
                                 " with integer start/target (milli-units)"));
}

// Either every key result names its weight or none does; with none, all stay 0, which the
// server reads as equal weights.
absl::Status ParseKeyResults(const std::vector<std::string>& specs,
                             google::protobuf::RepeatedPtrField<v1::KeyResult>* out) {
  if (specs.size() > limits::kKeyResultsMax) {
    return UsageError(absl::StrCat("--kr: at most ", limits::kKeyResultsMax, " key results"));
  }
  size_t weighted = 0;
  for (const std::string& spec : specs) {
    bool has_weight = false;
    PERFCTL_ASSIGN_OR_RETURN(*out->Add(), ParseKeyResult(spec, &has_weight));
    weighted += has_weight ? 1 : 0;
  }
  if (weighted != 0 && weighted != specs.size()) {
    return UsageError("--kr: give a weight_bp on every key result or on none");
  }
  return absl::OkStatus();
}

struct SetFlags {
  std::string goal_id;
  std::string cycle_id;
  std::string owner_employee;
  std::string owner_org_unit;
  std::string parent;
  std::string title;
  std::string description;
  uint32_t weight_bp = 0;
  std::vector<std::string> key_results;
  MetaFlags meta;
};

absl::StatusOr<v1::SetGoalRequest> BuildSet(const SetFlags& flags) {
  v1::SetGoalRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("GOAL_ID", flags.goal_id));
  PERFCTL_RETURN_IF_ERROR(ValidateId("--cycle", flags.cycle_id));
  request.set_goal_id(flags.goal_id);
  request.set_cycle_id(flags.cycle_id);
  if (!flags.owner_employee.empty()) {
    PERFCTL_RETURN_IF_ERROR(ValidateId("--owner-employee", flags.owner_employee));
    request.set_owner_kind(v1::OWNER_KIND_EMPLOYEE);
    request.set_owner_id(flags.owner_employee);
  } else {
    PERFCTL_RETURN_IF_ERROR(ValidateId("--owner-org-unit", flags.owner_org_unit));
    request.set_owner_kind(v1::OWNER_KIND_ORG_UNIT);
    request.set_owner_id(flags.owner_org_unit);
  }
  if (!flags.parent.empty()) PERFCTL_RETURN_IF_ERROR(ValidateId("--parent", flags.parent));
  request.set_parent_goal_id(flags.parent);
  request.set_title(flags.title);
  request.set_description(flags.description);
  request.set_weight_bp(flags.weight_bp);
  PERFCTL_RETURN_IF_ERROR(ParseKeyResults(flags.key_results, request.mutable_key_results()));
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  return request;
}

const char* kKrHelp =
    "Key result id:description:start:target:unit[:direction[:weight_bp]]; start/target in "
    "milli-units, direction higher|lower (default: by start and target), weights sum to 10000 "
    "(default: all 0 = equal weights). Repeatable";

void AddSet(CLI::App& goal, Session& session) {
  auto flags = std::make_shared<SetFlags>();
  CLI::App* sub = goal.add_subcommand("set", "Set a goal (OKR) for an employee or an org unit");
  sub->add_option("GOAL_ID", flags->goal_id, "Goal id")->required();
  sub->add_option("--cycle", flags->cycle_id, "Cycle id")->required();
  auto* employee = sub->add_option("--owner-employee", flags->owner_employee, "Owning employee");
  auto* unit = sub->add_option("--owner-org-unit", flags->owner_org_unit, "Owning org unit");
  employee->excludes(unit);
  unit->excludes(employee);
  sub->add_option("--parent", flags->parent, "Goal this one contributes to (alignment)");
  sub->add_option("--title", flags->title, "Title")->required();
  sub->add_option("--description", flags->description, "Longer description");
  sub->add_option("--weight-bp", flags->weight_bp,
                  "Weight among the owner's goals in the cycle, basis points (default 0: "
                  "equal weights when all are 0)");
  sub->add_option("--kr", flags->key_results, kKrHelp);
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples(
      {"perfctl goal set G-QUALITY --cycle 2026H1 --owner-org-unit HQ --title 'Raise quality' "
       "--weight-bp 10000",
       "perfctl goal set G-E7-DEFECTS --cycle 2026H1 --owner-employee E7 --parent G-QUALITY \\\n"
       "      --title 'Personal defect rate under 3%' --weight-bp 6000 \\\n"
       "      --kr 'kr1:Defect rate:5000:3000:%:lower' --kr 'kr2:Trainings done:0:2000:courses'"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("set goal ", flags->goal_id), [&session, flags]() -> absl::Status {
      if (flags->owner_employee.empty() && flags->owner_org_unit.empty()) {
        return UsageError("give --owner-employee or --owner-org-unit");
      }
      PERFCTL_ASSIGN_OR_RETURN(v1::SetGoalRequest request, BuildSet(*flags));
      return SendCommand<v1::Goals>(session, &v1::Goals::Stub::SetGoal, request);
    });
  });
}

struct ReviseFlags {
  std::string goal_id;
  std::string title;
  CLI::Option* title_option = nullptr;
  std::string description;
  CLI::Option* description_option = nullptr;
  uint32_t weight_bp = 0;
  CLI::Option* weight_option = nullptr;
  std::vector<std::string> key_results;
  std::string parent;
  bool clear_parent = false;
  bool complete = false;
  std::string reason;
  MetaFlags meta;
};

// A revision replaces the whole definition (title, description, weight, key results, parent).
// So that `goal revise G --title X` does not silently drop the key results and the alignment,
// the current definition is read from the log and only the given flags change it; the stream
// version read becomes the expected version, so a concurrent revision fails with ABORTED instead
// of being overwritten.
absl::StatusOr<v1::ReviseGoalRequest> BuildRevise(Session& session, const ReviseFlags& flags) {
  v1::ReviseGoalRequest request;
  PERFCTL_RETURN_IF_ERROR(ValidateId("GOAL_ID", flags.goal_id));
  request.set_goal_id(flags.goal_id);
  std::optional<uint64_t> read_version;
  if (!flags.complete) {
    PERFCTL_ASSIGN_OR_RETURN(std::vector<v1::RecordedEvent> events,
                             ReadStream(session, absl::StrCat("goal/", flags.goal_id), 1'000'000));
    bool found = false;
    for (const v1::RecordedEvent& e : events) {
      read_version = e.envelope().stream_version();
      if (e.event().has_goal_set()) {
        const v1::GoalSet& g = e.event().goal_set();
        request.set_title(g.title());
        request.set_description(g.description());
        request.set_weight_bp(g.weight_bp());
        *request.mutable_key_results() = g.key_results();
        request.set_parent_goal_id(g.parent_goal_id());
        found = true;
      } else if (e.event().has_goal_revised()) {
        const v1::GoalRevised& g = e.event().goal_revised();
        request.set_title(g.title());
        request.set_description(g.description());
        request.set_weight_bp(g.weight_bp());
        *request.mutable_key_results() = g.key_results();
        request.set_parent_goal_id(g.parent_goal_id());
        found = true;
      }
    }
    if (!found) {
      return absl::NotFoundError(absl::StrCat(
          "goal ", flags.goal_id, " is not in the log (--complete sends the flags as the whole "
          "new definition without reading the current one)"));
    }
  }
  const bool changes = flags.title_option->count() > 0 || flags.description_option->count() > 0 ||
                       flags.weight_option->count() > 0 || !flags.key_results.empty() ||
                       !flags.parent.empty() || flags.clear_parent;
  if (!changes) {
    return UsageError("nothing to revise: give --title, --description, --weight-bp, --kr or --parent");
  }
  if (flags.title_option->count() > 0) request.set_title(flags.title);
  if (flags.description_option->count() > 0) request.set_description(flags.description);
  if (flags.weight_option->count() > 0) request.set_weight_bp(flags.weight_bp);
  if (!flags.key_results.empty()) {
    request.clear_key_results();
    PERFCTL_RETURN_IF_ERROR(ParseKeyResults(flags.key_results, request.mutable_key_results()));
  }
  if (!flags.parent.empty()) {
    PERFCTL_RETURN_IF_ERROR(ValidateId("--parent", flags.parent));
    request.set_parent_goal_id(flags.parent);
  }
  if (flags.clear_parent) request.clear_parent_goal_id();
  request.set_reason(flags.reason);
  PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags.meta));
  if (!request.meta().has_expected_version() && read_version.has_value()) {
    request.mutable_meta()->set_expected_version(*read_version);
  }
  return request;
}

void AddRevise(CLI::App& goal, Session& session) {
  auto flags = std::make_shared<ReviseFlags>();
  CLI::App* sub = goal.add_subcommand(
      "revise", "Revise a goal: what changes and why (the old definition stays in the log)");
  sub->add_option("GOAL_ID", flags->goal_id, "Goal id")->required();
  flags->title_option = sub->add_option("--title", flags->title, "New title");
  flags->description_option =
      sub->add_option("--description", flags->description, "New description");
  flags->weight_option = sub->add_option("--weight-bp", flags->weight_bp, "New weight, basis points");
  sub->add_option("--kr", flags->key_results,
                  absl::StrCat("Replaces ALL key results when given. ", kKrHelp));
  auto* parent = sub->add_option("--parent", flags->parent, "New parent goal");
  auto* clear = sub->add_flag("--clear-parent", flags->clear_parent, "Remove the alignment");
  parent->excludes(clear);
  clear->excludes(parent);
  sub->add_flag("--complete", flags->complete,
                "The flags are the whole new definition: do not read the current one from the "
                "log (unset fields become empty)");
  sub->add_option("--reason", flags->reason, "Why the goal changed")->required();
  AddMetaFlags(sub, &flags->meta);
  sub->footer(absl::StrCat(
      "\nFields not given keep their current value, read from the log; the version read is sent "
      "as\nthe expected version unless --expected-version is given.",
      Examples({"perfctl goal revise G-E7-DEFECTS --kr 'kr1:Defect rate:5000:2500:%:lower' "
                "--reason 'line upgraded in March'",
                "perfctl goal revise G-E7-DEFECTS --title 'Defect rate under 2.5%' --reason "
                "'clearer title'"})));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("revise goal ", flags->goal_id), [&session, flags]() -> absl::Status {
      PERFCTL_ASSIGN_OR_RETURN(v1::ReviseGoalRequest request, BuildRevise(session, *flags));
      return SendCommand<v1::Goals>(session, &v1::Goals::Stub::ReviseGoal, request);
    });
  });
}

struct ProgressFlags {
  std::string goal_id;
  std::string key_result_id;
  std::string value_milli;
  std::string note;
  MetaFlags meta;
};

void AddProgress(CLI::App& goal, Session& session) {
  auto flags = std::make_shared<ProgressFlags>();
  CLI::App* sub = goal.add_subcommand("progress", "Record the current value of a key result");
  sub->add_option("GOAL_ID", flags->goal_id, "Goal id")->required();
  sub->add_option("KR_ID", flags->key_result_id, "Key result id")->required();
  sub->add_option("VALUE_MILLI", flags->value_milli, "Measured value in milli-units")->required();
  sub->add_option("--note", flags->note, "Free-text note");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl goal progress G-E7-DEFECTS kr1 3400 --note 'after retraining'"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("record progress of ", flags->goal_id, "/", flags->key_result_id),
                   [&session, flags]() -> absl::Status {
                     v1::RecordKeyResultProgressRequest request;
                     PERFCTL_RETURN_IF_ERROR(ValidateId("GOAL_ID", flags->goal_id));
                     PERFCTL_RETURN_IF_ERROR(ValidateId("KR_ID", flags->key_result_id));
                     request.set_goal_id(flags->goal_id);
                     request.set_key_result_id(flags->key_result_id);
                     PERFCTL_ASSIGN_OR_RETURN(int64_t value,
                                              ParseInt64("VALUE_MILLI", flags->value_milli));
                     request.set_value_milli(value);
                     request.set_note(flags->note);
                     PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
                     return SendCommand<v1::Goals>(session,
                                                   &v1::Goals::Stub::RecordKeyResultProgress,
                                                   request);
                   });
  });
}

struct CloseFlags {
  std::string goal_id;
  uint32_t okr_grade_milli = 0;
  std::string reason;
  MetaFlags meta;
};

void AddClose(CLI::App& goal, Session& session) {
  auto flags = std::make_shared<CloseFlags>();
  CLI::App* sub = goal.add_subcommand("close", "Close a goal with its final OKR grade");
  sub->add_option("GOAL_ID", flags->goal_id, "Goal id")->required();
  sub->add_option("--okr-grade-milli", flags->okr_grade_milli, "OKR grade 0..1000 (0.7 = 700)")
      ->required()
      ->check(CLI::Range(0, 1000));
  sub->add_option("--reason", flags->reason, "Closing note");
  AddMetaFlags(sub, &flags->meta);
  sub->footer(Examples({"perfctl goal close G-E7-DEFECTS --okr-grade-milli 700"}));
  sub->callback([&session, flags] {
    session.Select(absl::StrCat("close goal ", flags->goal_id), [&session, flags]() -> absl::Status {
      v1::CloseGoalRequest request;
      PERFCTL_RETURN_IF_ERROR(ValidateId("GOAL_ID", flags->goal_id));
      request.set_goal_id(flags->goal_id);
      request.set_okr_grade_milli(flags->okr_grade_milli);
      request.set_reason(flags->reason);
      PERFCTL_ASSIGN_OR_RETURN(*request.mutable_meta(), BuildMeta(flags->meta));
      return SendCommand<v1::Goals>(session, &v1::Goals::Stub::CloseGoal, request);
    });
  });
}

}  // namespace

void AddGoalCommands(CLI::App& app, Session& session) {
  CLI::App* goal = app.add_subcommand("goal", "Set, revise, progress and close goals (OKR)");
  goal->require_subcommand(1);
  AddSet(*goal, session);
  AddRevise(*goal, session);
  AddProgress(*goal, session);
  AddClose(*goal, session);
}

}  // namespace perfctl
