// Scope, the acting person and field-level visibility (ARCHITECTURE §9, ledger/access.h) through the
// real server with a tokens file: the leak patterns HR systems have shipped, each as a test.
//
// The organisation: ORG1 (root) holds M1, E1, E2 (E1 and E2 report to M1); ORG2 (under ORG1)
// is managed by M1 and holds E4; ORG3 (line 2, under ORG1) is managed by M2 and holds E3.
#include <thread>

#include "perfledger/v1/audit.grpc.pb.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/integration/helpers.h"
#include "tests/support/temp_dir.h"

namespace perfledger::testing {
namespace {

constexpr char kTokens[] = R"(# token principal role [employee|-] [org units]
admin-token   alice   admin
hr-token      hank    hr
hr3-token     hilda   hr       -   ORG3
auditor-token audrey  auditor
payroll-token paula   payroll
lms-token     moodle  lms
emp-token     eve     employee E1
emp2-token    ed      employee E2
mgr-token     mike    manager  M1
mgr2-token    mona    manager  M2
)";


struct Org {
  TempDir dir{"access"};
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Views::Stub> views;
  std::unique_ptr<v1::Policies::Stub> policies;
  std::unique_ptr<v1::Audit::Stub> audit;

  Org() {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    views = v1::Views::NewStub(server->NewChannel());
    policies = v1::Policies::NewStub(server->NewChannel());
    audit = v1::Audit::NewStub(server->NewChannel());
    SeedFixture(*server);
    TestServer& s = *server;
    SeedSecondLine(s);
    ExpectOk(s.Call(s.people(), &v1::People::Stub::RegisterEmployee,
                    RegisterEmployeeReq("E4", fx::kSubOrg, ""))
                 .status,
             "E4");
    v1::PublishPolicyRequest publish;
    publish.set_document(kGradeActionsPolicy);
    ExpectOk(s.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish).status, "policy");
  }

  TestServer& s() { return *server; }

  // Returns where the grade was appended (for read-your-writes).
  v1::Position Grade(const std::string& employee, const std::string& grade) {
    return MustOk(s().Call(s().reviews(), &v1::Reviews::Stub::FinalizeGrade,
                           FinalizeGradeReq(employee, grade)),
                  "grade " + employee)
        .events(0)
        .position();
  }

