// The authorization matrix (ARCHITECTURE §9), generated from one table: every RPC of
// proto/perfledger/v1 × every role × (a subject in the caller's scope, one outside it) →
// allowed (A), denied (D) or redacted (R: answered, with rows left out or fields withheld),
// asserted through the real server. An RPC without a row fails the test, so a new RPC cannot
// ship without its authorization being decided here.
//
// Outcomes: D is PERMISSION_DENIED and, for a write, nothing appended. A write is A when the
// authorization let it through (a domain refusal such as ALREADY_EXISTS still counts: it came
// after the checks). A read is A when it answers what admin gets for the same request and
// withholds nothing, R when it answers less.
#include <filesystem>
#include <fstream>
#include <functional>
#include <optional>
#include <regex>
#include <set>
#include <thread>

#include "ledger/types.h"
#include "perfledger/v1/audit.grpc.pb.h"
#include "perfledger/v1/hooks.grpc.pb.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/integration/helpers.h"
#include "tests/support/temp_dir.h"

namespace perfledger::testing {
namespace {

constexpr char kTokens[] = R"(admin-token   alice   admin
hr-token      hank    hr
hr3-token     hilda   hr       -   ORG3
auditor-token audrey  auditor
payroll-token paula   payroll
lms-token     moodle  lms
system-token  feeder  system
emp-token     eve     employee E1
mgr-token     mike    manager  M1
)";


// The roles, and for each the subject in scope and the one outside it. The organisation:
// ORG1 (root) holds M1, E1, E2 (reporting to M1) and M2; ORG3 (under ORG1) is managed by M2
// and holds E3. Roles not scoped by person get E1 and E3.
struct RoleInfo {
  const char* name;
  const char* token;
  const char* in;
  const char* out;
};
constexpr RoleInfo kRoles[] = {
    {"employee", "emp-token", "E1", "E2"},        {"manager", "mgr-token", "E1", "E3"},
    {"hr", "hr-token", "E1", "E3"},               {"hr-limited", "hr3-token", "E3", "E1"},
    {"payroll", "payroll-token", "E1", "E3"},     {"lms", "lms-token", "E1", "E3"},
    {"auditor", "auditor-token", "E1", "E3"},     {"system", "system-token", "E1", "E3"},
    {"admin", "admin-token", "E1", "E3"},
};
constexpr size_t kRoleCount = sizeof(kRoles) / sizeof(kRoles[0]);

std::string OrgOf(const std::string& e) { return e == "E3" ? "ORG3" : fx::kOrg; }
std::string ManagerOf(const std::string& e) { return e == "E3" ? "M2" : fx::kManager; }

// What one call showed the caller.
struct Seen {
  grpc::StatusCode code = grpc::StatusCode::OK;
  std::string message;
  size_t rows = 0;
  size_t withheld = 0;
};

template <typename R>
Seen FromReply(const Reply<R>& reply) {
  return Seen{reply.status.error_code(), reply.status.error_message(), 0, 0};
}

size_t Withheld(const v1::RecordedEvent& e) { return e.withheld_size(); }

struct Matrix {
  TempDir dir{"matrix"};
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Views::Stub> views;
  std::unique_ptr<v1::Policies::Stub> policies;
  std::unique_ptr<v1::Audit::Stub> audit;
  std::unique_ptr<v1::Hooks::Stub> hooks;
  // Per subject: its salary-adjustment or bonus action (C1).
  std::map<std::string, std::string> pay_action;
  // Set by a call that writes set-up of its own (as admin) before the call under test: the log
  // end from which "nothing appended" is judged.
  std::optional<uint64_t> end_before_call;

  // Records the log end after a call's own set-up.
  void Mark() { end_before_call = s().LogEnd(); }

  // Set-up: admin opens plan `pip_id` for `employee`, then Mark().
  void OpenPlan(const std::string& pip_id, const std::string& employee) {
    ExpectOk(s().Call(s().pips(), &v1::Pips::Stub::OpenPip, OpenPipReq(pip_id, employee)).status,
             "plan");
    Mark();
  }

  // Set-up: admin grades `employee` D (nothing triggered) in a cycle of its own and raises
  // dispute `dispute_id` about it (one open dispute per grade), then Mark().
  void OpenDispute(const std::string& dispute_id, const std::string& employee) {
    const std::string cycle = "C-" + dispute_id;
    ExpectOk(s().Call(s().cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq(cycle)).status,
             "cycle");
    v1::FinalizeGradeRequest grade = FinalizeGradeReq(employee, "D");
    grade.set_cycle_id(cycle);
    ExpectOk(s().Call(s().reviews(), &v1::Reviews::Stub::FinalizeGrade, grade).status, "grade");
    v1::RaiseDisputeRequest q;
    q.set_dispute_id(dispute_id);
    q.set_employee_id(employee);
    q.set_cycle_id(cycle);
    q.set_grounds("the score misses the launch");
    ExpectOk(s().Call(s().reviews(), &v1::Reviews::Stub::RaiseDispute, q).status, "dispute");
    Mark();
  }

