// ComputeGrade, ActionsForGrade, follow-ups, PIP outcomes and alerts, against the reference
// scenario of ARCHITECTURE §6 (deploy/examples/manufacturing/policy.yaml) and small policies.
#include <fstream>
#include <random>
#include <set>
#include <sstream>
#include <string>

#include <catch2/catch.hpp>

#include "ledger/policy.h"
#include "ledger/policy_eval.h"

namespace perfledger::policy {
namespace {

Policy Manufacturing() {
  std::ifstream in(std::string(PERFLEDGER_SOURCE_DIR) +
                   "/deploy/examples/manufacturing/policy.yaml");
  std::stringstream ss;
  ss << in.rdbuf();
  absl::StatusOr<Policy> p = ParsePolicy(ss.str());
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  return *p;
}

Policy Parse(const std::string& text) {
  absl::StatusOr<Policy> p = ParsePolicy(text);
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  return *p;
}

const Policy& Weighted() {
  static const Policy p = Parse(R"(policy_id: office
grading:
  method: weighted_scores
  weights: {manager: 6000, goals: 3000, self: 1000}
  bands:
    - {grade: A, min_score_milli: 4500}
    - {grade: B, min_score_milli: 3500}
    - {grade: C, min_score_milli: 2500}
    - {grade: D}
actions:
  A:
    merit_matrix:
      - {compa_ratio_below_bp: 9000, raise_bp: 1000}
      - {compa_ratio_below_bp: 11000, raise_bp: 600}
      - {raise_bp: 300}
    promotion: {nominate_to: senior, consecutive_cycles: 2}
)");
  return p;
}

google::protobuf::Timestamp Ts(int64_t seconds) {
  google::protobuf::Timestamp t;
  t.set_seconds(seconds);
  return t;
}

constexpr int64_t kDay = 86'400;
const google::protobuf::Timestamp kGradeTime = Ts(1'780'000'000);

v1::GradeFinalized Grade(const std::string& grade, int64_t base = 4'200'000,
                         int64_t midpoint = 0) {
  v1::GradeFinalized g;
  g.set_employee_id("E1042");
  g.set_cycle_id("2026H1");
  g.set_grade(grade);
  g.set_org_unit_id("line-3");
  g.set_manager_id("M7");
  g.set_job_level("worker");
  g.mutable_base_salary()->set_amount_minor(base);
  g.mutable_base_salary()->set_currency("EUR");
  if (midpoint > 0) {
    g.mutable_band_midpoint()->set_amount_minor(midpoint);
    g.mutable_band_midpoint()->set_currency("EUR");
  }
  return g;
}

std::string Param(const v1::ActionTriggered& a, const std::string& key) {
  for (const auto& p : a.parameters()) {
    if (p.key() == key) return p.value();
  }
  return "<none>";
}

InputScore In(int64_t v, std::string id = "") { return InputScore{v, std::move(id)}; }

// ---------------------------------------------------------------- grading

TEST_CASE("policy: metric bands grade the manufacturing defect rate at the boundaries",
          "[policy][grade]") {
  const Policy p = Manufacturing();
  auto grade_of = [&](int64_t rate) {
    GradeInputs in;
    in.metric = In(rate, "obs-1");
    absl::StatusOr<GradeDecision> d = ComputeGrade(p, in);
    REQUIRE(d.ok());
    CHECK(d->score_milli == rate);
    return d->grade;
  };
  CHECK(grade_of(0) == "A");
  CHECK(grade_of(1999) == "A");
  CHECK(grade_of(2000) == "B");  // exactly 2 % is not under 2 %
  CHECK(grade_of(2999) == "B");
  CHECK(grade_of(3000) == "C");
  CHECK(grade_of(5000) == "C");  // D is *over* 5 %
  CHECK(grade_of(5001) == "D");
  CHECK(grade_of(100'000) == "D");

  SECTION("inputs recorded for GradeFinalized") {
    GradeInputs in;
    in.metric = In(2500, "obs-9");
    absl::StatusOr<GradeDecision> d = ComputeGrade(p, in);
    REQUIRE(d.ok());
    REQUIRE(d->inputs.size() == 1);
    CHECK(d->inputs[0].kind() == "metric:defect_rate");
    CHECK(d->inputs[0].event_id() == "obs-9");
    CHECK(d->inputs[0].value_milli() == 2500);
    CHECK(d->inputs[0].weight_bp() == 10000);
  }
  SECTION("missing metric") {
    absl::StatusOr<GradeDecision> d = ComputeGrade(p, GradeInputs{});
    CHECK(d.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK(d.status().message() == "no defect_rate metric");
  }
  SECTION("calibration overrides the metric") {
    GradeInputs in;
    in.metric = In(6000);
    in.calibration = In(1500, "cal-1");
    absl::StatusOr<GradeDecision> d = ComputeGrade(p, in);
    REQUIRE(d.ok());
    CHECK(d->grade == "A");
    CHECK(d->calibrated);
    REQUIRE(d->inputs.size() == 1);
    CHECK(d->inputs[0].kind() == "calibration");
  }
}

TEST_CASE("policy: higher_is_better metric bands", "[policy][grade]") {
  const Policy p = Parse(R"(policy_id: sales
grading:
  method: metric_bands
  metric: revenue
  direction: higher_is_better
  aggregate: last
  bands:
    - {grade: A, at_least_milli: 100000}
    - {grade: B, at_least_milli: 50000}
)");
  auto grade_of = [&](int64_t v) -> absl::StatusOr<GradeDecision> {
    GradeInputs in;
    in.metric = In(v);
    return ComputeGrade(p, in);
  };
  CHECK(grade_of(100000)->grade == "A");
  CHECK(grade_of(99999)->grade == "B");
  CHECK(grade_of(50000)->grade == "B");
  // No catch-all band: a value below every band is the policy's gap, not a grade.
  CHECK(grade_of(49999).status().code() == absl::StatusCode::kFailedPrecondition);
  CHECK_THAT(std::string(grade_of(49999).status().message()),
             Catch::Contains("falls in no band"));
}

TEST_CASE("policy: weighted scores", "[policy][grade]") {
  const Policy& p = Weighted();
  GradeInputs in;
  in.manager = In(4000, "s-m");
  in.goals = In(5000, "s-g");
  in.self = In(4500, "s-s");
  in.peer = In(100);  // not weighted: ignored
  // 0.6 × 4000 + 0.3 × 5000 + 0.1 × 4500 = 2400 + 1500 + 450 = 4350 -> B
  absl::StatusOr<GradeDecision> d = ComputeGrade(p, in);
  REQUIRE(d.ok());
  CHECK(d->score_milli == 4350);
  CHECK(d->grade == "B");
  CHECK_FALSE(d->calibrated);
  REQUIRE(d->inputs.size() == 3);
  CHECK(d->inputs[0].kind() == "manager");
  CHECK(d->inputs[0].weight_bp() == 6000);
  CHECK(d->inputs[0].event_id() == "s-m");
  CHECK(d->inputs[1].kind() == "self");
  CHECK(d->inputs[2].kind() == "goals");

  SECTION("boundary: exactly the minimum is in the band") {
    in.manager = In(4500);
    in.goals = In(4500);
    in.self = In(4500);
    CHECK(ComputeGrade(p, in)->grade == "A");
    in.self = In(4494);  // 4499.4 -> 4499
    CHECK(ComputeGrade(p, in)->score_milli == 4499);
    CHECK(ComputeGrade(p, in)->grade == "B");
    in.self = In(4495);  // 4499.5 -> 4500 (half away from zero)
    CHECK(ComputeGrade(p, in)->score_milli == 4500);
    CHECK(ComputeGrade(p, in)->grade == "A");
  }
  SECTION("missing input") {
    in.manager.reset();
    absl::StatusOr<GradeDecision> e = ComputeGrade(p, in);
    CHECK(e.status().code() == absl::StatusCode::kFailedPrecondition);
    CHECK_THAT(std::string(e.status().message()), Catch::StartsWith("no manager score"));
  }
  SECTION("calibration without a weight overrides; other inputs not required") {
    GradeInputs cal;
    cal.calibration = In(2600, "cal-1");
    absl::StatusOr<GradeDecision> c = ComputeGrade(p, cal);
    REQUIRE(c.ok());
    CHECK(c->grade == "C");
    CHECK(c->score_milli == 2600);
    CHECK(c->calibrated);
  }
  SECTION("out-of-range input") {
    in.manager = In(2'000'000);
    CHECK(ComputeGrade(p, in).status().code() == absl::StatusCode::kInvalidArgument);
  }
}

TEST_CASE("policy: calibration as a weighted input", "[policy][grade]") {
  const Policy p = Parse(R"(policy_id: cal
grading:
  method: weighted_scores
  weights: {manager: 5000, calibration: 5000}
  bands: [{grade: A, min_score_milli: 3000}, {grade: B}]
)");
  GradeInputs in;
  in.manager = In(2000);
  CHECK(ComputeGrade(p, in).status().message() ==
        "no calibration score (the policy weighs it 5000 bp)");
  in.calibration = In(4001);
  absl::StatusOr<GradeDecision> d = ComputeGrade(p, in);
  REQUIRE(d.ok());
  CHECK(d->score_milli == 3001);  // 3000.5 -> 3001
  CHECK(d->grade == "A");
  CHECK_FALSE(d->calibrated);
}

TEST_CASE("policy: property: the grade is monotone in the score", "[policy][grade][property]") {
  std::mt19937_64 rng(20260601);  // fixed seed: a failure reproduces
  std::uniform_int_distribution<int64_t> score(0, 5000);
  const Policy& w = Weighted();
  auto weighted = [&](int64_t m, int64_t g, int64_t s) {
    GradeInputs in;
    in.manager = In(m);
    in.goals = In(g);
    in.self = In(s);
    absl::StatusOr<GradeDecision> d = ComputeGrade(w, in);
    REQUIRE(d.ok());
    return std::make_pair(d->score_milli, *w.GradeRank(d->grade));
  };
  for (int i = 0; i < 2000; i++) {
    const int64_t m = score(rng), g = score(rng), s = score(rng);
    const int64_t bump = score(rng) % 500;
    // Raising any one input never lowers the score, and a higher score never gets a worse
    // grade (a larger rank).
    const auto base = weighted(m, g, s);
    for (const auto& higher : {weighted(m + bump, g, s), weighted(m, g + bump, s),
                               weighted(m, g, s + bump)}) {
      CHECK(higher.first >= base.first);
      CHECK(higher.second <= base.second);
    }
  }
  const Policy mf = Manufacturing();
  std::uniform_int_distribution<int64_t> rate(0, 10'000);
  for (int i = 0; i < 2000; i++) {
    int64_t a = rate(rng), b = rate(rng);
    if (a > b) std::swap(a, b);
    GradeInputs ia, ib;
    ia.metric = In(a);
    ib.metric = In(b);
    // Lower is better: the lower rate never gets the worse grade.
    CHECK(*mf.GradeRank(ComputeGrade(mf, ia)->grade) <= *mf.GradeRank(ComputeGrade(mf, ib)->grade));
  }
}

// ---------------------------------------------------------------- integer math

TEST_CASE("policy: rounding is half away from zero and happens once", "[policy][math]") {
  CHECK(DivRound(5, 2) == 3);
  CHECK(DivRound(-5, 2) == -3);
  CHECK(DivRound(4, 3) == 1);
  CHECK(DivRound(-4, 3) == -1);
  CHECK(DivRound(5, 3) == 2);
  CHECK(DivRound(-5, 3) == -2);
  CHECK(DivRound(0, 7) == 0);
  CHECK(DivRound(static_cast<__int128>(INT64_MAX) * 4, 2) == INT64_MAX);  // saturates
  CHECK(ApplyBasisPoints(1, 5000) == 1);     // 0.5 -> 1
  CHECK(ApplyBasisPoints(-1, 5000) == -1);   // -0.5 -> -1
  CHECK(ApplyBasisPoints(3, 5000) == 2);     // 1.5 -> 2
  CHECK(ApplyBasisPoints(1, 4999) == 0);     // 0.4999 -> 0
  CHECK(ApplyBasisPoints(12'345, 1500) == 1852);  // 1851.75
  CHECK(ApplyBasisPoints(int64_t{1} << 50, 10'000) == int64_t{1} << 50);  // no overflow
  // base / 12 × bp is rounded once: 100 / 12 × 50 % = 4.1666.. -> 4 (rounding 8.33 first
  // and then halving would give the same here, but 1 / 12 × 600 % = 0.5 -> 1, not 0).
  CHECK(MonthlyBasisPoints(100, 5000) == 4);
  CHECK(MonthlyBasisPoints(1, 60'000) == 1);
  CHECK(MonthlyBasisPoints(4'200'000, 2000) == 70'000);
  const int64_t values[] = {1, 2};
  CHECK(AggregateValues(Aggregate::kMean, values) == 2);  // 1.5 -> 2
  const int64_t negatives[] = {-1, -2};
  CHECK(AggregateValues(Aggregate::kMean, negatives) == -2);
  CHECK(AggregateValues(Aggregate::kMax, values) == 2);
  CHECK(AggregateValues(Aggregate::kMin, values) == 1);
  CHECK(AggregateValues(Aggregate::kLast, values) == 2);
  CHECK_FALSE(AggregateValues(Aggregate::kMean, {}).has_value());
}

// ---------------------------------------------------------------- actions of a grade

TEST_CASE("policy: actions for each grade of the manufacturing policy", "[policy][actions]") {
  const Policy p = Manufacturing();
  const std::string ev = "grade-evt-1";

  auto common = [&](const v1::ActionTriggered& a, const std::string& rule) {
    CHECK(a.rule_id() == rule);
    CHECK(a.action_id() == ActionId(ev, rule));
    CHECK(a.action_id().size() == 32);
    CHECK(a.employee_id() == "E1042");
    CHECK(a.cycle_id() == "2026H1");
    CHECK(a.org_unit_id() == "line-3");
    CHECK(a.manager_id() == "M7");
    CHECK(a.policy_version() == 3);
    REQUIRE(a.cause_event_ids_size() == 1);
    CHECK(a.cause_event_ids(0) == ev);
    CHECK(a.effective_at().seconds() == kGradeTime.seconds());
  };

  SECTION("A: 15 % raise, quality-control training, team-lead nomination") {
    auto acts = ActionsForGrade(p, 3, ev, Grade("A"), {}, kGradeTime);
    REQUIRE(acts.size() == 3);
    common(acts[0], "grades.A.raise");
    CHECK(acts[0].kind() == v1::ACTION_KIND_SALARY_ADJUSTMENT);
    CHECK(acts[0].amount().amount_minor() == 630'000);  // 4,200,000 × 15 %
    CHECK(acts[0].amount().currency() == "EUR");
    CHECK(acts[0].percent_bp() == 1500);
    CHECK(acts[0].reason_code() == "merit");
    common(acts[1], "grades.A.training.quality-control");
    CHECK(acts[1].kind() == v1::ACTION_KIND_TRAINING);
    CHECK(acts[1].course_id() == "quality-control");
    common(acts[2], "grades.A.promotion");
    CHECK(acts[2].kind() == v1::ACTION_KIND_PROMOTION_NOMINATION);
    CHECK(Param(acts[2], "nominate_to") == "team-lead");
    CHECK(Param(acts[2], "from_job_level") == "worker");
  }
  SECTION("B: quality bonus of 20 % of monthly pay, operation-skills training") {
    auto acts = ActionsForGrade(p, 3, ev, Grade("B"), {}, kGradeTime);
    REQUIRE(acts.size() == 2);
    common(acts[0], "grades.B.bonus");
    CHECK(acts[0].kind() == v1::ACTION_KIND_BONUS);
    CHECK(acts[0].amount().amount_minor() == 70'000);  // 4,200,000 / 12 × 20 %
    CHECK(acts[0].percent_bp() == 2000);
    CHECK(acts[0].reason_code() == "quality-bonus");
    common(acts[1], "grades.B.training.operation-skills");
    CHECK(acts[1].course_id() == "operation-skills");
  }
  SECTION("C: a 90-day PIP with checkpoints every 14 days") {
    auto acts = ActionsForGrade(p, 3, ev, Grade("C"), {}, kGradeTime);
    REQUIRE(acts.size() == 1);
    common(acts[0], "grades.C.pip");
    CHECK(acts[0].kind() == v1::ACTION_KIND_PIP);
    CHECK(acts[0].pip_length_days() == 90);
    CHECK(acts[0].pip_checkpoint_every_days() == 14);
  }
  SECTION("D: HR review for reassignment, and a follow-up") {
    auto acts = ActionsForGrade(p, 3, ev, Grade("D"), {}, kGradeTime);
    REQUIRE(acts.size() == 1);
    common(acts[0], "grades.D.hr_review");
    CHECK(acts[0].kind() == v1::ACTION_KIND_HR_REVIEW);
    CHECK(Param(acts[0], "kind") == "reassignment");
    CHECK(Param(acts[0], "reason") == "auxiliary role");
  }
  SECTION("an unknown grade triggers nothing") {
    CHECK(ActionsForGrade(p, 3, ev, Grade("E"), {}, kGradeTime).empty());
  }
  SECTION("odd salaries round half away from zero") {
    auto acts = ActionsForGrade(p, 3, ev, Grade("B", 1'000'003), {}, kGradeTime);
    // 1,000,003 × 2000 / 120000 = 16666.716.. -> 16667
    CHECK(acts[0].amount().amount_minor() == 16'667);
    acts = ActionsForGrade(p, 3, ev, Grade("A", 10), {}, kGradeTime);
    CHECK(acts[0].amount().amount_minor() == 2);  // 1.5 -> 2
  }
}

TEST_CASE("policy: action ids are stable across calls and distinct per rule and cause",
          "[policy][actions]") {
  CHECK(ActionId("evt-1", "grades.A.raise") == "8113f16df820b83ff05b03901d46b823");
  const Policy p = Manufacturing();
  auto first = ActionsForGrade(p, 1, "g-1", Grade("A"), {}, kGradeTime);
  auto again = ActionsForGrade(p, 1, "g-1", Grade("A"), {}, kGradeTime);
  REQUIRE(first.size() == again.size());
  std::set<std::string> ids;
  for (size_t i = 0; i < first.size(); i++) {
    CHECK(first[i].SerializeAsString() == again[i].SerializeAsString());
    ids.insert(first[i].action_id());
  }
  CHECK(ids.size() == first.size());
  // Another cause (a superseding grade event) gives other ids.
  auto other = ActionsForGrade(p, 1, "g-2", Grade("A"), {}, kGradeTime);
  for (const auto& a : other) CHECK(ids.count(a.action_id()) == 0);
  // The separator keeps ("a", "b\nc")-style ambiguity out: concatenation alone would collide.
  CHECK(ActionId("ab", "c") != ActionId("a", "bc"));
}

TEST_CASE("policy: merit matrix rows follow the compa-ratio", "[policy][actions]") {
  const Policy& p = Weighted();
  const std::vector<MeritRow>& m = p.actions.at("A").merit_matrix;
  auto money = [](int64_t v) {
    v1::Money x;
    x.set_amount_minor(v);
    x.set_currency("EUR");
    return x;
  };
  // Row 0: compa < 90 %; row 1: < 110 %; row 2: the rest.
  CHECK(SelectMeritRow(m, money(89'999), money(100'000)) == 0);
  CHECK(SelectMeritRow(m, money(90'000), money(100'000)) == 1);  // exactly 90 %: not below
  CHECK(SelectMeritRow(m, money(109'999), money(100'000)) == 1);
  CHECK(SelectMeritRow(m, money(110'000), money(100'000)) == 2);
  // Exact comparison: 899,999,999 / 1,000,000,000 = 8999.99999 bp rounds to 9000 but is below.
  CHECK(SelectMeritRow(m, money(899'999'999), money(1'000'000'000)) == 0);
  CHECK(CompaRatioBp(money(899'999'999), money(1'000'000'000)) == 9000);
  // No midpoint, or one in another currency: the catch-all row.
  CHECK(SelectMeritRow(m, money(50'000), v1::Money()) == 2);
  v1::Money usd = money(100'000);
  usd.set_currency("USD");
  CHECK(SelectMeritRow(m, money(50'000), usd) == 2);
  CHECK_FALSE(CompaRatioBp(money(50'000), usd).has_value());

  // The raise action carries the row's percentage and the compa-ratio.
  std::vector<PriorGrade> none;
  auto acts = ActionsForGrade(p, 1, "g", Grade("A", 4'000'000, 5'000'000), none, kGradeTime);
  REQUIRE_FALSE(acts.empty());
  CHECK(acts[0].percent_bp() == 1000);  // compa 80 % -> row 0
  CHECK(acts[0].amount().amount_minor() == 400'000);
  CHECK(Param(acts[0], "merit_row") == "0");
  CHECK(Param(acts[0], "compa_ratio_bp") == "8000");
  acts = ActionsForGrade(p, 1, "g", Grade("A", 4'000'000), none, kGradeTime);
  CHECK(acts[0].percent_bp() == 300);  // no midpoint -> catch-all
  CHECK(Param(acts[0], "merit_row") == "2");
  CHECK(Param(acts[0], "compa_ratio_bp") == "<none>");
}

TEST_CASE("policy: promotion needs the grade in N consecutive cycles", "[policy][actions]") {
  const Policy& p = Weighted();  // A: nominate to senior after 2 consecutive A
  auto nominated = [&](const History& h) {
    for (const auto& a : ActionsForGrade(p, 1, "g", Grade("A"), h, kGradeTime)) {
      if (a.kind() == v1::ACTION_KIND_PROMOTION_NOMINATION) {
        CHECK(Param(a, "nominate_to") == "senior");
        return true;
      }
    }
    return false;
  };
  CHECK_FALSE(nominated({}));
  CHECK(nominated({{CycleId("2025H2"), "A"}}));
  CHECK_FALSE(nominated({{CycleId("2025H2"), "B"}}));
  CHECK(nominated({{CycleId("2025H1"), "B"}, {CycleId("2025H2"), "A"}}));
  CHECK_FALSE(nominated({{CycleId("2025H1"), "A"}, {CycleId("2025H2"), "B"}}));
  // A cycle without a grade breaks it.
  CHECK_FALSE(nominated({{CycleId("2025H1"), "A"}, {CycleId("2025H2"), ""}}));
  // An entry for the cycle being acted on (a superseded grade) does not count.
  CHECK_FALSE(nominated({{CycleId("2026H1"), "A"}}));
  CHECK(nominated({{CycleId("2025H2"), "A"}, {CycleId("2026H1"), "A"}}));
  CHECK(StreakHolds({{CycleId("c1"), "A"}, {CycleId("c2"), "A"}}, CycleId("c3"), "A", 3));
  CHECK_FALSE(StreakHolds({{CycleId("c1"), "A"}, {CycleId("c2"), "A"}}, CycleId("c3"), "A", 4));
  CHECK(StreakHolds({}, CycleId("c1"), "A", 1));
}

TEST_CASE("policy: zero raises and bonuses emit nothing", "[policy][actions]") {
  const Policy p = Parse(R"(policy_id: z
grading: {method: weighted_scores, weights: {manager: 10000}, bands: [{grade: A}]}
actions: {A: {raise_bp: 0, bonus: {percent_of_monthly_bp: 0}, training: [t]}}
)");
  auto acts = ActionsForGrade(p, 1, "g", Grade("A"), {}, kGradeTime);
  REQUIRE(acts.size() == 1);
  CHECK(acts[0].kind() == v1::ACTION_KIND_TRAINING);
}

// ---------------------------------------------------------------- follow-ups and PIP outcomes

TEST_CASE("policy: a D grade schedules a follow-up that ends in an exit review unless improved",
          "[policy][followup]") {
  const Policy p = Manufacturing();
  const v1::GradeFinalized d = Grade("D");
  std::optional<FollowupPlan> plan = PlanFollowup(p, "g-d", d, kGradeTime);
  REQUIRE(plan.has_value());
  CHECK(plan->rule_id == "grades.D.followup");
  CHECK(plan->deadline_at.seconds() == kGradeTime.seconds() + 90 * kDay);
  CHECK(plan->action_id == ActionId("g-d", "grades.D.followup"));
  CHECK(plan->deadline_subject == "action/" + plan->action_id);
  CHECK_FALSE(PlanFollowup(p, "g-c", Grade("C"), kGradeTime).has_value());

  const google::protobuf::Timestamp at = plan->deadline_at;
  SECTION("no grade since: exit review") {
    auto a = FollowupOutcome(p, 3, "g-d", d, "deadline-1", {}, at);
    REQUIRE(a.has_value());
    CHECK(a->kind() == v1::ACTION_KIND_HR_REVIEW);
    CHECK(a->action_id() == plan->action_id);
    CHECK(a->rule_id() == "grades.D.followup");
    CHECK(Param(*a, "kind") == "exit");
    REQUIRE(a->cause_event_ids_size() == 2);
    CHECK(a->cause_event_ids(0) == "g-d");
    CHECK(a->cause_event_ids(1) == "deadline-1");
    CHECK(a->effective_at().seconds() == at.seconds());
  }
  SECTION("another D since: not improved") {
    const History since = {{CycleId("2026H2"), "D"}};
    CHECK(FollowupOutcome(p, 3, "g-d", d, "deadline-1", since, at).has_value());
  }
  SECTION("a C since: improved, no review") {
    const History since = {{CycleId("2026H2"), "C"}};
    CHECK_FALSE(FollowupOutcome(p, 3, "g-d", d, "deadline-1", since, at).has_value());
  }
  SECTION("the same deadline twice gives the same action id") {
    auto a = FollowupOutcome(p, 3, "g-d", d, "deadline-1", {}, at);
    auto b = FollowupOutcome(p, 3, "g-d", d, "deadline-2", {}, at);
    CHECK(a->action_id() == b->action_id());
  }
  CHECK(Improved(p, "D", "C"));
  CHECK(Improved(p, "B", "A"));
  CHECK_FALSE(Improved(p, "C", "C"));
  CHECK_FALSE(Improved(p, "C", "D"));
  CHECK_FALSE(Improved(p, "D", "Z"));
}

TEST_CASE("policy: a failed PIP triggers the exit review of pip_outcomes", "[policy][pip]") {
  const Policy p = Manufacturing();
  v1::PipClosed closed;
  closed.set_pip_id("pip-1");
  closed.set_employee_id("E1042");
  closed.set_outcome(v1::PIP_OUTCOME_FAILED);
  const ActionContext who{"", "2026H1", "line-3", "M7"};
  auto a = ActionForPipClosed(p, 3, "pip-closed-1", closed, who, kGradeTime);
  REQUIRE(a.has_value());
  CHECK(a->kind() == v1::ACTION_KIND_HR_REVIEW);
  CHECK(a->employee_id() == "E1042");
  CHECK(a->rule_id() == "pip_outcomes.failed");
  CHECK(a->action_id() == ActionId("pip-closed-1", "pip_outcomes.failed"));
  CHECK(Param(*a, "kind") == "exit");
  CHECK(Param(*a, "pip_id") == "pip-1");
  closed.set_outcome(v1::PIP_OUTCOME_SUCCEEDED);
  CHECK_FALSE(ActionForPipClosed(p, 3, "pip-closed-1", closed, who, kGradeTime).has_value());
}

// ---------------------------------------------------------------- alerts

TEST_CASE("policy: rolling windows keep the last N days of event time", "[policy][alerts]") {
  RollingWindow w(30);
  CHECK_FALSE(w.Aggregate(Aggregate::kMean).has_value());
  const int64_t t0 = 1'780'000'000;
  w.Add(Ts(t0), 1000);
  w.Add(Ts(t0 + 10 * kDay), 5000);
  CHECK(w.Aggregate(Aggregate::kMean) == 3000);
  CHECK(w.Aggregate(Aggregate::kMax) == 5000);
  CHECK(w.Aggregate(Aggregate::kMin) == 1000);
  CHECK(w.Aggregate(Aggregate::kLast) == 5000);
  // 30 days after the first sample, it falls out (the window is (newest - 30 d, newest]).
  w.Add(Ts(t0 + 30 * kDay), 2000);
  CHECK(w.size() == 2);
  CHECK(w.Aggregate(Aggregate::kMean) == 3500);
  // A late sample inside the window is placed by time; one older than the window is dropped.
  w.Add(Ts(t0 + 20 * kDay), 9000);
  CHECK(w.size() == 3);
  CHECK(w.Aggregate(Aggregate::kLast) == 2000);
  w.Add(Ts(t0), 100);
  CHECK(w.size() == 3);
  // Time moving on (e.g. a later observation of another subject) empties the window.
  w.AdvanceTo(Ts(t0 + 100 * kDay));
  CHECK(w.empty());
  CHECK_FALSE(w.Aggregate(Aggregate::kMean).has_value());

  SECTION("the sample count is bounded") {
    RollingWindow small(30, 3);
    for (int i = 0; i < 10; i++) small.Add(Ts(t0 + i), i * 1000);
    CHECK(small.size() == 3);
    CHECK(small.Aggregate(Aggregate::kMin) == 7000);
    CHECK(small.Aggregate(Aggregate::kMean) == 8000);
  }
}

TEST_CASE("policy: alerts of the manufacturing policy", "[policy][alerts]") {
  const Policy p = Manufacturing();
  const AlertRule& worker = p.alerts[0];
  const AlertRule& line = p.alerts[1];
  const int64_t t0 = 1'780'000'000;
  const AlertSubject e1042{v1::OWNER_KIND_EMPLOYEE, "E1042", "M7", "PM1", "COO", ""};
  const AlertSubject line3{v1::OWNER_KIND_ORG_UNIT, "line-3", "", "PM1", "COO", ""};

  RollingWindow w(worker.window_days);
  w.Add(Ts(t0), 3000);
  // Exactly 3 % is not *over* 3 %.
  CHECK_FALSE(EvaluateAlert(worker, 3, w, e1042, "obs-1").has_value());
  w.Add(Ts(t0 + kDay), 3002);  // mean 3001
  std::optional<v1::ThresholdBreached> b = EvaluateAlert(worker, 3, w, e1042, "obs-2");
  REQUIRE(b.has_value());
  CHECK(b->value_milli() == 3001);
  CHECK(b->threshold_milli() == 3000);
  CHECK(b->metric() == "defect_rate");
  CHECK(b->scope() == v1::OWNER_KIND_EMPLOYEE);
  CHECK(b->subject_id() == "E1042");
  CHECK(b->notify_employee_id() == "M7");
  CHECK(b->direction() == v1::DIRECTION_LOWER_IS_BETTER);
  CHECK(b->rule_id() == "alerts.worker-defect-rate");
  CHECK(b->alert_id() == ActionId("obs-2", "alerts.worker-defect-rate"));
  CHECK(b->policy_version() == 3);
  REQUIRE(b->cause_event_ids_size() == 1);
  CHECK(b->cause_event_ids(0) == "obs-2");
  // Deterministic: the same evaluation gives the same alert.
  CHECK(EvaluateAlert(worker, 3, w, e1042, "obs-2")->SerializeAsString() ==
        b->SerializeAsString());
  // A rule never evaluates a subject of the other scope.
  CHECK_FALSE(EvaluateAlert(worker, 3, w, line3, "obs-2").has_value());

  SECTION("old values fall out of the window and the breach clears") {
    w.Add(Ts(t0 + 31 * kDay), 1000);  // both earlier samples are now older than 30 days
    CHECK(w.size() == 1);
    CHECK_FALSE(EvaluateAlert(worker, 3, w, e1042, "obs-3").has_value());
  }
  SECTION("the line alert notifies the production manager (the line's parent's) over 5 %") {
    RollingWindow lw(line.window_days);
    lw.Add(Ts(t0), 4000);
    lw.Add(Ts(t0 + kDay), 6000);
    CHECK_FALSE(EvaluateAlert(line, 3, lw, line3, "obs-l2").has_value());  // mean 5000
    lw.Add(Ts(t0 + 2 * kDay), 5003);  // mean 5001
    auto lb = EvaluateAlert(line, 3, lw, line3, "obs-l3");
    REQUIRE(lb.has_value());
    CHECK(lb->notify_employee_id() == "COO");
    CHECK(lb->scope() == v1::OWNER_KIND_ORG_UNIT);
  }
  SECTION("higher is better breaches below the threshold") {
    AlertRule r = worker;
    r.direction = v1::DIRECTION_HIGHER_IS_BETTER;
    r.threshold_milli = 2000;
    CHECK(Breaches(r, 1999));
    CHECK_FALSE(Breaches(r, 2000));
  }
}

}  // namespace
}  // namespace perfledger::policy
