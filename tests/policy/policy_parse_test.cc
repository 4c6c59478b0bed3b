// ParsePolicy and CanonicalJson: both formats, every kind of bad document, the example policy.
#include <algorithm>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include <catch2/catch.hpp>

#include "ledger/limits.h"
#include "ledger/policy.h"
#include "ledger/policy_eval.h"

namespace perfledger::policy {
namespace {

// The same policy in both formats, with keys in different orders and a zero weight that must
// not change the canonical form.
constexpr char kYaml[] = R"(policy_id: office-2026
description: Office staff, weighted review scores.
grading:
  method: weighted_scores
  weights: {manager: 6000, goals: 3000, self: 1000, peer: 0}
  bands:
    - {grade: A, min_score_milli: 4500}
    - {grade: B, min_score_milli: 3500}
    - {grade: C, min_score_milli: 2500}
    - {grade: D}
recommended_distribution: {A: 1000, B: 6000, C: 2500, D: 500}
actions:
  A:
    merit_matrix:
      - {compa_ratio_below_bp: 9000, raise_bp: 1000}
      - {compa_ratio_below_bp: 11000, raise_bp: 600}
      - {raise_bp: 300}
    promotion: {nominate_to: senior, consecutive_cycles: 2}
  B:
    raise_bp: 300
    bonus: {percent_of_monthly_bp: 5000}
  C:
    pip: {length_days: 60, checkpoint_every_days: 14}
    training: [time-management, communication]
  D:
    hr_review: {kind: reassignment}
    followup:
      if_not_improved_within_days: 90
      hr_review: {kind: exit, reason: not improved}
alerts:
  - id: sales
    metric: revenue
    scope: employee
    window_days: 7
    aggregate: min
    threshold_milli: 1000
    direction: higher_is_better
    notify: manager
pip_outcomes:
  failed:
    hr_review: {kind: exit}
)";

constexpr char kJson[] = R"({
  "pip_outcomes": {"failed": {"hr_review": {"kind": "exit"}}},
  "alerts": [{"notify": "manager", "direction": "higher_is_better", "threshold_milli": 1000,
              "aggregate": "min", "window_days": 7, "scope": "employee", "metric": "revenue",
              "id": "sales"}],
  "actions": {
    "D": {"followup": {"hr_review": {"reason": "not improved", "kind": "exit"},
                       "if_not_improved_within_days": 90},
          "hr_review": {"kind": "reassignment"}},
    "C": {"training": ["time-management", "communication"],
          "pip": {"checkpoint_every_days": 14, "length_days": 60}},
    "B": {"bonus": {"percent_of_monthly_bp": 5000}, "raise_bp": 300},
    "A": {"promotion": {"consecutive_cycles": 2, "nominate_to": "senior"},
          "merit_matrix": [{"raise_bp": 1000, "compa_ratio_below_bp": 9000},
                           {"raise_bp": 600, "compa_ratio_below_bp": 11000},
                           {"raise_bp": 300}]}
  },
  "recommended_distribution": {"D": 500, "C": 2500, "B": 6000, "A": 1000},
  "grading": {
    "bands": [{"min_score_milli": 4500, "grade": "A"}, {"grade": "B", "min_score_milli": 3500},
              {"grade": "C", "min_score_milli": 2500}, {"grade": "D"}],
    "weights": {"self": 1000, "goals": 3000, "manager": 6000},
    "method": "weighted_scores"
  },
  "description": "Office staff, weighted review scores.",
  "policy_id": "office-2026"
})";

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// Parses `doc` and returns the error message ("" when it parsed).
std::string ErrorOf(const std::string& doc, Format format = Format::kAuto) {
  absl::StatusOr<Policy> p = ParsePolicy(doc, format);
  if (p.ok()) return "";
  CHECK(p.status().code() == absl::StatusCode::kInvalidArgument);
  return std::string(p.status().message());
}

// A minimal valid YAML policy with `extra` appended (at top level).
std::string Minimal(const std::string& grading_and_more) {
  return "policy_id: p1\n" + grading_and_more;
}

constexpr char kMetricGrading[] = R"(grading:
  method: metric_bands
  metric: defect_rate
  direction: lower_is_better
  bands:
    - {grade: A, below_milli: 2000}
    - {grade: B}
)";

