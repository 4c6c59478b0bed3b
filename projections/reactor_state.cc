#include "projections/reactor_state.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "ledger/key_store.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "projections/alert_window.h"
#include "projections/deadlines.h"
#include "projections/keys.h"

namespace perfledger::projections {
namespace {

// Whether the reaction of an action also opens the plan it starts.
enum class PlanOpening { kNone, kWithAction };

PlanOpening PlanOf(const v1::ActionTriggered& a) {
  return a.kind() == v1::ACTION_KIND_PIP ? PlanOpening::kWithAction : PlanOpening::kNone;
}

v1::ActionTriggered* AddAction(internal::Reaction& r, const v1::ActionTriggered& a) {
  auto* e = r.add_events();
  e->set_stream(absl::StrCat("action/", a.action_id()));
  e->set_partition_key(a.employee_id());
  *e->mutable_event()->mutable_action_triggered() = a;
  return e->mutable_event()->mutable_action_triggered();
}

// The plan a PIP action opens, starting at `starts`: its deadline becomes a scheduled fact.
void AddPlanOpening(internal::Reaction& r, const v1::ActionTriggered& a,
                    const google::protobuf::Timestamp& starts) {
  auto* ev = r.add_events();
  ev->set_stream(absl::StrCat("pip/", a.action_id()));
  ev->set_partition_key(a.employee_id());
  auto* p = ev->mutable_event()->mutable_pip_opened();
  p->set_pip_id(a.action_id());
  p->set_employee_id(a.employee_id());
  p->set_cycle_id(a.cycle_id());
  p->set_action_id(a.action_id());
  *p->mutable_starts_at() = starts;
  *p->mutable_deadline_at() = policy::AddDays(starts, a.pip_length_days());
  p->set_checkpoint_every_days(a.pip_checkpoint_every_days());
  p->set_manager_id(a.manager_id());
}

// The reaction that issues action `a` because of `cause`: one command whose id derives from the
// action's (a repeat is deduplicated), its events at the cause's business time.
internal::Reaction ActionReaction(const v1::Envelope& cause, const v1::ActionTriggered& a,
                                  PlanOpening plan) {
  internal::Reaction r;
  r.set_command_id(absl::StrCat("action:", a.action_id()));
  AddAction(r, a);
  if (plan == PlanOpening::kWithAction) AddPlanOpening(r, a, cause.occurred_at());
  for (auto& ev : *r.mutable_events()) {
    *ev.mutable_occurred_at() = cause.occurred_at();
    ev.set_causation_id(cause.event_id());
  }
  return r;
}

// The mean of a score's dimensions, 0 without any.
int64_t MeanScore(const google::protobuf::RepeatedPtrField<v1::DimensionScore>& scores) {
  int64_t sum = 0;
  for (const auto& d : scores) sum += d.score_milli();
  return scores.empty() ? 0 : policy::DivRound(sum, scores.size());
}

// ---- the organisation: cycles, org units, people (state only, nothing to decide)

void FoldCycleOpened(const v1::CycleOpened& c, ViewTxn& txn) {
  txn.Put(Key({"cyc", c.cycle_id()}), c.period_start().SerializeAsString());
}

void FoldOrgUnitDefined(const v1::OrgUnitDefined& u, ViewTxn& txn) {
  txn.Put(Key({"org", u.org_unit_id()}), u.manager_id());
  txn.Put(Key({"orgp", u.org_unit_id()}), u.parent_id());
}

template <typename RegisteredOrUpdated>
void FoldPerson(const RegisteredOrUpdated& p, ViewTxn& txn) {
  internal::PersonRecord record;
  record.set_manager_id(p.manager_id());
  record.set_org_unit_id(p.org_unit_id());
  txn.Put(Key({"emp", p.employee_id()}), record.SerializeAsString());
}

// ---- scores (a change to an existing one may regrade: ReactorView::OnScoreChange)

void FoldScoreSubmitted(const v1::Envelope& e, const v1::ScoreSubmitted& s, ViewTxn& txn) {
  internal::ScoreRecord r;
  r.set_source(s.source());
  r.set_mean_milli(MeanScore(s.scores()));
  r.set_event_id(e.event_id());
  txn.Put(Key({"sc", s.cycle_id(), s.employee_id(), s.score_id()}), r.SerializeAsString());
}

// ---- plans: a plan's deadline is scheduled while it runs

absl::Status FoldPipOpened(const v1::PipOpened& p, ViewTxn& txn) {
  internal::PipRecord rec;
  rec.set_employee_id(p.employee_id());
  rec.set_cycle_id(p.cycle_id());
  rec.set_manager_id(p.manager_id());
  ASSIGN_OR_RETURN(auto person, Load<internal::PersonRecord>(txn, Key({"emp", p.employee_id()})));
  if (person) rec.set_org_unit_id(person->org_unit_id());
  txn.Put(Key({"pip", p.pip_id()}), rec.SerializeAsString());
  return AddDeadline(txn, absl::StrCat("pip/", p.pip_id()), EmployeeId(p.employee_id()),
                     p.deadline_at());
}

absl::Status FoldPipExtended(const v1::PipExtended& p, ViewTxn& txn) {
  return AddDeadline(txn, absl::StrCat("pip/", p.pip_id()), EmployeeId(p.employee_id()),
                     p.new_deadline_at());
}

// ---- erasure: the retained compensation records are shredded when their retention ends

absl::Status FoldSubjectErased(const v1::SubjectErased& x, ViewTxn& txn) {
  if (!x.has_retained_until()) return absl::OkStatus();
  const EmployeeId employee(x.employee_id());
  return AddDeadline(txn, RetentionDeadline(employee), employee, x.retained_until());
}

}  // namespace

absl::Status ReactorView::Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) {
  switch (event.body_case()) {
    case v1::Event::kPolicyPublished:
      return OnPolicyPublished(e, event.policy_published(), txn);
    case v1::Event::kCycleOpened:
      FoldCycleOpened(event.cycle_opened(), txn);
      return absl::OkStatus();
    case v1::Event::kOrgUnitDefined:
      FoldOrgUnitDefined(event.org_unit_defined(), txn);
      return absl::OkStatus();
    case v1::Event::kEmployeeRegistered:
      FoldPerson(event.employee_registered(), txn);
      return absl::OkStatus();
    case v1::Event::kEmployeeUpdated:
      FoldPerson(event.employee_updated(), txn);
      return absl::OkStatus();
    case v1::Event::kScoreSubmitted:
      FoldScoreSubmitted(e, event.score_submitted(), txn);
      return absl::OkStatus();
    case v1::Event::kScoreAmended:
      return OnScoreAmended(e, event.score_amended(), txn);
    case v1::Event::kCalibrationAdjusted:
      return OnCalibrationAdjusted(e, event.calibration_adjusted(), txn);
    case v1::Event::kMetricObserved:
      return OnMetric(e, event.metric_observed(), txn);
    case v1::Event::kGradeFinalized:
      return OnGrade(e, event.grade_finalized(), txn);
    case v1::Event::kActionTriggered:
      return OnActionRecorded(e, event);
    case v1::Event::kPipOpened:
      return FoldPipOpened(event.pip_opened(), txn);
    case v1::Event::kPipExtended:
      return FoldPipExtended(event.pip_extended(), txn);
    case v1::Event::kPipClosed:
      return OnPipClosed(e, event.pip_closed(), txn);
    case v1::Event::kSubjectErased:
      return FoldSubjectErased(event.subject_erased(), txn);
    case v1::Event::kRetentionEnded:
      return RemoveDeadline(
          txn, RetentionDeadline(EmployeeId(event.retention_ended().employee_id())));
    case v1::Event::kDisputeRaised: {
      const auto& x = event.dispute_raised();
      txn.Put(Key({"dsp", x.employee_id(), x.cycle_id()}), x.dispute_id());
      return absl::OkStatus();
    }
    case v1::Event::kDisputeResolved:
      return OnDisputeResolved(e, event.dispute_resolved(), txn);
    case v1::Event::kDeadlineReached:
      return OnDeadlineReached(e, event.deadline_reached(), txn);
    default:
      return absl::OkStatus();
  }
}