  // Set-up: admin nominates case `case_id` about `employee`, then Mark().
  void NominateCase(const std::string& case_id, const std::string& employee) {
    ExpectOk(s().Call(s().recognition(), &v1::Recognition::Stub::NominateCase,
                      NominateCaseReq(case_id, {employee}))
                 .status,
             "case");
    Mark();
  }

  Matrix() {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    views = v1::Views::NewStub(server->NewChannel());
    policies = v1::Policies::NewStub(server->NewChannel());
    audit = v1::Audit::NewStub(server->NewChannel());
    hooks = v1::Hooks::NewStub(server->NewChannel());
    Seed();
  }

  TestServer& s() { return *server; }

  // Waits until the views and the reactor have applied the whole log (twice in a row, so an
  // action the reactor appends meanwhile is applied too): reads compared with admin's see one
  // state.
  void Settle() {
    int quiet = 0;
    for (int i = 0; i < 400 && quiet < 2; i++) {
      const uint64_t end = s().LogEnd();
      auto st = s().Call(*views, &v1::Views::Stub::GetProjectionStatus,
                         v1::ProjectionStatusRequest());
      uint64_t applied = 0;
      for (const auto& p : st.response.applied()) applied += p.offset();
      const auto status = s().Status();
      uint64_t reactor_lag = 0;
      for (const auto& v : status.views()) reactor_lag += v.lag_events();
      if (applied >= end && reactor_lag == 0) {
        quiet++;
      } else {
        quiet = 0;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(15));
    }
  }

