// The employee's side of a review: acknowledging a finalized grade, disputing it within the
// policy's window, and the dispute's resolution by its assignee, hr or admin.
//
// The window of a grade ends policy::DisputeWindowEnd(grade's business time, the disputes
// section of the grade's policy version). It is closed for a dispute whose business time is at
// or after that end, and once the scheduler's DeadlineReached for the window is in the log
// (whatever time the dispute claims): the same end the reactor registers as a deadline.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/policy_eval.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

std::string DisputeStream(std::string_view id) {
  return absl::StrCat("dispute/", std::string(id));
}

std::string GradeKey(const std::string& employee, const std::string& cycle) {
  return absl::StrCat("grade/", employee, "/", cycle);
}

std::string Rfc3339(const google::protobuf::Timestamp& ts) {
  return absl::FormatTime(absl::RFC3339_sec, ToTime(ts), absl::UTCTimeZone());
}

// The grade in force of `employee` in `cycle`: FAILED_PRECONDITION naming cycle_id when none
// was finalized.
absl::StatusOr<internal::GradeState> FinalizedGrade(Decision& d, const std::string& employee,
                                                    const std::string& cycle) {
  auto e = d.Find(GradeKey(employee, cycle));
  if (!e || !e->has_grade() || e->grade().event_id().empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "cycle_id: ", employee, " has no finalized grade in cycle ", cycle));
  }
  return e->grade();
}

// The disputes section of the grade's policy version; the defaults when the version has none
// (no policy, or one published before the section existed, which cannot hold it).
policy::Disputes DisputesOf(Decision& d, uint64_t policy_version) {
  policy::Disputes out;
  if (policy_version == 0) return out;
  auto e = d.Find(absl::StrCat("policy-version/", policy_version));
  if (!e || !e->has_policy() || e->policy().dispute_window_business_days() == 0) return out;
  out.window_business_days = e->policy().dispute_window_business_days();
  out.assign_to = e->policy().dispute_assign_to() == v1::DISPUTE_ASSIGNEE_HR
                      ? policy::DisputeAssignTo::kHr
                      : policy::DisputeAssignTo::kSkipLevel;
  out.hold_actions = e->policy().dispute_hold_actions();
  return out;
}

// An active employee other than `employee` and their manager, or "".
std::string Candidate(Decision& d, const std::string& id, const internal::EmployeeState& emp,
                      const std::string& employee) {
  if (id.empty() || id == employee || id == emp.manager_id()) return "";
  auto e = d.Find(EmployeeStream(id));
  if (!e || !e->has_employee() || e->employee().departed()) return "";
  return id;
}

// The skip-level manager of `employee`: their manager's manager, else the manager of the parent
// of their org unit; "" when neither is an active person other than the employee and their
// manager.
std::string SkipLevel(Decision& d, const std::string& employee,
                      const internal::EmployeeState& emp) {
  if (!emp.manager_id().empty()) {
    if (auto m = d.Find(EmployeeStream(emp.manager_id())); m && m->has_employee()) {
      std::string skip = Candidate(d, m->employee().manager_id(), emp, employee);
      if (!skip.empty()) return skip;
    }
  }
  if (emp.org_unit_id().empty()) return "";
  auto unit = d.Find(OrgUnitStream(emp.org_unit_id()));
  if (!unit || !unit->has_org_unit() || unit->org_unit().parent_id().empty()) return "";
  auto parent = d.Find(OrgUnitStream(unit->org_unit().parent_id()));
  if (!parent || !parent->has_org_unit()) return "";
  return Candidate(d, parent->org_unit().manager_id(), emp, employee);
}

// Each dimension once, a name.
absl::Status CheckDimensionNames(const google::protobuf::RepeatedPtrField<std::string>& dims) {
  RETURN_IF_ERROR(CheckCount("dimensions", dims.size(), limits::kListItemsMax));
  for (int i = 0; i < dims.size(); i++) {
    const std::string f = absl::StrCat("dimensions[", i, "]");
    RETURN_IF_ERROR(CheckName(f, dims[i], Presence::kRequired));
    for (int j = 0; j < i; j++) {
      if (dims[j] == dims[i]) return FieldError(f, "names a dimension twice");
    }
  }
  return absl::OkStatus();
}

