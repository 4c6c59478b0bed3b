#include "projections/grading.h"

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/message_differencer.h"
#include "ledger/policy.h"
#include "ledger/policy_eval.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"
#include "perfledger/internal/reactor.pb.h"
#include "projections/keys.h"
#include "projections/reactor_rows.h"
#include "projections/rollup.h"

namespace perfledger::projections {
namespace {

// What grading reads of one cycle from the reactor's state.
struct CycleGrading {
  std::string cycle_id;
  uint64_t policy_version = 0;
  std::shared_ptr<const policy::Policy> policy;
  // The employees to grade: those requested, or everyone with inputs.
  std::vector<std::string> employees;
  std::map<std::string, policy::GradeInputs> inputs;     // by employee
  std::map<std::string, internal::GradeRecord> current;  // the grade in force, by employee
};

// metric_bands: each employee's cycle aggregate of the graded metric, reduced as the policy
// says. A calibration overrides the metric (docs/POLICY.md), also for someone not observed.
void ReadMetricInputs(rocksdb::Iterator& it, const policy::Policy& pol, const std::string& cycle,
                      std::map<std::string, policy::GradeInputs>& inputs) {
  const std::string prefix = Key({"agg", cycle}) + "/";
  for (it.Seek(prefix); it.Valid() && it.key().starts_with(prefix); it.Next()) {
    const std::string rest = it.key().ToString().substr(prefix.size());
    const size_t slash = rest.find('/');
    if (slash == std::string::npos || rest.substr(slash + 1) != pol.grading.metric) continue;
    internal::MetricAggregate a;
    a.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()));
    const policy::Rollup rollup = pol.MetricRuleOf(pol.grading.metric).rollup;
    const std::optional<int64_t> value = RollupValue(a, pol.grading.aggregate, rollup);
    if (!value) continue;  // an aggregate row always counts an observation
    policy::InputScore in{*value, a.last_event_id(), a.count(), a.sum(), a.min(), a.max()};
    if (rollup == policy::Rollup::kRatio && pol.grading.aggregate == policy::Aggregate::kMean &&
        a.weight() > 0) {
      in.weight = a.weight();
    }
    if (a.has_through()) in.through = a.through();
    inputs[rest.substr(0, slash)].metric = std::move(in);
  }
  const std::string cal_prefix = Key({"cal", cycle}) + "/";
  for (it.Seek(cal_prefix); it.Valid() && it.key().starts_with(cal_prefix); it.Next()) {
    internal::ScoreRecord r;
    r.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()));
    inputs[it.key().ToString().substr(cal_prefix.size())].calibration =
        policy::InputScore{r.mean_milli(), r.event_id()};
  }
}

// weighted_scores: per employee and source, the mean of the reviewers' mean scores, with their
// count, sum, least and greatest; and the calibration.
void ReadScoreInputs(const Projector::Reader& reader, rocksdb::Iterator& it,
                     const std::string& cycle,
                     std::map<std::string, policy::GradeInputs>& inputs) {
  struct Acc {
    int64_t sum = 0;
    uint64_t count = 0;
    int64_t min = 0;
    int64_t max = 0;
  };
  std::map<std::string, std::map<int, Acc>> sums;
  std::map<std::string, std::map<int, std::string>> last;
  const std::string prefix = Key({"sc", cycle}) + "/";
  for (it.Seek(prefix); it.Valid() && it.key().starts_with(prefix); it.Next()) {
    const std::string rest = it.key().ToString().substr(prefix.size());
    const std::string employee = rest.substr(0, rest.find('/'));
    internal::ScoreRecord r;
    r.ParseFromArray(it.value().data(), static_cast<int>(it.value().size()));
    Acc& acc = sums[employee][r.source()];
    acc.min = acc.count == 0 ? r.mean_milli() : std::min(acc.min, r.mean_milli());
    acc.max = acc.count == 0 ? r.mean_milli() : std::max(acc.max, r.mean_milli());
    acc.sum += r.mean_milli();
    acc.count++;
    last[employee][r.source()] = r.event_id();
  }
  rocksdb::ColumnFamilyHandle* cf = reader.family(kReactorView);
  for (auto& [employee, by] : sums) {
    auto mean = [&](v1::ScoreSource s) -> std::optional<policy::InputScore> {
      auto f = by.find(s);
      if (f == by.end()) return std::nullopt;
      const Acc& acc = f->second;
      return policy::InputScore{policy::DivRound(acc.sum, static_cast<int64_t>(acc.count)),
                                last[employee][s], acc.count, acc.sum, acc.min, acc.max};
    };
    policy::GradeInputs& in = inputs[employee];
    in.manager = mean(v1::SCORE_SOURCE_MANAGER);
    in.self = mean(v1::SCORE_SOURCE_SELF);
    in.peer = mean(v1::SCORE_SOURCE_PEER);
    std::string cal;
    if (reader.db()->Get(rocksdb::ReadOptions(), cf, Key({"cal", cycle, employee}), &cal).ok()) {
      internal::ScoreRecord r;
      r.ParseFromString(cal);
      in.calibration = policy::InputScore{r.mean_milli(), r.event_id()};
    }
  }
}

