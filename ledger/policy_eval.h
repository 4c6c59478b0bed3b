// Evaluation of a policy (policy.h): grades from scores or metrics, the actions a grade
// triggers, threshold alerts over rolling windows, follow-up deadlines and PIP outcomes.
//
// Everything here is a pure function of its arguments (ARCHITECTURE §3 rule 2): no clock, no I/O, no
// randomness, no global state. Time is always an argument taken from events (occurred_at), so
// replaying the same log through the same policy yields byte-identical actions, and action ids
// derive from (cause event id, rule id) so a replayed or restarted reactor never doubles one
// (ARCHITECTURE §3 rule 6).
//
// Arithmetic is integer only (ARCHITECTURE §3 rule 5): money in minor units, percentages in basis
// points, scores and metrics in milli-units. Products are computed in 128 bits and every
// division is rounded once, at the end, half away from zero: 2.5 -> 3, -2.5 -> -3, 2.4999 -> 2.
//
// Thread safety: every function is thread-safe; RollingWindow is a value type (one owner).
#pragma once

#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "google/protobuf/timestamp.pb.h"
#include "ledger/ids.h"
#include "ledger/limits.h"
#include "ledger/policy.h"
#include "perfledger/v1/events.pb.h"

namespace perfledger::policy {

// ---------------------------------------------------------------- integer helpers

// num / den rounded half away from zero, saturated to the int64 range.
// REQUIRES: den > 0.
int64_t DivRound(__int128 num, __int128 den);

// amount × bp / 10000, rounded half away from zero (a raise of `bp` on `amount`).
int64_t ApplyBasisPoints(int64_t amount_minor, uint32_t bp);

// annual / 12 × bp / 10000, computed as annual × bp / 120000 and rounded once, so a monthly
// amount that is not a whole minor unit does not round twice.
int64_t MonthlyBasisPoints(int64_t annual_minor, uint32_t bp);

// The aggregate of `values` (mean rounded half away from zero); nullopt when empty.
std::optional<int64_t> AggregateValues(Aggregate aggregate, std::span<const int64_t> values);

// ---------------------------------------------------------------- grading

// One input value and the event it came from (recorded in GradeFinalized.inputs).
struct InputScore {
  int64_t value_milli = 0;
  // The event the value derives from; for a mean over several events, the caller's choice of
  // representative (e.g. the latest). May be empty.
  std::string event_id;
  // For a value aggregated over several events (GradeInput.count ...): how many, their sum,
  // least and greatest. count 0: a single value.
  uint64_t count = 0;
  int64_t sum_milli = 0;
  int64_t min_milli = 0;
  int64_t max_milli = 0;
  // A metric's: Σ denominator when the value is a ratio mean (0: a plain mean), and the
  // position of the latest observation counted (GradeInput.weight, .through).
  int64_t weight = 0;
  std::optional<v1::Position> through = std::nullopt;
};

struct GradeInputs {
  // weighted_scores: per-source mean scores and the goals score, in milli-points.
  std::optional<InputScore> manager;
  std::optional<InputScore> self;
  std::optional<InputScore> peer;
  std::optional<InputScore> goals;
  // The calibration committee's overall score (CalibrationAdjusted). When the policy gives
  // `calibration` a weight it is one weighted input among the others. Otherwise, when present,
  // it OVERRIDES the computed score: the committee's decision is final, and the other inputs
  // are then neither required nor recorded. For metric_bands it is read in the metric's units.
  std::optional<InputScore> calibration;
  // metric_bands: the aggregate (grading.aggregate, see AggregateValues) of the cycle's
  // observations of grading.metric for the employee, in milli-units.
  std::optional<InputScore> metric;
};

struct GradeDecision {
  std::string grade;
  int64_t score_milli = 0;  // the value the bands were applied to
  bool calibrated = false;  // true when the calibration overrode the computed score
  // The inputs used, with their weights, in a fixed order (manager, self, peer, goals,
  // calibration, metric): copy into GradeFinalized.inputs. Kinds: "manager", "self", "peer",
  // "goals", "calibration", "metric:<name>".
  std::vector<v1::GradeInput> inputs;
};

// Grades one employee for one cycle.
//
// weighted_scores: score = Σ value × weight_bp / 10000 over the inputs with a weight, rounded
// once; the first band (best first) with score >= min_score_milli wins. metric_bands: the first
// band the metric aggregate satisfies (value < below_milli for lower_is_better, value >=
// at_least_milli for higher_is_better) wins. A band without a bound catches everything.
//
// Errors: FAILED_PRECONDITION naming what is missing ("no manager score", "no defect_rate
// metric") or when the value falls in no band (a policy without a catch-all band);
// INVALID_ARGUMENT when an input is outside limits::kScoreMilliMax / kMetricMilliAbsMax.
absl::StatusOr<GradeDecision> ComputeGrade(const Policy& policy, const GradeInputs& inputs);

// ---------------------------------------------------------------- actions of a grade

// A grade the employee received in an earlier cycle.
struct PriorGrade {
  CycleId cycle_id;
  std::string grade;  // empty: the employee was not graded in that cycle (breaks a streak)
};
// Oldest first, one entry per cycle (the effective grade after any supersession). Entries for
// the cycle being acted on are ignored, so a caller may pass the full history.
using History = std::vector<PriorGrade>;

// The action id of ARCHITECTURE §3 rule 6: the first 32 hex characters of
// SHA-256(cause_event_id + "\n" + rule_id). Consumers use it as their idempotency key.
std::string ActionId(std::string_view cause_event_id, std::string_view rule_id);

// The actions `grade` triggers under `policy`, one per effect, in a fixed order: salary
// adjustment, bonus, training (policy order), promotion nomination, PIP, HR review. Rule ids:
//   grades.<G>.raise                SALARY_ADJUSTMENT  amount = base × bp / 10000, reason "merit"
//                                   (raise_bp, or the merit-matrix row of the compa-ratio)
//   grades.<G>.bonus                BONUS              amount = base / 12 × bp / 10000
//   grades.<G>.training.<course>    TRAINING           course_id
//   grades.<G>.promotion            PROMOTION_NOMINATION  only when the streak holds
//   grades.<G>.pip                  PIP                pip_length_days, pip_checkpoint_every_days
//   grades.<G>.hr_review            HR_REVIEW          parameters kind, reason
// A raise or bonus of 0 bp emits nothing. Every action carries action_id = ActionId(
// grade_event_id, rule_id), cause_event_ids {grade_event_id}, policy_version, the employee,
// cycle, org unit and manager of `grade`, and `effective_at` as given (the caller passes the
// grade event's occurred_at, or whatever business date applies; nothing here reads a clock).
// Money is in grade.base_salary's currency; a grade without a salary gets amount 0 and the
// percent alone. The follow-up of a grade is not an action yet: see PlanFollowup.
// An unknown grade, or one without actions, yields no actions.
std::vector<v1::ActionTriggered> ActionsForGrade(const Policy& policy, uint64_t policy_version,
                                                 const std::string& grade_event_id,
                                                 const v1::GradeFinalized& grade,
                                                 const History& prior_grades,
                                                 const google::protobuf::Timestamp& effective_at);

// compa-ratio = base × 10000 / midpoint in basis points, rounded half away from zero; nullopt
// when the midpoint is missing (<= 0) or in another currency than the base.
std::optional<int64_t> CompaRatioBp(const v1::Money& base, const v1::Money& midpoint);

// The merit-matrix row for (base, midpoint): the first row with compa-ratio <
// compa_ratio_below_bp, compared exactly (base × 10000 < below × midpoint, no rounding), else
// the catch-all last row; the catch-all also when the compa-ratio is unknown.
// REQUIRES: `matrix` is a validated merit matrix (non-empty, last row without a bound).
size_t SelectMeritRow(const std::vector<MeritRow>& matrix, const v1::Money& base,
                      const v1::Money& midpoint);

// True when the employee received `grade` in `consecutive_cycles` consecutive cycles, this one
// (`cycle_id`) included.
bool StreakHolds(const History& prior_grades, const CycleId& cycle_id,
                 const std::string& grade, uint32_t consecutive_cycles);

// ---------------------------------------------------------------- follow-ups

// True when `to` is a strictly better grade than `from` (earlier in grading.bands). Unknown
// grades are never better.
bool Improved(const Policy& policy, std::string_view from, std::string_view to);

// A scheduled follow-up of a grade: the live scheduler appends DeadlineReached{subject =
// deadline_subject, deadline_at} when due; the reactor then calls FollowupOutcome.
struct FollowupPlan {
  std::string rule_id;           // "grades.<G>.followup"
  std::string action_id;         // the id the HR review will carry if it fires
  std::string deadline_subject;  // "action/<action_id>"
  google::protobuf::Timestamp deadline_at;
};

// grade_occurred_at + AddDays(if_not_improved_within_days); nullopt when the grade has no
// follow-up. Days are 86400 s of business time (UTC, no calendar or DST arithmetic).
std::optional<FollowupPlan> PlanFollowup(const Policy& policy, const std::string& grade_event_id,
                                         const v1::GradeFinalized& grade,
                                         const google::protobuf::Timestamp& grade_occurred_at);

// Decides a follow-up whose deadline was reached. `grades_since` are the employee's grades
// finalized after `grade` up to the deadline (by occurred_at). Returns the HR review of the
// follow-up unless one of them improved on `grade`. The action has rule_id
// "grades.<G>.followup", action_id = PlanFollowup(...).action_id and cause_event_ids
// {grade_event_id, deadline_event_id}. Use the policy version in force for `grade`.
std::optional<v1::ActionTriggered> FollowupOutcome(
    const Policy& policy, uint64_t policy_version, const std::string& grade_event_id,
    const v1::GradeFinalized& grade, const std::string& deadline_event_id,
    const History& grades_since, const google::protobuf::Timestamp& effective_at);

// ts + days × 86400 s.
google::protobuf::Timestamp AddDays(const google::protobuf::Timestamp& ts, uint32_t days);

// ---------------------------------------------------------------- disputes

// The end of a grade's dispute window: `business_days` days that fall on Monday to Friday
// (UTC) after `grade_occurred_at`, at the same time of day. A grade finalized on a Friday
// with a window of 1 closes on Monday; one finalized on a Saturday, also on Monday. No public
// holidays are known. REQUIRES: business_days >= 1.
google::protobuf::Timestamp DisputeWindowEnd(const google::protobuf::Timestamp& grade_occurred_at,
                                             uint32_t business_days);

// The deadline subject of an employee's dispute window for a cycle:
// "dispute-window/<employee>/<cycle>".
std::string DisputeWindowSubject(const EmployeeId& employee_id, const CycleId& cycle_id);
inline constexpr char kDisputeWindowPrefix[] = "dispute-window/";

// Whether disputes.hold_actions holds an action of this kind (PIP and HR review: the adverse
// ones a dispute may overturn).
bool HeldWhileDisputable(v1::ActionKind kind);

// ---------------------------------------------------------------- PIP outcomes

// Who an action outside a grade is about (a PipClosed carries only the employee).
struct ActionContext {
  std::string employee_id;
  std::string cycle_id;
  std::string org_unit_id;
  std::string manager_id;
};

// The HR review of pip_outcomes.failed when `closed` failed (rule "pip_outcomes.failed",
// action_id = ActionId(pip_closed_event_id, rule)); nullopt otherwise.
std::optional<v1::ActionTriggered> ActionForPipClosed(
    const Policy& policy, uint64_t policy_version, const std::string& pip_closed_event_id,
    const v1::PipClosed& closed, const ActionContext& context,
    const google::protobuf::Timestamp& effective_at);

// ---------------------------------------------------------------- alerts

// The recent observations of one metric for one subject, by business time. A sample is in the
// window while newest - window < time <= newest, where newest is the latest time seen (by Add
// or AdvanceTo): values fall out only as event time advances, never by a clock. Samples are kept
// in time order (ties in arrival order); a sample already older than the window is dropped.
// At most `max_samples` are kept, the oldest dropped first, so memory is bounded
// (limits::kRollingWindowSamplesMax); past that bound the aggregate covers the latest
// max_samples observations only.
class RollingWindow {
 public:
  // REQUIRES: window_days > 0, max_samples > 0.
  explicit RollingWindow(uint32_t window_days,
                         size_t max_samples = limits::kRollingWindowSamplesMax);