  void Seed() {
    TestServer& t = s();
    SeedFixture(t);
    auto ok = [](const grpc::Status& st, const std::string& what) { ExpectOk(st, what); };
    SeedSecondLine(t);
    v1::PublishPolicyRequest publish;
    publish.set_document(kGradeActionsPolicy);
    ok(t.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish).status, "policy");
    ok(t.Call(t.cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq("C2")).status, "C2");
    ok(t.Call(t.cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq("C3")).status, "C3");
    const std::map<std::string, std::string> c1 = {{"E1", "A"}, {"E2", "B"}, {"E3", "A"}};
    for (const auto& [e, g] : c1) {
      ok(t.Call(t.reviews(), &v1::Reviews::Stub::FinalizeGrade, FinalizeGradeReq(e, g)).status,
         "grade " + e);
      v1::FinalizeGradeRequest c = FinalizeGradeReq(e, "C");
      c.set_cycle_id("C2");
      ok(t.Call(t.reviews(), &v1::Reviews::Stub::FinalizeGrade, c).status, "C2 grade " + e);
      ok(t.Call(t.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-" + e, e)).status, "goal");
      ok(t.Call(t.check_ins(), &v1::CheckIns::Stub::RecordCheckIn, CheckInReq(e)).status, "check-in");
      ok(t.Call(t.metrics(), &v1::Metrics::Stub::ObserveMetric, ObserveMetricReq(e)).status, "metric");
    }
    // Recognition for the feed and case reads: public praise of E1 by M1, private praise of
    // E1 by E2, manager-only praise of E3 by M2; a nominated case about each of E1, E2, E3.
    ok(t.Call(t.recognition(), &v1::Recognition::Stub::GivePraise,
              PraiseReq("PR-PUB", fx::kManager, {"E1"}))
           .status,
       "public praise");
    ok(t.Call(t.recognition(), &v1::Recognition::Stub::GivePraise,
              PraiseReq("PR-PRIV", "E2", {"E1"}, v1::PRAISE_VISIBILITY_PRIVATE))
           .status,
       "private praise");
    ok(t.Call(t.recognition(), &v1::Recognition::Stub::GivePraise,
              PraiseReq("PR-MGR", "M2", {"E3"}, v1::PRAISE_VISIBILITY_MANAGER_ONLY))
           .status,
       "manager-only praise");
    for (const char* e : {"E1", "E2", "E3"}) {
      ok(t.Call(t.recognition(), &v1::Recognition::Stub::NominateCase,
                NominateCaseReq(std::string("K-") + e, {e}))
             .status,
         "case");
    }
    v1::SetGoalRequest org_goal = SetGoalReq("G-ORG1", fx::kOrg);
    org_goal.set_owner_kind(v1::OWNER_KIND_ORG_UNIT);
    ok(t.Call(t.goals(), &v1::Goals::Stub::SetGoal, org_goal).status, "org goal");
    // The reactor decides asynchronously: wait for the three pay actions and three plans.
    for (int i = 0; i < 400 && pay_action.size() < 3; i++) {
      auto items = t.Call(*views, &v1::Views::Stub::ListPayrollItems, v1::ListPayrollItemsRequest());
      for (const auto& item : items.response.items()) pay_action[item.employee_id()] = item.action_id();
      if (pay_action.size() < 3) std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
    REQUIRE(pay_action.size() == 3);
    for (int i = 0; i < 400; i++) {
      auto pips = t.Call(*views, &v1::Views::Stub::ListPips, v1::ListPipsRequest());
      if (pips.response.plans_size() >= 3) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(25));
    }
  }

  // Reads a server stream to its end (or, for endless streams, until `wait` passes).
  template <typename Reader, typename Item>
  static Seen Drain(grpc::ClientContext& context, Reader reader, Item item,
                    const std::function<size_t(const Item&)>& withheld, bool endless) {
    Seen seen;
    while (reader->Read(&item)) {
      seen.rows++;
      seen.withheld += withheld(item);
    }
    grpc::Status st = reader->Finish();
    seen.code = st.error_code();
    seen.message = st.error_message();
    if (endless && seen.code == grpc::StatusCode::DEADLINE_EXCEEDED) seen.code = grpc::StatusCode::OK;
    return seen;
  }
};

// `r` is the role the request is shaped for; `token` the caller (the role's own token, or
// admin's for the reference answer to the same request).
using CallFn = std::function<Seen(Matrix&, const RoleInfo& r, const char* token,
                                 const std::string& subject, int n)>;

struct Row {
  const char* rpc;     // "perfledger.v1.Service/Method"
  bool read;           // compare with admin's answer
  const char* expect;  // per role (kRoles order): in-scope and out-of-scope outcome
  CallFn call;
};

std::string Id(const char* prefix, int n) { return absl::StrCat(prefix, n); }

// ---------------------------------------------------------------- the table

std::vector<Row> Table() {
  using M = Matrix;
  // Role order: employee, manager, hr, hr-limited, payroll, lms, auditor, system, admin.
  return {
      // ---- People, Cycles: hr and admin (a limited hr token inside its subtrees)
      {"perfledger.v1.People/DefineOrgUnit", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().people(), &v1::People::Stub::DefineOrgUnit,
                                     DefineOrgUnitReq(Id("U", n), OrgOf(sub)), token));
       }},
      {"perfledger.v1.People/RegisterEmployee", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().people(), &v1::People::Stub::RegisterEmployee,
                                     RegisterEmployeeReq(Id("X", n), OrgOf(sub), ManagerOf(sub)),
                                     token));
       }},
      {"perfledger.v1.People/UpdateEmployee", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().people(), &v1::People::Stub::UpdateEmployee,
                                     UpdateEmployeeReq(sub), token));
       }},
      {"perfledger.v1.People/RecordDeparture", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         // A stand-in with the subject's unit and manager, so the subject stays.
         ExpectOk(m.s().Call(m.s().people(), &v1::People::Stub::RegisterEmployee,
                             RegisterEmployeeReq(Id("L", n), OrgOf(sub), ManagerOf(sub)))
                      .status,
                  "stand-in");
         m.Mark();
         return FromReply(m.s().Call(m.s().people(), &v1::People::Stub::RecordDeparture,
                                     RecordDepartureReq(Id("L", n)), token));
       }},
      {"perfledger.v1.People/EraseSubject", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         ExpectOk(m.s().Call(m.s().people(), &v1::People::Stub::RegisterEmployee,
                             RegisterEmployeeReq(Id("Z", n), OrgOf(sub), ManagerOf(sub)))
                      .status,
                  "stand-in");
         m.Mark();
         v1::EraseSubjectRequest q;
         q.set_employee_id(Id("Z", n));
         q.set_reason("ticket 1");
         return FromReply(m.s().Call(m.s().people(), &v1::People::Stub::EraseSubject, q, token));
       }},
      {"perfledger.v1.Cycles/OpenCycle", false, "DD DD AA DD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int n) {
         return FromReply(m.s().Call(m.s().cycles(), &v1::Cycles::Stub::OpenCycle,
                                     OpenCycleReq(Id("CY", n)), token));
       }},
      {"perfledger.v1.Cycles/CloseCycle", false, "DD DD AA DD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int n) {
         ExpectOk(m.s().Call(m.s().cycles(), &v1::Cycles::Stub::OpenCycle, OpenCycleReq(Id("CZ", n)))
                      .status,
                  "cycle");
         m.Mark();
         return FromReply(m.s().Call(m.s().cycles(), &v1::Cycles::Stub::CloseCycle,
                                     CloseCycleReq(Id("CZ", n)), token));
       }},
      // ---- Goals: managers for their scope; employees record progress on their own
      {"perfledger.v1.Goals/SetGoal", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().goals(), &v1::Goals::Stub::SetGoal,
                                     SetGoalReq(Id("GS", n), sub), token));
       }},
      {"perfledger.v1.Goals/ReviseGoal", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         ExpectOk(m.s().Call(m.s().goals(), &v1::Goals::Stub::SetGoal, SetGoalReq(Id("GR", n), sub))
                      .status,
                  "goal");
         m.Mark();
         return FromReply(m.s().Call(m.s().goals(), &v1::Goals::Stub::ReviseGoal,
                                     ReviseGoalReq(Id("GR", n)), token));
       }},
      {"perfledger.v1.Goals/RecordKeyResultProgress", false, "AD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().goals(), &v1::Goals::Stub::RecordKeyResultProgress,
                                     ProgressReq("G-" + sub), token));
       }},
      {"perfledger.v1.Goals/CloseGoal", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         ExpectOk(m.s().Call(m.s().goals(), &v1::Goals::Stub::SetGoal, SetGoalReq(Id("GC", n), sub))
                      .status,
                  "goal");
         m.Mark();
         return FromReply(m.s().Call(m.s().goals(), &v1::Goals::Stub::CloseGoal,
                                     CloseGoalReq(Id("GC", n)), token));
       }},
      // ---- Check-ins: by the manager (or hr on their behalf)
      {"perfledger.v1.CheckIns/RecordCheckIn", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().check_ins(), &v1::CheckIns::Stub::RecordCheckIn,
                                     CheckInReq(sub), token));
       }},
      // ---- Metrics: feeds (system), hr and admin
      {"perfledger.v1.Metrics/ObserveMetric", false, "DD DD AA AD DD DD DD AA AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().metrics(), &v1::Metrics::Stub::ObserveMetric,
                                     ObserveMetricReq(sub), token));
       }},
      {"perfledger.v1.Metrics/ObserveMetrics", false, "DD DD AA AD DD DD DD AA AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().metrics(), &v1::Metrics::Stub::ObserveMetrics,
                                     ObserveMetricsReq(2, sub), token));
       }},
      {"perfledger.v1.Metrics/StreamMetrics", false, "DD DD AA AD DD DD DD AA AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         grpc::ClientContext context;
         m.s().Prepare(context, token);
         v1::ObserveMetricsSummary summary;
         auto writer = m.s().metrics().StreamMetrics(&context, &summary);
         writer->Write(ObserveMetricsReq(2, sub));
         writer->WritesDone();
         const grpc::Status st = writer->Finish();
         return Seen{st.error_code(), st.error_message(), 0, 0};
       }},
      // ---- Reviews
      {"perfledger.v1.Reviews/SubmitScore", false, "AD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         // Each role submits what it would: an employee a self-review, a manager their own
         // score, everyone else the subject's manager's score.
         v1::SubmitScoreRequest q =
             std::string(r.name) == "employee"
                 ? SubmitScoreReq(Id("S", n), sub, sub, v1::SCORE_SOURCE_SELF)
                 : SubmitScoreReq(Id("S", n), sub,
                                  std::string(r.name) == "manager" ? fx::kManager : ManagerOf(sub));
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::SubmitScore, q, token));
       }},
      {"perfledger.v1.Reviews/AmendScore", false, "AD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         const bool self = std::string(r.name) == "employee";
         ExpectOk(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::SubmitScore,
                             self ? SubmitScoreReq(Id("SA", n), sub, sub, v1::SCORE_SOURCE_SELF)
                             : std::string(r.name) == "manager"
                                 ? SubmitScoreReq(Id("SA", n), sub, fx::kManager,
                                                  v1::SCORE_SOURCE_PEER)
                                 : SubmitScoreReq(Id("SA", n), sub, ManagerOf(sub)))
                      .status,
                  "score");
         m.Mark();
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::AmendScore,
                                     AmendScoreReq(Id("SA", n), sub), token));
       }},
      {"perfledger.v1.Reviews/AdjustCalibration", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::AdjustCalibration,
                                     CalibrationReq(sub), token));
       }},
      {"perfledger.v1.Reviews/FinalizeGrade", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         // Grade D in C3 triggers nothing: the reactor stays quiet for the reads that follow.
         v1::FinalizeGradeRequest q = FinalizeGradeReq(sub, "D");
         q.set_cycle_id("C3");
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::FinalizeGrade, q, token));
       }},
      {"perfledger.v1.Reviews/RecordFeedback", false, "AD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::RecordFeedback,
                                     FeedbackReq(sub), token));
       }},
      // ---- Disputes: the employee (hr, admin on their behalf); the assignee, hr or admin decide
      {"perfledger.v1.Reviews/AcknowledgeGrade", false, "AD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         v1::AcknowledgeGradeRequest q;
         q.set_employee_id(sub);
         q.set_cycle_id(fx::kCycle);
         q.set_response(v1::ACKNOWLEDGEMENT_RESPONSE_AGREE);
         q.set_comment("fair");
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::AcknowledgeGrade, q,
                                     token));
       }},
      {"perfledger.v1.Reviews/RaiseDispute", false, "AD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         v1::RaiseDisputeRequest q;
         q.set_dispute_id(Id("DR", n));
         q.set_employee_id(sub);
         q.set_cycle_id(fx::kCycle);
         q.set_grounds("the score misses the launch");
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::RaiseDispute, q, token));
       }},
      {"perfledger.v1.Reviews/ResolveDispute", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         // The fixture's lines have no skip-level manager: hr decides every dispute.
         m.OpenDispute(Id("DV", n), sub);
         v1::ResolveDisputeRequest q;
         q.set_dispute_id(Id("DV", n));
         q.set_outcome(v1::DISPUTE_OUTCOME_REJECTED);
         q.set_reason("the launch slipped");
         return FromReply(m.s().Call(m.s().reviews(), &v1::Reviews::Stub::ResolveDispute, q,
                                     token));
       }},
      // ---- Improvement plans: the employee's manager, hr and admin
      {"perfledger.v1.Pips/OpenPip", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().pips(), &v1::Pips::Stub::OpenPip,
                                     OpenPipReq(Id("PO", n), sub), token));
       }},
      {"perfledger.v1.Pips/SetPipGoals", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.OpenPlan(Id("PG", n), sub);
         v1::SetPipGoalsRequest q;
         q.set_pip_id(Id("PG", n));
         q.add_goal_ids("G-" + sub);
         return FromReply(m.s().Call(m.s().pips(), &v1::Pips::Stub::SetPipGoals, q, token));
       }},
      {"perfledger.v1.Pips/RecordPipCheckpoint", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.OpenPlan(Id("PK", n), sub);
         v1::RecordPipCheckpointRequest q;
         q.set_pip_id(Id("PK", n));
         q.set_progress_bp(2500);
         q.set_notes("first steps");
         return FromReply(
             m.s().Call(m.s().pips(), &v1::Pips::Stub::RecordPipCheckpoint, q, token));
       }},
      {"perfledger.v1.Pips/ExtendPip", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.OpenPlan(Id("PX", n), sub);
         v1::ExtendPipRequest q;
         q.set_pip_id(Id("PX", n));
         *q.mutable_new_deadline_at() = ToTimestamp(absl::Now() + absl::Hours(24 * 90));
         q.set_reason("leave");
         return FromReply(m.s().Call(m.s().pips(), &v1::Pips::Stub::ExtendPip, q, token));
       }},
      {"perfledger.v1.Pips/ClosePip", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.OpenPlan(Id("PC", n), sub);
         v1::ClosePipRequest q;
         q.set_pip_id(Id("PC", n));
         q.set_outcome(v1::PIP_OUTCOME_SUCCEEDED);
         return FromReply(m.s().Call(m.s().pips(), &v1::Pips::Stub::ClosePip, q, token));
       }},
      {"perfledger.v1.Training/RecordTraining", false, "DD DD AA AD DD AA DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().training(), &v1::Training::Stub::RecordTraining,
                                     TrainingReq(sub), token));
       }},
      // ---- Log: hr (scoped), auditors, admin
      {"perfledger.v1.Log/ReadEvents", true, "DD DD AA AR DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         grpc::ClientContext context;
         m.s().Prepare(context, token);
         v1::ReadEventsRequest q;
         q.set_all_partitions(true);
         q.set_stream("employee/" + sub);
         return M::Drain<>(context, m.s().log().ReadEvents(&context, q), v1::RecordedEvent(),
                           std::function<size_t(const v1::RecordedEvent&)>(Withheld), false);
       }},
      {"perfledger.v1.Log/FollowEvents", true, "DD DD AA RR DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         grpc::ClientContext context;
         m.s().Prepare(context, token, absl::Milliseconds(700));
         v1::FollowEventsRequest q;
         q.add_types("GradeFinalized");
         return M::Drain<>(context, m.s().log().FollowEvents(&context, q), v1::RecordedEvent(),
                           std::function<size_t(const v1::RecordedEvent&)>(Withheld), true);
       }},
      {"perfledger.v1.Log/Status", true, "AA AA AA AA AA AA AA AA AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(m.s().log(), &v1::Log::Stub::Status, v1::StatusRequest(), token));
       }},
      // ---- Views
      {"perfledger.v1.Views/GetRanking", true, "RR RR AA RR DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::RankingRequest q;
         q.set_cycle_id(fx::kCycle);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetRanking, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.entries_size();
         for (const auto& e : reply.response.entries()) seen.withheld += e.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/GetUnitRanking", true, "RR RR AA RR DD DD AA DD AA",
       [](M& m, const RoleInfo&, const char* token, const std::string&, int) {
         v1::UnitRankingRequest q;
         q.set_cycle_id(fx::kCycle);
         q.set_metric("defect_rate");
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetUnitRanking, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.entries_size();
         for (const auto& e : reply.response.entries()) seen.withheld += e.suppressed() ? 1 : 0;
         return seen;
       }},
      {"perfledger.v1.Views/GetDistribution", true, "RR RR AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::DistributionRequest q;
         q.set_cycle_id(fx::kCycle);
         q.set_org_unit_id(OrgOf(sub));
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetDistribution, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.grades_size();
         for (const auto& g : reply.response.grades()) seen.withheld += g.suppressed() ? 1 : 0;
         seen.withheld += reply.response.total_suppressed() ? 1 : 0;
         return seen;
       }},
      {"perfledger.v1.Views/GetTimeline", true, "AD RD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::TimelineRequest q;
         q.set_employee_id(sub);
         q.set_page_size(1000);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetTimeline, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.events_size();
         for (const auto& e : reply.response.events()) seen.withheld += e.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/GetCheckIns", true, "AD AD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::CheckInsRequest q;
         q.set_employee_id(sub);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetCheckIns, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.entries_size();
         for (const auto& e : reply.response.entries()) seen.withheld += e.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/GetGoalTree", true, "RR RR AA RR DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         v1::GoalTreeRequest q;
         q.set_cycle_id(fx::kCycle);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetGoalTree, q, token);
         Seen seen = FromReply(reply);
         std::function<void(const v1::GoalNode&)> count = [&](const v1::GoalNode& node) {
           seen.rows++;
           seen.withheld += node.withheld_size();
           for (const auto& c : node.children()) count(c);
         };
         for (const auto& root : reply.response.roots()) count(root);
         return seen;
       }},
      {"perfledger.v1.Views/GetProjectionStatus", true, "AA AA AA AA AA AA AA AA AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(*m.views, &v1::Views::Stub::GetProjectionStatus,
                                     v1::ProjectionStatusRequest(), token));
       }},
      {"perfledger.v1.Views/Rebuild", false, "DD DD DD DD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(*m.views, &v1::Views::Stub::Rebuild, v1::RebuildRequest(), token));
       }},
      {"perfledger.v1.Views/ListPayrollItems", true, "AR RR AA AR RR RR AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ListPayrollItemsRequest q;
         q.set_employee_id(sub);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::ListPayrollItems, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.items_size();
         for (const auto& e : reply.response.items()) seen.withheld += e.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/ListTraining", true, "AR AR AA AR RR RR AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ListTrainingRequest q;
         q.set_employee_id(sub);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::ListTraining, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.records_size();
         for (const auto& e : reply.response.records()) seen.withheld += e.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/GetTrainingSummary", true, "RR RR AA AA DD AA AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         v1::TrainingSummaryRequest q;
         q.set_course_id("quality-control");
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetTrainingSummary, q, token);
         Seen seen = FromReply(reply);
         seen.rows = 1;
         seen.withheld = reply.response.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/ListPips", true, "AR AR AA AR RR RR AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ListPipsRequest q;
         q.set_employee_id(sub);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::ListPips, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.plans_size();
         for (const auto& e : reply.response.plans()) seen.withheld += e.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/ListDisputes", true, "AR AR AA AR RR RR AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ListDisputesRequest q;
         q.set_employee_id(sub);
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::ListDisputes, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.disputes_size();
         for (const auto& d : reply.response.disputes()) seen.withheld += d.withheld_size();
         return seen;
       }},
      {"perfledger.v1.Views/GetErasureStatus", true, "AD DD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ErasureStatusRequest q;
         q.set_employee_id(sub);
         return FromReply(m.s().Call(*m.views, &v1::Views::Stub::GetErasureStatus, q, token));
       }},
      // ---- Recognition reads: each item through Access::SeesRecognition (seeded: public
      // praise of E1 by M1, private praise of E1 by E2, manager-only praise of E3 by M2; a
      // nominated case about each of E1, E2, E3). The feed of ORG1 holds ORG3's items too.
      {"perfledger.v1.Views/GetRecognitionFeed", true, "RR RR AA AR DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::RecognitionFeedRequest q;
         q.set_org_unit_id(OrgOf(sub));
         auto reply = m.s().Call(*m.views, &v1::Views::Stub::GetRecognitionFeed, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.items_size();
         return seen;
       }},
      {"perfledger.v1.Views/GetCase", true, "AD AD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::GetCaseRequest q;
         q.set_case_id("K-" + sub);
         return FromReply(m.s().Call(*m.views, &v1::Views::Stub::GetCase, q, token));
       }},
      // ---- Policies
      {"perfledger.v1.Policies/PublishPolicy", false, "DD DD AA DD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         v1::PublishPolicyRequest q;
         q.set_document(kGradeActionsPolicy);
         return FromReply(m.s().Call(*m.policies, &v1::Policies::Stub::PublishPolicy, q, token));
       }},
      {"perfledger.v1.Policies/GetPolicy", true, "AA AA AA AA DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         v1::GetPolicyRequest q;
         q.set_version(1);
         return FromReply(m.s().Call(*m.policies, &v1::Policies::Stub::GetPolicy, q, token));
       }},
      {"perfledger.v1.Policies/ListPolicies", false, "AA AA AA AA DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(*m.policies, &v1::Policies::Stub::ListPolicies,
                                     v1::ListPoliciesRequest(), token));
       }},
      {"perfledger.v1.Policies/ComputeGrades", true, "DD DD AA AR DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ComputeGradesRequest q;
         q.set_cycle_id(fx::kCycle);
         q.add_employee_ids(sub);
         q.set_dry_run(true);
         auto reply = m.s().Call(*m.policies, &v1::Policies::Stub::ComputeGrades, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.grades_size();
         return seen;
       }},
      {"perfledger.v1.Policies/DryRun", false, "DD DD DD DD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(*m.policies, &v1::Policies::Stub::DryRun, v1::DryRunRequest(), token));
       }},
      {"perfledger.v1.Policies/FireDeadlines", false, "DD DD DD DD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(*m.policies, &v1::Policies::Stub::FireDeadlines,
                                     v1::FireDeadlinesRequest(), token));
       }},
      // ---- Audit: the chain for auditors and admin; a subject's records in scope
      {"perfledger.v1.Audit/VerifyChain", false, "DD DD DD DD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         grpc::ClientContext context;
         m.s().Prepare(context, token);
         return M::Drain<>(context, m.audit->VerifyChain(&context, v1::VerifyChainRequest()),
                           v1::ChainCheckResponse(),
                           std::function<size_t(const v1::ChainCheckResponse&)>(
                               [](const v1::ChainCheckResponse&) { return size_t{0}; }),
                           false);
       }},
      {"perfledger.v1.Audit/GetDigest", false, "DD DD DD DD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         return FromReply(m.s().Call(*m.audit, &v1::Audit::Stub::GetDigest, v1::GetDigestRequest(), token));
       }},
      {"perfledger.v1.Audit/ProveDigest", false, "DD DD DD DD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         auto digest = m.s().Call(*m.audit, &v1::Audit::Stub::GetDigest, v1::GetDigestRequest());
         grpc::ClientContext context;
         m.s().Prepare(context, token);
         v1::ProveDigestRequest q;
         *q.mutable_digest() = digest.response;
         return M::Drain<>(context, m.audit->ProveDigest(&context, q), v1::ChainCheckResponse(),
                           std::function<size_t(const v1::ChainCheckResponse&)>(
                               [](const v1::ChainCheckResponse&) { return size_t{0}; }),
                           false);
       }},
      {"perfledger.v1.Audit/AsOf", false, "DD DD DD DD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int) {
         grpc::ClientContext context;
         m.s().Prepare(context, token);
         v1::AsOfRequest q;
         *q.mutable_time() = Ts(4'000'000'000);
         q.mutable_ranking()->set_cycle_id(fx::kCycle);
         return M::Drain<>(context, m.audit->AsOf(&context, q), v1::AsOfResponse(),
                           std::function<size_t(const v1::AsOfResponse&)>(
                               [](const v1::AsOfResponse&) { return size_t{0}; }),
                           false);
       }},
      {"perfledger.v1.Audit/Explain", true, "AD RD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         v1::ExplainRequest q;
         q.set_action_id(m.pay_action.at(sub));
         auto reply = m.s().Call(*m.audit, &v1::Audit::Stub::Explain, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.steps_size();
         for (const auto& step : reply.response.steps()) seen.withheld += step.event().withheld_size();
         return seen;
       }},
      {"perfledger.v1.Audit/ListObservations", true, "AD AD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo&, const char* token, const std::string& sub, int) {
         v1::ListObservationsRequest q;
         q.set_employee_id(sub);
         q.set_cycle_id(fx::kCycle);
         q.set_metric("defect_rate");
         auto reply = m.s().Call(*m.audit, &v1::Audit::Stub::ListObservations, q, token);
         Seen seen = FromReply(reply);
         seen.rows = reply.response.observations_size();
         return seen;
       }},
      {"perfledger.v1.Audit/Export", true, "AD RD AA AD DD DD AA DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int) {
         grpc::ClientContext context;
         m.s().Prepare(context, token);
         v1::ExportRequest q;
         q.set_employee_id(sub);
         return M::Drain<>(context, m.audit->Export(&context, q), v1::RecordedEvent(),
                           std::function<size_t(const v1::RecordedEvent&)>(Withheld), false);
       }},
      // ---- Hooks: the consumers of their kinds; hr and admin any
      {"perfledger.v1.Hooks/Subscribe", true, "DD DD AA RR RR RR DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string&, int n) {
         grpc::ClientContext context;
         m.s().Prepare(context, token, absl::Milliseconds(1500));
         v1::SubscribeRequest q;
         // Each role asks for the kinds it takes; the reference (admin) asks for the same.
         q.set_consumer(Id("consumer-", n));
         q.set_include_resolved(true);
         const std::string role = r.name;
         if (role == "lms") {
           q.add_kinds(v1::ACTION_KIND_TRAINING);
         } else {
           q.add_kinds(v1::ACTION_KIND_SALARY_ADJUSTMENT);
           q.add_kinds(v1::ACTION_KIND_BONUS);
         }
         return M::Drain<>(context, m.hooks->Subscribe(&context, q), v1::HookItem(),
                           std::function<size_t(const v1::HookItem&)>(
                               [](const v1::HookItem& i) { return size_t(i.withheld_size()); }),
                           true);
       }},
      {"perfledger.v1.Hooks/Acknowledge", false, "DD DD AA AD AA DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         v1::AcknowledgeRequest q;
         q.set_consumer("payroll-main");
         auto* item = q.add_items();
         item->set_action_id(m.pay_action.at(sub));
         item->set_consumer_reference(Id("ref-", n));
         return FromReply(m.s().Call(*m.hooks, &v1::Hooks::Stub::Acknowledge, q, token));
       }},
      // ---- Recognition writes (last: the reads above see the seeded items only). Praise: the
      // giver themselves, or hr/admin on their behalf; cases: managers about their scope, hr,
      // admin; consent: the subject (or hr/admin for them); review: hr; publish and withdraw:
      // the nominator (admin in the set-up), hr, admin.
      {"perfledger.v1.Recognition/GivePraise", false, "AD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().recognition(), &v1::Recognition::Stub::GivePraise,
                                     PraiseReq(Id("PR", n), sub, {ManagerOf(sub)}), token));
       }},
      {"perfledger.v1.Recognition/NominateCase", false, "DD AD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         return FromReply(m.s().Call(m.s().recognition(), &v1::Recognition::Stub::NominateCase,
                                     NominateCaseReq(Id("KN", n), {sub}), token));
       }},
      {"perfledger.v1.Recognition/RecordCaseConsent", false, "AD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.NominateCase(Id("KC", n), sub);
         return FromReply(m.s().Call(m.s().recognition(),
                                     &v1::Recognition::Stub::RecordCaseConsent,
                                     ConsentReq(Id("KC", n), sub), token));
       }},
      {"perfledger.v1.Recognition/ReviewCase", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.NominateCase(Id("KR", n), sub);
         v1::ReviewCaseRequest q;
         q.set_case_id(Id("KR", n));
         q.set_decision(v1::CASE_REVIEW_DECISION_APPROVED);
         return FromReply(
             m.s().Call(m.s().recognition(), &v1::Recognition::Stub::ReviewCase, q, token));
       }},
      {"perfledger.v1.Recognition/PublishCase", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.NominateCase(Id("KP", n), sub);
         v1::PublishCaseRequest q;
         q.set_case_id(Id("KP", n));
         return FromReply(
             m.s().Call(m.s().recognition(), &v1::Recognition::Stub::PublishCase, q, token));
       }},
      {"perfledger.v1.Recognition/WithdrawCase", false, "DD DD AA AD DD DD DD DD AA",
       [](M& m, const RoleInfo& r, const char* token, const std::string& sub, int n) {
         m.NominateCase(Id("KW", n), sub);
         v1::WithdrawCaseRequest q;
         q.set_case_id(Id("KW", n));
         return FromReply(
             m.s().Call(m.s().recognition(), &v1::Recognition::Stub::WithdrawCase, q, token));
       }},
  };
}

