// Valid requests for every command, around a small fixture: two org units, a manager, two
// employees reporting to the manager and one open cycle. Tests take a valid request and break
// one field, so each rejection has exactly one cause.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/timestamp.pb.h"
#include "perfledger/v1/commands.pb.h"
#include "tests/support/test_server.h"

namespace perfledger::testing {

// The fixture's ids.
namespace fx {
inline constexpr char kOrg[] = "ORG1";         // root unit, no manager
inline constexpr char kSubOrg[] = "ORG2";      // child of kOrg, managed by kManager
inline constexpr char kManager[] = "M1";       // in kOrg, no manager
inline constexpr char kEmployee[] = "E1";      // in kOrg, reports to kManager
inline constexpr char kEmployee2[] = "E2";     // in kOrg, reports to kManager
inline constexpr char kCycle[] = "C1";         // open, grades A..D
inline constexpr char kCurrency[] = "EUR";
inline constexpr int64_t kSalaryMinor = 6'000'000;    // 60,000.00 EUR
inline constexpr int64_t kMidpointMinor = 6'500'000;  // 65,000.00 EUR
}  // namespace fx

google::protobuf::Timestamp Ts(int64_t seconds, int32_t nanos = 0);
v1::Money Money(int64_t amount_minor, const std::string& currency = fx::kCurrency);

// ---- one valid request per command (ids default to the fixture's)
v1::DefineOrgUnitRequest DefineOrgUnitReq(const std::string& id, const std::string& parent = "",
                                          const std::string& manager = "");
v1::RegisterEmployeeRequest RegisterEmployeeReq(const std::string& id,
                                                const std::string& org = fx::kOrg,
                                                const std::string& manager = fx::kManager);
// Changes job_level and base_salary.
v1::UpdateEmployeeRequest UpdateEmployeeReq(const std::string& id = fx::kEmployee);
v1::RecordDepartureRequest RecordDepartureReq(const std::string& id = fx::kEmployee);
v1::OpenCycleRequest OpenCycleReq(const std::string& id);
v1::CloseCycleRequest CloseCycleReq(const std::string& id = fx::kCycle);
// An employee goal with key results KR1 (0 → 10000, higher is better, weight 6000) and KR2
// (100000 → 20000, lower is better, weight 4000).
v1::SetGoalRequest SetGoalReq(const std::string& goal_id, const std::string& owner = fx::kEmployee,
                              const std::string& cycle = fx::kCycle);
v1::ReviseGoalRequest ReviseGoalReq(const std::string& goal_id);
v1::RecordKeyResultProgressRequest ProgressReq(const std::string& goal_id,
                                               const std::string& key_result_id = "KR1",
                                               int64_t value_milli = 2500);
v1::CloseGoalRequest CloseGoalReq(const std::string& goal_id, uint32_t okr_grade_milli = 700);
v1::RecordCheckInRequest CheckInReq(const std::string& employee = fx::kEmployee,
                                    const std::string& goal_id = "");
v1::Observation Obs(const std::string& subject = fx::kEmployee, int64_t value_milli = 1500,
                    const std::string& metric = "defect_rate");
v1::ObserveMetricRequest ObserveMetricReq(const std::string& subject = fx::kEmployee,
                                          int64_t value_milli = 1500);
// `count` observations of `subject`, values 0, 1000, 2000, ...
v1::ObserveMetricsRequest ObserveMetricsReq(int count, const std::string& subject = fx::kEmployee);
v1::SubmitScoreRequest SubmitScoreReq(const std::string& score_id,
                                      const std::string& employee = fx::kEmployee,
                                      const std::string& reviewer = fx::kManager,
                                      v1::ScoreSource source = v1::SCORE_SOURCE_MANAGER);
v1::AmendScoreRequest AmendScoreReq(const std::string& score_id,
                                    const std::string& employee = fx::kEmployee);
// A 60-day plan with a checkpoint every 14 days.
v1::OpenPipRequest OpenPipReq(const std::string& pip_id,
                              const std::string& employee = fx::kEmployee);
// A public praise from `giver` to `recipients` for the value "customer-first".
v1::GivePraiseRequest PraiseReq(const std::string& praise_id, const std::string& giver,
                                const std::vector<std::string>& recipients,
                                v1::PraiseVisibility visibility = v1::PRAISE_VISIBILITY_PUBLIC);
// A case about `subjects` with a title and a story and no evidence.
v1::NominateCaseRequest NominateCaseReq(const std::string& case_id,
                                        const std::vector<std::string>& subjects);
v1::RecordCaseConsentRequest ConsentReq(const std::string& case_id, const std::string& subject,
                                        v1::CaseConsent consent = v1::CASE_CONSENT_GIVEN);
v1::AdjustCalibrationRequest CalibrationReq(const std::string& employee = fx::kEmployee,
                                            int64_t score_milli = 3200);
v1::FinalizeGradeRequest FinalizeGradeReq(const std::string& employee = fx::kEmployee,
                                          const std::string& grade = "B",
                                          int64_t score_milli = 3200);
v1::RecordFeedbackRequest FeedbackReq(const std::string& employee = fx::kEmployee);
v1::RecordTrainingRequest TrainingReq(const std::string& employee = fx::kEmployee,
                                      const std::string& verb = "completed");

// A second line beside the fixture's: M2 in ORG1, ORG3 (under ORG1) managed by M2, and E3 in
// ORG3 reporting to M2, so M1's reports are outside M2's scope and E3 outside M1's. Throws
// like SeedFixture.
void SeedSecondLine(TestServer& server, const std::string& token = "");

// A policy grading on defect_rate bands: A → a 15 % raise and course quality-control; B → a
// bonus of 20 % of monthly pay and course operation-skills; C → a 60-day PIP; D → nothing.
extern const char kGradeActionsPolicy[];

// Creates the fixture through the server's RPCs (6 commands, 6 events). Throws
// std::runtime_error naming the command that failed.
void SeedFixture(TestServer& server, const std::string& token = "");

// Throws std::runtime_error("<what>: <code> <message>") unless `status` is OK.
void ExpectOk(const grpc::Status& status, const std::string& what);

// "INVALID_ARGUMENT" etc.
std::string CodeName(grpc::StatusCode code);

}  // namespace perfledger::testing