TEST_CASE("policy: JSON and YAML of the same policy have the same canonical JSON",
          "[policy][parse]") {
  absl::StatusOr<Policy> y = ParsePolicy(kYaml, Format::kYaml);
  absl::StatusOr<Policy> j = ParsePolicy(kJson, Format::kJson);
  REQUIRE(y.ok());
  REQUIRE(j.ok());
  CHECK(CanonicalJson(*y) == CanonicalJson(*j));
  CHECK(CanonicalSha256(*y) == CanonicalSha256(*j));
  CHECK(CanonicalSha256(*y).size() == 64);
  // kAuto picks the right parser for both.
  CHECK(CanonicalJson(*ParsePolicy(kYaml)) == CanonicalJson(*y));
  CHECK(CanonicalJson(*ParsePolicy(kJson)) == CanonicalJson(*y));
  // JSON is valid YAML flow syntax, so the YAML parser reads it to the same policy.
  CHECK(CanonicalJson(*ParsePolicy(kJson, Format::kYaml)) == CanonicalJson(*y));

  SECTION("canonical JSON parses back to itself") {
    const std::string c = CanonicalJson(*y);
    absl::StatusOr<Policy> again = ParsePolicy(c, Format::kJson);
    REQUIRE(again.ok());
    CHECK(CanonicalJson(*again) == c);
  }
  SECTION("canonical form: sorted keys, zero weights dropped, no whitespace") {
    const std::string c = CanonicalJson(*y);
    CHECK(c.rfind(R"({"actions":{"A":{"merit_matrix":)", 0) == 0);
    CHECK(c.find(R"("weights":{"goals":3000,"manager":6000,"self":1000})") != std::string::npos);
    CHECK(c.find("peer") == std::string::npos);
    CHECK(c.find('\n') == std::string::npos);
  }
  SECTION("the parsed values") {
    const Policy& p = *y;
    CHECK(p.policy_id == "office-2026");
    CHECK(p.grading.method == GradingMethod::kWeightedScores);
    CHECK(p.grading.weights.size() == 3);
    CHECK(p.grading.weights.at(ScoreInput::kManager) == 6000);
    REQUIRE(p.grading.bands.size() == 4);
    CHECK(p.grading.bands[0].bound_milli == 4500);
    CHECK_FALSE(p.grading.bands[3].bound_milli.has_value());
    CHECK(p.actions.at("A").merit_matrix.size() == 3);
    CHECK(p.actions.at("A").promotion->consecutive_cycles == 2);
    CHECK(p.actions.at("B").bonus->reason_code.empty());
    CHECK(p.actions.at("C").training ==
          std::vector<std::string>{"time-management", "communication"});
    CHECK(p.actions.at("D").followup->hr_review.kind == HrReviewKind::kExit);
    CHECK(p.alerts.at(0).aggregate == Aggregate::kMin);
    CHECK(p.pip_outcomes.failed->kind == HrReviewKind::kExit);
    CHECK(p.GradeRank("C") == 2u);
    CHECK_FALSE(p.GradeRank("E").has_value());
  }
}

TEST_CASE("policy: an empty action map and a missing one hash the same", "[policy][parse]") {
  absl::StatusOr<Policy> a = ParsePolicy(Minimal(kMetricGrading) + "actions: {B: {}}\n");
  absl::StatusOr<Policy> b = ParsePolicy(Minimal(kMetricGrading));
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(CanonicalJson(*a) == CanonicalJson(*b));
}

