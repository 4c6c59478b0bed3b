#include "tests/support/fixture.h"

#include <stdexcept>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace perfledger::testing {

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos) {
  google::protobuf::Timestamp ts;
  ts.set_seconds(seconds);
  ts.set_nanos(nanos);
  return ts;
}

v1::Money Money(int64_t amount_minor, const std::string& currency) {
  v1::Money m;
  m.set_amount_minor(amount_minor);
  m.set_currency(currency);
  return m;
}

v1::DefineOrgUnitRequest DefineOrgUnitReq(const std::string& id, const std::string& parent,
                                          const std::string& manager) {
  v1::DefineOrgUnitRequest r;
  r.set_org_unit_id(id);
  r.set_name(absl::StrCat("Unit ", id));
  r.set_parent_id(parent);
  r.set_manager_id(manager);
  return r;
}

v1::RegisterEmployeeRequest RegisterEmployeeReq(const std::string& id, const std::string& org,
                                                const std::string& manager) {
  v1::RegisterEmployeeRequest r;
  r.set_employee_id(id);
  r.set_name(absl::StrCat("Employee ", id));
  r.set_org_unit_id(org);
  r.set_manager_id(manager);
  r.set_job_level("L3");
  *r.mutable_base_salary() = Money(fx::kSalaryMinor);
  *r.mutable_band_midpoint() = Money(fx::kMidpointMinor);
  *r.mutable_hired_at() = Ts(1'700'000'000);
  r.set_email(absl::StrCat(id, "@example.com"));
  return r;
}

v1::UpdateEmployeeRequest UpdateEmployeeReq(const std::string& id) {
  v1::UpdateEmployeeRequest r;
  r.set_employee_id(id);
  r.add_update_mask("job_level");
  r.add_update_mask("base_salary");
  r.set_job_level("L4");
  *r.mutable_base_salary() = Money(fx::kSalaryMinor + 300'000);
  r.set_reason("promotion");
  return r;
}

v1::RecordDepartureRequest RecordDepartureReq(const std::string& id) {
  v1::RecordDepartureRequest r;
  r.set_employee_id(id);
  r.set_reason("moved abroad");
  return r;
}

v1::OpenCycleRequest OpenCycleReq(const std::string& id) {
  v1::OpenCycleRequest r;
  r.set_cycle_id(id);
  r.set_name(absl::StrCat("Cycle ", id));
  *r.mutable_period_start() = Ts(1'767'225'600);  // 2026-01-01
  *r.mutable_period_end() = Ts(1'782'777'600);    // 2026-06-30
  return r;
}

v1::CloseCycleRequest CloseCycleReq(const std::string& id) {
  v1::CloseCycleRequest r;
  r.set_cycle_id(id);
  return r;
}

namespace {

void AddKeyResults(google::protobuf::RepeatedPtrField<v1::KeyResult>* krs) {
  v1::KeyResult* kr1 = krs->Add();
  kr1->set_key_result_id("KR1");
  kr1->set_description("Ship the feature");
  kr1->set_start_milli(0);
  kr1->set_target_milli(10'000);
  kr1->set_unit("features");
  kr1->set_direction(v1::DIRECTION_HIGHER_IS_BETTER);
  kr1->set_weight_bp(6'000);
  v1::KeyResult* kr2 = krs->Add();
  kr2->set_key_result_id("KR2");
  kr2->set_description("Cut the defect rate");
  kr2->set_start_milli(100'000);
  kr2->set_target_milli(20'000);
  kr2->set_unit("%");
  kr2->set_direction(v1::DIRECTION_LOWER_IS_BETTER);
  kr2->set_weight_bp(4'000);
}

}  // namespace

v1::SetGoalRequest SetGoalReq(const std::string& goal_id, const std::string& owner,
                              const std::string& cycle) {
  v1::SetGoalRequest r;
  r.set_goal_id(goal_id);
  r.set_cycle_id(cycle);
  r.set_owner_kind(v1::OWNER_KIND_EMPLOYEE);
  r.set_owner_id(owner);
  r.set_title(absl::StrCat("Goal ", goal_id));
  r.set_description("Deliver the quarter's roadmap");
  r.set_weight_bp(5'000);
  AddKeyResults(r.mutable_key_results());
  return r;
}

v1::ReviseGoalRequest ReviseGoalReq(const std::string& goal_id) {
  v1::ReviseGoalRequest r;
  r.set_goal_id(goal_id);
  r.set_title(absl::StrCat("Goal ", goal_id, " (revised)"));
  r.set_weight_bp(4'000);
  AddKeyResults(r.mutable_key_results());
  r.mutable_key_results(0)->set_target_milli(20'000);
  r.set_reason("scope grew");
  return r;
}

v1::RecordKeyResultProgressRequest ProgressReq(const std::string& goal_id,
                                               const std::string& key_result_id,
                                               int64_t value_milli) {
  v1::RecordKeyResultProgressRequest r;
  r.set_goal_id(goal_id);
  r.set_key_result_id(key_result_id);
  r.set_value_milli(value_milli);
  r.set_note("weekly update");
  return r;
}

v1::CloseGoalRequest CloseGoalReq(const std::string& goal_id, uint32_t okr_grade_milli) {
  v1::CloseGoalRequest r;
  r.set_goal_id(goal_id);
  r.set_okr_grade_milli(okr_grade_milli);
  r.set_reason("quarter ended");
  return r;
}

v1::RecordCheckInRequest CheckInReq(const std::string& employee, const std::string& goal_id) {
  v1::RecordCheckInRequest r;
  r.set_check_in_id(absl::StrCat("CI-", employee));
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  if (!goal_id.empty()) {
    v1::GoalProgress* p = r.add_progress();
    p->set_goal_id(goal_id);
    p->set_progress_bp(4'000);
    p->set_comment("on track");
  }
  r.add_blockers("waiting for the design review");
  r.set_support_requested("an intro to the platform team");
  r.set_notes("good week");
  return r;
}

v1::Observation Obs(const std::string& subject, int64_t value_milli, const std::string& metric) {
  v1::Observation o;
  o.set_subject_id(subject);
  o.set_subject_kind(v1::OWNER_KIND_EMPLOYEE);
  o.set_metric(metric);
  o.set_value_milli(value_milli);
  o.set_unit("%");
  o.set_source("ERP");
  o.set_cycle_id(fx::kCycle);
  return o;
}

v1::ObserveMetricRequest ObserveMetricReq(const std::string& subject, int64_t value_milli) {
  v1::ObserveMetricRequest r;
  *r.mutable_observation() = Obs(subject, value_milli);
  return r;
}

v1::ObserveMetricsRequest ObserveMetricsReq(int count, const std::string& subject) {
  v1::ObserveMetricsRequest r;
  for (int i = 0; i < count; i++) *r.add_observations() = Obs(subject, int64_t{i} * 1000);
  return r;
}

v1::SubmitScoreRequest SubmitScoreReq(const std::string& score_id, const std::string& employee,
                                      const std::string& reviewer, v1::ScoreSource source) {
  v1::SubmitScoreRequest r;
  r.set_score_id(score_id);
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  r.set_reviewer_id(reviewer);
  r.set_source(source);
  v1::DimensionScore* s1 = r.add_scores();
  s1->set_dimension("delivery");
  s1->set_score_milli(3'500);
  v1::DimensionScore* s2 = r.add_scores();
  s2->set_dimension("collaboration");
  s2->set_score_milli(4'000);
  r.set_comment("solid half");
  return r;
}

v1::AmendScoreRequest AmendScoreReq(const std::string& score_id, const std::string& employee) {
  v1::AmendScoreRequest r;
  r.set_score_id(score_id);
  r.set_employee_id(employee);
  v1::DimensionScore* s = r.add_scores();
  s->set_dimension("delivery");
  s->set_score_milli(3'800);
  r.set_reason("missed a shipped project");
  return r;
}

v1::OpenPipRequest OpenPipReq(const std::string& pip_id, const std::string& employee) {
  v1::OpenPipRequest r;
  r.set_pip_id(pip_id);
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  r.set_length_days(60);
  r.set_checkpoint_every_days(14);
  return r;
}

v1::GivePraiseRequest PraiseReq(const std::string& praise_id, const std::string& giver,
                                const std::vector<std::string>& recipients,
                                v1::PraiseVisibility visibility) {
  v1::GivePraiseRequest r;
  r.set_praise_id(praise_id);
  r.set_giver_id(giver);
  for (const auto& id : recipients) r.add_recipient_ids(id);
  r.add_values("customer-first");
  r.set_message(absl::StrCat("Thank you for the night shift, from ", giver));
  r.set_visibility(visibility);
  return r;
}

v1::NominateCaseRequest NominateCaseReq(const std::string& case_id,
                                        const std::vector<std::string>& subjects) {
  v1::NominateCaseRequest r;
  r.set_case_id(case_id);
  for (const auto& id : subjects) r.add_subject_ids(id);
  r.set_title(absl::StrCat("Case ", case_id));
  r.set_story("Rebuilt the line's inspection routine; rework fell by half.");
  return r;
}

v1::RecordCaseConsentRequest ConsentReq(const std::string& case_id, const std::string& subject,
                                        v1::CaseConsent consent) {
  v1::RecordCaseConsentRequest r;
  r.set_case_id(case_id);
  r.set_subject_id(subject);
  r.set_consent(consent);
  return r;
}

v1::AdjustCalibrationRequest CalibrationReq(const std::string& employee, int64_t score_milli) {
  v1::AdjustCalibrationRequest r;
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  r.set_calibrated_score_milli(score_milli);
  r.set_reason("aligned with peers");
  r.set_committee("eng-calibration");
  return r;
}

v1::FinalizeGradeRequest FinalizeGradeReq(const std::string& employee, const std::string& grade,
                                          int64_t score_milli) {
  v1::FinalizeGradeRequest r;
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  r.set_grade(grade);
  r.set_score_milli(score_milli);
  return r;
}

v1::RecordFeedbackRequest FeedbackReq(const std::string& employee) {
  v1::RecordFeedbackRequest r;
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  r.set_feedback("I disagree with the delivery score");
  r.set_disputed(true);
  return r;
}

v1::RecordTrainingRequest TrainingReq(const std::string& employee, const std::string& verb) {
  v1::RecordTrainingRequest r;
  r.set_employee_id(employee);
  r.set_course_id("COURSE-101");
  r.set_lms_reference("lms-42");
  r.set_verb(verb);
  r.set_passed(true);
  r.set_score_milli(87'000);
  return r;
}

const char kGradeActionsPolicy[] = R"(policy_id: grade-actions
grading:
  method: metric_bands
  metric: defect_rate
  direction: lower_is_better
  aggregate: mean
  bands:
    - {grade: A, below_milli: 2000}
    - {grade: B, below_milli: 3000}
    - {grade: C, below_milli: 5001}
    - {grade: D}
actions:
  A:
    raise_bp: 1500
    training: [quality-control]
  B:
    bonus: {percent_of_monthly_bp: 2000, reason_code: quality-bonus}
    training: [operation-skills]
  C:
    pip: {length_days: 60, checkpoint_every_days: 14}
)";

std::string CodeName(grpc::StatusCode code) {
  // gRPC and absl number the canonical codes alike (tests/unit/status_map_test.cc).
  return absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
}

void ExpectOk(const grpc::Status& status, const std::string& what) {
  if (!status.ok()) {
    throw std::runtime_error(absl::StrCat(what, ": ", CodeName(status.error_code()), " ",
                                          status.error_message()));
  }
}

void SeedSecondLine(TestServer& server, const std::string& token) {
  ExpectOk(server.Call(server.people(), &v1::People::Stub::RegisterEmployee,
                       RegisterEmployeeReq("M2", fx::kOrg, ""), token).status, "RegisterEmployee M2");
  ExpectOk(server.Call(server.people(), &v1::People::Stub::DefineOrgUnit,
                       DefineOrgUnitReq("ORG3", fx::kOrg, "M2"), token).status, "DefineOrgUnit ORG3");
  ExpectOk(server.Call(server.people(), &v1::People::Stub::RegisterEmployee,
                       RegisterEmployeeReq("E3", "ORG3", "M2"), token).status, "RegisterEmployee E3");
}

void SeedFixture(TestServer& server, const std::string& token) {
  ExpectOk(server.Call(server.people(), &v1::People::Stub::DefineOrgUnit,
                       DefineOrgUnitReq(fx::kOrg), token).status, "DefineOrgUnit ORG1");
  ExpectOk(server.Call(server.people(), &v1::People::Stub::RegisterEmployee,
                       RegisterEmployeeReq(fx::kManager, fx::kOrg, ""), token).status,
           "RegisterEmployee M1");
  ExpectOk(server.Call(server.people(), &v1::People::Stub::DefineOrgUnit,
                       DefineOrgUnitReq(fx::kSubOrg, fx::kOrg, fx::kManager), token).status,
           "DefineOrgUnit ORG2");
  ExpectOk(server.Call(server.people(), &v1::People::Stub::RegisterEmployee,
                       RegisterEmployeeReq(fx::kEmployee), token).status, "RegisterEmployee E1");
  ExpectOk(server.Call(server.people(), &v1::People::Stub::RegisterEmployee,
                       RegisterEmployeeReq(fx::kEmployee2), token).status, "RegisterEmployee E2");
  ExpectOk(server.Call(server.cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq(fx::kCycle),
                       token).status, "OpenCycle C1");
}

}  // namespace perfledger::testing
