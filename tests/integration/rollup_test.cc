// Metric roll-ups through the real server: a line's rate from its workers' observations
// (Σ numerators / Σ denominators), a move mid-cycle, unit alerts and unit rankings on the
// roll-up, the explanation of a metric grade down to each observation, and bad denominators.
#include "tests/integration/helpers.h"

#include "perfledger/v1/audit.grpc.pb.h"
#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

// PLANT (managed by M1) holds LINE1 (managed by E2) and LINE2; W1, W2 work on LINE1, W3 on
// LINE2.
constexpr char kPolicy[] = R"(policy_id: lines
grading:
  method: metric_bands
  metric: defect_rate
  direction: lower_is_better
  bands:
    - {grade: A, at_most_milli: 3000}
    - {grade: B}
metrics:
  defect_rate: {rollup: ratio, direction: lower_is_better}
alerts:
  - id: line-over-5
    metric: defect_rate
    scope: org_unit
    window: cycle
    threshold_milli: 5000
    direction: lower_is_better
    notify: parent_unit_manager
)";

v1::Observation Rate(const std::string& worker, int64_t rate_milli, int64_t inspected) {
  v1::Observation o = Obs(worker, rate_milli);
  o.set_denominator(inspected);
  return o;
}

struct Lines {
  TestServer s;
  std::unique_ptr<v1::Views::Stub> views = v1::Views::NewStub(s.NewChannel());
  std::unique_ptr<v1::Policies::Stub> policies = v1::Policies::NewStub(s.NewChannel());
  std::unique_ptr<v1::Audit::Stub> audit = v1::Audit::NewStub(s.NewChannel());