TEST_CASE("policy: the manufacturing example policy parses", "[policy][parse]") {
  const std::string text =
      ReadFile(std::string(PERFLEDGER_SOURCE_DIR) + "/deploy/examples/manufacturing/policy.yaml");
  REQUIRE_FALSE(text.empty());
  absl::StatusOr<Policy> p = ParsePolicy(text);
  INFO(p.status().ToString());
  REQUIRE(p.ok());
  CHECK(p->policy_id == "manufacturing-quality");
  CHECK(p->grading.method == GradingMethod::kMetricBands);
  CHECK(p->grading.metric == "defect_rate");
  CHECK(p->grading.direction == v1::DIRECTION_LOWER_IS_BETTER);
  CHECK(p->grading.aggregate == Aggregate::kMean);
  REQUIRE(p->grading.bands.size() == 4);
  CHECK(p->grading.bands[0].bound_milli == 2000);
  CHECK(p->grading.bands[1].bound_milli == 3000);
  CHECK(p->grading.bands[2].bound_milli == 5001);  // at_most_milli: 5000
  CHECK(p->grading.bands[2].bound_kind == BoundKind::kAlternative);
  CHECK_FALSE(p->grading.bands[3].bound_milli.has_value());
  CHECK(p->recommended_distribution.at("B") == 6000);
  CHECK(p->actions.at("A").raise_bp == 1500u);
  CHECK(p->actions.at("A").training == std::vector<std::string>{"quality-control"});
  CHECK(p->actions.at("A").promotion->nominate_to == "team-lead");
  CHECK(p->actions.at("B").bonus->percent_of_monthly_bp == 2000);
  CHECK(p->actions.at("B").bonus->reason_code == "quality-bonus");
  CHECK(p->actions.at("C").pip->length_days == 90);
  CHECK(p->actions.at("C").pip->checkpoint_every_days == 14);
  CHECK(p->actions.at("D").hr_review->kind == HrReviewKind::kReassignment);
  CHECK(p->actions.at("D").hr_review->reason == "auxiliary role");
  CHECK(p->actions.at("D").followup->if_not_improved_within_days == 90);
  REQUIRE(p->alerts.size() == 2);
  CHECK(p->alerts[0].scope == v1::OWNER_KIND_EMPLOYEE);
  CHECK(p->alerts[0].threshold_milli == 3000);
  CHECK(p->alerts[1].scope == v1::OWNER_KIND_ORG_UNIT);
  CHECK(p->alerts[1].notify == Notify::kParentUnitManager);
  CHECK(p->alerts[1].threshold_milli == 5000);
  CHECK(p->pip_outcomes.failed->kind == HrReviewKind::kExit);
  // Canonical JSON is stable and fits a PolicyPublished event.
  CHECK(CanonicalJson(*p) == CanonicalJson(*ParsePolicy(CanonicalJson(*p))));
  CHECK(CanonicalJson(*p).size() < limits::kPolicyBytesMax);
}

TEST_CASE("policy: the examples of docs/POLICY.md parse", "[policy][parse]") {
  // Keeps the reference honest: every ```yaml and ```json block is a valid policy, and the
  // manufacturing example there is the shipped file.
  const std::string doc = ReadFile(std::string(PERFLEDGER_SOURCE_DIR) + "/docs/POLICY.md");
  std::vector<std::string> blocks;
  for (size_t at = 0;;) {
    const size_t yaml = doc.find("```yaml\n", at);
    const size_t json = doc.find("```json\n", at);
    const size_t start = std::min(yaml, json);
    if (start == std::string::npos) break;
    const size_t body = doc.find('\n', start) + 1;
    const size_t end = doc.find("```", body);
    REQUIRE(end != std::string::npos);
    blocks.push_back(doc.substr(body, end - body));
    at = end + 3;
  }
  REQUIRE(blocks.size() == 2);
  for (const std::string& b : blocks) {
    absl::StatusOr<Policy> p = ParsePolicy(b);
    INFO(p.status().ToString());
    CHECK(p.ok());
  }
  const std::string file =
      ReadFile(std::string(PERFLEDGER_SOURCE_DIR) + "/deploy/examples/manufacturing/policy.yaml");
  CHECK(CanonicalJson(*ParsePolicy(blocks[0])) == CanonicalJson(*ParsePolicy(file)));
}

TEST_CASE("policy: inclusive and strict metric bounds say what they mean", "[policy][parse]") {
  // "Up to and including 3 %" and "over 5 %" written directly.
  constexpr char kInclusive[] = R"(policy_id: p
grading:
  method: metric_bands
  metric: defect_rate
  direction: lower_is_better
  bands:
    - {grade: A, below_milli: 2000}
    - {grade: B, at_most_milli: 3000}
    - {grade: C, at_most_milli: 5000}
    - {grade: D}
)";
  absl::StatusOr<Policy> p = ParsePolicy(kInclusive);
  REQUIRE(p.ok());
  auto grade = [&](int64_t value) {
    GradeInputs in;
    in.metric = InputScore{value, "ev"};
    auto d = ComputeGrade(*p, in);
    REQUIRE(d.ok());
    return d->grade;
  };
  CHECK(grade(1999) == "A");
  CHECK(grade(2000) == "B");
  CHECK(grade(3000) == "B");  // up to and including 3 %
  CHECK(grade(3001) == "C");
  CHECK(grade(5000) == "C");
  CHECK(grade(5001) == "D");  // over 5 %
  // The canonical document says what was written, and reads back to itself.
  const std::string canonical = CanonicalJson(*p);
  CHECK(canonical.find(R"("at_most_milli":3000)") != std::string::npos);
  CHECK(canonical.find(R"("below_milli":2000)") != std::string::npos);
  absl::StatusOr<Policy> again = ParsePolicy(canonical, Format::kJson);
  REQUIRE(again.ok());
  CHECK(CanonicalJson(*again) == canonical);

  // higher_is_better: at_least (inclusive) or above (strict).
  absl::StatusOr<Policy> h = ParsePolicy(R"(policy_id: p
grading:
  method: metric_bands
  metric: yield
  direction: higher_is_better
  bands:
    - {grade: A, above_milli: 95000}
    - {grade: B, at_least_milli: 90000}
    - {grade: C}
)");
  REQUIRE(h.ok());
  GradeInputs in;
  in.metric = InputScore{95000, "ev"};
  CHECK(ComputeGrade(*h, in)->grade == "B");
  in.metric = InputScore{95001, "ev"};
  CHECK(ComputeGrade(*h, in)->grade == "A");

  // One bound per band; the order still holds across spellings.
  CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_better
  bands:
    - {grade: A, below_milli: 2000, at_most_milli: 1999}
    - {grade: B}
)") == "line 7: grading.bands[0].at_most_milli: give below_milli or at_most_milli, not both");
  CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_better
  bands:
    - {grade: A, at_most_milli: 3000}
    - {grade: B, below_milli: 3001}
    - {grade: C}
)") == "line 8: grading.bands[1].below_milli: must be greater than the previous band's "
          "(at_most_milli 3000): bands are listed best first");
}

