// The manufacturing reference scenario (deploy/examples/manufacturing, ARCHITECTURE §6) end to end:
// the REAL perfledgerd as a child process, loaded with `perfctl scenario load`, then every
// outcome that deploy/examples/manufacturing/README.md promises, checked over gRPC: grades,
// actions (kinds, amounts, percentages, courses, promotions, PIP lengths), alerts, the PIP, the
// goal roll-up, ranking, distribution, deadlines and the follow-up exit review, the dry-run
// audit, idempotent reloading, and a policy change in the middle of the cycle.
//
// Each TEST_CASE starts its own server and loads the scenario (ctest runs them as separate
// processes). The server is started with --deadline-check-seconds 0, so deadlines fire only when
// the test says so.

// Listener base classes are declared only with this (Catch2 v2).
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#include <catch2/catch.hpp>

#include <algorithm>
#include <map>
#include <set>
#include <sstream>
#include <tuple>
#include <string>
#include <vector>

#include <google/protobuf/util/time_util.h>
#include <grpcpp/client_context.h>
#include <nlohmann/json.hpp>

#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/scenario/scenario_support.h"

namespace perfledger::scenario {
namespace {

using google::protobuf::util::TimeUtil;
using std::chrono::milliseconds;

struct FailureListener : Catch::TestEventListenerBase {
  using TestEventListenerBase::TestEventListenerBase;
  bool assertionEnded(const Catch::AssertionStats& stats) override {
    if (!stats.assertionResult.isOk()) MarkFailed();
    return true;
  }
};
CATCH_REGISTER_LISTENER(FailureListener)

const std::string kScenarioDir = std::string(PERFLEDGER_SOURCE_DIR) + "/deploy/examples/manufacturing";
const std::vector<std::string> kWorkers = {"W11", "W12", "W13", "W21", "W22", "W23"};

std::string Text(const google::protobuf::Timestamp& t) { return TimeUtil::ToString(t); }

std::string Param(const v1::ActionTriggered& a, const std::string& key) {
  for (const auto& p : a.parameters()) {
    if (p.key() == key) return p.value();
  }
  return "<none>";
}

// A server with the scenario loaded and every reaction appended.
struct Loaded {
  TempDir dir{"manufacturing"};
  Server server{dir};
  CommandOutput load;

  explicit Loaded(const std::string& scenario = kScenarioDir) {
    server.Start();
    load = Perfctl({"scenario", "load", scenario});
    if (load.code() != 0) throw std::runtime_error("scenario load failed: " + load.Describe());
    WaitQuiescent(server.channel());
  }

  CommandOutput Perfctl(const std::vector<std::string>& args) {
    return RunPerfctl(dir, server.address(), args);
  }
  std::vector<v1::RecordedEvent> Events() { return ReadAll(server.channel()); }
};

// Typed views of the log.
struct Facts {
  std::map<std::string, v1::GradeFinalized> grade;  // the latest per employee
  std::map<std::string, std::string> grade_at;      // its business time
  std::vector<v1::ActionTriggered> actions;
  std::vector<v1::ActionCancelled> cancelled;
  std::vector<v1::ThresholdBreached> alerts;
  std::vector<v1::PipOpened> pips;
  std::vector<v1::DeadlineReached> deadlines;
  std::vector<std::string> deadline_at;  // business time of each DeadlineReached

  explicit Facts(const std::vector<v1::RecordedEvent>& events) {
    for (const v1::RecordedEvent& e : events) {
      const v1::Event& ev = e.event();
      if (ev.has_grade_finalized()) {
        grade[ev.grade_finalized().employee_id()] = ev.grade_finalized();
        grade_at[ev.grade_finalized().employee_id()] = Text(e.envelope().occurred_at());
      }
      if (ev.has_action_triggered()) actions.push_back(ev.action_triggered());
      if (ev.has_action_cancelled()) cancelled.push_back(ev.action_cancelled());
      if (ev.has_threshold_breached()) alerts.push_back(ev.threshold_breached());
      if (ev.has_pip_opened()) pips.push_back(ev.pip_opened());
      if (ev.has_deadline_reached()) {
        deadlines.push_back(ev.deadline_reached());
        deadline_at.push_back(Text(e.envelope().occurred_at()));
      }
    }
  }

