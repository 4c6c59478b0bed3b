// Performance improvement plans: opened by hand (a plan the policy triggers opens with its
// action), their goals, checkpoints, extensions and outcome. The manager of the employee (in
// scope), hr or admin decide them; an outcome feeds the policy's pip_outcomes (the reactor).
#include "absl/strings/str_cat.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

std::string PipStream(std::string_view id) { return absl::StrCat("pip/", std::string(id)); }

// The plan of `pip_id`, which must exist; with PlanMust::kBeOpen, not closed.
enum class PlanMust { kExist, kBeOpen };
absl::StatusOr<internal::PipState> Plan(Decision& d, const std::string& pip_id, PlanMust must) {
  RETURN_IF_ERROR(CheckId("pip_id", pip_id, Presence::kRequired));
  auto e = d.Find(PipStream(pip_id));
  if (!e || !e->has_pip()) {
    return absl::NotFoundError(absl::StrCat("pip_id: plan ", pip_id, " not found"));
  }
  if (must == PlanMust::kBeOpen && e->pip().closed()) {
    return absl::FailedPreconditionError(absl::StrCat("pip_id: plan ", pip_id, " is closed"));
  }
  RETURN_IF_ERROR(d.RequireScope("pip_id", e->pip().employee_id()));
  return e->pip();
}

// Goals the plan is judged by: open goals owned by the plan's employee, each named once.
absl::Status CheckGoals(Decision& d, const google::protobuf::RepeatedPtrField<std::string>& ids,
                        const std::string& employee) {
  RETURN_IF_ERROR(CheckCount("goal_ids", ids.size(), limits::kListItemsMax));
  for (int i = 0; i < ids.size(); i++) {
    const std::string f = absl::StrCat("goal_ids[", i, "]");
    RETURN_IF_ERROR(CheckId(f, ids[i], Presence::kRequired));
    for (int j = 0; j < i; j++) {
      if (ids[j] == ids[i]) return FieldError(f, "names a goal twice");
    }
    ASSIGN_OR_RETURN(internal::GoalState goal, d.Goal(f, ids[i]));
    if (goal.owner_kind() != v1::OWNER_KIND_EMPLOYEE || goal.owner_id() != employee) {
      return FieldError(f, absl::StrCat("goal ", ids[i], " is not a goal of ", employee));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Ledger::Result Ledger::OpenPip(const v1::OpenPipRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("pip_id", r.pip_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kOptional));
    RETURN_IF_ERROR(CheckRange("length_days", r.length_days(), 1, limits::kPolicyDaysMax));
    RETURN_IF_ERROR(CheckRange("checkpoint_every_days", r.checkpoint_every_days(), 0,
                               r.length_days()));
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    ASSIGN_OR_RETURN(internal::EmployeeState emp, d.Employee("employee_id", r.employee_id()));
    if (!r.cycle_id().empty()) {
      RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id(), CycleMust::kExist).status());
    }
    const std::string stream = PipStream(r.pip_id());
    if (auto existing = d.Find(stream); existing && existing->has_pip()) {
      return absl::AlreadyExistsError(absl::StrCat("pip_id: plan ", r.pip_id(), " exists"));
    }
    RETURN_IF_ERROR(CheckGoals(d, r.goal_ids(), r.employee_id()));
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    const absl::Time starts =
        r.meta().has_occurred_at() ? ToTime(r.meta().occurred_at()) : d.now();
    v1::Event e;
    auto* p = e.mutable_pip_opened();
    p->set_pip_id(r.pip_id());
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    *p->mutable_starts_at() = ToTimestamp(starts);
    *p->mutable_deadline_at() =
        ToTimestamp(starts + absl::Hours(24) * static_cast<int64_t>(r.length_days()));
    p->set_checkpoint_every_days(r.checkpoint_every_days());
    *p->mutable_goal_ids() = r.goal_ids();
    // The manager who runs the plan: the caller when a manager, else the employee's manager.
    p->set_manager_id(d.principal().role == v1::ROLE_MANAGER ? d.principal().employee_id
                                                              : emp.manager_id());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::SetPipGoals(const v1::SetPipGoalsRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    ASSIGN_OR_RETURN(internal::PipState plan, Plan(d, r.pip_id(), PlanMust::kBeOpen));
    if (r.goal_ids().empty()) return FieldError("goal_ids", "name at least one goal");
    RETURN_IF_ERROR(CheckGoals(d, r.goal_ids(), plan.employee_id()));
    const std::string stream = PipStream(r.pip_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_pip_goals_set();
    p->set_pip_id(r.pip_id());
    p->set_employee_id(plan.employee_id());
    *p->mutable_goal_ids() = r.goal_ids();
    d.Emit(stream, Route::Data(plan.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RecordPipCheckpoint(const v1::RecordPipCheckpointRequest& r,
                                           const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckBasisPoints("progress_bp", r.progress_bp()));
    RETURN_IF_ERROR(CheckText("notes", r.notes(), Presence::kOptional));
    ASSIGN_OR_RETURN(internal::PipState plan, Plan(d, r.pip_id(), PlanMust::kBeOpen));
    const std::string stream = PipStream(r.pip_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_pip_checkpoint_recorded();
    p->set_pip_id(r.pip_id());
    p->set_employee_id(plan.employee_id());
    p->set_progress_bp(r.progress_bp());
    p->set_notes(r.notes());
    d.Emit(stream, Route::Data(plan.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::ExtendPip(const v1::ExtendPipRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kRequired));
    if (!r.has_new_deadline_at()) return FieldError("new_deadline_at", "required");
    RETURN_IF_ERROR(CheckTimestamp("new_deadline_at", r.new_deadline_at()));
    ASSIGN_OR_RETURN(internal::PipState plan, Plan(d, r.pip_id(), PlanMust::kBeOpen));
    if (ToTime(r.new_deadline_at()) <= ToTime(plan.deadline_at())) {
      return FieldError("new_deadline_at",
                        absl::StrCat("must be after the plan's end, ",
                                     absl::FormatTime(absl::RFC3339_sec,
                                                      ToTime(plan.deadline_at()),
                                                      absl::UTCTimeZone())));
    }
    const std::string stream = PipStream(r.pip_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_pip_extended();
    p->set_pip_id(r.pip_id());
    p->set_employee_id(plan.employee_id());
    *p->mutable_new_deadline_at() = r.new_deadline_at();
    p->set_reason(r.reason());
    d.Emit(stream, Route::Data(plan.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::ClosePip(const v1::ClosePipRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    if (r.outcome() != v1::PIP_OUTCOME_SUCCEEDED && r.outcome() != v1::PIP_OUTCOME_FAILED) {
      return FieldError("outcome", "must be SUCCEEDED or FAILED");
    }
    RETURN_IF_ERROR(CheckText("notes", r.notes(), Presence::kOptional));
    ASSIGN_OR_RETURN(internal::PipState plan, Plan(d, r.pip_id(), PlanMust::kBeOpen));
    const std::string stream = PipStream(r.pip_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_pip_closed();
    p->set_pip_id(r.pip_id());
    p->set_employee_id(plan.employee_id());
    p->set_outcome(r.outcome());
    p->set_notes(r.notes());
    d.Emit(stream, Route::Data(plan.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