  v1::ListPayrollItemsResponse Payroll(const std::string& token, size_t wait_for = 0) {
    v1::ListPayrollItemsResponse out;
    for (int i = 0; i < 200; i++) {
      out = MustOk(s().Call(*views, &v1::Views::Stub::ListPayrollItems,
                            v1::ListPayrollItemsRequest(), token),
                   "payroll list");
      if (static_cast<size_t>(out.items_size()) >= wait_for) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return out;
  }
};

bool Contains(const google::protobuf::RepeatedPtrField<std::string>& list, const std::string& x) {
  return std::find(list.begin(), list.end(), x) != list.end();
}

TEST_CASE("access: an empty payroll filter lists only what the caller may see", "[access]") {
  Org org;
  org.Grade(fx::kEmployee, "A");
  org.Grade(fx::kEmployee2, "A");
  org.Grade("E3", "B");
  // Payroll (the consumer) sees every amount, but not which grade or rule caused it.
  const auto all = org.Payroll("payroll-token", 3);
  REQUIRE(all.items_size() == 3);
  for (const auto& item : all.items()) {
    CHECK(item.amount().amount_minor() > 0);
    CHECK(item.rule_id().empty());
    CHECK(Contains(item.withheld(), "rule_id"));
  }
  // An employee: their own raise only.
  const auto mine = org.Payroll("emp-token");
  REQUIRE(mine.items_size() == 1);
  CHECK(mine.items(0).employee_id() == fx::kEmployee);
  CHECK(mine.items(0).amount().amount_minor() > 0);
  CHECK(mine.items(0).withheld().empty());
  // A manager: their reports' items, amounts withheld (pay is between a person and HR).
  const auto team = org.Payroll("mgr-token");
  REQUIRE(team.items_size() == 2);
  for (const auto& item : team.items()) {
    CHECK((item.employee_id() == fx::kEmployee || item.employee_id() == fx::kEmployee2));
    CHECK_FALSE(item.has_amount());
    CHECK(Contains(item.withheld(), "amount"));
    CHECK(Contains(item.withheld(), "percent_bp"));
  }
  // The LMS sees no compensation at all.
  CHECK(org.Payroll("lms-token").items_size() == 0);
  // A limited hr token: its subtree only.
  const auto line2 = org.Payroll("hr3-token");
  REQUIRE(line2.items_size() == 1);
  CHECK(line2.items(0).employee_id() == "E3");
}

TEST_CASE("access: an employee cannot decide grades or speak for their manager", "[access]") {
  Org org;
  TestServer& s = org.s();
  const uint64_t end = s.LogEnd();
  // Finalizing a colleague's grade (which the policy would turn into a raise).
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                      FinalizeGradeReq(fx::kEmployee2, "A"), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "ROLE_EMPLOYEE");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::AdjustCalibration,
                      CalibrationReq(fx::kEmployee), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "ROLE_EMPLOYEE");
  // A "manager" score naming the real manager as reviewer.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore,
                      SubmitScoreReq("S-forged", fx::kEmployee, fx::kManager,
                                     v1::SCORE_SOURCE_MANAGER),
                      "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "source");
  // A self-review written for a colleague.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore,
                      SubmitScoreReq("S-other", fx::kEmployee2, fx::kEmployee2,
                                     v1::SCORE_SOURCE_SELF),
                      "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  // An unprivileged update that would overwrite compensation.
  RequireError(s.Call(s.people(), &v1::People::Stub::UpdateEmployee,
                      UpdateEmployeeReq(fx::kEmployee), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "ROLE_EMPLOYEE");
  // Acting on someone's behalf is for hr and admin.
  v1::RecordFeedbackRequest feedback = FeedbackReq(fx::kEmployee);
  feedback.mutable_meta()->set_on_behalf_of(fx::kEmployee2);
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RecordFeedback, feedback, "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "meta.on_behalf_of");
  // Goals: an employee records progress on their own goals but does not set them.
  RequireError(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-own"), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "owner_id");
  CHECK(s.LogEnd() == end);
  // What an employee may do: their self-review and their feedback, recorded as theirs.
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore,
                SubmitScoreReq("S-self", fx::kEmployee, fx::kEmployee, v1::SCORE_SOURCE_SELF),
                "emp-token"),
         "self review");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::RecordFeedback, FeedbackReq(fx::kEmployee),
                "emp-token"),
         "feedback");
  const auto scores = EventsOfType(s.ReadAllEvents(), "ScoreSubmitted");
  REQUIRE(scores.size() == 1);
  CHECK(scores[0].envelope().actor().employee_id() == fx::kEmployee);
  CHECK(scores[0].envelope().actor().on_behalf_of().empty());
}

TEST_CASE("access: a manager writes for their scope only", "[access]") {
  Org org;
  TestServer& s = org.s();
  const uint64_t end = s.LogEnd();
  // M2 (line 2) scoring E1 (line 1).
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore,
                      SubmitScoreReq("S-x", fx::kEmployee, "M2", v1::SCORE_SOURCE_PEER),
                      "mgr2-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  // M1 naming another reviewer.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore,
                      SubmitScoreReq("S-y", fx::kEmployee, "M2", v1::SCORE_SOURCE_PEER),
                      "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "reviewer_id");
  RequireError(s.Call(s.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, CheckInReq("E3"),
                      "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  RequireError(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-x", "E3"),
                      "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "owner_id");
  CHECK(s.LogEnd() == end);
  // In scope: direct reports, and E4 through the unit M1 manages.
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore, SubmitScoreReq("S-ok"),
                "mgr-token"),
         "manager score");
  MustOk(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-e4", "E4"), "mgr-token"),
         "goal for E4");
  MustOk(s.Call(s.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, CheckInReq(fx::kEmployee),
                "mgr-token"),
         "check-in");
  const auto events = s.ReadAllEvents();
  const auto check_ins = EventsOfType(events, "CheckInRecorded");
  REQUIRE(check_ins.size() == 1);
  CHECK(check_ins[0].event().check_in_recorded().manager_id() == fx::kManager);
}