TEST_CASE("policy: alert windows and targets", "[policy][parse]") {
  const std::string grading = R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_better
  bands: [{grade: A}]
alerts:
)";
  absl::StatusOr<Policy> p = ParsePolicy(grading + R"(  - {id: a1, metric: m, scope: org_unit, window: cycle, threshold_milli: 5000,
     direction: lower_is_better, notify: parent_unit_manager}
  - {id: a2, metric: m, scope: employee, window: {rolling_days: 7}, threshold_milli: 1,
     direction: lower_is_better, notify: role:hr}
  - {id: a3, metric: m, scope: org_unit, window_days: 7, threshold_milli: 1,
     direction: lower_is_better, notify: unit_manager}
)");
  REQUIRE(p.ok());
  REQUIRE(p->alerts.size() == 3);
  CHECK(p->alerts[0].window == AlertWindowKind::kCycle);
  CHECK(p->alerts[0].notify == Notify::kParentUnitManager);
  CHECK(p->alerts[1].window == AlertWindowKind::kRollingDays);
  CHECK(p->alerts[1].window_days == 7);
  CHECK(p->alerts[1].notify == Notify::kRole);
  CHECK(p->alerts[1].notify_role == v1::ROLE_HR);
  CHECK(p->alerts[2].notify == Notify::kOrgUnitManager);  // unit_manager is an alias
  // The canonical form: a rolling window as window_days, the alias by its canonical name.
  const std::string canonical = CanonicalJson(*p);
  CHECK(canonical.find(R"("window":"cycle")") != std::string::npos);
  CHECK(canonical.find(R"("notify":"role:hr")") != std::string::npos);
  CHECK(canonical.find(R"("notify":"org_unit_manager")") != std::string::npos);
  CHECK(canonical.find("rolling_days") == std::string::npos);
  absl::StatusOr<Policy> again = ParsePolicy(canonical, Format::kJson);
  REQUIRE(again.ok());
  CHECK(CanonicalJson(*again) == canonical);

  CHECK(ErrorOf(grading + R"(  - {id: a, metric: m, scope: employee, window_days: 7, window: cycle,
     threshold_milli: 1, direction: lower_is_better, notify: manager}
)") == "line 8: alerts[0].window: give window_days: N, or window: cycle | {rolling_days: N} "
       "(one of them)");
  CHECK(ErrorOf(grading + R"(  - {id: a, metric: m, scope: employee, window: weekly,
     threshold_milli: 1, direction: lower_is_better, notify: manager}
)") == "line 8: alerts[0].window: must be cycle or {rolling_days: N}, got \"weekly\"");
  CHECK_THAT(ErrorOf(grading + R"(  - {id: a, metric: m, scope: employee, window: cycle,
     threshold_milli: 1, direction: lower_is_better, notify: role:boss}
)"),
             Catch::StartsWith("line 9: alerts[0].notify: must be one of hr|admin|auditor"));
}