// Dimensions a dispute may name: those of the employee's scores in the cycle and the kinds of
// the grade's inputs.
absl::Status CheckDimensionsKnown(Decision& d,
                                  const google::protobuf::RepeatedPtrField<std::string>& dims,
                                  const std::string& employee, const std::string& cycle,
                                  const internal::GradeState& grade) {
  if (dims.empty()) return absl::OkStatus();
  std::vector<std::string> known(grade.input_kinds().begin(), grade.input_kinds().end());
  if (auto review = d.Find(absl::StrCat("review/", employee, "/", cycle));
      review && review->has_review()) {
    known.insert(known.begin(), review->review().dimensions().begin(),
                 review->review().dimensions().end());
  }
  for (int i = 0; i < dims.size(); i++) {
    const std::string f = absl::StrCat("dimensions[", i, "]");
    if (std::find(known.begin(), known.end(), dims[i]) == known.end()) {
      return FieldError(
          f, absl::StrCat("'", dims[i], "' is not a dimension of ", employee, "'s scores in ",
                          cycle, " nor a kind of the grade's inputs",
                          known.empty() ? " (it has none: name no dimension to dispute the "
                                          "grade as a whole)"
                                        : absl::StrCat(" (", absl::StrJoin(known, ", "), ")")));
    }
  }
  return absl::OkStatus();
}

}  // namespace