TEST_CASE("access: hr acting on someone's behalf is recorded", "[access]") {
  Org org;
  TestServer& s = org.s();
  v1::SubmitScoreRequest score = SubmitScoreReq("S-hr");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore, score, "hr-token"), "hr score");
  // on_behalf_of must name the acting person.
  v1::SubmitScoreRequest wrong = SubmitScoreReq("S-hr2");
  wrong.mutable_meta()->set_on_behalf_of(fx::kEmployee2);
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::SubmitScore, wrong, "hr-token"),
               grpc::StatusCode::INVALID_ARGUMENT, "meta.on_behalf_of");
  // A limited hr token acts inside its subtree only.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                      FinalizeGradeReq(fx::kEmployee, "A"), "hr3-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, FinalizeGradeReq("E3", "B"),
                "hr3-token"),
         "grade in subtree");
  const auto scores = EventsOfType(s.ReadAllEvents(), "ScoreSubmitted");
  REQUIRE(scores.size() == 1);
  CHECK(scores[0].envelope().actor().principal() == "hank");
  CHECK(scores[0].envelope().actor().role() == v1::ROLE_HR);
  CHECK(scores[0].envelope().actor().on_behalf_of() == fx::kManager);
}

TEST_CASE("access: reads are scoped and withheld fields are marked", "[access]") {
  Org org;
  TestServer& s = org.s();
  org.Grade(fx::kEmployee, "A");
  org.Grade(fx::kEmployee2, "B");
  org.Grade("E3", "C");
  org.Payroll("admin-token", 2);
  // Ranking: an employee sees their own row; a manager their reports.
  v1::RankingRequest ranking;
  ranking.set_cycle_id(fx::kCycle);
  auto rows = MustOk(s.Call(*org.views, &v1::Views::Stub::GetRanking, ranking, "emp-token"));
  REQUIRE(rows.entries_size() == 1);
  CHECK(rows.entries(0).employee_id() == fx::kEmployee);
  rows = MustOk(s.Call(*org.views, &v1::Views::Stub::GetRanking, ranking, "mgr2-token"));
  REQUIRE(rows.entries_size() == 1);
  CHECK(rows.entries(0).employee_id() == "E3");
  rows = MustOk(s.Call(*org.views, &v1::Views::Stub::GetRanking, ranking, "hr-token"));
  CHECK(rows.entries_size() == 3);
  RequireError(s.Call(*org.views, &v1::Views::Stub::GetRanking, ranking, "payroll-token"),
               grpc::StatusCode::PERMISSION_DENIED, "evaluation");
  // Timelines: a colleague's is out of scope; line 2's manager cannot read line 1.
  v1::TimelineRequest timeline;
  timeline.set_employee_id(fx::kEmployee2);
  RequireError(s.Call(*org.views, &v1::Views::Stub::GetTimeline, timeline, "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  RequireError(s.Call(*org.views, &v1::Views::Stub::GetTimeline, timeline, "mgr2-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  // A manager reads a report's timeline with compensation withheld, payload cleared.
  timeline.set_employee_id(fx::kEmployee);
  const auto seen = MustOk(s.Call(*org.views, &v1::Views::Stub::GetTimeline, timeline,
                                  "mgr-token"));
  bool saw_grade = false;
  for (const auto& e : seen.events()) {
    if (!e.event().has_grade_finalized()) continue;
    saw_grade = true;
    CHECK(e.event().grade_finalized().grade() == "A");
    CHECK_FALSE(e.event().grade_finalized().has_base_salary());
    CHECK(Contains(e.withheld(), "grade_finalized.base_salary"));
    CHECK(e.envelope().payload().empty());
  }
  CHECK(saw_grade);
  // Explain: an employee explains their own raise, not a colleague's.
  const auto all = org.Payroll("admin-token");
  for (const auto& item : all.items()) {
    v1::ExplainRequest explain;
    explain.set_action_id(item.action_id());
    auto answer = s.Call(*org.audit, &v1::Audit::Stub::Explain, explain, "emp-token");
    if (item.employee_id() == fx::kEmployee) {
      CHECK(answer.ok());
    } else {
      CHECK(answer.status.error_code() == grpc::StatusCode::PERMISSION_DENIED);
    }
  }
}

TEST_CASE("access: a limited hr token's log stream stays inside its subtree", "[access]") {
  Org org;
  TestServer& s = org.s();
  org.Grade(fx::kEmployee, "B");
  org.Grade("E3", "B");
  org.Payroll("admin-token", 2);  // the reactor's bonuses are in the log
  const auto events = s.ReadAllEvents("hr3-token");
  bool saw_e3 = false;
  for (const auto& e : events) {
    const auto& key = e.envelope().partition_key();
    INFO(e.envelope().type() << " " << key);
    CHECK(key != fx::kEmployee);
    CHECK(key != fx::kEmployee2);
    saw_e3 = saw_e3 || key == "E3";
  }
  CHECK(saw_e3);
  // Following from the start (a stream resumed at offset 0) is scoped the same way.
  grpc::ClientContext context;
  s.Prepare(context, "hr3-token", absl::Seconds(2));
  auto reader = s.log().FollowEvents(&context, v1::FollowEventsRequest());
  v1::RecordedEvent e;
  size_t followed = 0;
  while (reader->Read(&e)) {
    CHECK(e.envelope().partition_key() != fx::kEmployee);
    followed++;
  }
  reader->Finish();
  CHECK(followed == events.size());
}

TEST_CASE("access: distributions hide small groups from employees and managers", "[access]") {
  Org org;
  TestServer& s = org.s();
  v1::DistributionRequest q;
  q.set_cycle_id(fx::kCycle);
  for (const auto& [who, grade] : std::vector<std::pair<std::string, std::string>>{
           {fx::kEmployee, "A"}, {fx::kEmployee2, "B"}, {"E3", "B"}, {"E4", "B"}, {"M1", "B"},
           {"M2", "C"}}) {
    *q.mutable_consistency()->add_min_position() = org.Grade(who, grade);
  }
  const auto full = MustOk(s.Call(*org.views, &v1::Views::Stub::GetDistribution, q, "hr-token"));
  CHECK(full.total() == 6);
  CHECK(full.min_group_size() == 0);
  const auto hidden =
      MustOk(s.Call(*org.views, &v1::Views::Stub::GetDistribution, q, "emp-token"));
  CHECK(hidden.total() == 6);
  CHECK(hidden.min_group_size() == 5);
  uint64_t shown = 0;
  int suppressed = 0;
  for (const auto& g : hidden.grades()) {
    INFO(g.grade() << " " << g.count() << " suppressed " << g.suppressed());
    if (g.suppressed()) {
      suppressed++;
      CHECK(g.count() == 0);
    } else {
      CHECK((g.count() == 0 || g.count() >= 5));
      shown += g.count();
    }
  }
  // A (1) and C (1) are hidden; B (4) is under 5 too: nothing can be recovered by subtraction.
  CHECK(suppressed >= 2);
  CHECK(shown == 0);
}

}  // namespace
}  // namespace perfledger::testing