TEST_CASE("policy: bad documents are rejected naming the field and the YAML line",
          "[policy][parse]") {
  SECTION("unknown keys, at every level") {
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions:\n  A:\n    rase_bp: 100\n") ==
          "line 11: actions.A.rase_bp: unknown key (actions: raise_bp, merit_matrix, bonus, "
          "training, promotion, pip, hr_review, followup)");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "acitons: {}\n") ==
          "line 9: acitons: unknown key (top level: policy_id, description, grading, "
          "recommended_distribution, actions, alerts, metrics, pip_outcomes, disputes)");
    CHECK(ErrorOf(R"({"policy_id": "p", "grading": {"method": "metric_bands",
        "metric": "m", "direction": "lower_is_better", "weights": {"manager": 10000},
        "bands": [{"grade": "A"}]}})") ==
          "grading.weights: unknown key for method metric_bands");
    CHECK_THAT(ErrorOf(Minimal(kMetricGrading) + "actions: {A: {pip: {length_days: 9, "
                                                 "checkpoint_every_days: 3, every: 2}}}\n"),
               Catch::StartsWith("line 9: actions.A.pip.every: unknown key"));
    // A bound of the other direction is an unknown key, with a hint.
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_better
  bands:
    - {grade: A, at_least_milli: 2000}
    - {grade: B}
)") == "line 7: grading.bands[0].at_least_milli: unknown key (lower_is_better bands use "
          "below_milli or at_most_milli)");
  }
  SECTION("weights must sum to 10000") {
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: weighted_scores
  weights:
    manager: 6000
    goals: 3000
  bands: [{grade: A}]
)") == "line 5: grading.weights: must sum to 10000, sum is 9000");
    CHECK(ErrorOf(R"({"policy_id": "p", "grading": {"method": "weighted_scores",
        "weights": {"manager": 6000, "goals": 3000, "self": 2000}, "bands": [{"grade": "A"}]}})") ==
          "grading.weights: must sum to 10000, sum is 11000");
    CHECK_THAT(ErrorOf(R"({"policy_id": "p", "grading": {"method": "weighted_scores",
        "weights": {"manager": 10000, "boss": 0}, "bands": [{"grade": "A"}]}})"),
               Catch::StartsWith("grading.weights.boss: unknown key"));
    CHECK(ErrorOf(R"({"policy_id": "p", "grading": {"method": "weighted_scores",
        "weights": {"manager": 10001}, "bands": [{"grade": "A"}]}})") ==
          "grading.weights.manager: must be 0..10000");
  }
  SECTION("empty bands") {
    CHECK(ErrorOf("policy_id: p\ngrading: {method: weighted_scores, weights: {manager: 10000}, "
                  "bands: []}\n") == "line 2: grading.bands: must have at least 1 item(s)");
  }
  SECTION("duplicate grade") {
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_better
  bands:
    - {grade: A, below_milli: 2000}
    - {grade: A}
)") == "line 8: grading.bands[1].grade: duplicate grade A");
  }
  SECTION("band order") {
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_better
  bands:
    - {grade: A, below_milli: 3000}
    - {grade: B, below_milli: 2000}
    - {grade: C}
)") == "line 8: grading.bands[1].below_milli: must be greater than the previous band's (3000): "
          "bands are listed best first");
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: higher_is_better
  bands:
    - {grade: A, at_least_milli: 2000}
    - {grade: B, at_least_milli: 2000}
)") == "line 8: grading.bands[1].at_least_milli: must be less than the previous band's (2000): "
          "bands are listed best first");
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: weighted_scores
  weights: {manager: 10000}
  bands:
    - {grade: A}
    - {grade: B, min_score_milli: 10}
)") == "line 6: grading.bands[0].min_score_milli: required (only the last band may omit it)");
  }
  SECTION("bad enum values") {
    CHECK(ErrorOf(R"(policy_id: p
grading:
  method: metric_bands
  metric: m
  direction: lower_is_beter
  bands: [{grade: A}]
)") == "line 5: grading.direction: must be one of lower_is_better|higher_is_better, got "
          "\"lower_is_beter\"");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions: {B: {hr_review: {kind: fire}}}\n") ==
          "line 9: actions.B.hr_review.kind: must be one of reassignment|exit, got \"fire\"");
    CHECK_THAT(ErrorOf(R"(policy_id: p
grading: {method: ranking}
)"),
               Catch::StartsWith("line 2: grading.method: must be one of "
                                 "weighted_scores|metric_bands"));
  }
  SECTION("negative or zero days, out-of-range numbers, wrong types") {
    CHECK(ErrorOf(Minimal(kMetricGrading) +
                  "actions:\n  B:\n    pip:\n      length_days: -5\n"
                  "      checkpoint_every_days: 1\n") ==
          "line 12: actions.B.pip.length_days: must be 1..3660");
    CHECK(ErrorOf(Minimal(kMetricGrading) +
                  "actions: {B: {pip: {length_days: 30, checkpoint_every_days: 31}}}\n") ==
          "line 9: actions.B.pip.checkpoint_every_days: must be 1..30");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions:\n  A:\n    raise_bp: 10001\n") ==
          "line 11: actions.A.raise_bp: must be 0..10000");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions:\n  A:\n    raise_bp: 15%\n") ==
          "line 11: actions.A.raise_bp: must be 0..10000 (an integer), got \"15%\"");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions:\n  A:\n    raise_bp: 0x10\n") ==
          "line 11: actions.A.raise_bp: must be 0..10000 (an integer), got \"0x10\"");
    CHECK(ErrorOf(R"({"policy_id": "p", "grading": {"method": "metric_bands", "metric": "m",
        "direction": "lower_is_better", "bands": [{"grade": "A", "below_milli": 2.5},
        {"grade": "B"}]}})") ==
          "grading.bands[0].below_milli: must be -4503599627370496..4503599627370496, got a "
          "number or boolean");
    CHECK(ErrorOf(R"({"policy_id": 7, "grading": {}})") ==
          "policy_id: must be a string, got an integer");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "alerts:\n  - id: a\n    metric: m\n"
                  "    scope: employee\n    window_days: 0\n    threshold_milli: 1\n"
                  "    direction: lower_is_better\n    notify: manager\n") ==
          "line 13: alerts[0].window_days: must be 1..3660");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions: {A: {training: quality}}\n") ==
          "line 9: actions.A.training: must be a list, got a scalar");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions:\n  A:\n    bonus:\n") ==
          "line 11: actions.A.bonus: must be a map, got null");
  }
  SECTION("required fields") {
    CHECK(ErrorOf("grading: {}\n") == "line 1: policy_id: required");
    CHECK(ErrorOf("policy_id: p\n") == "line 1: grading: required");
    CHECK(ErrorOf(R"({"policy_id": "p", "grading": {"method": "metric_bands",
        "direction": "lower_is_better", "bands": [{"grade": "A"}]}})") ==
          "grading.metric: required");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions: {A: {promotion: {consecutive_cycles: 2}}}\n")
          == "line 9: actions.A.promotion.nominate_to: required");
    // A typo is reported as itself, not as the required key it hides.
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions: {A: {promotion: {nominate_too: x}}}\n") ==
          "line 9: actions.A.promotion.nominate_too: unknown key");
    CHECK(ErrorOf("policy_id: p\ngrading: {metod: metric_bands}\n") ==
          "line 2: grading.metod: unknown key");
  }
  SECTION("grades referenced must exist; distributions sum to 10000") {
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions:\n  E:\n    raise_bp: 1\n") ==
          "line 10: actions.E: not a grade of grading.bands");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "recommended_distribution: {A: 5000, B: 4000}\n") ==
          "line 9: recommended_distribution: must sum to 10000, sum is 9000");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "recommended_distribution: {A: 5000, X: 5000}\n") ==
          "line 9: recommended_distribution.X: not a grade of grading.bands");
  }
  SECTION("merit matrix") {
    CHECK(ErrorOf(Minimal(kMetricGrading) +
                  "actions: {A: {merit_matrix: [{compa_ratio_below_bp: 9000, raise_bp: 1}]}}\n") ==
          "line 9: actions.A.merit_matrix[0].compa_ratio_below_bp: the last row is the catch-all "
          "and must omit compa_ratio_below_bp");
    CHECK_THAT(ErrorOf(Minimal(kMetricGrading) +
                       "actions: {A: {merit_matrix: [{compa_ratio_below_bp: 9000, raise_bp: 1}, "
                       "{compa_ratio_below_bp: 8000, raise_bp: 1}, {raise_bp: 0}]}}\n"),
               Catch::StartsWith("line 9: actions.A.merit_matrix[1].compa_ratio_below_bp: must "
                                 "be greater than the previous row's (9000)"));
    CHECK(ErrorOf(Minimal(kMetricGrading) +
                  "actions: {A: {raise_bp: 5, merit_matrix: [{raise_bp: 0}]}}\n") ==
          "line 9: actions.A.merit_matrix: not allowed together with raise_bp (pick one)");
  }
  SECTION("semantic conflicts") {
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions: {A: {followup: {if_not_improved_within_days: "
                                            "9, hr_review: {kind: exit}}}}\n") ==
          "line 9: actions.A.followup: the best grade cannot improve; remove the followup");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "actions: {A: {training: [x, y, x]}}\n") ==
          "line 9: actions.A.training[2]: duplicate course x");
    CHECK(ErrorOf(Minimal(kMetricGrading) +
                  "alerts:\n  - {id: l, metric: m, scope: org_unit, window_days: 1, "
                  "threshold_milli: 1, direction: lower_is_better, notify: manager}\n") ==
          "line 10: alerts[0].notify: an org_unit alert notifies org_unit_manager");
    CHECK(ErrorOf(Minimal(kMetricGrading) +
                  "alerts:\n  - {id: l, metric: m, scope: employee, window_days: 1, "
                  "threshold_milli: 1, direction: lower_is_better, notify: manager}\n"
                  "  - {id: l, metric: m, scope: employee, window_days: 1, "
                  "threshold_milli: 1, direction: lower_is_better, notify: manager}\n") ==
          "line 11: alerts[1].id: duplicate alert id l");
    CHECK_THAT(ErrorOf("policy_id: has space\ngrading: {}\n"),
               Catch::StartsWith("line 1: policy_id: "));
  }
  SECTION("duplicate keys") {
    CHECK(ErrorOf("policy_id: p\npolicy_id: q\n") == "line 2: policy_id: duplicate key");
    CHECK(ErrorOf(R"({"policy_id": "p", "grading": {"method": "x", "method": "y"}})") ==
          "grading.method: duplicate key");
    CHECK(ErrorOf(R"({"policy_id": "p", "alerts": [{}, {"id": "a", "id": "b"}]})") ==
          "alerts[1].id: duplicate key");
  }
  SECTION("syntax errors name the line") {
    CHECK_THAT(ErrorOf("policy_id: p\ngrading:\n  method: [metric_bands\n  bands: x\n"),
               Catch::Matches("line [34]: invalid YAML: .*"));
    CHECK_THAT(ErrorOf("policy_id: p\n  grading: x\n bad: [\n", Format::kYaml),
               Catch::StartsWith("line 2: invalid YAML: "));
    CHECK_THAT(ErrorOf("{\"policy_id\": \"p\",\n \"grading\": }\n", Format::kJson),
               Catch::Contains("invalid JSON: parse error at line 2"));
  }
  SECTION("documents that are not one policy map") {
    CHECK(ErrorOf("") == "document: empty");
    CHECK(ErrorOf("# only a comment\n") == "document: empty");
    CHECK(ErrorOf("- a\n- b\n") == "line 1: document: must be a map, got a list");
    CHECK(ErrorOf("[1]", Format::kJson) == "document: must be a map, got a list");
    CHECK(ErrorOf("policy_id: p\n---\npolicy_id: q\n") ==
          "line 3: document: holds more than one YAML document (one policy per document)");
  }
  SECTION("size, node and depth limits") {
    CHECK_THAT(ErrorOf(std::string(limits::kPolicyBytesMax + 1, ' ')),
               Catch::StartsWith("document: 49153 bytes, at most 49152"));
    // Aliases expand: 9 levels of 10x references would be 10^9 nodes.
    std::string bomb = "a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n";
    for (int i = 1; i < 9; i++) {
      std::string prev = "*a" + std::to_string(i - 1);
      bomb += "a" + std::to_string(i) + ": &a" + std::to_string(i) + " [" + prev;
      for (int k = 1; k < 10; k++) bomb += ", " + prev;
      bomb += "]\n";
    }
    CHECK_THAT(ErrorOf(bomb), Catch::Contains("document: more than 20000 nodes"));
    CHECK_THAT(ErrorOf("{\"policy_id\": " + std::string(100, '[') + std::string(100, ']') + "}"),
               Catch::Contains("nested deeper than 32"));
    CHECK_THAT(ErrorOf("policy_id: " + std::string(100, '[') + std::string(100, ']') + "\n"),
               Catch::Contains("nested deeper than 32"));
  }
}

