// Goals (OKR) and check-ins.
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

absl::Status CheckKeyResults(const google::protobuf::RepeatedPtrField<v1::KeyResult>& krs) {
  RETURN_IF_ERROR(CheckCount("key_results", krs.size(), limits::kListItemsMax));
  uint64_t weight_sum = 0;
  for (int i = 0; i < krs.size(); i++) {
    const v1::KeyResult& kr = krs[i];
    const std::string f = absl::StrCat("key_results[", i, "]");
    RETURN_IF_ERROR(CheckId(f + ".key_result_id", kr.key_result_id(), Presence::kRequired));
    for (int j = 0; j < i; j++) {
      if (krs[j].key_result_id() == kr.key_result_id()) {
        return FieldError(f + ".key_result_id", "duplicate key result id");
      }
    }
    RETURN_IF_ERROR(CheckText(f + ".description", kr.description(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName(f + ".unit", kr.unit(), Presence::kOptional));
    RETURN_IF_ERROR(CheckRange(f + ".start_milli", kr.start_milli(), -limits::kMetricMilliAbsMax,
                               limits::kMetricMilliAbsMax));
    RETURN_IF_ERROR(CheckRange(f + ".target_milli", kr.target_milli(),
                               -limits::kMetricMilliAbsMax, limits::kMetricMilliAbsMax));
    if (kr.target_milli() == kr.start_milli()) {
      return FieldError(f + ".target_milli", "must differ from start_milli");
    }
    RETURN_IF_ERROR(CheckBasisPoints(f + ".weight_bp", kr.weight_bp()));
    weight_sum += kr.weight_bp();
  }
  if (weight_sum != 0 && weight_sum != limits::kBasisPointsMax) {
    return FieldError("key_results", absl::StrCat("weights sum to ", weight_sum,
                                                  " basis points; they must sum to 10000 "
                                                  "(or all be 0 for equal weights)"));
  }
  return absl::OkStatus();
}

// A parent goal must exist and must not be the goal itself or one of its descendants.
absl::Status CheckParent(Decision& d, const std::string& goal_id, const std::string& parent_id) {
  if (parent_id.empty()) return absl::OkStatus();
  RETURN_IF_ERROR(CheckId("parent_goal_id", parent_id, Presence::kOptional));
  if (parent_id == goal_id) return FieldError("parent_goal_id", "a goal cannot align to itself");
  RETURN_IF_ERROR(d.Goal("parent_goal_id", parent_id, GoalMust::kExist).status());
  std::string walk = parent_id;
  for (int depth = 0; !walk.empty() && depth < 1000; depth++) {
    if (walk == goal_id) return FieldError("parent_goal_id", "would make the alignment cyclic");
    auto g = d.Find(GoalStream(walk));
    walk = g && g->has_goal() ? g->goal().parent_goal_id() : "";
  }
  return absl::OkStatus();
}

// Progress toward target in basis points, clamped to 0..10000. Works for both directions
// because (value - start) and (target - start) share a sign when moving the right way.
uint32_t ProgressBp(int64_t start, int64_t target, int64_t value) {
  const __int128 num = static_cast<__int128>(value - start) * 10'000;
  const __int128 den = target - start;
  __int128 bp = num / den;
  if (bp < 0) bp = 0;
  if (bp > 10'000) bp = 10'000;
  return static_cast<uint32_t>(bp);
}

}  // namespace

namespace {

enum class GoalWrite { kDefine, kProgress };

// Who may write a goal: its owner records progress on their own goals; managers define and
// revise goals of people and units in their scope; hr and admin any (a limited hr token within
// its subtrees).
absl::Status RequireGoalWriter(Decision& d, std::string_view field, v1::OwnerKind kind,
                               const std::string& owner, GoalWrite write) {
  const Principal& p = d.principal();
  if (p.role == v1::ROLE_EMPLOYEE) {
    if (write == GoalWrite::kProgress && kind == v1::OWNER_KIND_EMPLOYEE &&
        owner == p.employee_id) {
      return absl::OkStatus();
    }
    return absl::PermissionDeniedError(absl::StrCat(
        std::string(field), ": an employee records progress on their own goals only; ",
        write == GoalWrite::kDefine ? "their manager sets and revises them"
                                    : absl::StrCat(owner, " is not the caller")));
  }
  return kind == v1::OWNER_KIND_ORG_UNIT ? d.RequireUnitScope(field, owner)
                                         : d.RequireScope(field, owner);
}

}  // namespace

Ledger::Result Ledger::SetGoal(const v1::SetGoalRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("goal_id", r.goal_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("owner_id", r.owner_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName("title", r.title(), Presence::kRequired));
    RETURN_IF_ERROR(CheckText("description", r.description(), Presence::kOptional));
    RETURN_IF_ERROR(CheckBasisPoints("weight_bp", r.weight_bp()));
    RETURN_IF_ERROR(CheckKeyResults(r.key_results()));
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id()).status());
    std::string org_unit;
    switch (r.owner_kind()) {
      case v1::OWNER_KIND_EMPLOYEE: {
        RETURN_IF_ERROR(RequireGoalWriter(d, "owner_id", r.owner_kind(), r.owner_id(),
                                          GoalWrite::kDefine));
        ASSIGN_OR_RETURN(auto emp, d.Employee("owner_id", r.owner_id()));
        org_unit = emp.org_unit_id();
        break;
      }
      case v1::OWNER_KIND_ORG_UNIT:
        RETURN_IF_ERROR(d.OrgUnit("owner_id", r.owner_id()).status());
        RETURN_IF_ERROR(RequireGoalWriter(d, "owner_id", r.owner_kind(), r.owner_id(),
                                          GoalWrite::kDefine));
        org_unit = r.owner_id();
        break;
      default:
        return FieldError("owner_kind", "must be OWNER_KIND_EMPLOYEE or OWNER_KIND_ORG_UNIT");
    }
    const std::string stream = GoalStream(r.goal_id());
    if (auto existing = d.Find(stream); existing && existing->has_goal()) {
      return absl::AlreadyExistsError(absl::StrCat("goal_id: goal ", r.goal_id(), " already exists"));
    }
    RETURN_IF_ERROR(CheckParent(d, r.goal_id(), r.parent_goal_id()));
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_goal_set();
    p->set_goal_id(r.goal_id());
    p->set_cycle_id(r.cycle_id());
    p->set_owner_kind(r.owner_kind());
    p->set_owner_id(r.owner_id());
    p->set_parent_goal_id(r.parent_goal_id());
    p->set_title(r.title());
    p->set_description(r.description());
    p->set_weight_bp(r.weight_bp());
    *p->mutable_key_results() = r.key_results();
    p->set_org_unit_id(org_unit);
    d.Emit(stream, Route::Data(r.owner_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::ReviseGoal(const v1::ReviseGoalRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("goal_id", r.goal_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName("title", r.title(), Presence::kRequired));
    RETURN_IF_ERROR(CheckText("description", r.description(), Presence::kOptional));
    RETURN_IF_ERROR(CheckBasisPoints("weight_bp", r.weight_bp()));
    RETURN_IF_ERROR(CheckKeyResults(r.key_results()));
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kRequired));
    ASSIGN_OR_RETURN(auto goal, d.Goal("goal_id", r.goal_id()));
    RETURN_IF_ERROR(RequireGoalWriter(d, "goal_id", goal.owner_kind(), goal.owner_id(),
                                      GoalWrite::kDefine));
    RETURN_IF_ERROR(d.Cycle("goal_id", goal.cycle_id()).status());
    RETURN_IF_ERROR(CheckParent(d, r.goal_id(), r.parent_goal_id()));
    const std::string stream = GoalStream(r.goal_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_goal_revised();
    p->set_goal_id(r.goal_id());
    p->set_title(r.title());
    p->set_description(r.description());
    p->set_weight_bp(r.weight_bp());
    *p->mutable_key_results() = r.key_results();
    p->set_parent_goal_id(r.parent_goal_id());
    p->set_reason(r.reason());
    // Name what changed, so an auditor need not diff the versions.
    if (goal.title() != r.title()) p->add_changed("title");
    if (goal.description() != r.description()) p->add_changed("description");
    if (goal.weight_bp() != r.weight_bp()) p->add_changed("weight_bp");
    if (goal.parent_goal_id() != r.parent_goal_id()) p->add_changed("parent_goal_id");
    if (goal.key_result_ids_size() != r.key_results_size()) {
      p->add_changed("key_results");
    } else {
      for (int i = 0; i < r.key_results_size(); i++) {
        const auto& kr = r.key_results(i);
        if (goal.key_result_ids(i) != kr.key_result_id() ||
            goal.key_result_start_milli(i) != kr.start_milli() ||
            goal.key_result_target_milli(i) != kr.target_milli() ||
            goal.key_result_fingerprint(i) != KeyResultFingerprint(kr)) {
          p->add_changed("key_results");
          break;
        }
      }
    }
    d.Emit(stream, Route::Data(goal.owner_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RecordKeyResultProgress(const v1::RecordKeyResultProgressRequest& r,
                                               const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("goal_id", r.goal_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("key_result_id", r.key_result_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckRange("value_milli", r.value_milli(), -limits::kMetricMilliAbsMax,
                               limits::kMetricMilliAbsMax));
    RETURN_IF_ERROR(CheckText("note", r.note(), Presence::kOptional));
    ASSIGN_OR_RETURN(auto goal, d.Goal("goal_id", r.goal_id()));
    RETURN_IF_ERROR(RequireGoalWriter(d, "goal_id", goal.owner_kind(), goal.owner_id(),
                                      GoalWrite::kProgress));
    int index = -1;
    for (int i = 0; i < goal.key_result_ids_size(); i++) {
      if (goal.key_result_ids(i) == r.key_result_id()) index = i;
    }
    if (index < 0) {
      return absl::NotFoundError(absl::StrCat("key_result_id: goal ", r.goal_id(),
                                              " has no key result ", r.key_result_id()));
    }
    const std::string stream = GoalStream(r.goal_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_key_result_progress_recorded();
    p->set_goal_id(r.goal_id());
    p->set_key_result_id(r.key_result_id());
    p->set_value_milli(r.value_milli());
    p->set_note(r.note());
    p->set_progress_bp(ProgressBp(goal.key_result_start_milli(index),
                                  goal.key_result_target_milli(index), r.value_milli()));
    d.Emit(stream, Route::Data(goal.owner_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::CloseGoal(const v1::CloseGoalRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("goal_id", r.goal_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckRange("okr_grade_milli", r.okr_grade_milli(), 0,
                               limits::kOkrGradeMilliMax));
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kOptional));
    ASSIGN_OR_RETURN(auto goal, d.Goal("goal_id", r.goal_id()));
    RETURN_IF_ERROR(RequireGoalWriter(d, "goal_id", goal.owner_kind(), goal.owner_id(),
                                      GoalWrite::kDefine));
    const std::string stream = GoalStream(r.goal_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_goal_closed();
    p->set_goal_id(r.goal_id());
    p->set_okr_grade_milli(r.okr_grade_milli());
    p->set_reason(r.reason());
    d.Emit(stream, Route::Data(goal.owner_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RecordCheckIn(const v1::RecordCheckInRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("check_in_id", r.check_in_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("manager_id", r.manager_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckCount("progress", r.progress_size(), limits::kListItemsMax));
    RETURN_IF_ERROR(CheckCount("blockers", r.blockers_size(), limits::kListItemsMax));
    for (int i = 0; i < r.blockers_size(); i++) {
      RETURN_IF_ERROR(CheckText(absl::StrCat("blockers[", i, "]"), r.blockers(i),
                                Presence::kRequired));
    }
    RETURN_IF_ERROR(CheckText("support_requested", r.support_requested(), Presence::kOptional));
    RETURN_IF_ERROR(CheckText("notes", r.notes(), Presence::kOptional));
    if (d.principal().role == v1::ROLE_EMPLOYEE) {
      return absl::PermissionDeniedError(
          "manager_id: a check-in is recorded by its manager, not by the employee");
    }
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    ASSIGN_OR_RETURN(auto emp, d.Employee("employee_id", r.employee_id()));
    // A manager records their own conversations: an empty manager_id is the caller.
    std::string manager = r.manager_id();
    if (manager.empty()) {
      manager = d.principal().role == v1::ROLE_MANAGER ? d.principal().employee_id
                                                       : emp.manager_id();
    }
    if (manager.empty()) {
      return FieldError("manager_id", "required: the employee has no manager on record");
    }
    if (manager == r.employee_id()) return FieldError("manager_id", "must not be the employee");
    RETURN_IF_ERROR(d.Employee("manager_id", manager).status());
    RETURN_IF_ERROR(d.RequireActing("manager_id", manager));
    if (!r.cycle_id().empty()) RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id()).status());
    for (int i = 0; i < r.progress_size(); i++) {
      const auto& gp = r.progress(i);
      const std::string f = absl::StrCat("progress[", i, "]");
      RETURN_IF_ERROR(CheckId(f + ".goal_id", gp.goal_id(), Presence::kRequired));
      RETURN_IF_ERROR(CheckBasisPoints(f + ".progress_bp", gp.progress_bp()));
      RETURN_IF_ERROR(CheckText(f + ".comment", gp.comment(), Presence::kOptional));
      RETURN_IF_ERROR(d.Goal(f + ".goal_id", gp.goal_id(), GoalMust::kExist).status());
    }
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_check_in_recorded();
    p->set_check_in_id(r.check_in_id());
    p->set_employee_id(r.employee_id());
    p->set_manager_id(manager);
    p->set_cycle_id(r.cycle_id());
    *p->mutable_progress() = r.progress();
    *p->mutable_blockers() = r.blockers();
    p->set_support_requested(r.support_requested());
    p->set_notes(r.notes());
    p->set_org_unit_id(emp.org_unit_id());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
