// Policies.ComputeGrades through the real server: a grade follows its inputs. A calibration
// overrides the metric; a re-run with the same inputs is unchanged and appends nothing; new
// inputs (a calibration, a late observation) regrade, superseding the current grade, whose
// actions are cancelled while the new grade's are issued.
#include "tests/integration/helpers.h"

#include "perfledger/v1/policies.grpc.pb.h"
#include "perfledger/v1/views.grpc.pb.h"
#include "tests/support/wait.h"

namespace perfledger::testing {
namespace {

struct Grading {
  TestServer server;
  std::unique_ptr<v1::Policies::Stub> policies = v1::Policies::NewStub(server.NewChannel());
  std::unique_ptr<v1::Views::Stub> views = v1::Views::NewStub(server.NewChannel());

  Grading() {
    SeedFixture(server);
    v1::PublishPolicyRequest publish;
    publish.set_document(kGradeActionsPolicy);  // defect_rate bands: A < 2 %, B < 3 %, C ≤ 5 %
    MustOk(server.Call(*policies, &v1::Policies::Stub::PublishPolicy, publish), "policy");
  }

  void Observe(const std::string& employee, int64_t value_milli) {
    MustOk(server.Call(server.metrics(), &v1::Metrics::Stub::ObserveMetric,
                       ObserveMetricReq(employee, value_milli)),
           "observe");
  }

  // employee → their ComputedGrade.
  std::map<std::string, v1::ComputedGrade> Compute(bool dry_run = false,
                                                   std::vector<std::string> only = {}) {
    v1::ComputeGradesRequest q;
    q.set_cycle_id(fx::kCycle);
    q.set_dry_run(dry_run);
    for (const auto& e : only) q.add_employee_ids(e);
    const auto r = MustOk(server.Call(*policies, &v1::Policies::Stub::ComputeGrades, q), "compute");
    std::map<std::string, v1::ComputedGrade> out;
    for (const auto& g : r.grades()) out[g.employee_id()] = g;
    return out;
  }