TEST_CASE("policy: the disputes section, its defaults and its validation", "[policy][parse]") {
  SECTION("absent: the defaults, and the canonical JSON has no section (old hashes stay)") {
    absl::StatusOr<Policy> p = ParsePolicy(Minimal(kMetricGrading));
    REQUIRE(p.ok());
    CHECK_FALSE(p->disputes.has_value());
    const Disputes d = DisputeSettings(&*p);
    CHECK(d.window_business_days == 10);
    CHECK(d.assign_to == DisputeAssignTo::kSkipLevel);
    CHECK_FALSE(d.hold_actions);
    CHECK(CanonicalJson(*p).find("disputes") == std::string::npos);
    CHECK(DisputeSettings(nullptr).window_business_days == 10);
  }
  SECTION("set in YAML and JSON alike, defaults filled, round trip") {
    absl::StatusOr<Policy> yaml = ParsePolicy(
        Minimal(kMetricGrading) + "disputes: {window_business_days: 5, assign_to: hr, "
                                  "hold_actions: true}\n");
    INFO(yaml.status().ToString());
    REQUIRE(yaml.ok());
    REQUIRE(yaml->disputes.has_value());
    CHECK(yaml->disputes->window_business_days == 5);
    CHECK(yaml->disputes->assign_to == DisputeAssignTo::kHr);
    CHECK(yaml->disputes->hold_actions);
    absl::StatusOr<Policy> json = ParsePolicy(CanonicalJson(*yaml));
    REQUIRE(json.ok());
    CHECK(CanonicalJson(*json) == CanonicalJson(*yaml));
    CHECK(CanonicalJson(*yaml).find(
              R"("disputes":{"assign_to":"hr","hold_actions":true,"window_business_days":5})") !=
          std::string::npos);
    absl::StatusOr<Policy> partial =
        ParsePolicy(Minimal(kMetricGrading) + "disputes: {hold_actions: false}\n");
    REQUIRE(partial.ok());
    CHECK(partial->disputes->window_business_days == 10);
    CHECK(partial->disputes->assign_to == DisputeAssignTo::kSkipLevel);
  }
  SECTION("bad values name the field and the line") {
    CHECK(ErrorOf(Minimal(kMetricGrading) + "disputes: {window_business_days: 0}\n") ==
          "line 9: disputes.window_business_days: must be 1..260");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "disputes: {window_business_days: 261}\n") ==
          "line 9: disputes.window_business_days: must be 1..260");
    CHECK(ErrorOf(Minimal(kMetricGrading) + "disputes: {assign_to: manager}\n") ==
          "line 9: disputes.assign_to: must be one of skip_level|hr, got \"manager\"");
    CHECK_THAT(ErrorOf(Minimal(kMetricGrading) + "disputes: {hold_actions: yes}\n"),
               Catch::StartsWith("line 9: disputes.hold_actions: must be true or false"));
    CHECK_THAT(ErrorOf(Minimal(kMetricGrading) + "disputes: {window_days: 10}\n"),
               Catch::StartsWith("line 9: disputes.window_days: unknown key (disputes: "
                                 "window_business_days, assign_to, hold_actions)"));
    CHECK(ErrorOf(Minimal(kMetricGrading) + "disputes: 10\n") ==
          "line 9: disputes: must be a map, got a scalar");
    CHECK_THAT(ErrorOf(R"({"policy_id": "p", "grading": {"method": "metric_bands",
        "metric": "m", "direction": "lower_is_better", "bands": [{"grade": "A"}]},
        "disputes": {"hold_actions": "true"}})"),
               Catch::StartsWith("disputes.hold_actions: must be true or false"));
  }
}