void ReactorView::Decide(internal::Reaction reaction) {
  if (mode_ == Mode::kCollect) {
    for (const auto& ev : reaction.events()) {
      if (ev.event().has_action_triggered()) {
        derived[ev.event().action_triggered().action_id()] = ev.event().action_triggered();
      }
    }
    return;
  }
  pending_.push_back(std::move(reaction));
}

absl::StatusOr<uint64_t> ReactorView::CurrentPolicy(ViewTxn& txn) {
  if (!current_policy_) {
    ASSIGN_OR_RETURN(current_policy_, PolicyVersionInForce(txn));
  }
  return *current_policy_;
}

absl::StatusOr<bool> ReactorView::OpenRetained(const v1::Envelope& e, v1::Event& event) {
  if (!e.has_retained() || sealer_ == nullptr) return true;
  absl::Status opened = sealer_->Open(e.retained(), e.event_id(), event);
  if (opened.ok()) return true;
  ASSIGN_OR_RETURN(KeyState state,
                   sealer_->keys()->State(e.retained().subject(), KeyPurpose::kRetained));
  if (state == KeyState::kDestroyed) return false;
  return opened;
}

// ---------------------------------------------------------------- policies

absl::Status ReactorView::OnPolicyPublished(const v1::Envelope& e, const v1::PolicyPublished& p,
                                            ViewTxn& txn) {
  FoldPolicyPublished(e, p, txn);
  current_policy_ = p.version();
  return absl::OkStatus();
}

