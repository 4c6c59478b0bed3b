// Disputes through the real server: the employee acknowledges a grade and disputes it within the
// policy's window; the dispute goes to the skip-level manager or to hr; a resolution that
// upholds it with a corrected grade (naming the dispute) cancels the old grade's actions and
// issues the new ones; a dispute after the window (closed by FireDeadlines, or by its time) is
// FAILED_PRECONDITION naming the deadline; with disputes.hold_actions a C grade's PIP waits
// until the grade is settled. Bad input names the field and writes nothing.
#include <chrono>
#include <thread>

#include "tests/integration/helpers.h"

#include "ledger/policy_eval.h"
#include "ledger/types.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/support/temp_dir.h"
#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

constexpr char kTokens[] = R"(admin-token   alice   admin
hr-token      hank    hr
emp-token     eve     employee E1
emp3-token    edda    employee E3
mgr-token     mike    manager  M1
mgr2-token    mona    manager  M2
boss-token    boris   manager  B1
auditor-token audrey  auditor
)";

struct Disputes {
  TempDir dir{"dispute"};
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Views::Stub> views;
  std::unique_ptr<v1::Policies::Stub> policies;

  // kGradeActionsPolicy (B: bonus and a course, C: a PIP) with `disputes` as its section.
  explicit Disputes(const std::string& disputes) {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    views = v1::Views::NewStub(server->NewChannel());
    policies = v1::Policies::NewStub(server->NewChannel());
    SeedFixture(*server);
    SeedSecondLine(*server);
    // B1 manages M1: E1's skip-level manager.
    MustOk(s().Call(s().people(), &v1::People::Stub::RegisterEmployee,
                    RegisterEmployeeReq("B1", fx::kOrg, "")),
           "B1");
    v1::UpdateEmployeeRequest m1;
    m1.set_employee_id(fx::kManager);
    m1.add_update_mask("manager_id");
    m1.set_manager_id("B1");
    m1.set_reason("reorganisation");
    MustOk(s().Call(s().people(), &v1::People::Stub::UpdateEmployee, m1), "M1 reports to B1");
    v1::PublishPolicyRequest publish;
    publish.set_document(std::string(kGradeActionsPolicy) + disputes);
    MustOk(s().Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");
    // Scores on two dimensions: what a dispute may name.
    MustOk(s().Call(s().reviews(), &v1::Reviews::Stub::SubmitScore, SubmitScoreReq("S-E1")),
           "score");
  }

  TestServer& s() { return *server; }

  // Waits until the views and the reactor have applied the whole log, twice in a row (a
  // reaction appended meanwhile is applied too).
  void Quiet() {
    int quiet = 0;
    for (int i = 0; i < 400 && quiet < 2; i++) {
      const uint64_t end = s().LogEnd();
      auto st = s().Call(*views, &v1::Views::Stub::GetProjectionStatus,
                         v1::ProjectionStatusRequest());
      uint64_t applied = 0;
      for (const auto& p : st.response.applied()) applied += p.offset();
      uint64_t lag = 0;
      const v1::StatusResponse status = s().Status();
      for (const auto& v : status.views()) lag += v.lag_events();
      quiet = applied >= end && lag == 0 ? quiet + 1 : 0;
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
  }

  // The grade event of a FinalizeGrade answer.
  std::string Grade(const v1::FinalizeGradeRequest& q) {
    const auto r = MustOk(s().Call(s().reviews(), &v1::Reviews::Stub::FinalizeGrade, q), "grade");
    REQUIRE(r.events_size() == 1);
    return r.events(0).event_id();
  }

  std::vector<v1::ActionTriggered> Actions(const std::string& employee, v1::ActionKind kind) {
    std::vector<v1::ActionTriggered> out;
    for (const auto& e : EventsOfType(s().ReadAllEvents(), "ActionTriggered")) {
      const auto& a = e.event().action_triggered();
      if (a.employee_id() == employee && a.kind() == kind) out.push_back(a);
    }
    return out;
  }

  v1::DisputeRow Row(const std::string& dispute_id, const std::string& token = "") {
    v1::ListDisputesRequest q;
    v1::DisputeRow row;
    REQUIRE(WaitUntil([&] {
      const auto r = MustOk(s().Call(*views, &v1::Views::Stub::ListDisputes, q, token), "list");
      for (const auto& d : r.disputes()) {
        if (d.dispute_id() == dispute_id) row = d;
      }
      return row.dispute_id() == dispute_id;
    }));
    return row;
  }
};

v1::RaiseDisputeRequest DisputeReq(const std::string& id, const std::string& employee = fx::kEmployee) {
  v1::RaiseDisputeRequest r;
  r.set_dispute_id(id);
  r.set_employee_id(employee);
  r.set_cycle_id(fx::kCycle);
  r.add_dimensions("delivery");
  r.set_grounds("the Q2 launch is missing from the delivery score");
  return r;
}

v1::ResolveDisputeRequest ResolveReq(const std::string& id, v1::DisputeOutcome outcome) {
  v1::ResolveDisputeRequest r;
  r.set_dispute_id(id);
  r.set_outcome(outcome);
  r.set_reason("the launch counts for this half");
  return r;
}

TEST_CASE("disputes: acknowledge, dispute to the skip-level manager, uphold with a regrade",
          "[disputes]") {
  Disputes d("disputes: {window_business_days: 10, assign_to: skip_level}\n");
  TestServer& s = d.s();
  const std::string c_grade = d.Grade(FinalizeGradeReq(fx::kEmployee, "C", 4000));
  std::string pip_action;
  REQUIRE(WaitUntil([&] {
    const auto pips = d.Actions(fx::kEmployee, v1::ACTION_KIND_PIP);
    if (!pips.empty()) pip_action = pips[0].action_id();
    return !pips.empty();
  }));

  // The employee answers their grade once; the manager cannot answer for them.
  v1::AcknowledgeGradeRequest ack;
  ack.set_employee_id(fx::kEmployee);
  ack.set_cycle_id(fx::kCycle);
  ack.set_response(v1::ACKNOWLEDGEMENT_RESPONSE_DISAGREE);
  ack.set_comment("I do not agree with the delivery score");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::AcknowledgeGrade, ack, "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  const auto acked =
      MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::AcknowledgeGrade, ack, "emp-token"), "ack");
  const v1::GradeAcknowledged acknowledged =
      OneEvent(s.ReadAllEvents(), acked.events(0).event_id()).event().grade_acknowledged();
  CHECK(acknowledged.grade_event_id() == c_grade);
  CHECK(acknowledged.response() == v1::ACKNOWLEDGEMENT_RESPONSE_DISAGREE);
  CHECK(acknowledged.comment() == ack.comment());  // opened for admin
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::AcknowledgeGrade, ack, "emp-token"),
               grpc::StatusCode::ALREADY_EXISTS, "cycle_id");

  // The dispute goes to B1, the manager of E1's manager, with the window it was raised in.
  const auto raised = MustOk(
      s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D1"), "emp-token"),
      "dispute");
  const v1::RecordedEvent raised_event = OneEvent(s.ReadAllEvents(), raised.events(0).event_id());
  const v1::DisputeRaised& r = raised_event.event().dispute_raised();
  CHECK(r.assigned_to() == v1::DISPUTE_ASSIGNEE_SKIP_LEVEL);
  CHECK(r.assignee_id() == "B1");
  CHECK(r.grade_event_id() == c_grade);
  CHECK(r.grade() == "C");
  CHECK(raised_event.envelope().has_sealed());  // the grounds are never stored in clear
  const auto grade_event = OneEvent(s.ReadAllEvents(), c_grade);
  CHECK(r.window_ends_at().seconds() ==
        policy::DisputeWindowEnd(grade_event.envelope().occurred_at(), 10).seconds());
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D2"), "emp-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "D1");

  // The view: the employee and their manager read the grounds; M2's scope does not reach E1.
  v1::DisputeRow row = d.Row("D1", "emp-token");
  CHECK(row.status() == v1::DISPUTE_STATUS_OPEN);
  CHECK(row.grounds() == DisputeReq("D1").grounds());
  CHECK(row.assignee_id() == "B1");
  CHECK(row.sealed().empty());
  CHECK(d.Row("D1", "mgr-token").grounds() == row.grounds());
  CHECK(d.Row("D1", "boss-token").grounds() == row.grounds());
  v1::ListDisputesRequest other;
  other.set_employee_id(fx::kEmployee);
  CHECK(MustOk(s.Call(*d.views, &v1::Views::Stub::ListDisputes, other, "mgr2-token"))
            .disputes()
            .empty());
  v1::ListDisputesRequest mine;
  mine.set_assignee_id("B1");
  mine.set_status(v1::DISPUTE_STATUS_OPEN);
  CHECK(MustOk(s.Call(*d.views, &v1::Views::Stub::ListDisputes, mine, "boss-token"))
            .disputes_size() == 1);

  // Only the assignee, hr or admin resolve; hr corrects the grade naming the dispute first.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D1", v1::DISPUTE_OUTCOME_UPHELD), "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "B1");
  v1::FinalizeGradeRequest regrade = FinalizeGradeReq(fx::kEmployee, "B", 2500);
  regrade.set_dispute_id("D1");
  const std::string b_grade = d.Grade(regrade);
  const v1::GradeFinalized corrected =
      OneEvent(s.ReadAllEvents(), b_grade).event().grade_finalized();
  CHECK(corrected.dispute_id() == "D1");
  CHECK(corrected.supersedes_event_id() == c_grade);
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D1", v1::DISPUTE_OUTCOME_REJECTED), "boss-token"),
               grpc::StatusCode::INVALID_ARGUMENT, "outcome");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                ResolveReq("D1", v1::DISPUTE_OUTCOME_UPHELD), "boss-token"),
         "resolve");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D1", v1::DISPUTE_OUTCOME_UPHELD), "hr-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "already resolved");

  // The C grade's plan is cancelled; the B grade's bonus is issued, caused by the correction.
  REQUIRE(WaitUntil([&] {
    for (const auto& e : EventsOfType(s.ReadAllEvents(), "ActionCancelled")) {
      if (e.event().action_cancelled().action_id() == pip_action) return true;
    }
    return false;
  }));
  REQUIRE(WaitUntil([&] { return !d.Actions(fx::kEmployee, v1::ACTION_KIND_BONUS).empty(); }));
  CHECK(d.Actions(fx::kEmployee, v1::ACTION_KIND_BONUS)[0].cause_event_ids(0) == b_grade);
  row = d.Row("D1", "emp-token");
  REQUIRE(WaitUntil([&] {
    row = d.Row("D1", "emp-token");
    return row.status() == v1::DISPUTE_STATUS_RESOLVED;
  }));
  CHECK(row.outcome() == v1::DISPUTE_OUTCOME_UPHELD);
  CHECK(row.regrade_event_id() == b_grade);
  CHECK(row.regraded_to() == "B");
  CHECK(row.reason() == ResolveReq("D1", v1::DISPUTE_OUTCOME_UPHELD).reason());
  CHECK(row.resolved_by() == "B1");

  // A dispute whose employee's line has no skip-level manager goes to the parent unit's
  // manager: E3 (ORG3, under ORG1) once B1 manages ORG1.
  MustOk(s.Call(s.people(), &v1::People::Stub::DefineOrgUnit,
                DefineOrgUnitReq(fx::kOrg, "", "B1")),
         "B1 manages ORG1");
  d.Grade(FinalizeGradeReq("E3", "B", 2500));
  v1::RaiseDisputeRequest whole = DisputeReq("D3", "E3");
  whole.clear_dimensions();  // E3 was not scored: the grade as a whole
  const auto e3 = MustOk(
      s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, whole, "emp3-token"), "E3's dispute");
  CHECK(OneEvent(s.ReadAllEvents(), e3.events(0).event_id()).event().dispute_raised().assignee_id() ==
        "B1");
}