  std::vector<v1::ActionTriggered> ActionsOf(const std::string& employee) const {
    std::vector<v1::ActionTriggered> out;
    for (const auto& a : actions) {
      if (a.employee_id() == employee) out.push_back(a);
    }
    return out;
  }
  std::vector<v1::ActionTriggered> ActionsOf(const std::string& employee, v1::ActionKind kind) const {
    std::vector<v1::ActionTriggered> out;
    for (const auto& a : ActionsOf(employee)) {
      if (a.kind() == kind) out.push_back(a);
    }
    return out;
  }
};

// perfctl exited 0 and printed every one of `needles`.
const CommandOutput& CheckRun(const CommandOutput& out, const std::vector<std::string>& needles) {
  INFO(out.Describe());
  CHECK(out.code() == 0);
  for (const std::string& needle : needles) CHECK(out.out.find(needle) != std::string::npos);
  return out;
}

// Does a line of `text` start with `op` and contain `needle`?
bool HasLine(const std::string& text, char op, const std::string& needle) {
  std::istringstream in(text);
  for (std::string line; std::getline(in, line);) {
    if (!line.empty() && line[0] == op && line.find(needle) != std::string::npos) return true;
  }
  return false;
}

std::vector<v1::ActionKind> Kinds(const std::vector<v1::ActionTriggered>& actions) {
  std::vector<v1::ActionKind> kinds;
  for (const auto& a : actions) kinds.push_back(a.kind());
  std::sort(kinds.begin(), kinds.end());
  return kinds;
}

std::vector<v1::ActionKind> Sorted(std::vector<v1::ActionKind> kinds) {
  std::sort(kinds.begin(), kinds.end());
  return kinds;
}

void CheckMoney(const v1::ActionTriggered& a, int64_t amount_minor, uint32_t percent_bp,
                const std::string& reason_code, const std::string& rule_id) {
  INFO("action " << a.ShortDebugString());
  CHECK(a.amount().amount_minor() == amount_minor);
  CHECK(a.amount().currency() == "EUR");
  CHECK(a.percent_bp() == percent_bp);
  CHECK(a.reason_code() == reason_code);
  CHECK(a.rule_id() == rule_id);
}

void CheckTraining(const Facts& facts, const std::string& employee, const std::string& course,
                   const std::string& grade) {
  const auto training = facts.ActionsOf(employee, v1::ACTION_KIND_TRAINING);
  INFO(employee << " training");
  REQUIRE(training.size() == 1);
  CHECK(training[0].course_id() == course);
  CHECK(training[0].rule_id() == "grades." + grade + ".training." + course);
}

void CheckPromotion(const Facts& facts, const std::string& employee, const std::string& from_level) {
  const auto promotion = facts.ActionsOf(employee, v1::ACTION_KIND_PROMOTION_NOMINATION);
  INFO(employee << " promotion");
  REQUIRE(promotion.size() == 1);
  CHECK(Param(promotion[0], "nominate_to") == "team-lead");
  CHECK(Param(promotion[0], "consecutive_cycles") == "1");
  CHECK(Param(promotion[0], "from_job_level") == from_level);
  CHECK(promotion[0].rule_id() == "grades.A.promotion");
}

template <typename Request, typename Response, typename Stub>
Response Call(grpc::Status (Stub::*method)(grpc::ClientContext*, const Request&, Response*),
              Stub* stub, const Request& request) {
  grpc::ClientContext context;
  context.set_deadline(DeadlineIn(milliseconds(30000)));
  Response response;
  const grpc::Status s = (stub->*method)(&context, request, &response);
  if (!s.ok()) throw std::runtime_error(request.GetTypeName() + ": " + s.error_message());
  return response;
}

// ---------------------------------------------------------------- grades, actions, alerts

TEST_CASE("manufacturing: the scenario load finalizes six grades and triggers exactly the "
          "policy's actions, alerts and PIP", "[scenario][e2e]") {
  Loaded s;
  const Facts facts(s.Events());

  // The six grades: means of each worker's defect rate, banded by the policy, at the
  // scenario's business time.
  const std::map<std::string, std::pair<std::string, int64_t>> expected_grades = {
      {"W11", {"A", 1500}}, {"W12", {"B", 2500}}, {"W13", {"C", 4000}},
      {"W21", {"D", 6000}}, {"W22", {"B", 2200}}, {"W23", {"A", 1200}}};
  std::set<std::string> graded;
  for (const auto& [employee, g] : facts.grade) graded.insert(employee);
  CHECK(graded == std::set<std::string>(kWorkers.begin(), kWorkers.end()));
  for (const auto& [employee, expected] : expected_grades) {
    INFO("grade of " << employee);
    REQUIRE(facts.grade.count(employee) == 1);
    const v1::GradeFinalized& g = facts.grade.at(employee);
    CHECK(g.cycle_id() == "2026H1");
    CHECK(g.grade() == expected.first);
    CHECK(g.score_milli() == expected.second);
    CHECK(g.policy_version() == 1);
    CHECK(g.supersedes_event_id().empty());
    CHECK(facts.grade_at.at(employee) == "2026-06-30T12:00:00Z");
  }

  // Actions: 3 + 2 + 1 + 1 + 2 + 3, all from policy version 1, none cancelled.
  CHECK(facts.actions.size() == 12);
  CHECK(facts.cancelled.empty());
  for (const auto& a : facts.actions) {
    INFO(a.ShortDebugString());
    CHECK(a.policy_version() == 1);
    CHECK(a.cycle_id() == "2026H1");
    CHECK(a.action_id().size() == 32);
  }

  // W11, A: raise 15 % of 4,200,000 = 630,000; training quality-control; team-lead.
  CHECK(Kinds(facts.ActionsOf("W11")) ==
        Sorted({v1::ACTION_KIND_SALARY_ADJUSTMENT, v1::ACTION_KIND_TRAINING,
                v1::ACTION_KIND_PROMOTION_NOMINATION}));
  {
    const auto raise = facts.ActionsOf("W11", v1::ACTION_KIND_SALARY_ADJUSTMENT);
    REQUIRE(raise.size() == 1);
    CheckMoney(raise[0], 630000, 1500, "merit", "grades.A.raise");
    CheckTraining(facts, "W11", "quality-control", "A");
    CheckPromotion(facts, "W11", "worker");
  }
  // W12, B: bonus 20 % of 3,600,000 / 12 = 60,000; training operation-skills.
  CHECK(Kinds(facts.ActionsOf("W12")) ==
        Sorted({v1::ACTION_KIND_BONUS, v1::ACTION_KIND_TRAINING}));
  {
    const auto bonus = facts.ActionsOf("W12", v1::ACTION_KIND_BONUS);
    REQUIRE(bonus.size() == 1);
    CheckMoney(bonus[0], 60000, 2000, "quality-bonus", "grades.B.bonus");
    CheckTraining(facts, "W12", "operation-skills", "B");
  }
  // W13, C: a PIP of 90 days, checkpoints every 14.
  CHECK(Kinds(facts.ActionsOf("W13")) == std::vector<v1::ActionKind>{v1::ACTION_KIND_PIP});
  std::string pip_action_id;
  {
    const auto pip = facts.ActionsOf("W13", v1::ACTION_KIND_PIP);
    REQUIRE(pip.size() == 1);
    CHECK(pip[0].pip_length_days() == 90);
    CHECK(pip[0].pip_checkpoint_every_days() == 14);
    CHECK(pip[0].rule_id() == "grades.C.pip");
    CHECK(pip[0].manager_id() == "E3");
    pip_action_id = pip[0].action_id();
  }
  // W21, D: HR review (reassignment) now; the exit review only after the deadline.
  CHECK(Kinds(facts.ActionsOf("W21")) == std::vector<v1::ActionKind>{v1::ACTION_KIND_HR_REVIEW});
  {
    const auto review = facts.ActionsOf("W21", v1::ACTION_KIND_HR_REVIEW);
    REQUIRE(review.size() == 1);
    CHECK(Param(review[0], "kind") == "reassignment");
    CHECK(Param(review[0], "reason") == "auxiliary role");
    CHECK(review[0].rule_id() == "grades.D.hr_review");
  }
  // W22, B: bonus 20 % of 4,000,000 / 12 = 66,666.67 -> 66,667 (half away from zero).
  CHECK(Kinds(facts.ActionsOf("W22")) ==
        Sorted({v1::ACTION_KIND_BONUS, v1::ACTION_KIND_TRAINING}));
  {
    const auto bonus = facts.ActionsOf("W22", v1::ACTION_KIND_BONUS);
    REQUIRE(bonus.size() == 1);
    CheckMoney(bonus[0], 66667, 2000, "quality-bonus", "grades.B.bonus");
    CheckTraining(facts, "W22", "operation-skills", "B");
  }
  // W23, A: raise 15 % of 4,400,000 = 660,000; training; team-lead.
  CHECK(Kinds(facts.ActionsOf("W23")) ==
        Sorted({v1::ACTION_KIND_SALARY_ADJUSTMENT, v1::ACTION_KIND_TRAINING,
                v1::ACTION_KIND_PROMOTION_NOMINATION}));
  {
    const auto raise = facts.ActionsOf("W23", v1::ACTION_KIND_SALARY_ADJUSTMENT);
    REQUIRE(raise.size() == 1);
    CheckMoney(raise[0], 660000, 1500, "merit", "grades.A.raise");
    CheckTraining(facts, "W23", "quality-control", "A");
    CheckPromotion(facts, "W23", "worker");
  }

  // Alerts: W13 -> E3, W21 -> E4 (workers over 3 %), LINE2 -> E2 (line over 5 %); once each;
  // nothing for LINE1 (4 %) or the other workers.
  std::map<std::string, std::vector<v1::ThresholdBreached>> alerts;
  for (const auto& a : facts.alerts) alerts[a.subject_id()].push_back(a);
  CHECK(alerts.size() == 3);
  CHECK(alerts.count("LINE1") == 0);
  const std::vector<std::tuple<std::string, std::string, v1::OwnerKind, std::string>> expected_alerts =
      {{"W13", "E3", v1::OWNER_KIND_EMPLOYEE, "alerts.worker-defect-rate"},
       {"W21", "E4", v1::OWNER_KIND_EMPLOYEE, "alerts.worker-defect-rate"},
       {"LINE2", "E2", v1::OWNER_KIND_ORG_UNIT, "alerts.line-defect-rate"}};
  for (const auto& [subject, notify, scope, rule] : expected_alerts) {
    INFO("alert for " << subject);
    REQUIRE(alerts[subject].size() == 1);
    const v1::ThresholdBreached& a = alerts[subject][0];
    CHECK(a.notify_employee_id() == notify);
    CHECK(a.scope() == scope);
    CHECK(a.rule_id() == rule);
    CHECK(a.metric() == "defect_rate");
    CHECK(a.threshold_milli() == (scope == v1::OWNER_KIND_ORG_UNIT ? 5000 : 3000));
    CHECK(a.value_milli() > a.threshold_milli());
    CHECK(a.direction() == v1::DIRECTION_LOWER_IS_BETTER);
    CHECK(a.policy_version() == 1);
  }

  // The lines ranked by their rates over the cycle: LINE1 24000 × 200 / 1800 parts, LINE2
  // 15,420,000 / 3000 parts.
  auto ranking = s.Perfctl({"unit-ranking", "--cycle", "2026H1", "--metric", "defect_rate",
                            "--parent", "PROD", "-o", "json"});
  INFO(ranking.Describe());
  REQUIRE(ranking.code() == 0);
  const auto lines = nlohmann::json::parse(ranking.out);
  REQUIRE(lines["entries"].size() == 2);
  auto text = [](const nlohmann::json& v) { return v.is_string() ? v.get<std::string>() : v.dump(); };
  CHECK(text(lines["entries"][0]["org_unit_id"]) == "LINE1");
  CHECK(text(lines["entries"][0]["value_milli"]) == "2667");
  CHECK(text(lines["entries"][1]["org_unit_id"]) == "LINE2");
  CHECK(text(lines["entries"][1]["value_milli"]) == "5140");

  // The PIP opened with the action: 90 days from the grade's business time.
  REQUIRE(facts.pips.size() == 1);
  const v1::PipOpened& pip = facts.pips[0];
  CHECK(pip.employee_id() == "W13");
  CHECK(pip.cycle_id() == "2026H1");
  CHECK(pip.action_id() == pip_action_id);
  CHECK(pip.pip_id() == pip_action_id);
  CHECK(Text(pip.starts_at()) == "2026-06-30T12:00:00Z");
  CHECK(Text(pip.deadline_at()) == "2026-09-28T12:00:00Z");
  CHECK(pip.checkpoint_every_days() == 14);
  CHECK(facts.deadlines.empty());  // the scheduler is off: nothing fired by itself
}

// ---------------------------------------------------------------- views

TEST_CASE("manufacturing: the views show the goal roll-up, the ranking and the distribution",
          "[scenario][e2e]") {
  Loaded s;
  auto views = v1::Views::NewStub(s.server.channel());

  // Goal roll-up: G-RND 100 %, G-PROD 80 % ((5.6-8)/(5-8)), G-QA 70 %, strategy 83 %.
  v1::GoalTreeRequest tree_request;
  tree_request.set_cycle_id("2026H1");
  const auto tree = Call(&v1::Views::Stub::GetGoalTree, views.get(), tree_request);
  {
  INFO(tree.ShortDebugString());
  REQUIRE(tree.roots_size() == 1);
  const v1::GoalNode& root = tree.roots(0);
  CHECK(root.goal_id() == "G-STRATEGY");
  CHECK(root.rolled_up_progress_bp() == 8300);
  CHECK(root.okr_grade_milli() == 830);
  std::map<std::string, v1::GoalNode> children;
  for (const auto& child : root.children()) children[child.goal_id()] = child;
  CHECK(children.size() == 3);
  for (const auto& [goal, bp] : std::map<std::string, uint32_t>{
           {"G-RND", 10000}, {"G-PROD", 8000}, {"G-QA", 7000}}) {
    INFO(goal);
    REQUIRE(children.count(goal) == 1);
    CHECK(children[goal].own_progress_bp() == bp);
    CHECK(children[goal].rolled_up_progress_bp() == bp);
  }
  CHECK(children["G-RND"].weight_bp() == 3000);
  CHECK(children["G-PROD"].weight_bp() == 4000);
  CHECK(children["G-QA"].weight_bp() == 3000);
  }

  // Ranking of the cycle: a lower defect rate ranks first. Page size 4 exercises the tokens.
  std::vector<std::string> order;
  v1::RankingRequest ranking_request;
  ranking_request.set_cycle_id("2026H1");
  ranking_request.set_page_size(4);
  for (int pages = 0; pages < 10; pages++) {
    const auto page = Call(&v1::Views::Stub::GetRanking, views.get(), ranking_request);
    CHECK(page.total() == 6);
    for (const auto& e : page.entries()) order.push_back(e.employee_id());
    if (page.next_page_token().empty()) break;
    ranking_request.set_page_token(page.next_page_token());
  }
  CHECK(order == std::vector<std::string>{"W23", "W11", "W22", "W12", "W13", "W21"});

  // Distribution A2 B2 C1 D1 (the recommended shares: see the known bug below).
  {
    v1::DistributionRequest distribution_request;
    distribution_request.set_cycle_id("2026H1");
    const auto distribution =
        Call(&v1::Views::Stub::GetDistribution, views.get(), distribution_request);
    INFO(distribution.ShortDebugString());
    CHECK(distribution.total() == 6);
    CHECK(distribution.policy_version() == 1);
    std::map<std::string, uint64_t> counts;
    for (const auto& g : distribution.grades()) counts[g.grade()] = g.count();
    CHECK(counts == std::map<std::string, uint64_t>{{"A", 2}, {"B", 2}, {"C", 1}, {"D", 1}});
  }

  // The same through perfctl (table and JSON output).
  auto ranking = s.Perfctl({"ranking", "--cycle", "2026H1", "--all", "-o", "json"});
  REQUIRE(ranking.code() == 0);
  std::vector<std::string> cli_order;
  const nlohmann::json ranking_json = nlohmann::json::parse(ranking.out);
  for (const auto& e : ranking_json["entries"]) {
    cli_order.push_back(e["employee_id"].get<std::string>());
  }
  CHECK(cli_order == order);
  CheckRun(s.Perfctl({"goals", "tree", "--cycle", "2026H1"}),
           {"83.00 %", "\n  G-PROD"});  // G-PROD indented under the strategy
  CheckRun(s.Perfctl({"distribution", "--cycle", "2026H1"}), {"total      6"});
  CheckRun(s.Perfctl({"timeline", "W13", "--limit", "0"}), {"PipOpened", "ThresholdBreached"});
  CheckRun(s.Perfctl({"projections", "status", "--digests"}), {"0 events", "goals"});
  CheckRun(s.Perfctl({"status"}), {"lag 0 events"});
  CheckRun(s.Perfctl({"checkins", "W13"}), {"no check-ins"});
  CheckRun(s.Perfctl({"payroll", "list", "--cycle", "2026H1"}),
           {"630,000 EUR", "660,000 EUR", "60,000 EUR", "66,667 EUR", "4 payroll items"});
  CheckRun(s.Perfctl({"training", "summary", "quality-control"}), {"recommended  2"});
  CheckRun(s.Perfctl({"pips", "list", "--open-only"}), {"W13", "open", "1 plans"});
  const auto rebuild = CheckRun(s.Perfctl({"projections", "rebuild", "-o", "json"}), {"views"});
  const auto digests = CheckRun(s.Perfctl({"projections", "status", "--digests", "-o", "json"}), {});
  CHECK(nlohmann::json::parse(rebuild.out)["views"] == nlohmann::json::parse(digests.out)["views"]);
}

// ---------------------------------------------------------------- deadlines, audit, reload

TEST_CASE("manufacturing: deadlines fire the exit review and close the PIP window, the audit "
          "agrees, and a second load appends nothing", "[scenario][e2e]") {
  Loaded s;
  const Facts before(s.Events());
  REQUIRE(before.pips.size() == 1);
  const std::string pip_id = before.pips[0].pip_id();

  auto fire = s.Perfctl({"deadlines", "fire", "--now", "2026-10-01T00:00:00Z"});
  INFO(fire.Describe());
  REQUIRE(fire.code() == 0);
  WaitQuiescent(s.server.channel());
  const Facts after(s.Events());

  // DeadlineReached for W13's PIP and for W21's follow-up, at their deadlines' business time,
  // and for the six grades' dispute windows: ten business days after Tuesday 2026-06-30.
  std::map<std::string, std::string> fired;  // employee -> subject
  size_t windows = 0;
  for (size_t i = 0; i < after.deadlines.size(); i++) {
    INFO(after.deadlines[i].ShortDebugString());
    if (after.deadlines[i].subject().rfind("dispute-window/", 0) == 0) {
      windows++;
      CHECK(after.deadline_at[i] == "2026-07-14T12:00:00Z");
      CHECK(after.deadlines[i].subject() ==
            "dispute-window/" + after.deadlines[i].employee_id() + "/2026H1");
      continue;
    }
    fired[after.deadlines[i].employee_id()] = after.deadlines[i].subject();
    CHECK(after.deadline_at[i] == "2026-09-28T12:00:00Z");
    CHECK(Text(after.deadlines[i].deadline_at()) == "2026-09-28T12:00:00Z");
  }
  CHECK(after.deadlines.size() == 2 + 6);
  CHECK(windows == 6);
  CHECK(fired["W13"] == "pip/" + pip_id);
  CHECK(fired["W21"].rfind("action/", 0) == 0);

  // The follow-up: W21 got no better grade within 90 days -> HR review (exit).
  const auto reviews = after.ActionsOf("W21", v1::ACTION_KIND_HR_REVIEW);
  REQUIRE(reviews.size() == 2);
  const auto exit_review = std::find_if(reviews.begin(), reviews.end(), [](const auto& a) {
    return a.rule_id() == "grades.D.followup";
  });
  REQUIRE(exit_review != reviews.end());
  CHECK(Param(*exit_review, "kind") == "exit");
  CHECK(Param(*exit_review, "not_improved_within_days") == "90");
  CHECK(exit_review->policy_version() == 1);
  CHECK(fired["W21"] == "action/" + exit_review->action_id());
  CHECK(after.actions.size() == before.actions.size() + 1);  // nothing else was triggered

  // Firing again appends nothing (the deadlines are gone).
  const uint64_t end_after_fire = LogEnd(GetStatus(s.server.channel()));
  auto again = s.Perfctl({"deadlines", "fire", "--now", "2026-10-01T00:00:00Z"});
  INFO(again.Describe());
  CHECK(again.code() == 0);
  CHECK(again.out.find("0 deadlines fired") != std::string::npos);
  WaitQuiescent(s.server.channel());
  CHECK(LogEnd(GetStatus(s.server.channel())) == end_after_fire);

  // The auditor's proof: every recorded action re-derived from the log, no difference.
  auto audit = s.Perfctl({"audit", "dry-run"});
  INFO(audit.Describe());
  CHECK(audit.code() == 0);
  CHECK(audit.out.find("differences") != std::string::npos);
  auto audit_json = s.Perfctl({"audit", "dry-run", "-o", "json"});
  REQUIRE(audit_json.code() == 0);
  const auto report = nlohmann::json::parse(audit_json.out);
  CHECK(report["differences"].empty());
  CHECK(report["actions_recorded"] == report["actions_derived"]);

  // Loading the scenario a second time: every step deduplicated, the log end unchanged.
  const uint64_t end_before_reload = LogEnd(GetStatus(s.server.channel()));
  auto reload = s.Perfctl({"scenario", "load", kScenarioDir, "-o", "json"});
  INFO(reload.Describe());
  REQUIRE(reload.code() == 0);
  const auto steps = nlohmann::json::parse(reload.out);
  CHECK(steps["failed"] == 0);
  for (const auto& step : steps["steps"]) {
    INFO(step.dump());
    CHECK(step["outcome"] == "ok");
    const auto& out = step["output"];
    if (out.contains("deduplicated")) CHECK(out["deduplicated"] == true);
    if (out.contains("accepted")) CHECK(out["accepted"] == 0);
  }
  WaitQuiescent(s.server.channel());
  CHECK(LogEnd(GetStatus(s.server.channel())) == end_before_reload);
}

// ---------------------------------------------------------------- policy change mid-cycle

TEST_CASE("manufacturing: the manager runs W13's plan with perfctl to a failed outcome and the "
          "exit review", "[scenario][e2e]") {
  Loaded s;
  const Facts before(s.Events());
  REQUIRE(before.pips.size() == 1);
  const std::string pip_id = before.pips[0].pip_id();
  auto run = [&](const std::vector<std::string>& args) {
    CommandOutput out = s.Perfctl(args);
    INFO(out.Describe());
    REQUIRE(out.code() == 0);
    return out;
  };
  run({"goal", "set", "G-W13-PLAN", "--cycle", "2026H1", "--owner-employee", "W13", "--title",
       "Defect rate under 3 %", "--kr", "kr1:Defect rate:5000:3000:%:lower"});
  run({"pip", "goals", pip_id, "--goal", "G-W13-PLAN"});
  run({"pip", "checkpoint", pip_id, "--progress-bp", "2000", "--notes", "jig replaced"});
  run({"pip", "close", pip_id, "--outcome", "failed", "--notes", "still above 4 %"});
  WaitQuiescent(s.server.channel());
  const CommandOutput show = run({"pip", "show", pip_id});
  CHECK(show.out.find("G-W13-PLAN") != std::string::npos);
  CHECK(show.out.find("failed") != std::string::npos);
  CHECK(show.out.find("20.00 %") != std::string::npos);
  // The policy's pip_outcomes: an HR review naming the plan.
  const Facts after(s.Events());
  bool review = false;
  for (const auto& a : after.actions) {
    review = review || (a.kind() == v1::ACTION_KIND_HR_REVIEW && a.employee_id() == "W13" &&
                        Param(a, "pip_id") == pip_id);
  }
  CHECK(review);
  // A closed plan takes no checkpoint: perfctl says why and exits non-zero.
  const CommandOutput late =
      s.Perfctl({"pip", "checkpoint", pip_id, "--progress-bp", "2500"});
  CHECK(late.code() != 0);
  CHECK(late.err.find("FAILED_PRECONDITION") != std::string::npos);
}

TEST_CASE("manufacturing: a policy published mid-cycle applies to new grades only",
          "[scenario][e2e]") {
  Loaded s;
  const Facts before(s.Events());

  // Version 2: an A earns a 10 % raise instead of 15 %.
  std::string document = ReadFile(kScenarioDir + "/policy.yaml");
  const std::string old_raise = "raise_bp: 1500";
  REQUIRE(document.find(old_raise) != std::string::npos);
  document.replace(document.find(old_raise), old_raise.size(), "raise_bp: 1000");
  const std::string v2 = s.dir.WriteFile("policy-v2.yaml", document);
  auto apply = s.Perfctl({"policy", "apply", v2, "--comment", "A raise 10 %"});
  INFO(apply.Describe());
  REQUIRE(apply.code() == 0);
  CHECK(apply.out.find("version 2") != std::string::npos);

  auto list = s.Perfctl({"policy", "list", "-o", "json"});
  REQUIRE(list.code() == 0);
  CHECK(nlohmann::json::parse(list.out)["policies"].size() == 2);
  auto diff = s.Perfctl({"policy", "diff", "1", "2"});
  INFO(diff.Describe());
  REQUIRE(diff.code() == 0);
  CHECK(HasLine(diff.out, '-', "\"raise_bp\": 1500"));
  CHECK(HasLine(diff.out, '+', "\"raise_bp\": 1000"));
  CHECK(!HasLine(diff.out, '-', "\"percent_of_monthly_bp\""));  // unchanged lines are context
  auto show = s.Perfctl({"policy", "show", "--version", "2"});
  INFO(show.Describe());
  CHECK(show.code() == 0);
  CHECK(show.out.find("sha256") != std::string::npos);

  // A new grade for another employee in the same cycle: E3 (base 5,200,000) at 1.0 %.
  auto metric = s.Perfctl({"metric", "record", "E3", "defect_rate", "1000", "--unit", "%",
                           "--source", "IoT", "--cycle", "2026H1", "--at", "2026-06-20T15:00:00Z"});
  INFO(metric.Describe());
  REQUIRE(metric.code() == 0);
  auto compute = s.Perfctl({"grade", "compute", "--cycle", "2026H1", "--employee", "E3", "--at",
                            "2026-06-30T13:00:00Z"});
  INFO(compute.Describe());
  REQUIRE(compute.code() == 0);
  CHECK(compute.out.find("policy version 2") != std::string::npos);
  WaitQuiescent(s.server.channel());
  const Facts after(s.Events());

  REQUIRE(after.grade.count("E3") == 1);
  CHECK(after.grade.at("E3").grade() == "A");
  CHECK(after.grade.at("E3").score_milli() == 1000);
  CHECK(after.grade.at("E3").policy_version() == 2);
  const auto raise = after.ActionsOf("E3", v1::ACTION_KIND_SALARY_ADJUSTMENT);
  REQUIRE(raise.size() == 1);
  CheckMoney(raise[0], 520000, 1000, "merit", "grades.A.raise");
  for (const auto& a : after.ActionsOf("E3")) {
    INFO(a.ShortDebugString());
    CHECK(a.policy_version() == 2);
  }
  CHECK(Kinds(after.ActionsOf("E3")) ==
        Sorted({v1::ACTION_KIND_SALARY_ADJUSTMENT, v1::ACTION_KIND_TRAINING,
                v1::ACTION_KIND_PROMOTION_NOMINATION}));
  CheckPromotion(after, "E3", "lead");

  // The earlier grades and their actions stand: version 1, nothing cancelled or re-issued.
  CHECK(after.cancelled.empty());
  CHECK(after.actions.size() == before.actions.size() + 3);
  for (const std::string& employee : kWorkers) {
    INFO(employee);
    CHECK(after.grade.at(employee).policy_version() == 1);
    for (const auto& a : after.ActionsOf(employee)) CHECK(a.policy_version() == 1);
  }
  const auto w11 = after.ActionsOf("W11", v1::ACTION_KIND_SALARY_ADJUSTMENT);
  REQUIRE(w11.size() == 1);
  CheckMoney(w11[0], 630000, 1500, "merit", "grades.A.raise");

  auto audit = s.Perfctl({"audit", "dry-run"});
  INFO(audit.Describe());
  CHECK(audit.code() == 0);
}

TEST_CASE("manufacturing: alert rules switched to max alert on one bad reading, once per "
          "excursion, late readings included", "[scenario][e2e]") {
  Loaded s;
  const Facts before(s.Events());

  // Version 2: both alert rules take the window's max instead of its mean. The windows built
  // under version 1 rebuild their candidates on their next observation.
  std::string document = ReadFile(kScenarioDir + "/policy.yaml");
  const size_t alerts = document.find("\nalerts:");
  REQUIRE(alerts != std::string::npos);
  for (size_t at = document.find("aggregate: mean", alerts); at != std::string::npos;
       at = document.find("aggregate: mean", at)) {
    document.replace(at, std::string("aggregate: mean").size(), "aggregate: max");
  }
  auto apply = s.Perfctl({"policy", "apply", s.dir.WriteFile("policy-max.yaml", document)});
  INFO(apply.Describe());
  REQUIRE(apply.code() == 0);

  // W11 (threshold 3 %, lower is better) had 1.4, 1.5 and 1.6 % in June: a mean of 2.0 % after
  // a 3.5 % reading would not alert, a max does. The rest of the excursion stays quiet; once
  // the 3.5 % has left the 30-day window a 1.0 % ends it, and 3.2 % starts a second one. A late
  // 5.0 % (July 1st, sent after July 22nd) lands inside the window of an excursion in progress.
  for (const auto& [value, at] : std::vector<std::pair<std::string, std::string>>{
           {"3500", "2026-06-20T15:00:00Z"},
           {"1000", "2026-06-21T15:00:00Z"},
           {"1000", "2026-07-21T15:00:00Z"},
           {"3200", "2026-07-22T15:00:00Z"},
           {"5000", "2026-07-01T15:00:00Z"},
           {"1000", "2026-08-10T15:00:00Z"}}) {
    auto metric = s.Perfctl({"metric", "record", "W11", "defect_rate", value, "--unit", "%",
                             "--source", "IoT", "--at", at});
    INFO(metric.Describe());
    REQUIRE(metric.code() == 0);
  }
  WaitQuiescent(s.server.channel());
  const Facts after(s.Events());

  std::vector<v1::ThresholdBreached> w11;
  for (const auto& a : after.alerts) {
    if (a.subject_id() == "W11") w11.push_back(a);
  }
  REQUIRE(w11.size() == 2);
  CHECK(w11[0].value_milli() == 3500);
  CHECK(w11[1].value_milli() == 3200);
  for (const auto& a : w11) {
    CHECK(a.rule_id() == "alerts.worker-defect-rate");
    CHECK(a.policy_version() == 2);
    CHECK(a.notify_employee_id() == "E3");
  }
  // Over the units, the max of 30 days of W11's first new reading (June 20th) is W21's 6.2 %:
  // PROD and HQ, which roll LINE2 up, cross 5 % for the first time under version 2; LINE2 was
  // in breach already under version 1 (same rule id, same excursion).
  std::set<std::string> units_before, units;
  for (const auto& a : before.alerts) {
    if (a.scope() == v1::OWNER_KIND_ORG_UNIT) units_before.insert(a.subject_id());
  }
  for (const auto& a : after.alerts) {
    if (a.scope() != v1::OWNER_KIND_ORG_UNIT || units_before.count(a.subject_id()) > 0) continue;
    units.insert(a.subject_id());
    CHECK(a.value_milli() == 6200);
    CHECK(a.policy_version() == 2);
  }
  CHECK(units_before == std::set<std::string>{"LINE2"});
  CHECK(units == std::set<std::string>{"PROD", "HQ"});
  CHECK(after.alerts.size() == before.alerts.size() + 4);

  auto audit = s.Perfctl({"audit", "dry-run"});
  INFO(audit.Describe());
  CHECK(audit.code() == 0);
}

// ---------------------------------------------------------------- the whole chain

TEST_CASE("manufacturing chain: lines alert the production manager, a failed plan opens an HR "
          "review, a dispute is resolved, a case is published", "[scenario][e2e]") {
  Loaded s(kScenarioDir + "/chain");
  INFO(s.load.Describe());
  const std::vector<v1::RecordedEvent> events = s.Events();
  const Facts facts(events);
  // LINE2's rate from its workers alerts the manager of PROD, above the lines.
  bool line_alert = false;
  for (const auto& a : facts.alerts) {
    if (a.subject_id() == "LINE2") line_alert = a.notify_employee_id() == "E2";
  }
  CHECK(line_alert);
  // W13's plan, with its goal, closed as failed: the exit review, caused by the closing.
  bool goals_set = false, closed_failed = false, dispute_resolved = false, published = false;
  for (const auto& e : events) {
    const v1::Event& ev = e.event();
    if (ev.has_pip_goals_set()) goals_set = ev.pip_goals_set().goal_ids_size() == 1;
    if (ev.has_pip_closed()) closed_failed = ev.pip_closed().outcome() == v1::PIP_OUTCOME_FAILED;
    if (ev.has_dispute_resolved()) {
      dispute_resolved = ev.dispute_resolved().dispute_id() == "DSP-W21-2026H1";
    }
    if (ev.has_case_published()) published = ev.case_published().case_id() == "CASE-W23-SETUP";
  }
  CHECK(goals_set);
  CHECK(closed_failed);
  CHECK(dispute_resolved);
  CHECK(published);
  size_t exit_reviews = 0;
  for (const auto& a : facts.ActionsOf("W13")) {
    if (a.kind() == v1::ACTION_KIND_HR_REVIEW) exit_reviews++;
  }
  CHECK(exit_reviews == 1);
  // The case is in line 2's feed; loading again appends nothing.
  CheckRun(s.Perfctl({"praise", "feed", "LINE2"}), {"CASE-W23-SETUP"});
  const uint64_t before = events.size();
  auto again = s.Perfctl({"scenario", "load", kScenarioDir + "/chain"});
  INFO(again.Describe());
  CHECK(again.code() == 0);
  WaitQuiescent(s.server.channel());
  CHECK(s.Events().size() == before);
}

// ---------------------------------------------------------------- fixed server bugs

// projections/views/distribution.cc records the policy version but never the policy's
// recommended_distribution, and projections/queries.cc QueryDistribution never sets
// recommended_bp: it is always 0, although views.proto promises "the policy's recommendation".
TEST_CASE("regression: distribution reports the policy's recommended shares", "[regression]") {
  Loaded s;
  auto views = v1::Views::NewStub(s.server.channel());
  v1::DistributionRequest request;
  request.set_cycle_id("2026H1");
  const auto distribution = Call(&v1::Views::Stub::GetDistribution, views.get(), request);
  INFO(distribution.ShortDebugString());
  std::map<std::string, uint32_t> recommended;
  for (const auto& g : distribution.grades()) recommended[g.grade()] = g.recommended_bp();
  CHECK(recommended == std::map<std::string, uint32_t>{{"A", 1000}, {"B", 6000}, {"C", 2500},
                                                      {"D", 500}});
}

// projections/queries.cc QueryCheckIns reads last_check_in_at from "l/<employee>" even when
// manager_id filters the entries, so days_since_last describes another manager's check-in.
TEST_CASE("regression: checkins with a manager filter report that pair's last check-in",
          "[regression]") {
  Loaded s;
  for (const auto& [manager, at] : std::vector<std::pair<std::string, std::string>>{
           {"E3", "2026-06-20T09:00:00Z"}, {"E2", "2026-06-01T09:00:00Z"}}) {
    auto out = s.Perfctl({"checkin", "record", "--employee", "W13", "--cycle", "2026H1",
                          "--manager", manager, "--at", at});
    INFO(out.Describe());
    REQUIRE(out.code() == 0);
  }
  WaitQuiescent(s.server.channel());
  auto views = v1::Views::NewStub(s.server.channel());
  v1::CheckInsRequest request;
  request.set_employee_id("W13");
  request.set_manager_id("E2");
  const auto answer = Call(&v1::Views::Stub::GetCheckIns, views.get(), request);
  INFO(answer.ShortDebugString());
  REQUIRE(answer.entries_size() == 1);
  CHECK(Text(answer.last_check_in_at()) == "2026-06-01T09:00:00Z");
}

#if defined(PERFLEDGER_SCENARIO_KAFKA) && PERFLEDGER_SCENARIO_KAFKA
// The conformance run's cross-check: the same scenario loaded on the embedded log and on Kafka.
// Views whose rows hold only business facts have equal digests. Six views also hold what
// differs between ANY two loads, whatever the backend: timeline stores each event's envelope
// (recorded_at, hashes, log position); pip, training and hooks key rows by log positions;
// payroll and training rows carry generated (random) event ids; event_index maps event ids
// (generated ones included) to positions. Their row counts must agree.
std::map<std::string, std::pair<std::string, uint64_t>> ViewDigests(
    const std::shared_ptr<grpc::Channel>& channel) {
  auto views = v1::Views::NewStub(channel);
  v1::ProjectionStatusRequest request;
  request.set_digests(true);
  const auto status = Call(&v1::Views::Stub::GetProjectionStatus, views.get(), request);
  std::map<std::string, std::pair<std::string, uint64_t>> out;
  for (const auto& v : status.views()) out[v.view()] = {v.digest(), v.rows()};
  return out;
}

TEST_CASE("manufacturing: the embedded log and Kafka fold the scenario into equal views",
          "[scenario][kafka]") {
  TempDir dir("manufacturing-both");
  std::map<std::string, std::pair<std::string, uint64_t>> digests[2];
  int i = 0;
  for (Backend backend : {Backend::kEmbedded, Backend::kKafka}) {
    Server server(dir, backend, backend == Backend::kKafka ? "kafka" : "embedded");
    server.Start();
    auto load = RunPerfctl(dir, server.address(), {"scenario", "load", kScenarioDir});
    INFO(load.Describe());
    REQUIRE(load.code() == 0);
    WaitQuiescent(server.channel());
    digests[i++] = ViewDigests(server.channel());
  }
  const std::set<std::string> per_load = {"timeline", "pip",   "payroll",
                                          "training", "hooks", "event_index"};
  REQUIRE(digests[0].size() >= 8);
  REQUIRE(digests[1].size() == digests[0].size());
  for (const auto& [view, embedded] : digests[0]) {
    INFO("view " << view);
    const auto& kafka = digests[1][view];
    CHECK(kafka.second == embedded.second);
    if (per_load.count(view) == 0) CHECK(kafka.first == embedded.first);
  }
}
#endif

}  // namespace
}  // namespace perfledger::scenario
