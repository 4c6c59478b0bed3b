#include "ledger/policy_eval.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "ledger/hash_chain.h"
#include "ledger/types.h"

namespace perfledger::policy {
namespace {

constexpr int64_t kBp = limits::kBasisPointsMax;
constexpr int64_t kSecondsPerDay = 86'400;

v1::Attribute* AddParam(v1::ActionTriggered& a, std::string key, std::string value) {
  v1::Attribute* p = a.add_parameters();
  p->set_key(std::move(key));
  p->set_value(std::move(value));
  return p;
}

absl::Status CheckInput(const std::string& name, int64_t v, int64_t max) {
  if (v < -max || v > max) {
    return absl::InvalidArgumentError(
        absl::StrCat("inputs.", name, ": ", v, " is outside -", max, "..", max));
  }
  return absl::OkStatus();
}

v1::GradeInput MakeInput(std::string kind, const InputScore& s, uint32_t weight_bp) {
  v1::GradeInput in;
  in.set_event_id(s.event_id);
  in.set_kind(std::move(kind));
  in.set_value_milli(s.value_milli);
  in.set_weight_bp(weight_bp);
  if (s.count > 0) {
    in.set_count(s.count);
    in.set_sum_milli(s.sum_milli);
    in.set_min_milli(s.min_milli);
    in.set_max_milli(s.max_milli);
    in.set_weight(s.weight);
  }
  if (s.through) *in.mutable_through() = *s.through;
  return in;
}

// The first band `value` falls in, best first.
std::optional<std::string> FindBand(const Grading& g, int64_t value) {
  const bool lower_better =
      g.method == GradingMethod::kMetricBands && g.direction == v1::DIRECTION_LOWER_IS_BETTER;
  for (const policy::Band& b : g.bands) {
    if (!b.bound_milli.has_value()) return b.grade;
    if (lower_better ? value < *b.bound_milli : value >= *b.bound_milli) return b.grade;
  }
  return std::nullopt;
}

// What every action of a grade shares.
v1::ActionTriggered BaseAction(uint64_t policy_version, const std::string& cause_event_id,
                               const std::string& rule_id, v1::ActionKind kind,
                               const ActionContext& who,
                               const google::protobuf::Timestamp& effective_at) {
  v1::ActionTriggered a;
  a.set_action_id(ActionId(cause_event_id, rule_id));
  a.set_kind(kind);
  a.set_employee_id(who.employee_id);
  a.set_cycle_id(who.cycle_id);
  a.set_rule_id(rule_id);
  a.set_policy_version(policy_version);
  a.add_cause_event_ids(cause_event_id);
  *a.mutable_effective_at() = effective_at;
  a.set_org_unit_id(who.org_unit_id);
  a.set_manager_id(who.manager_id);
  return a;
}

ActionContext ContextOf(const v1::GradeFinalized& g) {
  return ActionContext{g.employee_id(), g.cycle_id(), g.org_unit_id(), g.manager_id()};
}

void AddHrReview(v1::ActionTriggered& a, const HrReview& r) {
  AddParam(a, "kind", std::string(ToString(r.kind)));
  if (!r.reason.empty()) AddParam(a, "reason", r.reason);
}

std::string GradeRule(const std::string& grade, std::string_view what) {
  return absl::StrCat("grades.", grade, ".", std::string(what));
}

}  // namespace

// ---------------------------------------------------------------- integer helpers

int64_t DivRound(__int128 num, __int128 den) {
  const bool negative = num < 0;
  const __int128 mag = negative ? -num : num;
  // Half away from zero: add half the divisor to the magnitude, then truncate. 2*rem >= den
  // is the same test without overflow concerns at our magnitudes (|num| < 2^126).
  __int128 q = mag / den;
  const __int128 rem = mag % den;
  if (rem * 2 >= den) q += 1;
  if (negative) q = -q;
  if (q > INT64_MAX) return INT64_MAX;
  if (q < INT64_MIN) return INT64_MIN;
  return static_cast<int64_t>(q);
}

int64_t ApplyBasisPoints(int64_t amount_minor, uint32_t bp) {
  return DivRound(static_cast<__int128>(amount_minor) * bp, kBp);
}

int64_t MonthlyBasisPoints(int64_t annual_minor, uint32_t bp) {
  return DivRound(static_cast<__int128>(annual_minor) * bp, 12 * kBp);
}

std::optional<int64_t> AggregateValues(Aggregate aggregate, std::span<const int64_t> values) {
  if (values.empty()) return std::nullopt;
  switch (aggregate) {
    case Aggregate::kMean: {
      __int128 sum = 0;
      for (int64_t v : values) sum += v;
      return DivRound(sum, static_cast<__int128>(values.size()));
    }
    case Aggregate::kLast:
      return values.back();
    case Aggregate::kMax:
      return *std::max_element(values.begin(), values.end());
    case Aggregate::kMin:
      return *std::min_element(values.begin(), values.end());
  }
  return std::nullopt;
}

// ---------------------------------------------------------------- grading

absl::StatusOr<GradeDecision> ComputeGrade(const Policy& policy, const GradeInputs& in) {
  const Grading& g = policy.grading;
  GradeDecision d;
  const bool weighted = g.method == GradingMethod::kWeightedScores;
  const bool calibration_weighted = weighted && g.weights.count(ScoreInput::kCalibration) > 0;

  if (in.calibration.has_value() && !calibration_weighted) {
    // The committee's score is final: it replaces whatever the inputs would give.
    const int64_t max = weighted ? limits::kScoreMilliMax : limits::kMetricMilliAbsMax;
    if (absl::Status s = CheckInput("calibration", in.calibration->value_milli, max); !s.ok()) {
      return s;
    }
    d.score_milli = in.calibration->value_milli;
    d.calibrated = true;
    d.inputs.push_back(MakeInput("calibration", *in.calibration, static_cast<uint32_t>(kBp)));
  } else if (weighted) {
    __int128 sum = 0;
    // std::map order: manager, self, peer, goals, calibration (the enum order).
    for (const auto& [input, weight] : g.weights) {
      const std::optional<InputScore>* src = nullptr;
      switch (input) {
        case ScoreInput::kManager: src = &in.manager; break;
        case ScoreInput::kSelf: src = &in.self; break;
        case ScoreInput::kPeer: src = &in.peer; break;
        case ScoreInput::kGoals: src = &in.goals; break;
        case ScoreInput::kCalibration: src = &in.calibration; break;
      }
      const std::string name(ToString(input));
      if (!src->has_value()) {
        return absl::FailedPreconditionError(
            absl::StrCat("no ", name, " score (the policy weighs it ", weight, " bp)"));
      }
      if (absl::Status s = CheckInput(name, (*src)->value_milli, limits::kScoreMilliMax);
          !s.ok()) {
        return s;
      }
      sum += static_cast<__int128>((*src)->value_milli) * weight;
      d.inputs.push_back(MakeInput(name, **src, weight));
    }
    // Weights sum to 10000 (validated), so this is the weighted mean, rounded once.
    d.score_milli = DivRound(sum, kBp);
  } else {
    if (!in.metric.has_value()) {
      return absl::FailedPreconditionError(absl::StrCat("no ", g.metric, " metric"));
    }
    if (absl::Status s = CheckInput("metric", in.metric->value_milli, limits::kMetricMilliAbsMax);
        !s.ok()) {
      return s;
    }
    d.score_milli = in.metric->value_milli;
    d.inputs.push_back(MakeInput(absl::StrCat("metric:", g.metric), *in.metric,
                                 static_cast<uint32_t>(kBp)));
  }

  std::optional<std::string> grade = FindBand(g, d.score_milli);
  if (!grade.has_value()) {
    return absl::FailedPreconditionError(
        absl::StrCat("score ", d.score_milli,
                     " falls in no band of grading.bands (the policy has no catch-all band)"));
  }
  d.grade = std::move(*grade);
  return d;
}

// ---------------------------------------------------------------- actions of a grade

std::string ActionId(std::string_view cause_event_id, std::string_view rule_id) {
  std::string input;
  input.reserve(cause_event_id.size() + 1 + rule_id.size());
  input.append(cause_event_id);
  input.push_back('\n');  // ids never contain a newline, so the pair is unambiguous
  input.append(rule_id);
  return ToHex(Sha256(input)).substr(0, 32);
}

std::optional<int64_t> CompaRatioBp(const v1::Money& base, const v1::Money& midpoint) {
  if (midpoint.amount_minor() <= 0 || midpoint.currency() != base.currency()) return std::nullopt;
  return DivRound(static_cast<__int128>(base.amount_minor()) * kBp, midpoint.amount_minor());
}

size_t SelectMeritRow(const std::vector<MeritRow>& matrix, const v1::Money& base,
                      const v1::Money& midpoint) {
  const size_t catch_all = matrix.size() - 1;
  if (midpoint.amount_minor() <= 0 || midpoint.currency() != base.currency()) return catch_all;
  // Exact comparison: base × 10000 / mid < below  <=>  base × 10000 < below × mid (mid > 0).
  // Rounding the ratio first could move an employee across a row boundary.
  const __int128 lhs = static_cast<__int128>(base.amount_minor()) * kBp;
  for (size_t i = 0; i < catch_all; i++) {
    const __int128 rhs =
        static_cast<__int128>(*matrix[i].compa_ratio_below_bp) * midpoint.amount_minor();
    if (lhs < rhs) return i;
  }
  return catch_all;
}

bool StreakHolds(const History& prior_grades, const CycleId& cycle_id,
                 const std::string& grade, uint32_t consecutive_cycles) {
  uint32_t streak = 1;  // this cycle
  for (auto it = prior_grades.rbegin(); it != prior_grades.rend() && streak < consecutive_cycles;
       ++it) {
    if (it->cycle_id == cycle_id) continue;  // the cycle being acted on (e.g. a superseded grade)
    if (it->grade != grade) break;
    streak++;
  }
  return streak >= consecutive_cycles;
}

std::vector<v1::ActionTriggered> ActionsForGrade(const Policy& policy, uint64_t policy_version,
                                                 const std::string& grade_event_id,
                                                 const v1::GradeFinalized& grade,
                                                 const History& prior_grades,
                                                 const google::protobuf::Timestamp& effective_at) {
  std::vector<v1::ActionTriggered> out;
  auto found = policy.actions.find(grade.grade());
  if (found == policy.actions.end()) return out;
  const GradeActions& a = found->second;
  const ActionContext who = ContextOf(grade);
  const v1::Money& base = grade.base_salary();
  auto make = [&](std::string_view what, v1::ActionKind kind) {
    return BaseAction(policy_version, grade_event_id, GradeRule(grade.grade(), what), kind, who,
                      effective_at);
  };

  // Raise: a flat percentage or the merit-matrix row of the employee's compa-ratio.
  std::optional<uint32_t> raise_bp = a.raise_bp;
  std::optional<size_t> row;
  if (!a.merit_matrix.empty()) {
    row = SelectMeritRow(a.merit_matrix, base, grade.band_midpoint());
    raise_bp = a.merit_matrix[*row].raise_bp;
  }
  if (raise_bp.has_value() && *raise_bp > 0) {
    v1::ActionTriggered x = make("raise", v1::ACTION_KIND_SALARY_ADJUSTMENT);
    x.mutable_amount()->set_amount_minor(ApplyBasisPoints(base.amount_minor(), *raise_bp));
    x.mutable_amount()->set_currency(base.currency());
    x.set_percent_bp(*raise_bp);
    x.set_reason_code("merit");
    if (row.has_value()) {
      AddParam(x, "merit_row", absl::StrCat(*row));
      if (std::optional<int64_t> cr = CompaRatioBp(base, grade.band_midpoint())) {
        AddParam(x, "compa_ratio_bp", absl::StrCat(*cr));
      }
    }
    out.push_back(std::move(x));
  }

  if (a.bonus.has_value() && a.bonus->percent_of_monthly_bp > 0) {
    v1::ActionTriggered x = make("bonus", v1::ACTION_KIND_BONUS);
    x.mutable_amount()->set_amount_minor(
        MonthlyBasisPoints(base.amount_minor(), a.bonus->percent_of_monthly_bp));
    x.mutable_amount()->set_currency(base.currency());
    x.set_percent_bp(a.bonus->percent_of_monthly_bp);
    x.set_reason_code(a.bonus->reason_code.empty() ? "bonus" : a.bonus->reason_code);
    out.push_back(std::move(x));
  }

  for (const std::string& course : a.training) {
    // One rule per course: each recommendation gets its own id and its own acknowledgement.
    v1::ActionTriggered x = make(absl::StrCat("training.", course), v1::ACTION_KIND_TRAINING);
    x.set_course_id(course);
    out.push_back(std::move(x));
  }

  if (a.promotion.has_value() &&
      StreakHolds(prior_grades, CycleId(grade.cycle_id()), grade.grade(),
                  a.promotion->consecutive_cycles)) {
    v1::ActionTriggered x = make("promotion", v1::ACTION_KIND_PROMOTION_NOMINATION);
    AddParam(x, "nominate_to", a.promotion->nominate_to);
    AddParam(x, "consecutive_cycles", absl::StrCat(a.promotion->consecutive_cycles));
    if (!grade.job_level().empty()) AddParam(x, "from_job_level", grade.job_level());
    out.push_back(std::move(x));
  }

  if (a.pip.has_value()) {
    v1::ActionTriggered x = make("pip", v1::ACTION_KIND_PIP);
    x.set_pip_length_days(a.pip->length_days);
    x.set_pip_checkpoint_every_days(a.pip->checkpoint_every_days);
    out.push_back(std::move(x));
  }

  if (a.hr_review.has_value()) {
    v1::ActionTriggered x = make("hr_review", v1::ACTION_KIND_HR_REVIEW);
    AddHrReview(x, *a.hr_review);
    out.push_back(std::move(x));
  }
  return out;
}

// ---------------------------------------------------------------- follow-ups

bool Improved(const Policy& policy, std::string_view from, std::string_view to) {
  const std::optional<size_t> f = policy.GradeRank(from);
  const std::optional<size_t> t = policy.GradeRank(to);
  if (!t.has_value()) return false;
  if (!f.has_value()) return false;
  return *t < *f;
}

google::protobuf::Timestamp AddDays(const google::protobuf::Timestamp& ts, uint32_t days) {
  google::protobuf::Timestamp out = ts;
  out.set_seconds(ts.seconds() + static_cast<int64_t>(days) * kSecondsPerDay);
  return out;
}

google::protobuf::Timestamp DisputeWindowEnd(const google::protobuf::Timestamp& grade_occurred_at,
                                             uint32_t business_days) {
  // Day 0 of the Unix epoch (1970-01-01) was a Thursday: weekday = (day + 4) mod 7, 0 = Sunday.
  int64_t day = grade_occurred_at.seconds() / kSecondsPerDay;
  if (grade_occurred_at.seconds() % kSecondsPerDay < 0) day--;
  int64_t added = 0;
  for (uint32_t counted = 0; counted < business_days;) {
    added++;
    const int64_t weekday = ((day + added + 4) % 7 + 7) % 7;
    if (weekday != 0 && weekday != 6) counted++;
  }
  google::protobuf::Timestamp out = grade_occurred_at;
  out.set_seconds(grade_occurred_at.seconds() + added * kSecondsPerDay);
  return out;
}

std::string DisputeWindowSubject(const EmployeeId& employee_id, const CycleId& cycle_id) {
  return absl::StrCat(kDisputeWindowPrefix, employee_id.value(), "/", cycle_id.value());
}

bool HeldWhileDisputable(v1::ActionKind kind) {
  return kind == v1::ACTION_KIND_PIP || kind == v1::ACTION_KIND_HR_REVIEW;
}

std::optional<FollowupPlan> PlanFollowup(const Policy& policy, const std::string& grade_event_id,
                                         const v1::GradeFinalized& grade,
                                         const google::protobuf::Timestamp& grade_occurred_at) {
  auto found = policy.actions.find(grade.grade());
  if (found == policy.actions.end() || !found->second.followup.has_value()) return std::nullopt;
  FollowupPlan plan;
  plan.rule_id = GradeRule(grade.grade(), "followup");
  plan.action_id = ActionId(grade_event_id, plan.rule_id);
  plan.deadline_subject = absl::StrCat("action/", plan.action_id);
  plan.deadline_at =
      AddDays(grade_occurred_at, found->second.followup->if_not_improved_within_days);
  return plan;
}

std::optional<v1::ActionTriggered> FollowupOutcome(
    const Policy& policy, uint64_t policy_version, const std::string& grade_event_id,
    const v1::GradeFinalized& grade, const std::string& deadline_event_id,
    const History& grades_since, const google::protobuf::Timestamp& effective_at) {
  auto found = policy.actions.find(grade.grade());
  if (found == policy.actions.end() || !found->second.followup.has_value()) return std::nullopt;
  for (const PriorGrade& later : grades_since) {
    if (Improved(policy, grade.grade(), later.grade)) return std::nullopt;
  }
  // The id derives from the grade (not the deadline event), so a deadline appended twice still
  // yields one review.
  v1::ActionTriggered x =
      BaseAction(policy_version, grade_event_id, GradeRule(grade.grade(), "followup"),
                 v1::ACTION_KIND_HR_REVIEW, ContextOf(grade), effective_at);
  if (!deadline_event_id.empty()) x.add_cause_event_ids(deadline_event_id);
  AddHrReview(x, found->second.followup->hr_review);
  AddParam(x, "not_improved_within_days",
           absl::StrCat(found->second.followup->if_not_improved_within_days));
  return x;
}

// ---------------------------------------------------------------- PIP outcomes

std::optional<v1::ActionTriggered> ActionForPipClosed(
    const Policy& policy, uint64_t policy_version, const std::string& pip_closed_event_id,
    const v1::PipClosed& closed, const ActionContext& context,
    const google::protobuf::Timestamp& effective_at) {
  if (closed.outcome() != v1::PIP_OUTCOME_FAILED || !policy.pip_outcomes.failed.has_value()) {
    return std::nullopt;
  }
  ActionContext who = context;
  if (who.employee_id.empty()) who.employee_id = closed.employee_id();
  v1::ActionTriggered x = BaseAction(policy_version, pip_closed_event_id, "pip_outcomes.failed",
                                     v1::ACTION_KIND_HR_REVIEW, who, effective_at);
  AddHrReview(x, *policy.pip_outcomes.failed);
  AddParam(x, "pip_id", closed.pip_id());
  return x;
}

// ---------------------------------------------------------------- alerts

RollingWindow::RollingWindow(uint32_t window_days, size_t max_samples)
    : window_days_(window_days), max_samples_(std::max<size_t>(max_samples, 1)) {}

void RollingWindow::Add(const google::protobuf::Timestamp& at, int64_t value_milli) {
  const absl::Time t = ToTime(at);
  if (t > newest_) newest_ = t;
  if (t <= newest_ - absl::Hours(24) * window_days_) return;  // late and already out
  // Insert after every sample at or before t: time order, ties in arrival order. Samples come
  // in event order, so this is almost always the back.
  auto pos = std::upper_bound(
      samples_.begin(), samples_.end(), t,
      [](absl::Time v, const std::pair<absl::Time, int64_t>& s) { return v < s.first; });
  samples_.insert(pos, {t, value_milli});
  sum_ += value_milli;
  Evict();
}

void RollingWindow::AdvanceTo(const google::protobuf::Timestamp& now) {
  const absl::Time t = ToTime(now);
  if (t > newest_) newest_ = t;
  Evict();
}

void RollingWindow::Evict() {
  const absl::Time cutoff = newest_ - absl::Hours(24) * window_days_;
  while (!samples_.empty() &&
         (samples_.front().first <= cutoff || samples_.size() > max_samples_)) {
    sum_ -= samples_.front().second;
    samples_.pop_front();
  }
}

std::optional<int64_t> RollingWindow::Aggregate(policy::Aggregate aggregate) const {
  if (samples_.empty()) return std::nullopt;
  switch (aggregate) {
    case policy::Aggregate::kMean:
      return DivRound(sum_, static_cast<__int128>(samples_.size()));
    case policy::Aggregate::kLast:
      return samples_.back().second;
    case policy::Aggregate::kMax: {
      int64_t m = samples_.front().second;
      for (const auto& s : samples_) m = std::max(m, s.second);
      return m;
    }
    case policy::Aggregate::kMin: {
      int64_t m = samples_.front().second;
      for (const auto& s : samples_) m = std::min(m, s.second);
      return m;
    }
  }
  return std::nullopt;
}

bool Breaches(const AlertRule& rule, int64_t aggregate) {
  return rule.direction == v1::DIRECTION_LOWER_IS_BETTER ? aggregate > rule.threshold_milli
                                                         : aggregate < rule.threshold_milli;
}

std::optional<v1::ThresholdBreached> EvaluateAlert(const AlertRule& rule, uint64_t policy_version,
                                                   const RollingWindow& window,
                                                   const AlertSubject& subject,
                                                   const std::string& cause_event_id) {
  return EvaluateAlert(rule, policy_version, window.Aggregate(rule.aggregate), subject,
                       cause_event_id);
}

std::optional<v1::ThresholdBreached> EvaluateAlert(const AlertRule& rule, uint64_t policy_version,
                                                   std::optional<int64_t> value,
                                                   const AlertSubject& subject,
                                                   const std::string& cause_event_id) {
  if (subject.kind != rule.scope) return std::nullopt;
  if (!value.has_value() || !Breaches(rule, *value)) return std::nullopt;
  const std::string rule_id = absl::StrCat("alerts.", rule.id);
  v1::ThresholdBreached b;
  b.set_alert_id(ActionId(cause_event_id, subject.rolled_up
                                              ? absl::StrCat(rule_id, "/", subject.subject_id)
                                              : rule_id));
  b.set_metric(rule.metric);
  b.set_scope(rule.scope);
  b.set_subject_id(subject.subject_id);
  b.set_value_milli(*value);
  b.set_threshold_milli(rule.threshold_milli);
  b.set_direction(rule.direction);
  switch (rule.notify) {
    case Notify::kManager: b.set_notify_employee_id(subject.manager_id); break;
    case Notify::kOrgUnitManager: b.set_notify_employee_id(subject.org_unit_manager_id); break;
    case Notify::kParentUnitManager:
      b.set_notify_employee_id(subject.parent_unit_manager_id);
      break;
    case Notify::kRole: b.set_notify_role(rule.notify_role); break;
  }
  b.set_cycle_id(subject.cycle_id);
  b.set_rule_id(rule_id);
  b.set_policy_version(policy_version);
  b.add_cause_event_ids(cause_event_id);
  return b;
}

}  // namespace perfledger::policy