Ledger::Result Ledger::AcknowledgeGrade(const v1::AcknowledgeGradeRequest& r,
                                        const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    if (r.response() != v1::ACKNOWLEDGEMENT_RESPONSE_AGREE &&
        r.response() != v1::ACKNOWLEDGEMENT_RESPONSE_DISAGREE) {
      return FieldError("response", "must be AGREE or DISAGREE");
    }
    RETURN_IF_ERROR(CheckText("comment", r.comment(), Presence::kOptional));
    // The employee answers for themselves (hr or admin may record it on their behalf).
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.RequireActing("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id()).status());
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id(), CycleMust::kExist).status());
    ASSIGN_OR_RETURN(internal::GradeState grade,
                     FinalizedGrade(d, r.employee_id(), r.cycle_id()));
    if (grade.acknowledged_event_id() == grade.event_id()) {
      return absl::AlreadyExistsError(absl::StrCat("cycle_id: ", r.employee_id(),
                                                   " already acknowledged their grade in ",
                                                   r.cycle_id(), " (event ", grade.event_id(),
                                                   ")"));
    }
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_grade_acknowledged();
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    p->set_grade_event_id(grade.event_id());
    p->set_response(r.response());
    p->set_comment(r.comment());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RaiseDispute(const v1::RaiseDisputeRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("dispute_id", r.dispute_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckDimensionNames(r.dimensions()));
    RETURN_IF_ERROR(CheckText("grounds", r.grounds(), Presence::kRequired));
    // Only the employee disputes their grade (hr or admin may record it on their behalf).
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.RequireActing("employee_id", r.employee_id()));
    ASSIGN_OR_RETURN(internal::EmployeeState emp, d.Employee("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id(), CycleMust::kExist).status());
    const std::string stream = DisputeStream(r.dispute_id());
    if (auto existing = d.Find(stream); existing && existing->has_dispute()) {
      return absl::AlreadyExistsError(
          absl::StrCat("dispute_id: dispute ", r.dispute_id(), " exists"));
    }
    ASSIGN_OR_RETURN(internal::GradeState grade,
                     FinalizedGrade(d, r.employee_id(), r.cycle_id()));
    if (!grade.open_dispute_id().empty()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cycle_id: dispute ", grade.open_dispute_id(), " about ", r.employee_id(),
          "'s grade in ", r.cycle_id(), " is still open (one open dispute per grade)"));
    }
    const policy::Disputes settings = DisputesOf(d, grade.policy_version());
    const google::protobuf::Timestamp ends =
        policy::DisputeWindowEnd(grade.occurred_at(), settings.window_business_days);
    const absl::Time at = r.meta().has_occurred_at() ? ToTime(r.meta().occurred_at()) : d.now();
    if (at < ToTime(grade.occurred_at())) {
      return FieldError("meta.occurred_at",
                        absl::StrCat("before the grade was finalized (",
                                     Rfc3339(grade.occurred_at()), ")"));
    }
    const bool fired = grade.has_window_closed_at() &&
                       ToTime(grade.window_closed_at()) >= ToTime(ends);
    if (fired || at >= ToTime(ends)) {
      return absl::FailedPreconditionError(absl::StrCat(
          "cycle_id: the dispute window of ", r.employee_id(), "'s grade in ", r.cycle_id(),
          " closed at ", Rfc3339(ends), " (deadline ",
          policy::DisputeWindowSubject(EmployeeId(r.employee_id()), CycleId(r.cycle_id())), ", ",
          settings.window_business_days, " business days after the grade)"));
    }
    RETURN_IF_ERROR(CheckDimensionsKnown(d, r.dimensions(), r.employee_id(), r.cycle_id(), grade));
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_dispute_raised();
    p->set_dispute_id(r.dispute_id());
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    p->set_grade_event_id(grade.event_id());
    p->set_grade(grade.grade());
    *p->mutable_dimensions() = r.dimensions();
    p->set_grounds(r.grounds());
    // Enrichment at decision time: who decides, as the org is now.
    const std::string skip = settings.assign_to == policy::DisputeAssignTo::kSkipLevel
                                 ? SkipLevel(d, r.employee_id(), emp)
                                 : std::string();
    p->set_assigned_to(skip.empty() ? v1::DISPUTE_ASSIGNEE_HR : v1::DISPUTE_ASSIGNEE_SKIP_LEVEL);
    p->set_assignee_id(skip);
    *p->mutable_window_ends_at() = ends;
    p->set_policy_version(grade.policy_version());
    p->set_org_unit_id(emp.org_unit_id());
    p->set_manager_id(emp.manager_id());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::ResolveDispute(const v1::ResolveDisputeRequest& r,
                                      const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("dispute_id", r.dispute_id(), Presence::kRequired));
    if (r.outcome() != v1::DISPUTE_OUTCOME_UPHELD &&
        r.outcome() != v1::DISPUTE_OUTCOME_PARTLY_UPHELD &&
        r.outcome() != v1::DISPUTE_OUTCOME_REJECTED) {
      return FieldError("outcome", "must be UPHELD, PARTLY_UPHELD or REJECTED");
    }
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kRequired));
    const std::string stream = DisputeStream(r.dispute_id());
    auto found = d.Find(stream);
    if (!found || !found->has_dispute()) {
      return absl::NotFoundError(absl::StrCat("dispute_id: dispute ", r.dispute_id(), " not found"));
    }
    const internal::DisputeState& dispute = found->dispute();
    // The assignee decides; hr (in its scope) and admin may always.
    const Principal& who = d.principal();
    const bool hr = who.role == v1::ROLE_HR || who.role == v1::ROLE_ADMIN;
    const bool assignee = !dispute.assignee_id().empty() && !who.employee_id.empty() &&
                          who.employee_id == dispute.assignee_id();
    if (!hr && !assignee) {
      return absl::PermissionDeniedError(absl::StrCat(
          "dispute_id: dispute ", r.dispute_id(), " is decided by ",
          dispute.assignee_id().empty() ? "hr" : dispute.assignee_id(), ", hr or admin, not ",
          v1::Role_Name(who.role), " ", who.employee_id.empty() ? who.name : who.employee_id));
    }
    if (hr) RETURN_IF_ERROR(d.RequireScope("dispute_id", dispute.employee_id()));
    if (dispute.resolved()) {
      return absl::FailedPreconditionError(
          absl::StrCat("dispute_id: dispute ", r.dispute_id(), " is already resolved"));
    }
    if (r.outcome() == v1::DISPUTE_OUTCOME_REJECTED && !dispute.regrade_event_id().empty()) {
      return FieldError("outcome",
                        absl::StrCat("the grade was changed for this dispute (event ",
                                     dispute.regrade_event_id(),
                                     "): a dispute that changed the grade is not rejected"));
    }
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_dispute_resolved();
    p->set_dispute_id(r.dispute_id());
    p->set_employee_id(dispute.employee_id());
    p->set_cycle_id(dispute.cycle_id());
    p->set_outcome(r.outcome());
    p->set_reason(r.reason());
    p->set_regrade_event_id(dispute.regrade_event_id());
    p->set_resolved_by(who.employee_id.empty() ? who.name : who.employee_id);
    d.Emit(stream, Route::Data(dispute.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

absl::Status CheckDisputeOfGrade(Decision& d, const std::string& dispute_id,
                                 const EmployeeId& employee, const CycleId& cycle) {
  RETURN_IF_ERROR(CheckId("dispute_id", dispute_id, Presence::kOptional));
  if (dispute_id.empty()) return absl::OkStatus();
  auto found = d.Find(DisputeStream(dispute_id));
  if (!found || !found->has_dispute()) {
    return absl::NotFoundError(absl::StrCat("dispute_id: dispute ", dispute_id, " not found"));
  }
  const internal::DisputeState& dispute = found->dispute();
  if (EmployeeId(dispute.employee_id()) != employee || CycleId(dispute.cycle_id()) != cycle) {
    return FieldError("dispute_id", absl::StrCat("dispute ", dispute_id, " is about ",
                                                 dispute.employee_id(), "'s grade in ",
                                                 dispute.cycle_id()));
  }
  if (dispute.resolved()) {
    return absl::FailedPreconditionError(
        absl::StrCat("dispute_id: dispute ", dispute_id, " is already resolved"));
  }
  return absl::OkStatus();
}

}  // namespace perfledger
