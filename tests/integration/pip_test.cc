// Performance improvement plans through the real server: opened by hand or by the policy, goals
// set by the manager, checkpoints, an extension, and the outcome, which fires the policy's
// pip_outcomes (failed -> HR review). Bad input names the field and writes nothing.
#include "tests/integration/helpers.h"

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
mgr-token     mike    manager  M1
mgr2-token    mona    manager  M2
)";

// kGradeActionsPolicy (C opens a plan) and what a failed plan triggers.
std::string PipPolicy() {
  return std::string(kGradeActionsPolicy) +
         "pip_outcomes:\n  failed: {hr_review: {kind: exit, reason: plan failed}}\n";
}

struct Plans {
  TempDir dir{"pip"};
  std::unique_ptr<TestServer> server;
  std::unique_ptr<v1::Views::Stub> views;

  Plans() {
    TestServerOptions options;
    options.tokens_file = dir.WriteFile("tokens.txt", kTokens);
    options.default_token = "admin-token";
    server = std::make_unique<TestServer>(options);
    views = v1::Views::NewStub(server->NewChannel());
    SeedFixture(*server);
    SeedSecondLine(*server);
    auto policies = v1::Policies::NewStub(server->NewChannel());
    v1::PublishPolicyRequest publish;
    publish.set_document(PipPolicy());
    MustOk(server->Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");
    MustOk(server->Call(server->goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-E1-PLAN")),
           "goal");
  }

  TestServer& s() { return *server; }

  // The plan as the PIP view shows it, once `ready` holds.
  v1::PipPlan Plan(const std::string& pip_id, const std::function<bool(const v1::PipPlan&)>& ready,
                   const std::string& token = "") {
    v1::PipPlan plan;
    const bool ok = WaitUntil([&] {
      v1::ListPipsRequest q;
      q.set_pip_id(pip_id);
      const auto r = MustOk(s().Call(*views, &v1::Views::Stub::ListPips, q, token), "pips");
      if (r.plans().empty()) return false;
      plan = r.plans(0);
      return ready(plan);
    });
    INFO(plan.ShortDebugString());
    REQUIRE(ok);
    return plan;
  }
};

TEST_CASE("pip: a plan from opening to a failed outcome and the HR review it triggers", "[pip]") {
  Plans p;
  TestServer& s = p.s();
  // The manager opens it for their report and sets its goals.
  v1::OpenPipRequest open = OpenPipReq("PIP-1");
  *open.mutable_meta()->mutable_occurred_at() = ToTimestamp(absl::FromUnixSeconds(1'780'000'000));
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::OpenPip, open, "mgr-token"), "open");
  v1::SetPipGoalsRequest goals;
  goals.set_pip_id("PIP-1");
  goals.add_goal_ids("G-E1-PLAN");
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::SetPipGoals, goals, "mgr-token"), "goals");
  v1::PipPlan plan = p.Plan("PIP-1", [](const v1::PipPlan& x) { return x.goal_ids_size() == 1; });
  CHECK(plan.status() == v1::PIP_STATUS_OPEN);
  CHECK(plan.manager_id() == fx::kManager);
  CHECK(plan.starts_at().seconds() == 1'780'000'000);
  CHECK(plan.deadline_at().seconds() == 1'780'000'000 + 60 * 86'400);
  CHECK(plan.next_checkpoint_due_at().seconds() == 1'780'000'000 + 14 * 86'400);

  // Checkpoints and an extension.
  v1::RecordPipCheckpointRequest checkpoint;
  checkpoint.set_pip_id("PIP-1");
  checkpoint.set_progress_bp(3000);
  checkpoint.set_notes("rework down, still above target");
  *checkpoint.mutable_meta()->mutable_occurred_at() = ToTimestamp(absl::FromUnixSeconds(1'781'000'000));
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::RecordPipCheckpoint, checkpoint, "mgr-token"), "cp");
  v1::ExtendPipRequest extend;
  extend.set_pip_id("PIP-1");
  *extend.mutable_new_deadline_at() = ToTimestamp(absl::FromUnixSeconds(1'790'000'000));
  extend.set_reason("two weeks of sick leave");
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::ExtendPip, extend, "hr-token"), "extend");
  plan = p.Plan("PIP-1", [](const v1::PipPlan& x) { return x.extensions() == 1; });
  REQUIRE(plan.checkpoint_log_size() == 1);
  CHECK(plan.checkpoint_log(0).progress_bp() == 3000);
  CHECK(plan.next_checkpoint_due_at().seconds() == 1'781'000'000 + 14 * 86'400);
  CHECK(plan.deadline_at().seconds() == 1'790'000'000);
  // The checkpoint's notes are sealed: the timeline opens them for the manager.
  v1::TimelineRequest tq;
  tq.set_employee_id(fx::kEmployee);
  tq.set_page_size(1000);
  const auto timeline = MustOk(s.Call(*p.views, &v1::Views::Stub::GetTimeline, tq, "mgr-token"));
  bool saw_notes = false;
  for (const auto& e : timeline.events()) {
    if (e.event().has_pip_checkpoint_recorded()) {
      saw_notes = e.event().pip_checkpoint_recorded().notes() == checkpoint.notes();
      CHECK(e.envelope().has_sealed());
    }
  }
  CHECK(saw_notes);

  // Closed as failed: the policy's pip_outcomes open an HR review naming the plan.
  v1::ClosePipRequest close;
  close.set_pip_id("PIP-1");
  close.set_outcome(v1::PIP_OUTCOME_FAILED);
  close.set_notes("targets missed");
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::ClosePip, close, "mgr-token"), "close");
  plan = p.Plan("PIP-1", [](const v1::PipPlan& x) { return x.status() == v1::PIP_STATUS_CLOSED; });
  CHECK(plan.outcome() == v1::PIP_OUTCOME_FAILED);
  CHECK_FALSE(plan.has_next_checkpoint_due_at());
  bool review = false;
  REQUIRE(WaitUntil([&] {
    for (const auto& e : EventsOfType(s.ReadAllEvents(), "ActionTriggered")) {
      const auto& a = e.event().action_triggered();
      if (a.kind() != v1::ACTION_KIND_HR_REVIEW || a.employee_id() != fx::kEmployee) continue;
      for (const auto& param : a.parameters()) {
        review = review || (param.key() == "pip_id" && param.value() == "PIP-1");
      }
    }
    return review;
  }));