// Reads what grading needs of the cycle and employees of `scope`, once the reactor has applied
// the log as of the call: grades must see every input recorded before it.
absl::StatusOr<CycleGrading> ReadCycle(Projector& projector, PolicyCache& policies,
                                       const v1::ComputeGradesRequest& scope,
                                       absl::Time deadline) {
  RETURN_IF_ERROR(CheckId("cycle_id", scope.cycle_id(), Presence::kRequired));
  for (int i = 0; i < scope.employee_ids_size(); i++) {
    RETURN_IF_ERROR(CheckId(absl::StrCat("employee_ids[", i, "]"), scope.employee_ids(i),
                            Presence::kRequired));
  }
  RETURN_IF_ERROR(projector.WaitCaughtUp(deadline));
  CycleGrading cycle;
  cycle.cycle_id = scope.cycle_id();
  {
    auto reader = projector.Read();
    ASSIGN_OR_RETURN(v1::PolicyInfo info, QueryPolicy(reader, 0));
    cycle.policy_version = info.version();
    ASSIGN_OR_RETURN(cycle.policy, policies.At(reader, info.version()));
  }
  if (!cycle.policy) return absl::FailedPreconditionError("no policy in force");
  {
    auto reader = projector.Read();
    std::unique_ptr<rocksdb::Iterator> it(
        reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family(kReactorView)));
    if (cycle.policy->grading.method == policy::GradingMethod::kMetricBands) {
      ReadMetricInputs(*it, *cycle.policy, cycle.cycle_id, cycle.inputs);
    } else {
      ReadScoreInputs(reader, *it, cycle.cycle_id, cycle.inputs);
    }
  }
  cycle.employees.assign(scope.employee_ids().begin(), scope.employee_ids().end());
  if (cycle.employees.empty()) {
    for (const auto& [id, in] : cycle.inputs) cycle.employees.push_back(id);
  }
  // The current grades of those employees, as the log has them (the reactor's records).
  {
    auto reader = projector.Read();
    rocksdb::ColumnFamilyHandle* cf = reader.family(kReactorView);
    for (const std::string& employee : cycle.employees) {
      std::string value;
      rocksdb::Status got = reader.db()->Get(rocksdb::ReadOptions(), cf,
                                             Key({"g", employee, cycle.cycle_id}), &value);
      if (got.IsNotFound()) continue;
      RETURN_IF_ERROR(FromRocks(got, "read the current grade"));
      cycle.current[employee].ParseFromString(value);
    }
  }
  return cycle;
}

// When ComputeAndFinalize finalizes the grade it computed.
enum class Finalize {
  // Never: a dry run computes and compares only.
  kNever,
  // Unless it equals the grade in force, under an idempotency key derived from the decision and
  // the grade it replaces (Policies.ComputeGrades).
  kIfChanged,
  // Always, as the caller's command: its meta and idempotency key (Reviews.FinalizeGrade).
  kAsCommanded,
};

struct Graded {
  // The outcome: SKIPPED with the reason when the inputs make no grade or the ledger refused it.
  v1::ComputedGrade computed;
  // The ledger's refusal, if it refused.
  absl::Status refusal;
  // What the ledger recorded, when it was asked to.
  std::optional<v1::CommandResult> recorded;
};