  void Add(const google::protobuf::Timestamp& at, int64_t value_milli);
  // Moves "newest" forward to `now` (if later) and drops what fell out.
  void AdvanceTo(const google::protobuf::Timestamp& now);

  // Over the samples in the window; nullopt when empty. kLast is the latest sample by time.
  std::optional<int64_t> Aggregate(policy::Aggregate aggregate) const;

  size_t size() const { return samples_.size(); }
  bool empty() const { return samples_.empty(); }
  uint32_t window_days() const { return window_days_; }

 private:
  void Evict();

  uint32_t window_days_;
  size_t max_samples_;
  std::deque<std::pair<absl::Time, int64_t>> samples_;
  __int128 sum_ = 0;  // of samples_, for an O(1) mean
  absl::Time newest_ = absl::InfinitePast();
};

// The subject of an alert evaluation and who would be told.
struct AlertSubject {
  v1::OwnerKind kind = v1::OWNER_KIND_UNSPECIFIED;  // must equal the rule's scope
  std::string subject_id;                           // employee id or org unit id
  std::string manager_id;                           // the employee's manager (scope employee)
  std::string org_unit_manager_id;                  // the manager of the (employee's) unit
  std::string parent_unit_manager_id;               // the manager of that unit's parent
  std::string cycle_id;                             // a cycle window's cycle
  // A unit the observation rolled up to (not its own subject): one observation can breach the
  // rule for its unit and for several ancestors, each alert with an id of its own.
  bool rolled_up = false;
};

// True when `aggregate` is strictly past the threshold on the rule's bad side.
bool Breaches(const AlertRule& rule, int64_t aggregate);

// A ThresholdBreached when `window`'s aggregate breaches `rule` (level-triggered: every call
// in breach returns one; a reactor that wants one alert per excursion remembers the previous
// state per (rule, subject) and emits on a false -> true change). alert_id = ActionId(
// cause_event_id, "alerts.<id>"), or for a rolled-up unit ActionId(cause_event_id,
// "alerts.<id>/<unit>"), rule_id "alerts.<id>", cause_event_ids {cause_event_id} (the
// observation that was added last). nullopt when not in breach, the window is empty, or the
// subject is not of the rule's scope.
std::optional<v1::ThresholdBreached> EvaluateAlert(const AlertRule& rule, uint64_t policy_version,
                                                   const RollingWindow& window,
                                                   const AlertSubject& subject,
                                                   const std::string& cause_event_id);
// The same for a window's aggregate computed elsewhere (nullopt: the window is empty).
std::optional<v1::ThresholdBreached> EvaluateAlert(const AlertRule& rule, uint64_t policy_version,
                                                   std::optional<int64_t> aggregate,
                                                   const AlertSubject& subject,
                                                   const std::string& cause_event_id);

}  // namespace perfledger::policy