// Every RPC declared in proto/perfledger/v1, by full name ("perfledger.v1.People/DefineOrgUnit").
std::set<std::string> DeclaredRpcs() {
  std::set<std::string> out;
  const std::regex service_re(R"(^service\s+(\w+))");
  const std::regex rpc_re(R"(^\s*rpc\s+(\w+)\s*\()");
  for (const auto& entry : std::filesystem::directory_iterator(PERFLEDGER_PROTO_DIR)) {
    if (entry.path().extension() != ".proto") continue;
    std::ifstream in(entry.path());
    std::string line, service;
    while (std::getline(in, line)) {
      std::smatch m;
      if (std::regex_search(line, m, service_re)) service = m[1];
      if (!service.empty() && std::regex_search(line, m, rpc_re)) {
        out.insert(absl::StrCat("perfledger.v1.", service, "/", std::string(m[1])));
      }
    }
  }
  return out;
}

TEST_CASE("authz matrix: every RPC has a row", "[authz]") {
  const std::set<std::string> declared = DeclaredRpcs();
  REQUIRE(declared.size() > 40);
  std::set<std::string> rows;
  for (const Row& row : Table()) {
    INFO(row.rpc);
    CHECK(rows.insert(row.rpc).second);
    // Each row says something for every role, in and out of scope.
    std::string cells(row.expect);
    cells.erase(std::remove(cells.begin(), cells.end(), ' '), cells.end());
    CHECK(cells.size() == 2 * kRoleCount);
    CHECK(cells.find_first_not_of("ADR") == std::string::npos);
  }
  for (const auto& rpc : declared) {
    INFO("RPC without a row in the authorization matrix: " << rpc);
    CHECK(rows.count(rpc) == 1);
  }
  for (const auto& rpc : rows) {
    INFO("row for an RPC that does not exist: " << rpc);
    CHECK(declared.count(rpc) == 1);
  }
}