TEST_CASE("policy: a dispute window counts business days", "[policy][disputes]") {
  // 2026-06-04 is a Thursday.
  const int64_t thursday = 1'780'567'200;  // 2026-06-04T10:00:00Z
  auto end = [&](int64_t from, uint32_t days) {
    google::protobuf::Timestamp ts;
    ts.set_seconds(from);
    ts.set_nanos(5);
    const google::protobuf::Timestamp out = DisputeWindowEnd(ts, days);
    CHECK(out.nanos() == 5);
    return (out.seconds() - from) / 86'400;
  };
  CHECK(end(thursday, 1) == 1);                // Friday
  CHECK(end(thursday, 2) == 4);                // Monday
  CHECK(end(thursday, 10) == 14);              // two weeks
  CHECK(end(thursday + 86'400, 1) == 3);       // Friday -> Monday
  CHECK(end(thursday + 2 * 86'400, 1) == 2);   // Saturday -> Monday
  CHECK(end(thursday + 3 * 86'400, 1) == 1);   // Sunday -> Monday
  CHECK(end(thursday + 3 * 86'400, 5) == 5);   // Sunday -> Friday
  CHECK(end(-86'400, 1) == 1);                 // 1969-12-31, a Wednesday -> Thursday
  CHECK(DisputeWindowSubject(EmployeeId("E1"), CycleId("C1")) == "dispute-window/E1/C1");
  CHECK(HeldWhileDisputable(v1::ACTION_KIND_PIP));
  CHECK(HeldWhileDisputable(v1::ACTION_KIND_HR_REVIEW));
  CHECK_FALSE(HeldWhileDisputable(v1::ACTION_KIND_BONUS));
}

}  // namespace
}  // namespace perfledger::policy