TEST_CASE("disputes: the window closes by FireDeadlines or by time, naming the deadline",
          "[disputes]") {
  Disputes d("disputes: {window_business_days: 5, assign_to: hr}\n");
  TestServer& s = d.s();
  // Without a finalized grade there is nothing to dispute.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D0"), "emp-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "no finalized grade");
  const std::string e1_grade = d.Grade(FinalizeGradeReq(fx::kEmployee, "B", 2500));
  const std::string e2_grade = d.Grade(FinalizeGradeReq(fx::kEmployee2, "B", 2500));
  const auto events = s.ReadAllEvents();
  const google::protobuf::Timestamp e1_ends =
      policy::DisputeWindowEnd(OneEvent(events, e1_grade).envelope().occurred_at(), 5);
  const google::protobuf::Timestamp e2_ends =
      policy::DisputeWindowEnd(OneEvent(events, e2_grade).envelope().occurred_at(), 5);
  auto rfc3339 = [](const google::protobuf::Timestamp& ts) {
    return absl::FormatTime(absl::RFC3339_sec, ToTime(ts), absl::UTCTimeZone());
  };

  // E2's dispute claims a time after the window.
  v1::RaiseDisputeRequest late = DisputeReq("D-LATE", fx::kEmployee2);
  late.clear_dimensions();
  *late.mutable_meta()->mutable_occurred_at() = ToTimestamp(ToTime(e2_ends) + absl::Seconds(1));
  d.Quiet();  // the grades' actions are appended
  uint64_t end = s.LogEnd();
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, late),
               grpc::StatusCode::FAILED_PRECONDITION, rfc3339(e2_ends));
  CHECK(s.LogEnd() == end);

  // The scheduler closes E1's window (simulated time); a dispute now is refused whatever time it
  // claims.
  d.Quiet();
  v1::FireDeadlinesRequest fire;
  *fire.mutable_now() = ToTimestamp(absl::Now() + absl::Hours(24 * 30));
  const auto fired = MustOk(s.Call(*d.policies, &v1::Policies::Stub::FireDeadlines, fire), "fire");
  bool window = false;
  for (const auto& f : fired.fired()) window = window || f == "dispute-window/E1/C1";
  CHECK(window);
  REQUIRE(WaitUntil([&] {
    return !EventsOfType(s.ReadAllEvents(), "DeadlineReached").empty();
  }));
  end = s.LogEnd();
  const auto refused =
      s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D-CLOSED"), "emp-token");
  RequireError(refused, grpc::StatusCode::FAILED_PRECONDITION, rfc3339(e1_ends));
  CHECK(absl::StrContains(refused.status.error_message(), "dispute-window/E1/C1"));
  CHECK(s.LogEnd() == end);

  // A new grade opens a new window: the dispute goes to hr, as the policy says.
  d.Grade(FinalizeGradeReq(fx::kEmployee, "A", 1000));
  const auto ok = MustOk(
      s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D-NEW"), "emp-token"),
      "dispute of the new grade");
  const v1::DisputeRaised raised =
      OneEvent(s.ReadAllEvents(), ok.events(0).event_id()).event().dispute_raised();
  CHECK(raised.assigned_to() == v1::DISPUTE_ASSIGNEE_HR);
  CHECK(raised.assignee_id().empty());
  // hr decides: a manager may not, even E1's own.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D-NEW", v1::DISPUTE_OUTCOME_REJECTED), "mgr-token"),
               grpc::StatusCode::PERMISSION_DENIED, "decided by hr");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D-NEW", v1::DISPUTE_OUTCOME_REJECTED), "auditor-token"),
               grpc::StatusCode::PERMISSION_DENIED, "ROLE_AUDITOR");
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                ResolveReq("D-NEW", v1::DISPUTE_OUTCOME_REJECTED), "hr-token"),
         "hr resolves");
}

