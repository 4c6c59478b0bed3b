// Alert rules through the real server: a window over the cycle's observations, and targets
// beyond the subject's manager (the parent unit's manager, a role).
#include "tests/integration/helpers.h"

#include "perfledger/v1/policies.grpc.pb.h"
#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

// ORG4 (a line under ORG2, whose manager is M1) is managed by E2.
constexpr char kPolicy[] = R"(policy_id: lines
grading:
  method: metric_bands
  metric: defect_rate
  direction: lower_is_better
  bands:
    - {grade: A, at_most_milli: 3000}
    - {grade: B}
alerts:
  - id: line-over-5
    metric: line_defect_rate
    scope: org_unit
    window: cycle
    threshold_milli: 5000
    direction: lower_is_better
    notify: parent_unit_manager
  - id: line-over-8-hr
    metric: line_defect_rate
    scope: org_unit
    window: {rolling_days: 30}
    aggregate: max
    threshold_milli: 8000
    direction: lower_is_better
    notify: role:hr
)";

v1::ObserveMetricRequest LineObs(int64_t value_milli, bool in_cycle = true) {
  v1::ObserveMetricRequest r;
  v1::Observation& o = *r.mutable_observation();
  o.set_subject_id("ORG4");
  o.set_subject_kind(v1::OWNER_KIND_ORG_UNIT);
  o.set_metric("line_defect_rate");
  o.set_value_milli(value_milli);
  if (in_cycle) o.set_cycle_id(fx::kCycle);
  return r;
}

TEST_CASE("alerts: a cycle window over a line, the parent unit's manager and a role notified",
          "[alerts]") {
  TestServer s;
  SeedFixture(s);
  MustOk(s.Call(s.people(), &v1::People::Stub::DefineOrgUnit,
                DefineOrgUnitReq("ORG4", fx::kSubOrg, fx::kEmployee2)),
         "ORG4");
  auto policies = v1::Policies::NewStub(s.NewChannel());
  v1::PublishPolicyRequest publish;
  publish.set_document(kPolicy);
  MustOk(s.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");

  auto alerts = [&](size_t n) {
    std::vector<v1::ThresholdBreached> out;
    const bool ok = WaitUntil([&] {
      out.clear();
      // ORG4's alerts (its observations roll up to ORG2 and ORG1 too, each alerting alike).
      for (const auto& e : EventsOfType(s.ReadAllEvents(), "ThresholdBreached")) {
        if (e.event().threshold_breached().subject_id() != "ORG4") continue;
        out.push_back(e.event().threshold_breached());
      }
      return out.size() >= n;
    });
    INFO(out.size() << " alerts");
    REQUIRE(ok);
    CHECK(out.size() == n);
    return out;
  };
  // The cycle's mean: 4000, then (4000 + 7000) / 2 = 5500 > 5 %: one alert, to M1 (the manager
  // of ORG2, ORG4's parent). An observation outside any cycle does not count for it.
  for (int64_t v : {4000, 7000}) {
    MustOk(s.Call(s.metrics(), &v1::Metrics::Stub::ObserveMetric, LineObs(v)), "observe");
  }
  MustOk(s.Call(s.metrics(), &v1::Metrics::Stub::ObserveMetric, LineObs(20, false)), "no cycle");
  auto first = alerts(1);
  CHECK(first[0].rule_id() == "alerts.line-over-5");
  CHECK(first[0].notify_employee_id() == fx::kManager);
  CHECK(first[0].cycle_id() == fx::kCycle);
  CHECK(first[0].value_milli() == 5500);
  // Back under (3000: mean 4666), then over again (9000: mean 5750): a second excursion. The
  // 9000 reading is also over 8 % at its max within 30 days: hr is told, by role.
  for (int64_t v : {3000, 9000}) {
    MustOk(s.Call(s.metrics(), &v1::Metrics::Stub::ObserveMetric, LineObs(v)), "observe");
  }
  auto all = alerts(3);
  size_t cycle_alerts = 0;
  bool hr = false;
  for (const auto& a : all) {
    if (a.rule_id() == "alerts.line-over-5") cycle_alerts++;
    if (a.rule_id() == "alerts.line-over-8-hr") {
      hr = a.notify_role() == v1::ROLE_HR && a.notify_employee_id().empty() &&
           a.value_milli() == 9000;
    }
  }
  CHECK(cycle_alerts == 2);
  CHECK(hr);
}

}  // namespace
}  // namespace perfledger::testing
