// The policy document of ARCHITECTURE §6: how a grade is reached and what each grade, metric
// threshold and PIP outcome triggers. docs/POLICY.md is the reference of the schema.
//
// A policy is authored as YAML or JSON, parsed and validated here, and published as its
// canonical JSON (PolicyPublished.document_json). Everything the reactor decides is a pure
// function of that canonical document and the log (ARCHITECTURE §3 rule 2), so this file does no I/O
// and keeps no state: the types are plain values and the functions are thread-safe.
//
// Validation is strict on purpose. A typo in a key ("rasie_bp") or a value ("lower_is_beter")
// would otherwise silently disable a rule that decides pay, so every unknown key and every
// out-of-range value is an error that names the field path (and the YAML line).
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/statusor.h"
#include "perfledger/v1/common.pb.h"

namespace perfledger::policy {

// ---------------------------------------------------------------- grading

enum class GradingMethod { kWeightedScores, kMetricBands };

// How a series of values is reduced to one. Integer math; kMean rounds half away from zero.
enum class Aggregate { kMean, kLast, kMax, kMin };

// The inputs a weighted_scores policy can weigh.
enum class ScoreInput { kManager, kSelf, kPeer, kGoals, kCalibration };

// How a metric band's bound was written: the primary key, or the other one of its direction
// (lower_is_better "at_most_milli", higher_is_better "above_milli").
enum class BoundKind { kPrimary, kAlternative };

// One grade band. `bound_milli` is the band's threshold, read by the grading method:
//   weighted_scores:                 score >= bound  ("min_score_milli")
//   metric_bands, lower_is_better:   value <  bound  ("below_milli"; "at_most_milli: X" is
//                                                     stored as bound X + 1)
//   metric_bands, higher_is_better:  value >= bound  ("at_least_milli"; "above_milli: X" is
//                                                     stored as bound X + 1)
// Values are whole milli-units, so the two spellings are exact equivalents; `bound_kind` keeps
// the author's, so the canonical document says what was written.
// Only the last band may have no bound: it then catches every value the others did not.
struct Band {
  std::string grade;
  std::optional<int64_t> bound_milli;
  BoundKind bound_kind = BoundKind::kPrimary;
};

struct Grading {
  GradingMethod method = GradingMethod::kWeightedScores;
  // weighted_scores: weight per input in basis points, summing to 10000. Zero weights are
  // dropped at parse time (a zero weight and an absent one mean the same thing and must hash
  // the same).
  std::map<ScoreInput, uint32_t> weights;
  // metric_bands: which metric, which way is better, how the cycle's observations reduce.
  std::string metric;
  v1::Direction direction = v1::DIRECTION_UNSPECIFIED;
  Aggregate aggregate = Aggregate::kMean;
  // Best grade first. Grades are unique. Bounds are strictly ordered from best to worst.
  std::vector<Band> bands;
};

// ---------------------------------------------------------------- actions per grade

enum class HrReviewKind { kReassignment, kExit };

struct HrReview {
  HrReviewKind kind = HrReviewKind::kReassignment;
  std::string reason;  // free text, may be empty
};

// One row of a merit matrix: raise_bp applies when compa-ratio < compa_ratio_below_bp. The last
// row has no bound and catches the rest (and every employee without a band midpoint).
struct MeritRow {
  std::optional<uint32_t> compa_ratio_below_bp;
  uint32_t raise_bp = 0;
};

struct Bonus {
  uint32_t percent_of_monthly_bp = 0;  // of base_salary / 12
  std::string reason_code;             // empty: "bonus"
};

struct Promotion {
  std::string nominate_to;          // job level or role id, e.g. "team-lead"
  uint32_t consecutive_cycles = 1;  // this grade in N consecutive cycles, this one included
};

struct Pip {
  uint32_t length_days = 0;
  uint32_t checkpoint_every_days = 0;
};

// A follow-up: if no better grade is finalized within `if_not_improved_within_days` of the
// grade, `hr_review` is triggered when the deadline is reached.
struct Followup {
  uint32_t if_not_improved_within_days = 0;
  HrReview hr_review;
};

// What one grade triggers. Every member is optional; an empty GradeActions triggers nothing.
// At most one of raise_bp and merit_matrix is set.
struct GradeActions {
  std::optional<uint32_t> raise_bp;
  std::vector<MeritRow> merit_matrix;  // empty: no matrix
  std::optional<Bonus> bonus;
  std::vector<std::string> training;   // course ids, in the order actions are emitted
  std::optional<Promotion> promotion;
  std::optional<Pip> pip;
  std::optional<HrReview> hr_review;
  std::optional<Followup> followup;
};

// ---------------------------------------------------------------- alerts and PIP outcomes

// Who an alert names: the employee's manager, the manager of the (employee's) unit, the manager
// of that unit's parent, or everyone holding a role (AlertRule.notify_role).
enum class Notify { kManager, kOrgUnitManager, kParentUnitManager, kRole };

// Which observations an alert aggregates: those of the last `window_days` of business time, or
// those of the observation's cycle (MetricObserved.cycle_id; observations without one are not
// counted).
enum class AlertWindowKind { kRollingDays, kCycle };

// A threshold on a metric stream, per employee or per org unit, over a window.
struct AlertRule {
  std::string id;
  std::string metric;
  v1::OwnerKind scope = v1::OWNER_KIND_UNSPECIFIED;  // EMPLOYEE or ORG_UNIT
  AlertWindowKind window = AlertWindowKind::kRollingDays;
  uint32_t window_days = 0;  // kRollingDays
  Aggregate aggregate = Aggregate::kMean;
  int64_t threshold_milli = 0;
  // Which way the metric is better; a breach is the aggregate strictly past the threshold on
  // the bad side (lower_is_better: aggregate > threshold; higher_is_better: aggregate <
  // threshold).
  v1::Direction direction = v1::DIRECTION_UNSPECIFIED;
  Notify notify = Notify::kManager;
  v1::Role notify_role = v1::ROLE_UNSPECIFIED;  // Notify::kRole
};

// How the observations of a person add up for their org unit and its ancestors (the unit the
// person belonged to when observed; a direct observation of a unit counts for it and its
// ancestors alike):
//   kRatio  each observation weighs its `denominator` (1 when it has none), so a unit's mean is
//           Σ(value × denominator) / Σ denominator: Σ defects / Σ inspected for a rate whose
//           observations carry the units inspected, never a mean of the workers' means;
//   kMean   each observation weighs 1, whatever its denominator;
//   kNone   the metric does not roll up; a unit has only the observations made of it.
// The unit's max, min and last are the member observations' whatever the method.
enum class Rollup { kRatio, kMean, kNone };

// What the policy says of one metric. A metric it does not list rolls up as kRatio and ranks
// units higher-is-better.
struct MetricRule {
  Rollup rollup = Rollup::kRatio;
  // Which way unit rankings order the metric's roll-ups (better first); unspecified:
  // higher_is_better.
  v1::Direction direction = v1::DIRECTION_UNSPECIFIED;
};

struct PipOutcomes {
  std::optional<HrReview> failed;  // what a failed PIP triggers
};

// ---------------------------------------------------------------- disputes

// Who decides a dispute: the skip-level manager (the manager of the employee's manager, else
// the manager of the employee's unit's parent; hr when neither exists) or hr.
enum class DisputeAssignTo { kSkipLevel, kHr };

// The employee's side of a review (docs/POLICY.md "disputes"). A policy without the section
// gets these defaults (DisputeSettings).
struct Disputes {
  // The window closes this many business days (Monday to Friday, UTC) after the grade's
  // business time (policy_eval.h DisputeWindowEnd). 1..limits::kDisputeWindowBusinessDaysMax.
  uint32_t window_business_days = 10;
  DisputeAssignTo assign_to = DisputeAssignTo::kSkipLevel;
  // Hold the grade's PIP and HR-review actions until the grade is settled (reactor_state.cc).
  bool hold_actions = false;
};

// ---------------------------------------------------------------- the document

struct Policy {
  std::string policy_id;
  std::string description;
  Grading grading;
  // grade -> basis points, summing to 10000; empty when the policy recommends none.
  std::map<std::string, uint32_t> recommended_distribution;
  // grade -> what it triggers. Every key is a grade of grading.bands.
  std::map<std::string, GradeActions> actions;
  std::vector<AlertRule> alerts;  // ids unique
  // metric name -> how it rolls up to org units and ranks them.
  std::map<std::string, MetricRule> metrics;
  PipOutcomes pip_outcomes;
  // Absent: the defaults of Disputes (the canonical JSON then omits the section, so documents
  // written before it keep their hash).
  std::optional<Disputes> disputes;