TEST_CASE("disputes: bad input names the field and writes nothing", "[disputes]") {
  Disputes d("");
  TestServer& s = d.s();
  d.Grade(FinalizeGradeReq(fx::kEmployee, "B", 2500));
  // E2 has a grade but no scores: no dimension of theirs can be named.
  d.Grade(FinalizeGradeReq(fx::kEmployee2, "B", 2500));
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D1"), "emp-token"),
         "dispute");
  d.Quiet();
  const uint64_t end = s.LogEnd();
  auto dispute = DisputeReq("D2");
  dispute.clear_grounds();
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, dispute),
               grpc::StatusCode::INVALID_ARGUMENT, "grounds");
  dispute = DisputeReq("D2", fx::kEmployee2);
  dispute.add_dimensions("delivery");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, dispute),
               grpc::StatusCode::INVALID_ARGUMENT, "dimensions[1]: names a dimension twice");
  dispute = DisputeReq("D2", fx::kEmployee2);
  dispute.set_dimensions(0, "charisma");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, dispute),
               grpc::StatusCode::INVALID_ARGUMENT, "dimensions[0]: 'charisma'");
  dispute = DisputeReq("D1");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, dispute),
               grpc::StatusCode::ALREADY_EXISTS, "dispute_id");
  dispute = DisputeReq("bad id");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, dispute),
               grpc::StatusCode::INVALID_ARGUMENT, "dispute_id");
  // Someone else's grade is not the employee's to dispute.
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute,
                      DisputeReq("D9", fx::kEmployee2), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "employee_id");
  v1::AcknowledgeGradeRequest ack;
  ack.set_employee_id(fx::kEmployee);
  ack.set_cycle_id(fx::kCycle);
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::AcknowledgeGrade, ack),
               grpc::StatusCode::INVALID_ARGUMENT, "response");
  ack.set_response(v1::ACKNOWLEDGEMENT_RESPONSE_AGREE);
  ack.set_cycle_id("C-NOPE");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::AcknowledgeGrade, ack),
               grpc::StatusCode::NOT_FOUND, "cycle_id");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D1", v1::DISPUTE_OUTCOME_UNSPECIFIED)),
               grpc::StatusCode::INVALID_ARGUMENT, "outcome");
  auto resolve = ResolveReq("D1", v1::DISPUTE_OUTCOME_REJECTED);
  resolve.clear_reason();
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute, resolve),
               grpc::StatusCode::INVALID_ARGUMENT, "reason");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                      ResolveReq("D-NOPE", v1::DISPUTE_OUTCOME_REJECTED)),
               grpc::StatusCode::NOT_FOUND, "dispute_id");
  // A correction naming a dispute of someone else's grade, or an unknown one.
  v1::FinalizeGradeRequest regrade = FinalizeGradeReq(fx::kEmployee2, "A", 1000);
  regrade.set_dispute_id("D1");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, regrade),
               grpc::StatusCode::INVALID_ARGUMENT, "dispute_id");
  regrade.set_dispute_id("D-NOPE");
  RequireError(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade, regrade),
               grpc::StatusCode::NOT_FOUND, "dispute_id");
  v1::ListDisputesRequest list;
  list.set_status(static_cast<v1::DisputeStatus>(7));
  RequireError(s.Call(*d.views, &v1::Views::Stub::ListDisputes, list),
               grpc::StatusCode::INVALID_ARGUMENT, "status");
  CHECK(s.LogEnd() == end);
}