  // A closed plan takes nothing more; nothing is written.
  const uint64_t end = s.LogEnd();
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::RecordPipCheckpoint, checkpoint, "mgr-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "pip_id");
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::ClosePip, close, "mgr-token"),
               grpc::StatusCode::FAILED_PRECONDITION, "pip_id");
  CHECK(s.LogEnd() == end);
}

TEST_CASE("pip: the plan the policy opens is completed by the manager", "[pip]") {
  Plans p;
  TestServer& s = p.s();
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::FinalizeGrade,
                FinalizeGradeReq(fx::kEmployee, "C", 4000)),
         "grade C");
  // The policy's plan is open; its id is the PIP action's.
  std::string pip_id;
  REQUIRE(WaitUntil([&] {
    v1::ListPipsRequest q;
    q.set_employee_id(fx::kEmployee);
    const auto r = MustOk(s.Call(*p.views, &v1::Views::Stub::ListPips, q), "pips");
    if (r.plans().empty() || r.plans(0).status() != v1::PIP_STATUS_OPEN) return false;
    pip_id = r.plans(0).pip_id();
    return true;
  }));
  v1::SetPipGoalsRequest goals;
  goals.set_pip_id(pip_id);
  goals.add_goal_ids("G-E1-PLAN");
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::SetPipGoals, goals, "mgr-token"), "goals");
  v1::ClosePipRequest close;
  close.set_pip_id(pip_id);
  close.set_outcome(v1::PIP_OUTCOME_SUCCEEDED);
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::ClosePip, close, "mgr-token"), "close");
  const v1::PipPlan plan =
      p.Plan(pip_id, [](const v1::PipPlan& x) { return x.status() == v1::PIP_STATUS_CLOSED; });
  CHECK(plan.goal_ids(0) == "G-E1-PLAN");
  CHECK_FALSE(plan.cause_action_id().empty());
  CHECK(plan.outcome() == v1::PIP_OUTCOME_SUCCEEDED);
}

TEST_CASE("pip: bad input names the field and writes nothing", "[pip]") {
  Plans p;
  TestServer& s = p.s();
  MustOk(s.Call(s.pips(), &v1::Pips::Stub::OpenPip, OpenPipReq("PIP-2")), "open");
  MustOk(s.Call(s.goals(), &v1::Goals::Stub::SetGoal, SetGoalReq("G-E2", fx::kEmployee2)),
         "E2's goal");
  const uint64_t end = s.LogEnd();
  auto open = OpenPipReq("PIP-3");
  open.set_length_days(0);
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::OpenPip, open), grpc::StatusCode::INVALID_ARGUMENT,
               "length_days");
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::OpenPip, OpenPipReq("PIP-2")),
               grpc::StatusCode::ALREADY_EXISTS, "pip_id");
  // Someone else's goal, or an unknown one.
  v1::SetPipGoalsRequest goals;
  goals.set_pip_id("PIP-2");
  goals.add_goal_ids("G-E2");
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::SetPipGoals, goals),
               grpc::StatusCode::INVALID_ARGUMENT, "goal_ids[0]");
  goals.set_goal_ids(0, "G-NOPE");
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::SetPipGoals, goals), grpc::StatusCode::NOT_FOUND,
               "goal_ids[0]");
  // Unknown plan; an extension that does not move the end later, or without a reason.
  v1::RecordPipCheckpointRequest checkpoint;
  checkpoint.set_pip_id("PIP-NOPE");
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::RecordPipCheckpoint, checkpoint),
               grpc::StatusCode::NOT_FOUND, "pip_id");
  checkpoint.set_pip_id("PIP-2");
  checkpoint.set_progress_bp(10'001);
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::RecordPipCheckpoint, checkpoint),
               grpc::StatusCode::INVALID_ARGUMENT, "progress_bp");
  v1::ExtendPipRequest extend;
  extend.set_pip_id("PIP-2");
  extend.set_reason("leave");
  *extend.mutable_new_deadline_at() = ToTimestamp(absl::Now());
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::ExtendPip, extend),
               grpc::StatusCode::INVALID_ARGUMENT, "new_deadline_at");
  extend.clear_reason();
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::ExtendPip, extend),
               grpc::StatusCode::INVALID_ARGUMENT, "reason");
  v1::ClosePipRequest close;
  close.set_pip_id("PIP-2");
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::ClosePip, close),
               grpc::StatusCode::INVALID_ARGUMENT, "outcome");
  // Who: the employee never; another line's manager is outside their scope.
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::OpenPip, OpenPipReq("PIP-4"), "emp-token"),
               grpc::StatusCode::PERMISSION_DENIED, "ROLE_EMPLOYEE");
  close.set_outcome(v1::PIP_OUTCOME_SUCCEEDED);
  RequireError(s.Call(s.pips(), &v1::Pips::Stub::ClosePip, close, "mgr2-token"),
               grpc::StatusCode::PERMISSION_DENIED, "pip_id");
  CHECK(s.LogEnd() == end);
}

}  // namespace
}  // namespace perfledger::testing