// The one place a grade is computed and then finalized: `employee`'s grade in `cycle`, compared
// with the grade in force, and finalized as `finalize` says through `command` (the
// FinalizeGradeRequest without its grade: meta, employee, cycle and whatever else the caller
// set; the grade, score and inputs are filled in here).
Graded ComputeAndFinalize(Ledger& ledger, const CycleGrading& cycle, const std::string& employee,
                          v1::FinalizeGradeRequest command, Finalize finalize,
                          const CommandContext& ctx) {
  Graded out;
  v1::ComputedGrade& cg = out.computed;
  cg.set_employee_id(employee);
  cg.set_outcome(v1::GRADE_OUTCOME_SKIPPED);
  const policy::Policy& pol = *cycle.policy;
  auto found = cycle.inputs.find(employee);
  if (found == cycle.inputs.end()) {
    cg.set_skipped_reason(pol.grading.method == policy::GradingMethod::kMetricBands
                              ? absl::StrCat("no observations of ", pol.grading.metric,
                                             " in cycle ", cycle.cycle_id)
                              : absl::StrCat("no scores in cycle ", cycle.cycle_id));
    return out;
  }
  auto decision = policy::ComputeGrade(pol, found->second);
  if (!decision.ok()) {
    cg.set_skipped_reason(std::string(decision.status().message()));
    return out;
  }
  cg.set_grade(decision->grade);
  cg.set_score_milli(decision->score_milli);
  for (const auto& in : decision->inputs) *cg.add_inputs() = in;
  // A grade follows its inputs: the same decision as the current grade is unchanged; any
  // change (an amended score, a calibration, a late observation, another policy version)
  // regrades, superseding it.
  const auto cur = cycle.current.find(employee);
  if (cur != cycle.current.end()) {
    const v1::GradeFinalized& g = cur->second.grade();
    bool same = g.grade() == decision->grade && g.score_milli() == decision->score_milli &&
                g.policy_version() == cycle.policy_version &&
                g.inputs_size() == static_cast<int>(decision->inputs.size());
    for (int i = 0; same && i < g.inputs_size(); i++) {
      same = google::protobuf::util::MessageDifferencer::Equals(g.inputs(i), decision->inputs[i]);
    }
    if (same) {
      cg.set_outcome(v1::GRADE_OUTCOME_UNCHANGED);
      cg.set_event_id(cur->second.event_id());
    } else {
      cg.set_outcome(v1::GRADE_OUTCOME_REGRADED);
      cg.set_supersedes_event_id(cur->second.event_id());
    }
  } else {
    cg.set_outcome(v1::GRADE_OUTCOME_FINALIZED);
  }
  switch (finalize) {
    case Finalize::kNever:
      return out;
    case Finalize::kIfChanged: {
      if (cg.outcome() == v1::GRADE_OUTCOME_UNCHANGED) return out;
      // The key names the decision and the grade it replaces: a retry of this call is answered
      // once, and no later decision (new inputs, or inputs back to an earlier state) can meet a
      // key an earlier one used.
      std::string decided =
          absl::StrCat("v", cycle.policy_version, "/", decision->grade, "/",
                       decision->score_milli, "/",
                       cur == cycle.current.end() ? "" : cur->second.event_id());
      for (const auto& in : decision->inputs) {
        absl::StrAppend(&decided, "/", in.kind(), ":", in.event_id(), ":", in.value_milli(), ":",
                        in.weight_bp());
      }
      command.mutable_meta()->set_idempotency_key(absl::StrCat(
          "grade:", policy::ActionId(absl::StrCat(cycle.cycle_id, "/", employee), decided)));
      command.mutable_meta()->clear_event_id();
      break;
    }
    case Finalize::kAsCommanded:
      break;
  }
  command.set_grade(decision->grade);
  command.set_score_milli(decision->score_milli);
  command.clear_inputs();
  for (const auto& in : decision->inputs) *command.add_inputs() = in;
  auto result = ledger.FinalizeGrade(command, ctx);
  if (!result.ok()) {
    cg.set_skipped_reason(std::string(result.status().message()));
    cg.set_outcome(v1::GRADE_OUTCOME_SKIPPED);
    cg.clear_grade();
    cg.clear_supersedes_event_id();
    out.refusal = result.status();
    return out;
  }
  if (!result->events().empty()) cg.set_event_id(result->events(0).event_id());
  out.recorded = std::move(*result);
  return out;
}

}  // namespace

absl::StatusOr<v1::ComputeGradesResponse> Grading::ComputeGrades(
    const v1::ComputeGradesRequest& request, const CommandContext& ctx, absl::Time deadline) {
  ASSIGN_OR_RETURN(CycleGrading cycle, ReadCycle(projector_, policies_, request, deadline));
  v1::ComputeGradesResponse out;
  out.set_policy_version(cycle.policy_version);
  const Finalize finalize = request.dry_run() ? Finalize::kNever : Finalize::kIfChanged;
  for (const std::string& employee : cycle.employees) {
    v1::FinalizeGradeRequest command;
    *command.mutable_meta() = request.meta();
    command.set_employee_id(employee);
    command.set_cycle_id(request.cycle_id());
    Graded graded = ComputeAndFinalize(ledger_, cycle, employee, std::move(command), finalize, ctx);
    *out.add_grades() = std::move(graded.computed);
  }
  return out;
}

absl::StatusOr<v1::CommandResult> Grading::FinalizeComputedGrade(
    const v1::FinalizeGradeRequest& request, const CommandContext& ctx, absl::Time deadline) {
  // The request's own field names, before they become a ComputeGradesRequest's.
  RETURN_IF_ERROR(CheckId("employee_id", request.employee_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("cycle_id", request.cycle_id(), Presence::kRequired));
  v1::ComputeGradesRequest scope;
  scope.set_cycle_id(request.cycle_id());
  scope.add_employee_ids(request.employee_id());
  absl::StatusOr<CycleGrading> cycle = ReadCycle(projector_, policies_, scope, deadline);
  if (absl::IsNotFound(cycle.status())) {
    // No policy in force: nothing can compute the grade the request left out.
    return absl::FailedPreconditionError(
        "grade: required, since no policy is in force to compute it");
  }
  if (!cycle.ok()) return cycle.status();
  Graded graded =
      ComputeAndFinalize(ledger_, *cycle, request.employee_id(), request, Finalize::kAsCommanded,
                         ctx);
  if (!graded.refusal.ok()) return graded.refusal;
  if (!graded.recorded) {
    return absl::FailedPreconditionError(
        absl::StrCat("grade: cannot be computed: ", graded.computed.skipped_reason()));
  }
  return std::move(*graded.recorded);
}

}  // namespace perfledger::projections