TEST_CASE("disputes: hold_actions holds a PIP until the grade is settled", "[disputes]") {
  Disputes d("disputes: {assign_to: hr, hold_actions: true}\n");
  TestServer& s = d.s();
  // E1 disputes their C; E2's C is not disputed. The B of E3 pays out at once.
  const std::string e1_grade = d.Grade(FinalizeGradeReq(fx::kEmployee, "C", 4000));
  const std::string e2_grade = d.Grade(FinalizeGradeReq(fx::kEmployee2, "C", 4000));
  d.Grade(FinalizeGradeReq("E3", "B", 2500));
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::RaiseDispute, DisputeReq("D1"), "emp-token"),
         "dispute");
  REQUIRE(WaitUntil([&] { return !d.Actions("E3", v1::ACTION_KIND_BONUS).empty(); }));
  d.Quiet();
  CHECK(d.Actions(fx::kEmployee, v1::ACTION_KIND_PIP).empty());
  CHECK(d.Actions(fx::kEmployee2, v1::ACTION_KIND_PIP).empty());

  // The windows close: E2's plan is issued, E1's waits for the open dispute.
  v1::FireDeadlinesRequest fire;
  *fire.mutable_now() = ToTimestamp(absl::Now() + absl::Hours(24 * 30));
  MustOk(s.Call(*d.policies, &v1::Policies::Stub::FireDeadlines, fire), "fire");
  REQUIRE(WaitUntil([&] { return !d.Actions(fx::kEmployee2, v1::ACTION_KIND_PIP).empty(); }));
  const v1::ActionTriggered e2_pip = d.Actions(fx::kEmployee2, v1::ACTION_KIND_PIP)[0];
  CHECK(e2_pip.action_id() == policy::ActionId(e2_grade, "grades.C.pip"));
  d.Quiet();
  CHECK(d.Actions(fx::kEmployee, v1::ACTION_KIND_PIP).empty());

  // Rejected: the grade stands and its plan is issued, caused by the grade and the resolution,
  // with the id the grade would have given it, and the plan starts then.
  const auto resolved = MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::ResolveDispute,
                                      ResolveReq("D1", v1::DISPUTE_OUTCOME_REJECTED), "hr-token"),
                               "resolve");
  const std::string resolution = resolved.events(0).event_id();
  REQUIRE(WaitUntil([&] { return !d.Actions(fx::kEmployee, v1::ACTION_KIND_PIP).empty(); }));
  const v1::ActionTriggered pip = d.Actions(fx::kEmployee, v1::ACTION_KIND_PIP)[0];
  CHECK(pip.action_id() == policy::ActionId(e1_grade, "grades.C.pip"));
  REQUIRE(pip.cause_event_ids_size() == 2);
  CHECK(pip.cause_event_ids(0) == e1_grade);
  CHECK(pip.cause_event_ids(1) == resolution);
  d.Quiet();
  const auto events = s.ReadAllEvents();
  bool opened = false;
  for (const auto& e : EventsOfType(events, "PipOpened")) {
    if (e.event().pip_opened().pip_id() != pip.action_id()) continue;
    opened = true;
    CHECK(e.event().pip_opened().starts_at().seconds() ==
          OneEvent(events, resolution).envelope().occurred_at().seconds());
  }
  CHECK(opened);
  CHECK(d.Actions(fx::kEmployee, v1::ACTION_KIND_PIP).size() == 1);

  // The auditor's proof still holds: every action re-derives from the log.
  const auto dry = MustOk(s.Call(*d.policies, &v1::Policies::Stub::DryRun, v1::DryRunRequest()),
                          "dry run");
  INFO(dry.ShortDebugString());
  CHECK(dry.differences().empty());
  CHECK(dry.actions_derived() == dry.actions_recorded());
}

}  // namespace
}  // namespace perfledger::testing
