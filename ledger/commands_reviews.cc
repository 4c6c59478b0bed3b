// Scores, calibration, grades, feedback.
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "ledger/decision.h"
#include "ledger/ledger.h"
#include "ledger/limits.h"
#include "ledger/status_macros.h"
#include "ledger/validation.h"

namespace perfledger {
namespace {

absl::Status CheckScores(const google::protobuf::RepeatedPtrField<v1::DimensionScore>& scores) {
  if (scores.empty()) return FieldError("scores", "at least one dimension score is required");
  RETURN_IF_ERROR(CheckCount("scores", scores.size(), limits::kListItemsMax));
  for (int i = 0; i < scores.size(); i++) {
    const std::string f = absl::StrCat("scores[", i, "]");
    RETURN_IF_ERROR(CheckName(f + ".dimension", scores[i].dimension(), Presence::kRequired));
    for (int j = 0; j < i; j++) {
      if (scores[j].dimension() == scores[i].dimension()) {
        return FieldError(f + ".dimension", "duplicate dimension");
      }
    }
    RETURN_IF_ERROR(
        CheckRange(f + ".score_milli", scores[i].score_milli(), 0, limits::kScoreMilliMax));
  }
  return absl::OkStatus();
}

}  // namespace

Ledger::Result Ledger::SubmitScore(const v1::SubmitScoreRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("score_id", r.score_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("reviewer_id", r.reviewer_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckScores(r.scores()));
    RETURN_IF_ERROR(CheckText("comment", r.comment(), Presence::kOptional));
    if (d.principal().role == v1::ROLE_EMPLOYEE && r.source() != v1::SCORE_SOURCE_SELF) {
      return absl::PermissionDeniedError(
          "source: an employee submits their own self-review only");
    }
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    ASSIGN_OR_RETURN(auto emp, d.Employee("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id()).status());
    RETURN_IF_ERROR(d.Employee("reviewer_id", r.reviewer_id()).status());
    RETURN_IF_ERROR(d.RequireActing("reviewer_id", r.reviewer_id()));
    // The reviewer relationship the source claims must hold now.
    switch (r.source()) {
      case v1::SCORE_SOURCE_SELF:
        if (r.reviewer_id() != r.employee_id()) {
          return FieldError("reviewer_id", "a self review must be by the employee");
        }
        break;
      case v1::SCORE_SOURCE_MANAGER:
        if (r.reviewer_id() != emp.manager_id()) {
          return absl::FailedPreconditionError(absl::StrCat(
              "reviewer_id: ", r.reviewer_id(), " is not the manager of ", r.employee_id(),
              emp.manager_id().empty() ? " (who has none)"
                                       : absl::StrCat(" (", emp.manager_id(), " is)")));
        }
        break;
      case v1::SCORE_SOURCE_PEER:
        if (r.reviewer_id() == r.employee_id()) {
          return FieldError("reviewer_id", "a peer review cannot be by the employee");
        }
        break;
      default:
        return FieldError("source", "must be SELF, MANAGER or PEER");
    }
    if (auto existing = d.Find(absl::StrCat("score/", r.score_id()));
        existing && existing->has_score()) {
      return absl::AlreadyExistsError(
          absl::StrCat("score_id: score ", r.score_id(), " was already submitted"));
    }
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_score_submitted();
    p->set_score_id(r.score_id());
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    p->set_reviewer_id(r.reviewer_id());
    p->set_source(r.source());
    *p->mutable_scores() = r.scores();
    p->set_comment(r.comment());
    p->set_org_unit_id(emp.org_unit_id());
    p->set_manager_id(emp.manager_id());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::AmendScore(const v1::AmendScoreRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("score_id", r.score_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckScores(r.scores()));
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kRequired));
    auto score = d.Find(absl::StrCat("score/", r.score_id()));
    if (!score || !score->has_score()) {
      return absl::NotFoundError(absl::StrCat("score_id: score ", r.score_id(), " not found"));
    }
    if (score->score().employee_id() != r.employee_id()) {
      return FieldError("employee_id", absl::StrCat("score ", r.score_id(), " is about ",
                                                    score->score().employee_id()));
    }
    // Only the reviewer corrects their score (or hr on their behalf).
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.RequireActing("score_id", score->score().reviewer_id()));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id(), EmployeeMust::kExist).status());
    RETURN_IF_ERROR(d.Cycle("score_id", score->score().cycle_id()).status());
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_score_amended();
    p->set_score_id(r.score_id());
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(score->score().cycle_id());
    *p->mutable_scores() = r.scores();
    p->set_reason(r.reason());
    p->set_corrects_event_id(score->score().last_event_id());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::AdjustCalibration(const v1::AdjustCalibrationRequest& r,
                                         const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckRange("calibrated_score_milli", r.calibrated_score_milli(), 0,
                               limits::kScoreMilliMax));
    RETURN_IF_ERROR(CheckText("reason", r.reason(), Presence::kRequired));
    RETURN_IF_ERROR(CheckName("committee", r.committee(), Presence::kOptional));
    RETURN_IF_ERROR(d.RequireHr("calibrated_score_milli"));
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id(), EmployeeMust::kExist).status());
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id()).status());
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_calibration_adjusted();
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    p->set_calibrated_score_milli(r.calibrated_score_milli());
    p->set_reason(r.reason());
    p->set_committee(r.committee());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::FinalizeGrade(const v1::FinalizeGradeRequest& r, const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(d.RequireHr("grade"));
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    ASSIGN_OR_RETURN(auto emp, d.Employee("employee_id", r.employee_id(), EmployeeMust::kExist));
    ASSIGN_OR_RETURN(auto cycle, d.Cycle("cycle_id", r.cycle_id()));
    if (r.grade().empty()) {
      return absl::FailedPreconditionError(
          "grade: required; computing a grade from scores needs a published policy with score "
          "bands, and none is in force");
    }
    bool in_scale = false;
    for (const auto& g : cycle.grades()) in_scale = in_scale || g == r.grade();
    if (!in_scale) {
      return FieldError("grade", absl::StrCat("'", r.grade(), "' is not in cycle ", r.cycle_id(),
                                              "'s scale ", absl::StrJoin(cycle.grades(), ",")));
    }
    RETURN_IF_ERROR(CheckRange("score_milli", r.score_milli(), 0, limits::kScoreMilliMax));
    // A correction a dispute led to names it (the dispute can then not be rejected).
    RETURN_IF_ERROR(CheckDisputeOfGrade(d, r.dispute_id(), EmployeeId(r.employee_id()),
                                        CycleId(r.cycle_id())));
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_grade_finalized();
    p->set_dispute_id(r.dispute_id());
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    p->set_grade(r.grade());
    p->set_score_milli(r.score_milli());
    // The policy in force when the grade is final decides its actions (a policy published
    // mid-cycle applies to later grades only).
    uint64_t policy_version = cycle.policy_version();
    if (auto current = d.Find("policy/current"); current && current->has_policy()) {
      policy_version = current->policy().version();
    }
    p->set_policy_version(policy_version);
    RETURN_IF_ERROR(CheckCount("inputs", r.inputs_size(), limits::kListItemsMax));
    for (int i = 0; i < r.inputs_size(); i++) {
      RETURN_IF_ERROR(CheckName(absl::StrCat("inputs[", i, "].kind"), r.inputs(i).kind(),
                                Presence::kRequired));
      RETURN_IF_ERROR(CheckBasisPoints(absl::StrCat("inputs[", i, "].weight_bp"),
                                       r.inputs(i).weight_bp()));
    }
    *p->mutable_inputs() = r.inputs();
    // Enrichment (ARCHITECTURE §3 rule 3): consumers never look these up elsewhere.
    p->set_org_unit_id(emp.org_unit_id());
    p->set_manager_id(emp.manager_id());
    ASSIGN_OR_RETURN(Pay pay, PayOf("employee_id", EmployeeId(r.employee_id()), emp));
    *p->mutable_base_salary() = std::move(pay.base_salary);
    *p->mutable_band_midpoint() = std::move(pay.band_midpoint);
    p->set_job_level(emp.job_level());
    if (auto previous = d.Find(absl::StrCat("grade/", r.employee_id(), "/", r.cycle_id()));
        previous && previous->has_grade()) {
      p->set_supersedes_event_id(previous->grade().event_id());
    }
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

Ledger::Result Ledger::RecordFeedback(const v1::RecordFeedbackRequest& r,
                                      const CommandContext& ctx) {
  return Execute(r.meta(), r, ctx, [&](Decision& d) -> absl::Status {
    RETURN_IF_ERROR(CheckId("employee_id", r.employee_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckId("cycle_id", r.cycle_id(), Presence::kRequired));
    RETURN_IF_ERROR(CheckText("feedback", r.feedback(), Presence::kRequired));
    RETURN_IF_ERROR(d.Employee("employee_id", r.employee_id(), EmployeeMust::kExist).status());
    // The employee answers their own review (hr may record it on their behalf).
    RETURN_IF_ERROR(d.RequireScope("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.RequireActing("employee_id", r.employee_id()));
    RETURN_IF_ERROR(d.Cycle("cycle_id", r.cycle_id(), CycleMust::kExist).status());
    const std::string stream = EmployeeStream(r.employee_id());
    RETURN_IF_ERROR(d.ExpectVersion(stream));
    v1::Event e;
    auto* p = e.mutable_review_feedback_recorded();
    p->set_employee_id(r.employee_id());
    p->set_cycle_id(r.cycle_id());
    p->set_feedback(r.feedback());
    p->set_disputed(r.disputed());
    d.Emit(stream, Route::Data(r.employee_id()), std::move(e));
    return absl::OkStatus();
  });
}

}  // namespace perfledger