  // Position of `grade` in grading.bands (0 = best), or nullopt when the policy has no such
  // grade. Lower is better.
  std::optional<size_t> GradeRank(std::string_view grade) const;
  // What the policy says of `metric` (the defaults when it is not listed).
  MetricRule MetricRuleOf(std::string_view metric) const;
};

enum class Format {
  kJson,
  kYaml,
  kAuto,  // JSON when the first non-blank character is '{', YAML otherwise
};

// Parses and validates a policy document.
//
// Returns INVALID_ARGUMENT when the document is malformed, too large (limits::kPolicyBytesMax,
// kPolicyNodesMax, kPolicyDepthMax) or invalid. The message starts with the path of the field
// at fault, e.g. "actions.A.raise_bp: must be 0..10000"; for YAML it is prefixed with the
// 1-based line, e.g. "line 12: actions.A.raise_bp: must be 0..10000". Unknown keys, duplicate
// keys and values of the wrong type are errors. On success the policy is fully valid: every
// function in policy_eval.h may rely on the invariants documented on the types above.
absl::StatusOr<Policy> ParsePolicy(std::string_view text, Format format = Format::kAuto);

// The canonical JSON of a policy: keys in lexicographic order, no insignificant whitespace,
// integers only, absent optionals omitted, zero weights dropped. Equal policies give equal
// bytes whatever format or key order they were written in, so SHA-256 of this string
// identifies the policy (PolicyPublished.document_sha256). ParsePolicy(CanonicalJson(p))
// gives back p.
std::string CanonicalJson(const Policy& policy);

// Lower-case hex SHA-256 of CanonicalJson(policy): PolicyPublished.document_sha256.
std::string CanonicalSha256(const Policy& policy);

// Wire names, as written in documents ("lower_is_better", "mean", "manager", ...).
std::string_view ToString(Aggregate a);
std::string_view ToString(Rollup r);
std::string_view ToString(ScoreInput s);
std::string_view ToString(HrReviewKind k);
std::string_view DirectionName(v1::Direction d);
std::string_view ToString(DisputeAssignTo a);

// The disputes section in force under `policy` (null: no policy): the defaults unless the
// document sets it.
Disputes DisputeSettings(const Policy* policy);

}  // namespace perfledger::policy