  // E1's payroll items by kind, once `ready` holds for them.
  std::map<v1::ActionKind, v1::PayrollItem> Payroll(
      const std::function<bool(const std::map<v1::ActionKind, v1::PayrollItem>&)>& ready) {
    std::map<v1::ActionKind, v1::PayrollItem> items;
    const bool ok = WaitUntil([&] {
      v1::ListPayrollItemsRequest q;
      q.set_employee_id(fx::kEmployee);
      const auto r = MustOk(server.Call(*views, &v1::Views::Stub::ListPayrollItems, q), "payroll");
      items.clear();
      for (const auto& i : r.items()) items[i.kind()] = i;
      return ready(items);
    });
    REQUIRE(ok);
    return items;
  }
};

TEST_CASE("grading: a grade follows its inputs", "[grading]") {
  Grading g;
  TestServer& s = g.server;
  g.Observe(fx::kEmployee, 2500);   // B
  g.Observe(fx::kEmployee2, 4000);  // C

  auto first = g.Compute();
  REQUIRE(first.size() == 2);
  CHECK(first[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_FINALIZED);
  CHECK(first[fx::kEmployee].grade() == "B");
  CHECK(first[fx::kEmployee2].grade() == "C");
  g.Payroll([](const auto& items) { return items.count(v1::ACTION_KIND_BONUS) == 1; });

  // The same inputs: unchanged, nothing appended.
  const uint64_t end = s.SettledLogEnd();
  auto again = g.Compute();
  CHECK(again[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_UNCHANGED);
  CHECK(again[fx::kEmployee].event_id() == first[fx::kEmployee].event_id());
  CHECK(again[fx::kEmployee2].outcome() == v1::GRADE_OUTCOME_UNCHANGED);
  CHECK(s.SettledLogEnd() == end);

  // A calibration overrides the metric: a dry run shows the regrade and appends nothing...
  MustOk(s.Call(s.reviews(), &v1::Reviews::Stub::AdjustCalibration,
                CalibrationReq(fx::kEmployee, 1800)),
         "calibrate");
  const uint64_t calibrated = s.SettledLogEnd();
  auto dry = g.Compute(/*dry_run=*/true);
  CHECK(dry[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_REGRADED);
  CHECK(dry[fx::kEmployee].grade() == "A");
  CHECK(dry[fx::kEmployee].supersedes_event_id() == first[fx::kEmployee].event_id());
  REQUIRE(dry[fx::kEmployee].inputs_size() == 1);
  CHECK(dry[fx::kEmployee].inputs(0).kind() == "calibration");
  CHECK(dry[fx::kEmployee2].outcome() == v1::GRADE_OUTCOME_UNCHANGED);
  CHECK(s.SettledLogEnd() == calibrated);
  // ... and the real run supersedes B with A: the bonus is withdrawn, the raise issued.
  auto regraded = g.Compute();
  CHECK(regraded[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_REGRADED);
  CHECK(regraded[fx::kEmployee].grade() == "A");
  CHECK(regraded[fx::kEmployee].event_id() != first[fx::kEmployee].event_id());
  const auto items = g.Payroll([](const auto& items) {
    return items.count(v1::ACTION_KIND_SALARY_ADJUSTMENT) == 1 &&
           items.count(v1::ACTION_KIND_BONUS) == 1 &&
           items.at(v1::ACTION_KIND_BONUS).state() == v1::PAYROLL_STATE_CANCELLED;
  });
  CHECK(items.at(v1::ACTION_KIND_SALARY_ADJUSTMENT).state() == v1::PAYROLL_STATE_PENDING);
  CHECK(g.Compute()[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_UNCHANGED);

  // A late observation changes E2's mean (4000, 1000 → 2500): C becomes B. The calibration
  // still decides E1.
  g.Observe(fx::kEmployee2, 1000);
  g.Observe(fx::kEmployee, 9000);
  auto late = g.Compute();
  CHECK(late[fx::kEmployee2].outcome() == v1::GRADE_OUTCOME_REGRADED);
  CHECK(late[fx::kEmployee2].grade() == "B");
  // The metric input says what it aggregates, so an auditor can rebuild the mean.
  REQUIRE(late[fx::kEmployee2].inputs_size() == 1);
  const v1::GradeInput& metric = late[fx::kEmployee2].inputs(0);
  CHECK(metric.kind() == "metric:defect_rate");
  CHECK(metric.value_milli() == 2500);
  CHECK(metric.count() == 2);
  CHECK(metric.sum_milli() == 5000);
  CHECK(metric.min_milli() == 1000);
  CHECK(metric.max_milli() == 4000);
  CHECK(late[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_UNCHANGED);
  CHECK(late[fx::kEmployee].grade() == "A");

  // Someone without inputs, named explicitly, is skipped with the reason (the call succeeds).
  auto named = g.Compute(false, {fx::kEmployee, fx::kManager});
  CHECK(named[fx::kManager].outcome() == v1::GRADE_OUTCOME_SKIPPED);
  CHECK(named[fx::kManager].skipped_reason().find("no observations of defect_rate") !=
        std::string::npos);
  CHECK(named[fx::kEmployee].outcome() == v1::GRADE_OUTCOME_UNCHANGED);
}

TEST_CASE("grading: a calibration grades someone who was never observed", "[grading]") {
  Grading g;
  MustOk(g.server.Call(g.server.reviews(), &v1::Reviews::Stub::AdjustCalibration,
                       CalibrationReq(fx::kEmployee2, 4500)),
         "calibrate");
  auto grades = g.Compute();
  REQUIRE(grades.count(fx::kEmployee2) == 1);
  CHECK(grades[fx::kEmployee2].outcome() == v1::GRADE_OUTCOME_FINALIZED);
  CHECK(grades[fx::kEmployee2].grade() == "C");
}

}  // namespace
}  // namespace perfledger::testing