TEST_CASE("authz matrix: every RPC x role x scope through the real server", "[authz]") {
  Matrix m;
  int n = 0;
  size_t cells_checked = 0;
  for (const Row& row : Table()) {
    std::string cells(row.expect);
    cells.erase(std::remove(cells.begin(), cells.end(), ' '), cells.end());
    for (size_t role = 0; role < kRoleCount; role++) {
      const RoleInfo& r = kRoles[role];
      for (int scope = 0; scope < 2; scope++) {
        const std::string subject = scope == 0 ? r.in : r.out;
        const char expect = cells[2 * role + scope];
        Seen reference;
        if (row.read) {
          m.Settle();
          reference = row.call(m, r, kRoles[kRoleCount - 1].token, subject, ++n);
        }
        m.end_before_call.reset();
        uint64_t end = m.s().LogEnd();
        const Seen seen = row.call(m, r, r.token, subject, ++n);
        if (m.end_before_call) end = *m.end_before_call;
        INFO(row.rpc << " as " << r.name << " about " << subject
                     << (scope == 0 ? " (in scope)" : " (out of scope)") << ": expected "
                     << expect << ", got " << CodeName(seen.code) << " '" << seen.message
                     << "' rows " << seen.rows << " withheld " << seen.withheld
                     << " (admin: rows " << reference.rows << ")");
        cells_checked++;
        switch (expect) {
          case 'D':
            CHECK(seen.code == grpc::StatusCode::PERMISSION_DENIED);
            if (!row.read) CHECK(m.s().LogEnd() == end);
            break;
          case 'A':
            CHECK(seen.code != grpc::StatusCode::PERMISSION_DENIED);
            CHECK(seen.code != grpc::StatusCode::UNAUTHENTICATED);
            if (row.read) {
              CHECK(seen.code == grpc::StatusCode::OK);
              CHECK(seen.rows == reference.rows);
              CHECK(seen.withheld == 0);
            }
            break;
          case 'R':
            CHECK(seen.code == grpc::StatusCode::OK);
            CHECK((seen.rows < reference.rows || seen.withheld > 0));
            break;
        }
      }
    }
  }
  WARN("authorization matrix: " << Table().size() << " RPCs x " << kRoleCount
                                << " roles x 2 scopes = " << cells_checked << " cells");
}

}  // namespace
}  // namespace perfledger::testing