  Lines() {
    SeedFixture(s);
    MustOk(s.Call(s.people(), &v1::People::Stub::DefineOrgUnit,
                  DefineOrgUnitReq("PLANT", fx::kOrg, fx::kManager)), "PLANT");
    MustOk(s.Call(s.people(), &v1::People::Stub::DefineOrgUnit,
                  DefineOrgUnitReq("LINE1", "PLANT", fx::kEmployee2)), "LINE1");
    MustOk(s.Call(s.people(), &v1::People::Stub::DefineOrgUnit,
                  DefineOrgUnitReq("LINE2", "PLANT")), "LINE2");
    for (const auto& [w, line] : std::vector<std::pair<std::string, std::string>>{
             {"W1", "LINE1"}, {"W2", "LINE1"}, {"W3", "LINE2"}}) {
      MustOk(s.Call(s.people(), &v1::People::Stub::RegisterEmployee,
                    RegisterEmployeeReq(w, line)), w);
    }
    v1::PublishPolicyRequest publish;
    publish.set_document(kPolicy);
    MustOk(s.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");
  }

  v1::CommandResult Observe(std::vector<v1::Observation> obs) {
    v1::ObserveMetricsRequest r;
    for (auto& o : obs) *r.add_observations() = std::move(o);
    return MustOk(s.Call(s.metrics(), &v1::Metrics::Stub::ObserveMetrics, r), "observe");
  }

  v1::UnitRankingResponse Ranking(const v1::CommandResult& after, const std::string& parent) {
    v1::UnitRankingRequest q;
    q.set_cycle_id(fx::kCycle);
    q.set_metric("defect_rate");
    q.set_parent_org_unit_id(parent);
    for (const auto& e : after.events()) *q.mutable_consistency()->add_min_position() = e.position();
    return MustOk(s.Call(*views, &v1::Views::Stub::GetUnitRanking, q), "unit ranking");
  }

  std::vector<v1::ThresholdBreached> Alerts(const std::string& unit) {
    std::vector<v1::ThresholdBreached> out;
    for (const auto& e : EventsOfType(s.ReadAllEvents(), "ThresholdBreached")) {
      if (e.event().threshold_breached().subject_id() == unit) {
        out.push_back(e.event().threshold_breached());
      }
    }
    return out;
  }
};

const v1::UnitRankingEntry* Entry(const v1::UnitRankingResponse& r, const std::string& unit) {
  for (const auto& e : r.entries()) {
    if (e.org_unit_id() == unit) return &e;
  }
  return nullptr;
}

TEST_CASE("rollup: a line's rate is its workers' defects over parts inspected", "[rollup]") {
  Lines l;
  // LINE1: 3 % of 100 and 10 % of 20 = (3 + 2) / 120 = 4.167 %, under 5 % (a mean of the two
  // rates, 6.5 %, would be over). LINE2: 1 % of 50. PLANT: 5.5 / 170 = 3.235 %.
  v1::CommandResult r =
      l.Observe({Rate("W1", 3000, 100), Rate("W2", 10000, 20), Rate("W3", 1000, 50)});
  v1::UnitRankingResponse lines = l.Ranking(r, "PLANT");
  REQUIRE(lines.entries_size() == 2);
  CHECK(lines.rollup() == "ratio");
  CHECK(lines.direction() == v1::DIRECTION_LOWER_IS_BETTER);
  // Lower is better: LINE2 first.
  CHECK(lines.entries(0).org_unit_id() == "LINE2");
  CHECK(lines.entries(0).rank() == 1);
  CHECK(lines.entries(0).value_milli() == 1000);
  CHECK(lines.entries(1).org_unit_id() == "LINE1");
  CHECK(lines.entries(1).value_milli() == 4167);
  CHECK(lines.entries(1).count() == 2);
  CHECK(lines.entries(1).weight() == 120);
  CHECK(lines.entries(1).people() == 2);
  v1::UnitRankingResponse all = l.Ranking(r, "");
  const v1::UnitRankingEntry* plant = Entry(all, "PLANT");
  REQUIRE(plant != nullptr);
  CHECK(plant->value_milli() == 3235);
  CHECK(plant->people() == 3);
  CHECK(Entry(all, fx::kOrg) != nullptr);  // the root counts everyone below it
  CHECK(l.Alerts("LINE1").empty());

  // Another 10 % of 100 on W2: (3 + 2 + 10) / 220 = 6.818 % > 5 %: the line alerts the
  // production manager (M1, manager of PLANT, LINE1's parent). PLANT: 15.5 / 270 = 5.741 %,
  // over too, with an alert of its own.
  r = l.Observe({Rate("W2", 10000, 100)});
  REQUIRE(WaitUntil([&] { return !l.Alerts("LINE1").empty(); }));
  const auto line_alerts = l.Alerts("LINE1");
  REQUIRE(line_alerts.size() == 1);
  CHECK(line_alerts[0].value_milli() == 6818);
  CHECK(line_alerts[0].notify_employee_id() == fx::kManager);
  CHECK(line_alerts[0].scope() == v1::OWNER_KIND_ORG_UNIT);
  CHECK(l.Alerts("LINE2").empty());
  CHECK(l.Ranking(r, "PLANT").entries(1).value_milli() == 6818);
  REQUIRE(WaitUntil([&] { return l.Alerts("PLANT").size() == 1; }));
  CHECK(l.Alerts("PLANT")[0].value_milli() == 5741);
  CHECK(l.Alerts("PLANT")[0].alert_id() != line_alerts[0].alert_id());
}

TEST_CASE("rollup: a move mid-cycle splits a worker's contribution", "[rollup]") {
  Lines l;
  l.Observe({Rate("W3", 8000, 100)});  // on LINE2
  v1::UpdateEmployeeRequest move;
  move.set_employee_id("W3");
  move.add_update_mask("org_unit_id");
  move.set_org_unit_id("LINE1");
  move.set_reason("moved to line 1");
  MustOk(l.s.Call(l.s.people(), &v1::People::Stub::UpdateEmployee, move), "move");
  v1::CommandResult r = l.Observe({Rate("W3", 2000, 100)});  // on LINE1 now
  v1::UnitRankingResponse lines = l.Ranking(r, "PLANT");
  REQUIRE(Entry(lines, "LINE1") != nullptr);
  REQUIRE(Entry(lines, "LINE2") != nullptr);
  CHECK(Entry(lines, "LINE1")->value_milli() == 2000);
  CHECK(Entry(lines, "LINE2")->value_milli() == 8000);
  // The plant holds both: (8 + 2) / 200.
  CHECK(Entry(l.Ranking(r, ""), "PLANT")->value_milli() == 5000);
}

TEST_CASE("rollup: observations made of a unit still count, for it and its ancestors",
          "[rollup]") {
  Lines l;
  v1::Observation direct = Obs("LINE2", 7000);
  direct.set_subject_kind(v1::OWNER_KIND_ORG_UNIT);
  v1::CommandResult r = l.Observe({direct, Rate("W3", 1000, 1)});
  // LINE2: (7 + 1) / 2 (the direct observation weighs 1, like the worker's here).
  CHECK(Entry(l.Ranking(r, "PLANT"), "LINE2")->value_milli() == 4000);
  CHECK(Entry(l.Ranking(r, ""), "PLANT")->value_milli() == 4000);
}

TEST_CASE("rollup: a denominator of 0 or below is INVALID_ARGUMENT naming it; nothing written",
          "[rollup]") {
  Lines l;
  const uint64_t end = l.s.LogEnd();
  for (int64_t bad : {int64_t{0}, int64_t{-5}}) {
    v1::ObserveMetricsRequest req;
    *req.add_observations() = Rate("W1", 3000, 100);
    *req.add_observations() = Rate("W2", 3000, bad);
    RequireError(l.s.Call(l.s.metrics(), &v1::Metrics::Stub::ObserveMetrics, req),
                 grpc::StatusCode::INVALID_ARGUMENT, "observations[1].denominator");
  }
  CHECK(l.s.LogEnd() == end);
}

TEST_CASE("rollup: explain of a metric grade lists every observation it counted",
          "[rollup][explain]") {
  Lines l;
  std::vector<v1::Observation> obs;
  int64_t sum = 0;
  for (int i = 0; i < 250; i++) {
    obs.push_back(Obs("W1", 1000 + i));
    sum += 1000 + i;
  }
  l.Observe(obs);
  v1::ComputeGradesRequest compute;
  compute.set_cycle_id(fx::kCycle);
  compute.add_employee_ids("W1");
  auto graded = MustOk(l.s.Call(*l.policies, &v1::Policies::Stub::ComputeGrades, compute),
                       "compute");
  REQUIRE(graded.grades_size() == 1);
  const std::string grade_id = graded.grades(0).event_id();
  REQUIRE(!grade_id.empty());
  // An observation after the grade is not among those it counted.
  l.Observe({Obs("W1", 9000)});

  v1::ExplainRequest q;
  q.set_grade_event_id(grade_id);
  v1::ExplainResponse explained;
  REQUIRE(WaitUntil([&] {
    auto reply = l.s.Call(*l.audit, &v1::Audit::Stub::Explain, q);
    if (!reply.status.ok()) return false;
    explained = reply.response;
    return true;
  }));
  REQUIRE(explained.steps_size() >= 3);
  CHECK(explained.steps(0).role() == "grade");
  CHECK(explained.steps(0).rule() == "grading.bands[0] A: at_most_milli 3000");
  const v1::ExplainStep* metric = nullptr;
  bool policy = false;
  for (const auto& step : explained.steps()) {
    if (step.role() == "input" && step.has_observations()) metric = &step;
    policy = policy || step.role() == "policy";
  }
  CHECK(policy);
  REQUIRE(metric != nullptr);
  const v1::ObservationSet& set = metric->observations();
  CHECK(set.count() == 250);
  CHECK(set.first_size() == 100);
  REQUIRE(!set.next_page_token().empty());
  // Listing them all, page by page up to `through`, rebuilds the grade's sum.
  v1::ListObservationsRequest list;
  list.set_employee_id("W1");
  list.set_cycle_id(fx::kCycle);
  list.set_metric("defect_rate");
  *list.mutable_through() = set.through();
  list.set_page_size(100);
  int64_t listed_sum = 0;
  size_t listed = 0;
  do {
    auto page = MustOk(l.s.Call(*l.audit, &v1::Audit::Stub::ListObservations, list), "list");
    for (const auto& o : page.observations()) {
      listed_sum += o.value_milli();
      listed++;
    }
    list.set_page_token(page.next_page_token());
  } while (!list.page_token().empty());
  CHECK(listed == 250);
  CHECK(listed_sum == sum);
  const auto& input = explained.steps(0).event().event().grade_finalized().inputs(0);
  CHECK(input.sum_milli() == sum);
  CHECK(input.count() == 250);
}

}  // namespace
}  // namespace perfledger::testing