// ---------------------------------------------------------------- scores

absl::Status ReactorView::OnScoreAmended(const v1::Envelope& e, const v1::ScoreAmended& s,
                                         ViewTxn& txn) {
  const std::string key = Key({"sc", s.cycle_id(), s.employee_id(), s.score_id()});
  ASSIGN_OR_RETURN(auto r, Load<internal::ScoreRecord>(txn, key));
  if (!r) return absl::OkStatus();
  r->set_mean_milli(MeanScore(s.scores()));
  r->set_event_id(e.event_id());
  txn.Put(key, r->SerializeAsString());
  return OnScoreChange(e, EmployeeId(s.employee_id()), CycleId(s.cycle_id()), txn);
}

absl::Status ReactorView::OnCalibrationAdjusted(const v1::Envelope& e,
                                                const v1::CalibrationAdjusted& c, ViewTxn& txn) {
  internal::ScoreRecord r;
  r.set_mean_milli(c.calibrated_score_milli());
  r.set_event_id(e.event_id());
  txn.Put(Key({"cal", c.cycle_id(), c.employee_id()}), r.SerializeAsString());
  return OnScoreChange(e, EmployeeId(c.employee_id()), CycleId(c.cycle_id()), txn);
}

absl::Status ReactorView::OnScoreChange(const v1::Envelope& e, const EmployeeId& employee_id,
                                        const CycleId& cycle_id, ViewTxn& txn) {
  const std::string& employee = employee_id.value();
  const std::string& cycle = cycle_id.value();
  // Only a grade the policy computed from scores can be recomputed; a score changed after such
  // a grade yields a superseding grade (and, through it, cancelled and re-issued actions).
  ASSIGN_OR_RETURN(auto current, Load<internal::GradeRecord>(txn, Key({"g", employee, cycle})));
  if (!current || current->grade().inputs().empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto pol, policies_.At(txn, current->grade().policy_version()));
  if (!pol || pol->grading.method != policy::GradingMethod::kWeightedScores) {
    return absl::OkStatus();
  }
  policy::GradeInputs inputs;
  std::map<int, std::pair<int64_t, int64_t>> by_source;  // source → (sum, count)
  std::map<int, std::string> last_event;
  ASSIGN_OR_RETURN(auto scores, txn.Scan(Key({"sc", cycle, employee}) + "/"));
  for (const auto& [key, value] : scores) {
    internal::ScoreRecord r;
    r.ParseFromString(value);
    by_source[r.source()].first += r.mean_milli();
    by_source[r.source()].second++;
    last_event[r.source()] = r.event_id();
  }
  auto mean = [&](v1::ScoreSource s) -> std::optional<policy::InputScore> {
    auto f = by_source.find(s);
    if (f == by_source.end()) return std::nullopt;
    return policy::InputScore{policy::DivRound(f->second.first, f->second.second), last_event[s]};
  };
  inputs.manager = mean(v1::SCORE_SOURCE_MANAGER);
  inputs.self = mean(v1::SCORE_SOURCE_SELF);
  inputs.peer = mean(v1::SCORE_SOURCE_PEER);
  ASSIGN_OR_RETURN(auto cal, Load<internal::ScoreRecord>(txn, Key({"cal", cycle, employee})));
  if (cal) inputs.calibration = policy::InputScore{cal->mean_milli(), cal->event_id()};
  auto decision = policy::ComputeGrade(*pol, inputs);
  if (!decision.ok()) return absl::OkStatus();  // inputs incomplete: nothing to correct yet
  if (decision->grade == current->grade().grade() &&
      decision->score_milli == current->grade().score_milli()) {
    return absl::OkStatus();
  }
  internal::Reaction r;
  r.set_command_id(absl::StrCat("regrade:", policy::ActionId(e.event_id(), "regrade")));
  auto* ev = r.add_events();
  ev->set_stream(absl::StrCat("employee/", employee));
  ev->set_partition_key(employee);
  *ev->mutable_occurred_at() = e.occurred_at();
  ev->set_causation_id(e.event_id());
  v1::GradeFinalized* g = ev->mutable_event()->mutable_grade_finalized();
  *g = current->grade();
  g->set_grade(decision->grade);
  g->set_score_milli(decision->score_milli);
  g->clear_inputs();
  for (const auto& in : decision->inputs) *g->add_inputs() = in;
  g->set_supersedes_event_id(current->event_id());
  Decide(std::move(r));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- metrics and alerts

absl::Status ReactorView::OnMetric(const v1::Envelope& e, const v1::MetricObserved& m,
                                   ViewTxn& txn) {
  ASSIGN_OR_RETURN(const uint64_t version, CurrentPolicy(txn));
  std::shared_ptr<const policy::Policy> pol;
  if (version != 0) {
    ASSIGN_OR_RETURN(pol, policies_.At(txn, version));
  }
  const policy::MetricRule metric_rule =
      pol ? pol->MetricRuleOf(m.metric()) : policy::MetricRule();
  const RolledObservation observed{m.value_milli(), m.has_denominator() ? m.denominator() : 1,
                                   e.occurred_at(), e.event_id()};
  const bool employee = m.subject_kind() == v1::OWNER_KIND_EMPLOYEE;

  // A person counts once per cycle for the units of their first observation in it: the group
  // size small-group hiding reads (a move mid-cycle does not count them again).
  bool first_in_cycle = false;
  if (employee && !m.cycle_id().empty()) {
    const std::string key = Key({"agg", m.cycle_id(), m.subject_id(), m.metric()});
    ASSIGN_OR_RETURN(auto agg, Load<internal::MetricAggregate>(txn, key));
    internal::MetricAggregate a = agg ? *agg : internal::MetricAggregate();
    AddToRollup(a, observed);
    // One stream, one partition: the greatest offset is the latest observation counted.
    if (!a.has_through() || e.position().offset() > a.through().offset()) {
      *a.mutable_through() = e.position();
    }
    first_in_cycle = a.count() == 1;
    txn.PutReadBack(key, a.SerializeAsString());
  }
  if (employee && pol) {
    for (const policy::AlertRule& rule : pol->alerts) {
      if (rule.metric != m.metric() || rule.scope != v1::OWNER_KIND_EMPLOYEE) continue;
      RETURN_IF_ERROR(EmployeeAlert(e, m, rule, version, metric_rule.rollup, txn));
    }
  }

  // The roll-up: the unit the subject belonged to when observed, and its ancestors. A metric
  // that does not roll up still counts for a unit observed directly.
  std::vector<std::string> units;
  std::string unit = employee ? m.org_unit_id() : m.subject_id();
  const bool rolls_up = metric_rule.rollup != policy::Rollup::kNone;
  if (!employee || rolls_up) {
    while (!unit.empty() && units.size() < limits::kScopeDepthMax) {
      units.push_back(unit);
      if (!rolls_up) break;
      ASSIGN_OR_RETURN(auto parent, txn.Get(Key({"orgp", unit})));
      if (!parent) break;
      unit = *parent;
      // A tree never repeats a unit; a log that says otherwise stops the walk there.
      if (std::find(units.begin(), units.end(), unit) != units.end()) break;
    }
  }
  for (const std::string& u : units) {
    if (!m.cycle_id().empty()) {
      ASSIGN_OR_RETURN(internal::UnitRollup * r,
                       rollups_.Rollup(txn, Key({"ruc", m.cycle_id(), m.metric(), u}),
                                       RollupRows::IfAbsent::kCreate));
      if (first_in_cycle) r->set_people(r->people() + 1);
      AddToRollup(*r, observed);
    }
    if (!pol) continue;
    for (const policy::AlertRule& rule : pol->alerts) {
      if (rule.metric != m.metric() || rule.scope != v1::OWNER_KIND_ORG_UNIT) continue;
      RETURN_IF_ERROR(UnitAlert(e, m, u, observed, rule, version, metric_rule.rollup, txn));
    }
  }
  return absl::OkStatus();
}

absl::Status ReactorView::EmployeeAlert(const v1::Envelope& e, const v1::MetricObserved& m,
                                        const policy::AlertRule& rule, uint64_t version,
                                        policy::Rollup rollup, ViewTxn& txn) {
  std::optional<int64_t> value;
  bool was_breached = false;
  std::optional<AlertWindow> window;
  std::string cycle_breach_key;
  if (rule.window == policy::AlertWindowKind::kCycle) {
    // Over the cycle's observations: the cycle aggregate, one breach flag per cycle.
    if (m.cycle_id().empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(auto agg, Load<internal::MetricAggregate>(
                                   txn, Key({"agg", m.cycle_id(), m.subject_id(), m.metric()})));
    if (agg) value = RollupValue(*agg, rule.aggregate, rollup);
    cycle_breach_key = Key({"acb", rule.id, m.subject_id(), m.cycle_id()});
    ASSIGN_OR_RETURN(auto flag, txn.Get(cycle_breach_key));
    was_breached = flag.has_value();
  } else {
    ASSIGN_OR_RETURN(window, AlertWindow::Load(txn, rule.id, m.subject_id(), rule.window_days,
                                               rule.aggregate));
    RETURN_IF_ERROR(window->Add(txn, e.occurred_at(), m.value_milli()));
    ASSIGN_OR_RETURN(value, window->Aggregate(txn, rule.aggregate));
    was_breached = window->breached();
  }
  const bool in_breach = value.has_value() && policy::Breaches(rule, *value);
  // One alert per excursion: only the crossing into breach is news.
  if (in_breach && !was_breached) {
    policy::AlertSubject subject;
    subject.kind = v1::OWNER_KIND_EMPLOYEE;
    subject.subject_id = m.subject_id();
    if (rule.window == policy::AlertWindowKind::kCycle) subject.cycle_id = m.cycle_id();
    ASSIGN_OR_RETURN(auto person, Load<internal::PersonRecord>(txn, Key({"emp", m.subject_id()})));
    std::string org_unit;
    if (person) {
      subject.manager_id = person->manager_id();
      org_unit = person->org_unit_id();
    }
    RETURN_IF_ERROR(RaiseAlert(e, rule, version, value, org_unit, subject, txn));
  }
  if (was_breached != in_breach) {
    if (window) {
      window->SetBreached(txn, in_breach);
    } else if (in_breach) {
      txn.Put(cycle_breach_key, "1");
    } else {
      txn.Delete(cycle_breach_key);
    }
  }
  return absl::OkStatus();
}

absl::Status ReactorView::UnitAlert(const v1::Envelope& e, const v1::MetricObserved& m,
                                    const std::string& unit, const RolledObservation& observed,
                                    const policy::AlertRule& rule, uint64_t version,
                                    policy::Rollup rollup, ViewTxn& txn) {
  std::optional<int64_t> value;
  bool was_breached = false;
  internal::RollupWindow* window = nullptr;
  std::string cycle_breach_key;
  if (rule.window == policy::AlertWindowKind::kCycle) {
    if (m.cycle_id().empty()) return absl::OkStatus();
    ASSIGN_OR_RETURN(internal::UnitRollup * row,
                     rollups_.Rollup(txn, Key({"ruc", m.cycle_id(), m.metric(), unit}),
                                     RollupRows::IfAbsent::kNone));
    if (row != nullptr) value = RollupValue(*row, rule.aggregate, rollup);
    cycle_breach_key = Key({"acb", rule.id, unit, m.cycle_id()});
    ASSIGN_OR_RETURN(auto flag, txn.Get(cycle_breach_key));
    was_breached = flag.has_value();
  } else {
    RollupWindow days(rule.id, unit, rule.window_days);
    RETURN_IF_ERROR(days.Add(txn, rollups_, observed));
    ASSIGN_OR_RETURN(window, days.Header(txn, rollups_));
    value = RollupValue(window->total(), rule.aggregate, rollup);
    was_breached = window->breached();
  }
  const bool in_breach = value.has_value() && policy::Breaches(rule, *value);
  if (in_breach && !was_breached) {
    policy::AlertSubject subject;
    subject.kind = v1::OWNER_KIND_ORG_UNIT;
    subject.subject_id = unit;
    subject.rolled_up = !(m.subject_kind() == v1::OWNER_KIND_ORG_UNIT && m.subject_id() == unit);
    if (rule.window == policy::AlertWindowKind::kCycle) subject.cycle_id = m.cycle_id();
    RETURN_IF_ERROR(RaiseAlert(e, rule, version, value, unit, subject, txn));
  }
  if (was_breached != in_breach) {
    if (window != nullptr) {
      window->set_breached(in_breach);
    } else if (in_breach) {
      txn.Put(cycle_breach_key, "1");
    } else {
      txn.Delete(cycle_breach_key);
    }
  }
  return absl::OkStatus();
}

absl::Status ReactorView::RaiseAlert(const v1::Envelope& e, const policy::AlertRule& rule,
                                     uint64_t version, std::optional<int64_t> value,
                                     const std::string& org_unit, policy::AlertSubject subject,
                                     ViewTxn& txn) {
  if (!org_unit.empty()) {
    ASSIGN_OR_RETURN(auto mgr, txn.Get(Key({"org", org_unit})));
    if (mgr) subject.org_unit_manager_id = *mgr;
    ASSIGN_OR_RETURN(auto parent, txn.Get(Key({"orgp", org_unit})));
    if (parent && !parent->empty()) {
      ASSIGN_OR_RETURN(auto parent_mgr, txn.Get(Key({"org", *parent})));
      if (parent_mgr) subject.parent_unit_manager_id = *parent_mgr;
    }
  }
  std::optional<v1::ThresholdBreached> breach =
      policy::EvaluateAlert(rule, version, value, subject, e.event_id());
  if (!breach) return absl::InternalError("alert rule in breach without an alert");
  internal::Reaction r;
  r.set_command_id(absl::StrCat("alert:", breach->alert_id()));
  auto* ev = r.add_events();
  ev->set_stream(absl::StrCat("alert/", subject.subject_id));
  ev->set_partition_key(subject.subject_id);
  *ev->mutable_occurred_at() = e.occurred_at();
  ev->set_causation_id(e.event_id());
  *ev->mutable_event()->mutable_threshold_breached() = *breach;
  Decide(std::move(r));
  return absl::OkStatus();
}


// ---------------------------------------------------------------- grades

absl::Status ReactorView::OnGrade(const v1::Envelope& e, const v1::GradeFinalized& g,
                                  ViewTxn& txn) {
  const std::string grade_key = Key({"g", g.employee_id(), g.cycle_id()});
  // A superseding grade withdraws what the superseded one triggered (compensation), then
  // triggers its own: a correction is new events, never a silent recompute.
  if (!g.supersedes_event_id().empty()) {
    ASSIGN_OR_RETURN(auto ids, Load<internal::ActionIds>(txn, Key({"act", g.supersedes_event_id()})));
    if (ids) {
      for (const std::string& id : ids->action_ids()) {
        internal::Reaction r;
        r.set_command_id(absl::StrCat("cancel:", policy::ActionId(e.event_id(), id)));
        auto* ev = r.add_events();
        ev->set_stream(absl::StrCat("action/", id));
        ev->set_partition_key(g.employee_id());
        *ev->mutable_occurred_at() = e.occurred_at();
        ev->set_causation_id(e.event_id());
        auto* c = ev->mutable_event()->mutable_action_cancelled();
        c->set_action_id(id);
        c->set_reason("grade superseded");
        c->set_caused_by_event_id(e.event_id());
        Decide(std::move(r));
      }
      RETURN_IF_ERROR(RemoveDeadline(txn, absl::StrCat("grade/", g.supersedes_event_id())));
    }
  }
  internal::GradeRecord record;
  record.set_event_id(e.event_id());
  *record.mutable_grade() = g;
  *record.mutable_occurred_at() = e.occurred_at();
  txn.Put(grade_key, record.SerializeAsString());

  ASSIGN_OR_RETURN(auto pol, policies_.At(txn, g.policy_version()));
  // Every grade opens its dispute window (the policy's, or the defaults without one): a
  // deadline the scheduler closes with DeadlineReached. It replaces an earlier grade's window,
  // and what an earlier grade held is never issued: this grade replaces it.
  const policy::Disputes disputes = policy::DisputeSettings(pol.get());
  const google::protobuf::Timestamp window_ends =
      policy::DisputeWindowEnd(e.occurred_at(), disputes.window_business_days);
  const EmployeeId employee(g.employee_id());
  RETURN_IF_ERROR(AddDeadline(txn, policy::DisputeWindowSubject(employee, CycleId(g.cycle_id())),
                              employee, window_ends));
  const std::string hold_key = Key({"hold", g.employee_id(), g.cycle_id()});
  txn.Delete(hold_key);
  if (!pol) return absl::OkStatus();
  ASSIGN_OR_RETURN(policy::History history, HistoryOf(employee, txn));
  // The salary in force is sealed with the grade: opened here, in memory only.
  v1::Event opened;
  *opened.mutable_grade_finalized() = g;
  ASSIGN_OR_RETURN(const bool readable, OpenRetained(e, opened));
  std::vector<v1::ActionTriggered> actions = policy::ActionsForGrade(
      *pol, g.policy_version(), e.event_id(), opened.grade_finalized(), history, e.occurred_at());
  if (!readable) {
    // Past the retention period the amounts decided from the salary are not re-derived.
    for (v1::ActionTriggered& a : actions) {
      a.clear_amount();
      a.clear_percent_bp();
    }
  }
  internal::ActionIds decided;
  internal::HeldActions held;
  for (const auto& a : actions) {
    if (disputes.hold_actions && policy::HeldWhileDisputable(a.kind())) {
      // Issued once the grade is settled (ReleaseHeld), with the same id.
      *held.add_actions() = a;
      continue;
    }
    decided.add_action_ids(a.action_id());
    // A PIP action opens its plan with it.
    Decide(ActionReaction(e, a, PlanOf(a)));
  }
  if (auto plan = policy::PlanFollowup(*pol, e.event_id(), g, e.occurred_at())) {
    internal::FollowupRecord fu;
    fu.set_grade_event_id(e.event_id());
    *fu.mutable_grade() = g;
    fu.set_policy_version(g.policy_version());
    txn.Put(Key({"fu", plan->action_id}), fu.SerializeAsString());
    RETURN_IF_ERROR(AddDeadline(txn, plan->deadline_subject, employee, plan->deadline_at));
    decided.add_action_ids(plan->action_id);
  }
  txn.Put(Key({"act", e.event_id()}), decided.SerializeAsString());
  if (held.actions_size() > 0) {
    held.set_grade_event_id(e.event_id());
    *held.mutable_window_ends_at() = window_ends;
    txn.Put(hold_key, held.SerializeAsString());
  }
  return absl::OkStatus();
}

absl::StatusOr<policy::History> ReactorView::HistoryOf(const EmployeeId& employee,
                                                       ViewTxn& txn) {
  // Cycles ordered by period start; a cycle without a grade breaks a streak.
  std::vector<std::pair<int64_t, std::string>> cycles;
  ASSIGN_OR_RETURN(auto rows, txn.Scan("cyc/"));
  for (const auto& [key, value] : rows) {
    google::protobuf::Timestamp start;
    start.ParseFromString(value);
    cycles.emplace_back(start.seconds(), key.substr(4));
  }
  std::sort(cycles.begin(), cycles.end());
  policy::History history;
  for (const auto& [start, cycle] : cycles) {
    ASSIGN_OR_RETURN(auto g,
                     Load<internal::GradeRecord>(txn, Key({"g", employee.value(), cycle})));
    history.push_back({CycleId(cycle), g ? g->grade().grade() : std::string()});
  }
  return history;
}

// ---------------------------------------------------------------- actions

absl::Status ReactorView::OnActionRecorded(const v1::Envelope& e, const v1::Event& event) {
  if (mode_ != Mode::kCollect) return absl::OkStatus();
  v1::Event opened = event;
  ASSIGN_OR_RETURN(const bool readable, OpenRetained(e, opened));
  (void)readable;  // both sides lack the amounts then (OnGrade)
  recorded[event.action_triggered().action_id()] = opened.action_triggered();
  return absl::OkStatus();
}

// ---------------------------------------------------------------- plans

absl::Status ReactorView::OnPipClosed(const v1::Envelope& e, const v1::PipClosed& c,
                                      ViewTxn& txn) {
  RETURN_IF_ERROR(RemoveDeadline(txn, absl::StrCat("pip/", c.pip_id())));
  ASSIGN_OR_RETURN(auto rec, Load<internal::PipRecord>(txn, Key({"pip", c.pip_id()})));
  ASSIGN_OR_RETURN(const uint64_t version, CurrentPolicy(txn));
  ASSIGN_OR_RETURN(auto pol, policies_.At(txn, version));
  if (!pol || !rec) return absl::OkStatus();
  policy::ActionContext who{rec->employee_id(), rec->cycle_id(), rec->org_unit_id(),
                            rec->manager_id()};
  auto action = policy::ActionForPipClosed(*pol, version, e.event_id(), c, who, e.occurred_at());
  if (action) Decide(ActionReaction(e, *action, PlanOpening::kNone));
  return absl::OkStatus();
}

// ---------------------------------------------------------------- disputes and deadlines

absl::Status ReactorView::OnDisputeResolved(const v1::Envelope& e, const v1::DisputeResolved& x,
                                            ViewTxn& txn) {
  // The grade in force is settled: what it holds is issued (a corrected grade, recorded before
  // the resolution, has replaced what the disputed one held).
  txn.Delete(Key({"dsp", x.employee_id(), x.cycle_id()}));
  return ReleaseHeld(e, EmployeeId(x.employee_id()), CycleId(x.cycle_id()), txn, nullptr);
}

absl::Status ReactorView::OnDeadlineReached(const v1::Envelope& e, const v1::DeadlineReached& d,
                                            ViewTxn& txn) {
  if (absl::StartsWith(d.subject(), policy::kDisputeWindowPrefix)) {
    return OnDisputeWindowClosed(e, d, txn);
  }
  RETURN_IF_ERROR(RemoveDeadline(txn, d.subject()));
  if (!absl::StartsWith(d.subject(), "action/")) return absl::OkStatus();
  return OnFollowupDue(e, d, txn);
}

absl::Status ReactorView::OnDisputeWindowClosed(const v1::Envelope& e,
                                                const v1::DeadlineReached& d, ViewTxn& txn) {
  // "dispute-window/<employee>/<cycle>". The scheduler may fire a window that a later grade
  // already moved: that deadline stays, and nothing is released.
  ASSIGN_OR_RETURN(auto registered, RegisteredDeadline(txn, d.subject()));
  if (registered && ToTime(registered->deadline_at()) > ToTime(d.deadline_at())) {
    return absl::OkStatus();
  }
  RETURN_IF_ERROR(RemoveDeadline(txn, d.subject()));
  const std::string rest = d.subject().substr(sizeof(policy::kDisputeWindowPrefix) - 1);
  const size_t slash = rest.find('/');
  if (slash == std::string::npos) return absl::OkStatus();
  const EmployeeId employee(rest.substr(0, slash));
  const CycleId cycle(rest.substr(slash + 1));
  // With a dispute open, its resolution settles the grade.
  ASSIGN_OR_RETURN(auto open, txn.Get(Key({"dsp", employee.value(), cycle.value()})));
  if (open) return absl::OkStatus();
  return ReleaseHeld(e, employee, cycle, txn, &d.deadline_at());
}

absl::Status ReactorView::OnFollowupDue(const v1::Envelope& e, const v1::DeadlineReached& d,
                                        ViewTxn& txn) {
  // "action/<follow-up action id>".
  const std::string action_id = d.subject().substr(7);
  ASSIGN_OR_RETURN(auto fu, Load<internal::FollowupRecord>(txn, Key({"fu", action_id})));
  if (!fu) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto pol, policies_.At(txn, fu->policy_version()));
  if (!pol) return absl::OkStatus();
  ASSIGN_OR_RETURN(policy::History all, HistoryOf(EmployeeId(fu->grade().employee_id()), txn));
  // Grades of cycles after the graded one.
  policy::History since;
  bool after = false;
  for (const auto& h : all) {
    if (after && !h.grade.empty()) since.push_back(h);
    if (h.cycle_id == CycleId(fu->grade().cycle_id())) after = true;
  }
  auto action = policy::FollowupOutcome(*pol, fu->policy_version(), fu->grade_event_id(),
                                        fu->grade(), e.event_id(), since, e.occurred_at());
  if (action) Decide(ActionReaction(e, *action, PlanOpening::kNone));
  return absl::OkStatus();
}

absl::Status ReactorView::ReleaseHeld(const v1::Envelope& e, const EmployeeId& employee,
                                      const CycleId& cycle, ViewTxn& txn,
                                      const google::protobuf::Timestamp* window_closed_at) {
  const std::string key = Key({"hold", employee.value(), cycle.value()});
  ASSIGN_OR_RETURN(auto held, Load<internal::HeldActions>(txn, key));
  if (!held) return absl::OkStatus();
  if (window_closed_at != nullptr &&
      ToTime(held->window_ends_at()) > ToTime(*window_closed_at)) {
    return absl::OkStatus();  // a later grade's window: that one's deadline releases it
  }
  txn.Delete(key);
  const std::string ids_key = Key({"act", held->grade_event_id()});
  ASSIGN_OR_RETURN(auto ids, Load<internal::ActionIds>(txn, ids_key));
  internal::ActionIds decided = ids ? *ids : internal::ActionIds();
  for (const v1::ActionTriggered& a : held->actions()) {
    // The id is the one the grade would have issued at once (grade event, rule): the release
    // adds its cause and takes effect from it.
    v1::ActionTriggered action = a;
    action.add_cause_event_ids(e.event_id());
    *action.mutable_effective_at() = e.occurred_at();
    Decide(ActionReaction(e, action, PlanOf(action)));
    // A later supersession of the grade cancels it like any action the grade issued.
    decided.add_action_ids(action.action_id());
  }
  txn.Put(ids_key, decided.SerializeAsString());
  return absl::OkStatus();
}

}  // namespace perfledger::projections
