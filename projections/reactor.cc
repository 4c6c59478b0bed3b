#include "projections/reactor.h"

#include <atomic>
#include <filesystem>
#include <map>
#include <thread>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "google/protobuf/util/message_differencer.h"
#include "ledger/limits.h"
#include "ledger/logging.h"
#include "ledger/policy.h"
#include "ledger/policy_eval.h"
#include "ledger/rocks_util.h"
#include "ledger/status_macros.h"
#include "ledger/types.h"
#include "ledger/validation.h"
#include "projections/alert_window.h"
#include "projections/keys.h"
#include "projections/rollup.h"

namespace perfledger::projections {
namespace {

// Key layout of the "view.reactor" family (all folded from the log):
//   pol/current                      BE64 version of the policy in force
//   pol/v/<BE64 version>             StoredPolicy
//   cyc/<cycle>                      Timestamp period_start
//   org/<org unit>                   manager id
//   orgp/<org unit>                  parent unit id (empty at the top)
//   emp/<employee>                   PersonRecord
//   g/<employee>/<cycle>             GradeRecord (effective grade)
//   act/<grade event id>             ActionIds decided for that grade (for cancellation)
//   sc/<cycle>/<employee>/<score>    ScoreRecord
//   cal/<cycle>/<employee>           ScoreRecord (calibration)
//   agg/<cycle>/<employee>/<metric>  MetricAggregate
//   win/<rule>/<subject>             WindowState (an employee rule's rolling window)
//   acb/<rule>/<subject>/<cycle>     "1" while a cycle-window rule is in breach
//   ruc/<cycle>/<metric>/<unit>      UnitRollup of the unit and its sub-units (rollup.h)
//   rw/<rule>/<unit>                 RollupWindow (a unit rule's rolling window of days)
//   rwd/<rule>/<unit>/<ordered day>  UnitRollup of one day
//   dl/<BE64 micros>/<subject>       Deadline; dls/<subject> → the dl/ key
//   fu/<action id>                   FollowupRecord
//   pip/<pip id>                     PipRecord
//   dsp/<employee>/<cycle>           id of the open dispute about the cycle's grade
//   hold/<employee>/<cycle>          HeldActions of the grade in force (disputes.hold_actions)

template <typename T>
absl::StatusOr<std::optional<T>> Load(ViewTxn& txn, const std::string& key) {
  ASSIGN_OR_RETURN(auto value, txn.Get(key));
  if (!value) return std::optional<T>();
  T out;
  if (!out.ParseFromString(*value)) return absl::DataLossError(absl::StrCat("reactor row ", key));
  return std::optional<T>(std::move(out));
}

std::string DeadlineKey(const google::protobuf::Timestamp& at, const std::string& subject) {
  std::string key = "dl/";
  PutOrderedInt64(key, absl::ToUnixMicros(ToTime(at)));
  key += "/" + subject;
  return key;
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

// Adds an observation of an employee to their cycle aggregate ("agg/...", what metric grading
// reads).
void AddToAggregate(internal::MetricAggregate& a, const RolledObservation& o,
                    const v1::Position& at) {
  a.set_min(a.count() == 0 ? o.value_milli : std::min(a.min(), o.value_milli));
  a.set_max(a.count() == 0 ? o.value_milli : std::max(a.max(), o.value_milli));
  a.set_count(a.count() + 1);
  a.set_sum(a.sum() + o.value_milli);
  int64_t high;
  uint64_t low;
  SplitInt128(JoinInt128(a.wsum_high(), a.wsum_low()) +
                  static_cast<__int128>(o.value_milli) * o.weight,
              &high, &low);
  a.set_wsum_high(high);
  a.set_wsum_low(low);
  a.set_weight(a.weight() + o.weight);
  // "last" is by business time; ties keep log order.
  if (!a.has_last_at() || ToTime(o.at) >= ToTime(a.last_at())) {
    a.set_last(o.value_milli);
    *a.mutable_last_at() = o.at;
    a.set_last_event_id(o.event_id);
  }
  // One stream, one partition: the greatest offset is the latest observation counted.
  if (!a.has_through() || at.offset() > a.through().offset()) *a.mutable_through() = at;
}

// A cycle aggregate reduced as `aggregate` says (count > 0); a mean weighs as `rollup` says.
int64_t AggregateValue(const internal::MetricAggregate& a, policy::Aggregate aggregate,
                       policy::Rollup rollup) {
  switch (aggregate) {
    case policy::Aggregate::kMean:
      if (rollup == policy::Rollup::kRatio && a.weight() > 0) {
        return policy::DivRound(JoinInt128(a.wsum_high(), a.wsum_low()), a.weight());
      }
      return policy::DivRound(a.sum(), static_cast<int64_t>(a.count()));
    case policy::Aggregate::kLast: return a.last();
    case policy::Aggregate::kMax: return a.max();
    case policy::Aggregate::kMin: return a.min();
  }
  return a.last();
}

// The deadline of an erased employee's retained compensation records.
constexpr char kRetentionDeadlinePrefix[] = "retention/";
std::string RetentionDeadline(const std::string& employee) {
  return absl::StrCat(kRetentionDeadlinePrefix, employee);
}

}  // namespace

// ---------------------------------------------------------------- the reactor's state and rules

class ReactorView final : public View {
 public:
  enum class Mode { kLive, kCollect };
  // `sealer` opens the compensation fields a decision needs (the salary of a grade); none:
  // they are read from the payload (a log written without sealing).
  ReactorView(Mode mode, Sealer* sealer) : mode_(mode), sealer_(sealer) {}

  std::string_view name() const override { return Reactor::kViewName; }
  // Aggregates and windows are read back on every observation of their subject.
  size_t cached_rows() const override { return limits::kReactorCachedRowsMax; }

  absl::Status Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) override;
  absl::Status FinishBatch(ViewTxn& txn) override {
    rollups_.Flush(txn);
    return absl::OkStatus();
  }

  // Reactions decided by the batch being applied.
  std::vector<internal::Reaction>& pending() { return pending_; }

  // Called before each batch: forgets what was cached from the view's rows (a rebuild may have
  // dropped them), so the cache never outlives the rows it mirrors.
  void StartBatch() {
    pending_.clear();
    rollups_ = RollupRows();
    current_policy_.reset();
  }

  // Collect mode: every action derived, and every ActionTriggered seen in the log.
  std::map<std::string, v1::ActionTriggered> derived;
  std::map<std::string, v1::ActionTriggered> recorded;

  // Parsed policies by version (content never changes once published).
  absl::StatusOr<std::shared_ptr<const policy::Policy>> PolicyAt(ViewTxn* txn,
                                                                 const Projector::Reader* reader,
                                                                 uint64_t version);

 private:
  absl::Status OnGrade(const v1::Envelope& e, const v1::GradeFinalized& g, ViewTxn& txn);
  absl::Status OnMetric(const v1::Envelope& e, const v1::MetricObserved& m, ViewTxn& txn);
  absl::Status EmployeeAlert(const v1::Envelope& e, const v1::MetricObserved& m,
                             const policy::AlertRule& rule, uint64_t version,
                             policy::Rollup rollup, ViewTxn& txn);
  absl::Status UnitAlert(const v1::Envelope& e, const v1::MetricObserved& m,
                         const std::string& unit, const RolledObservation& observed,
                         const policy::AlertRule& rule, uint64_t version, policy::Rollup rollup,
                         ViewTxn& txn);
  // Decides the ThresholdBreached of `rule` about `subject`, naming the managers of `org_unit`
  // and of its parent.
  absl::Status RaiseAlert(const v1::Envelope& e, const policy::AlertRule& rule, uint64_t version,
                          std::optional<int64_t> value, const std::string& org_unit,
                          policy::AlertSubject subject, ViewTxn& txn);
  absl::Status OnScoreChange(const v1::Envelope& e, const std::string& employee,
                             const std::string& cycle, ViewTxn& txn);
  absl::StatusOr<policy::History> HistoryOf(const std::string& employee, ViewTxn& txn);
  absl::Status AddDeadline(ViewTxn& txn, const std::string& subject, const std::string& employee,
                           const google::protobuf::Timestamp& at);
  absl::Status RemoveDeadline(ViewTxn& txn, const std::string& subject);
  // The deadline registered for `subject`, if any.
  absl::StatusOr<std::optional<internal::Deadline>> RegisteredDeadline(ViewTxn& txn,
                                                                       const std::string& subject);
  // Issues the actions held for the grade in force of `employee` in `cycle` (if any), caused by
  // `e` (the DisputeResolved or the window's DeadlineReached) and effective at its business
  // time. With `window_closed_at`, only those of a grade whose window ends by then.
  absl::Status ReleaseHeld(const v1::Envelope& e, const std::string& employee,
                           const std::string& cycle, ViewTxn& txn,
                           const google::protobuf::Timestamp* window_closed_at);
  void Decide(internal::Reaction reaction) {
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

  // "pol/current" (the version in force, 0 = none) as read or written in this batch: read on
  // every metric, it changes only with a PolicyPublished.
  absl::StatusOr<uint64_t> CurrentPolicy(ViewTxn& txn);

  // Opens the retained (compensation) fields of `e` into `event`. Returns false, leaving them
  // cleared, when they can no longer be opened because the subject's retained key was destroyed
  // (RetentionEnded): what was decided from them is in the log and cannot be re-derived. Any
  // other failure is an error: a decision must never be made from missing amounts.
  absl::StatusOr<bool> OpenRetained(const v1::Envelope& e, v1::Event& event);

  Mode mode_;
  Sealer* sealer_;
  std::vector<internal::Reaction> pending_;
  RollupRows rollups_;
  std::optional<uint64_t> current_policy_;
  std::mutex policies_mu_;
  absl::flat_hash_map<uint64_t, std::shared_ptr<const policy::Policy>> policies_;
};

absl::StatusOr<uint64_t> ReactorView::CurrentPolicy(ViewTxn& txn) {
  if (!current_policy_) {
    ASSIGN_OR_RETURN(auto current, txn.Get("pol/current"));
    current_policy_ = current ? GetBigEndian64(*current) : 0;
  }
  return *current_policy_;
}

absl::StatusOr<std::shared_ptr<const policy::Policy>> ReactorView::PolicyAt(
    ViewTxn* txn, const Projector::Reader* reader, uint64_t version) {
  if (version == 0) return std::shared_ptr<const policy::Policy>();
  {
    std::lock_guard<std::mutex> lock(policies_mu_);
    auto it = policies_.find(version);
    if (it != policies_.end()) return it->second;
  }
  std::string key = "pol/v/";
  PutBigEndian64(key, version);
  std::string value;
  if (txn != nullptr) {
    ASSIGN_OR_RETURN(auto v, txn->Get(key));
    if (!v) return std::shared_ptr<const policy::Policy>();
    value = std::move(*v);
  } else {
    rocksdb::Status s = reader->db()->Get(rocksdb::ReadOptions(), reader->family(Reactor::kViewName),
                                          key, &value);
    if (s.IsNotFound()) return std::shared_ptr<const policy::Policy>();
    RETURN_IF_ERROR(FromRocks(s, "read policy"));
  }
  internal::StoredPolicy stored;
  stored.ParseFromString(value);
  ASSIGN_OR_RETURN(policy::Policy parsed,
                   policy::ParsePolicy(stored.info().document_json(), policy::Format::kJson));
  auto shared = std::make_shared<const policy::Policy>(std::move(parsed));
  std::lock_guard<std::mutex> lock(policies_mu_);
  policies_[version] = shared;
  return shared;
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

absl::Status ReactorView::AddDeadline(ViewTxn& txn, const std::string& subject,
                                      const std::string& employee,
                                      const google::protobuf::Timestamp& at) {
  RETURN_IF_ERROR(RemoveDeadline(txn, subject));
  internal::Deadline d;
  d.set_subject(subject);
  d.set_employee_id(employee);
  *d.mutable_deadline_at() = at;
  const std::string key = DeadlineKey(at, subject);
  txn.Put(key, d.SerializeAsString());
  txn.Put(Key({"dls", subject}), key);
  return absl::OkStatus();
}

absl::Status ReactorView::RemoveDeadline(ViewTxn& txn, const std::string& subject) {
  ASSIGN_OR_RETURN(auto key, txn.Get(Key({"dls", subject})));
  if (key) {
    txn.Delete(*key);
    txn.Delete(Key({"dls", subject}));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::optional<internal::Deadline>> ReactorView::RegisteredDeadline(
    ViewTxn& txn, const std::string& subject) {
  ASSIGN_OR_RETURN(auto key, txn.Get(Key({"dls", subject})));
  if (!key) return std::optional<internal::Deadline>();
  return Load<internal::Deadline>(txn, *key);
}

absl::Status ReactorView::ReleaseHeld(const v1::Envelope& e, const std::string& employee,
                                      const std::string& cycle, ViewTxn& txn,
                                      const google::protobuf::Timestamp* window_closed_at) {
  const std::string key = Key({"hold", employee, cycle});
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
    internal::Reaction r;
    r.set_command_id(absl::StrCat("action:", action.action_id()));
    AddAction(r, action);
    if (action.kind() == v1::ACTION_KIND_PIP) AddPlanOpening(r, action, e.occurred_at());
    for (auto& ev : *r.mutable_events()) {
      *ev.mutable_occurred_at() = e.occurred_at();
      ev.set_causation_id(e.event_id());
    }
    Decide(std::move(r));
    // A later supersession of the grade cancels it like any action the grade issued.
    decided.add_action_ids(action.action_id());
  }
  txn.Put(ids_key, decided.SerializeAsString());
  return absl::OkStatus();
}

absl::StatusOr<policy::History> ReactorView::HistoryOf(const std::string& employee, ViewTxn& txn) {
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
    ASSIGN_OR_RETURN(auto g, Load<internal::GradeRecord>(txn, Key({"g", employee, cycle})));
    history.push_back({cycle, g ? g->grade().grade() : std::string()});
  }
  return history;
}

absl::Status ReactorView::Apply(const v1::Envelope& e, const v1::Event& event, ViewTxn& txn) {
  switch (event.body_case()) {
    case v1::Event::kPolicyPublished: {
      const auto& p = event.policy_published();
      internal::StoredPolicy stored;
      auto* info = stored.mutable_info();
      info->set_version(p.version());
      info->set_policy_id(p.policy_id());
      info->set_document_json(p.document_json());
      info->set_document_sha256(p.document_sha256());
      info->set_event_id(e.event_id());
      *info->mutable_published_at() = e.occurred_at();
      info->set_comment(p.comment());
      std::string key = "pol/v/";
      PutBigEndian64(key, p.version());
      txn.Put(key, stored.SerializeAsString());
      std::string version;
      PutBigEndian64(version, p.version());
      txn.Put("pol/current", version);
      current_policy_ = p.version();
      return absl::OkStatus();
    }
    case v1::Event::kCycleOpened:
      txn.Put(Key({"cyc", event.cycle_opened().cycle_id()}),
              event.cycle_opened().period_start().SerializeAsString());
      return absl::OkStatus();
    case v1::Event::kOrgUnitDefined:
      txn.Put(Key({"org", event.org_unit_defined().org_unit_id()}),
              event.org_unit_defined().manager_id());
      txn.Put(Key({"orgp", event.org_unit_defined().org_unit_id()}),
              event.org_unit_defined().parent_id());
      return absl::OkStatus();
    case v1::Event::kEmployeeRegistered:
    case v1::Event::kEmployeeUpdated: {
      const bool reg = event.has_employee_registered();
      internal::PersonRecord p;
      p.set_manager_id(reg ? event.employee_registered().manager_id()
                           : event.employee_updated().manager_id());
      p.set_org_unit_id(reg ? event.employee_registered().org_unit_id()
                            : event.employee_updated().org_unit_id());
      txn.Put(Key({"emp", reg ? event.employee_registered().employee_id()
                              : event.employee_updated().employee_id()}),
              p.SerializeAsString());
      return absl::OkStatus();
    }
    case v1::Event::kScoreSubmitted: {
      const auto& s = event.score_submitted();
      internal::ScoreRecord r;
      r.set_source(s.source());
      int64_t sum = 0;
      for (const auto& d : s.scores()) sum += d.score_milli();
      r.set_mean_milli(s.scores().empty() ? 0 : policy::DivRound(sum, s.scores_size()));
      r.set_event_id(e.event_id());
      txn.Put(Key({"sc", s.cycle_id(), s.employee_id(), s.score_id()}), r.SerializeAsString());
      return absl::OkStatus();
    }
    case v1::Event::kScoreAmended: {
      const auto& s = event.score_amended();
      const std::string key = Key({"sc", s.cycle_id(), s.employee_id(), s.score_id()});
      ASSIGN_OR_RETURN(auto r, Load<internal::ScoreRecord>(txn, key));
      if (!r) return absl::OkStatus();
      int64_t sum = 0;
      for (const auto& d : s.scores()) sum += d.score_milli();
      r->set_mean_milli(s.scores().empty() ? 0 : policy::DivRound(sum, s.scores_size()));
      r->set_event_id(e.event_id());
      txn.Put(key, r->SerializeAsString());
      return OnScoreChange(e, s.employee_id(), s.cycle_id(), txn);
    }
    case v1::Event::kCalibrationAdjusted: {
      const auto& c = event.calibration_adjusted();
      internal::ScoreRecord r;
      r.set_mean_milli(c.calibrated_score_milli());
      r.set_event_id(e.event_id());
      txn.Put(Key({"cal", c.cycle_id(), c.employee_id()}), r.SerializeAsString());
      return OnScoreChange(e, c.employee_id(), c.cycle_id(), txn);
    }
    case v1::Event::kMetricObserved:
      return OnMetric(e, event.metric_observed(), txn);
    case v1::Event::kGradeFinalized:
      return OnGrade(e, event.grade_finalized(), txn);
    case v1::Event::kActionTriggered:
      if (mode_ == Mode::kCollect) {
        v1::Event opened = event;
        ASSIGN_OR_RETURN(const bool readable, OpenRetained(e, opened));
        (void)readable;  // both sides lack the amounts then (OnGrade)
        recorded[event.action_triggered().action_id()] = opened.action_triggered();
      }
      return absl::OkStatus();
    case v1::Event::kPipOpened: {
      const auto& p = event.pip_opened();
      internal::PipRecord rec;
      rec.set_employee_id(p.employee_id());
      rec.set_cycle_id(p.cycle_id());
      rec.set_manager_id(p.manager_id());
      ASSIGN_OR_RETURN(auto person, Load<internal::PersonRecord>(txn, Key({"emp", p.employee_id()})));
      if (person) rec.set_org_unit_id(person->org_unit_id());
      txn.Put(Key({"pip", p.pip_id()}), rec.SerializeAsString());
      return AddDeadline(txn, absl::StrCat("pip/", p.pip_id()), p.employee_id(), p.deadline_at());
    }
    case v1::Event::kPipExtended: {
      const auto& p = event.pip_extended();
      return AddDeadline(txn, absl::StrCat("pip/", p.pip_id()), p.employee_id(),
                         p.new_deadline_at());
    }
    case v1::Event::kPipClosed: {
      const auto& c = event.pip_closed();
      RETURN_IF_ERROR(RemoveDeadline(txn, absl::StrCat("pip/", c.pip_id())));
      ASSIGN_OR_RETURN(auto rec, Load<internal::PipRecord>(txn, Key({"pip", c.pip_id()})));
      ASSIGN_OR_RETURN(const uint64_t version, CurrentPolicy(txn));
      ASSIGN_OR_RETURN(auto pol, PolicyAt(&txn, nullptr, version));
      if (!pol || !rec) return absl::OkStatus();
      policy::ActionContext who{rec->employee_id(), rec->cycle_id(), rec->org_unit_id(),
                                rec->manager_id()};
      auto action = policy::ActionForPipClosed(*pol, version, e.event_id(), c, who, e.occurred_at());
      if (action) {
        internal::Reaction r;
        r.set_command_id(absl::StrCat("action:", action->action_id()));
        AddAction(r, *action);
        for (auto& ev : *r.mutable_events()) {
          *ev.mutable_occurred_at() = e.occurred_at();
          ev.set_causation_id(e.event_id());
        }
        Decide(std::move(r));
      }
      return absl::OkStatus();
    }
    case v1::Event::kSubjectErased: {
      // The retained compensation records are shredded when their retention period ends.
      const auto& x = event.subject_erased();
      if (!x.has_retained_until()) return absl::OkStatus();
      return AddDeadline(txn, RetentionDeadline(x.employee_id()), x.employee_id(),
                         x.retained_until());
    }
    case v1::Event::kRetentionEnded:
      return RemoveDeadline(txn, RetentionDeadline(event.retention_ended().employee_id()));
    case v1::Event::kDisputeRaised: {
      const auto& x = event.dispute_raised();
      txn.Put(Key({"dsp", x.employee_id(), x.cycle_id()}), x.dispute_id());
      return absl::OkStatus();
    }
    case v1::Event::kDisputeResolved: {
      // The grade in force is settled: what it holds is issued (a corrected grade, recorded
      // before the resolution, replaced what the disputed one held).
      const auto& x = event.dispute_resolved();
      txn.Delete(Key({"dsp", x.employee_id(), x.cycle_id()}));
      return ReleaseHeld(e, x.employee_id(), x.cycle_id(), txn, nullptr);
    }
    case v1::Event::kDeadlineReached: {
      const auto& d = event.deadline_reached();
      if (absl::StartsWith(d.subject(), policy::kDisputeWindowPrefix)) {
        // "dispute-window/<employee>/<cycle>". The scheduler may fire a window that a later
        // grade already moved: that deadline stays, and nothing is released.
        ASSIGN_OR_RETURN(auto registered, RegisteredDeadline(txn, d.subject()));
        if (registered && ToTime(registered->deadline_at()) > ToTime(d.deadline_at())) {
          return absl::OkStatus();
        }
        RETURN_IF_ERROR(RemoveDeadline(txn, d.subject()));
        const std::string rest =
            d.subject().substr(sizeof(policy::kDisputeWindowPrefix) - 1);
        const size_t slash = rest.find('/');
        if (slash == std::string::npos) return absl::OkStatus();
        const std::string employee = rest.substr(0, slash);
        const std::string cycle = rest.substr(slash + 1);
        // With a dispute open, its resolution settles the grade.
        ASSIGN_OR_RETURN(auto open, txn.Get(Key({"dsp", employee, cycle})));
        if (open) return absl::OkStatus();
        return ReleaseHeld(e, employee, cycle, txn, &d.deadline_at());
      }
      RETURN_IF_ERROR(RemoveDeadline(txn, d.subject()));
      if (!absl::StartsWith(d.subject(), "action/")) return absl::OkStatus();
      const std::string action_id = d.subject().substr(7);
      ASSIGN_OR_RETURN(auto fu, Load<internal::FollowupRecord>(txn, Key({"fu", action_id})));
      if (!fu) return absl::OkStatus();
      ASSIGN_OR_RETURN(auto pol, PolicyAt(&txn, nullptr, fu->policy_version()));
      if (!pol) return absl::OkStatus();
      ASSIGN_OR_RETURN(policy::History all, HistoryOf(fu->grade().employee_id(), txn));
      // Grades of cycles after the graded one.
      policy::History since;
      bool after = false;
      for (const auto& h : all) {
        if (after && !h.grade.empty()) since.push_back(h);
        if (h.cycle_id == fu->grade().cycle_id()) after = true;
      }
      auto action = policy::FollowupOutcome(*pol, fu->policy_version(), fu->grade_event_id(),
                                            fu->grade(), e.event_id(), since, e.occurred_at());
      if (action) {
        internal::Reaction r;
        r.set_command_id(absl::StrCat("action:", action->action_id()));
        AddAction(r, *action);
        for (auto& ev : *r.mutable_events()) {
          *ev.mutable_occurred_at() = e.occurred_at();
          ev.set_causation_id(e.event_id());
        }
        Decide(std::move(r));
      }
      return absl::OkStatus();
    }
    default:
      return absl::OkStatus();
  }
}

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

  ASSIGN_OR_RETURN(auto pol, PolicyAt(&txn, nullptr, g.policy_version()));
  // Every grade opens its dispute window (the policy's, or the defaults without one): a
  // deadline the scheduler closes with DeadlineReached. It replaces an earlier grade's window,
  // and what an earlier grade held is never issued: this grade replaces it.
  const policy::Disputes disputes = policy::DisputeSettings(pol.get());
  const google::protobuf::Timestamp window_ends =
      policy::DisputeWindowEnd(e.occurred_at(), disputes.window_business_days);
  RETURN_IF_ERROR(AddDeadline(txn, policy::DisputeWindowSubject(g.employee_id(), g.cycle_id()),
                              g.employee_id(), window_ends));
  const std::string hold_key = Key({"hold", g.employee_id(), g.cycle_id()});
  txn.Delete(hold_key);
  if (!pol) return absl::OkStatus();
  ASSIGN_OR_RETURN(policy::History history, HistoryOf(g.employee_id(), txn));
  // The salary in force is sealed with the grade: opened here, in memory only.
  v1::Event opened;
  *opened.mutable_grade_finalized() = g;
  ASSIGN_OR_RETURN(const bool readable, OpenRetained(e, opened));
  std::vector<v1::ActionTriggered> actions = policy::ActionsForGrade(
      *pol, g.policy_version(), e.event_id(), opened.grade_finalized(), history, e.occurred_at());
  if (!readable) {
    // The retention period ended: the amounts decided then are not re-derived.
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
    internal::Reaction r;
    r.set_command_id(absl::StrCat("action:", a.action_id()));
    AddAction(r, a);
    // The plan opens with the action.
    if (a.kind() == v1::ACTION_KIND_PIP) AddPlanOpening(r, a, e.occurred_at());
    for (auto& ev : *r.mutable_events()) {
      *ev.mutable_occurred_at() = e.occurred_at();
      ev.set_causation_id(e.event_id());
    }
    Decide(std::move(r));
  }
  if (auto plan = policy::PlanFollowup(*pol, e.event_id(), g, e.occurred_at())) {
    internal::FollowupRecord fu;
    fu.set_grade_event_id(e.event_id());
    *fu.mutable_grade() = g;
    fu.set_policy_version(g.policy_version());
    txn.Put(Key({"fu", plan->action_id}), fu.SerializeAsString());
    RETURN_IF_ERROR(AddDeadline(txn, plan->deadline_subject, g.employee_id(), plan->deadline_at));
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

absl::Status ReactorView::OnScoreChange(const v1::Envelope& e, const std::string& employee,
                                        const std::string& cycle, ViewTxn& txn) {
  // Only a grade the policy computed from scores can be recomputed; a score changed after such
  // a grade yields a superseding grade (and, through it, cancelled and re-issued actions).
  ASSIGN_OR_RETURN(auto current, Load<internal::GradeRecord>(txn, Key({"g", employee, cycle})));
  if (!current || current->grade().inputs().empty()) return absl::OkStatus();
  ASSIGN_OR_RETURN(auto pol, PolicyAt(&txn, nullptr, current->grade().policy_version()));
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

absl::Status ReactorView::OnMetric(const v1::Envelope& e, const v1::MetricObserved& m,
                                   ViewTxn& txn) {
  ASSIGN_OR_RETURN(const uint64_t version, CurrentPolicy(txn));
  std::shared_ptr<const policy::Policy> pol;
  if (version != 0) {
    ASSIGN_OR_RETURN(pol, PolicyAt(&txn, nullptr, version));
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
    AddToAggregate(a, observed, e.position());
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
    if (agg && agg->count() > 0) value = AggregateValue(*agg, rule.aggregate, rollup);
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

// ---------------------------------------------------------------- Reactor

// The reactor's view as its projector's BatchObserver: each batch starts the view afresh, and
// `append` (none in a dry run) appends the batch's decisions ahead of the batch's commit, so a
// crash can only repeat a decision (deduplicated by its derived id), never lose one.
// No bulk folding: the reactor's applied position, by which admission control paces commands
// (backlog.h), moves with each batch's commit, right after its decisions were appended. In
// bulk folding it would stand still until an ingest, and a restart would repeat every decision
// appended since the last ingest. A dry run replays through the same observer, so it folds the
// log as the live reactor does.
class ReactorBatches final : public BatchObserver {
 public:
  ReactorBatches(ReactorView* view, std::function<absl::Status()> append)
      : view_(view), append_(std::move(append)) {}
  void OnBatchStart() override { view_->StartBatch(); }
  absl::Status BeforeCommit() override { return append_ ? append_() : absl::OkStatus(); }
  bool AllowsBulk() const override { return false; }

 private:
  ReactorView* view_;
  std::function<absl::Status()> append_;
};

std::vector<std::string> Reactor::Families() {
  return {Projector::kMetaFamily, ViewFamily(kViewName)};
}

absl::StatusOr<std::unique_ptr<Reactor>> Reactor::Start(EventLog* log, StateStore* store,
                                                        Ledger* ledger) {
  auto reactor = std::unique_ptr<Reactor>(new Reactor());
  reactor->ledger_ = ledger;
  reactor->store_ = store;
  auto view = std::make_unique<ReactorView>(ReactorView::Mode::kLive, ledger->sealer());
  ReactorView* raw = view.get();
  reactor->view_ = raw;
  std::vector<std::unique_ptr<View>> views;
  views.push_back(std::move(view));
  ProjectorOptions options;
  options.name = "reactor";
  // Under a metric feed each batch writes its aggregate, window and roll-up rows once, so a
  // larger batch writes fewer rows per event; the reactor's pace sets admission control's.
  options.batch_events = limits::kReactorBatchEvents;
  // Nobody reads the reactor's rows with min_position, and 10 ms more before a grade's actions
  // are appended is nothing to payroll or an LMS; in exchange a batch folds more observations
  // of the same aggregate and window rows (read once, written once per batch).
  options.linger = absl::Milliseconds(10);
  options.linger_below_events = 1024;
  auto append = [raw, ledger]() -> absl::Status {
    CommandContext ctx;
    ctx.actor.set_principal("policy-reactor");
    ctx.actor.set_role(v1::ROLE_SYSTEM);
    ctx.principal = Principal{"policy-reactor", v1::ROLE_SYSTEM, "", {}};
    // Reactions about one subject stay in decision order (a cancellation must follow the action
    // it cancels in that subject's partition); different subjects' reactions are appended
    // concurrently so that they share group commits instead of paying one sync each.
    std::vector<std::vector<const internal::Reaction*>> groups;
    {
      absl::flat_hash_map<std::string, size_t> index;
      for (const internal::Reaction& r : raw->pending()) {
        const std::string key = r.events().empty() ? "" : r.events(0).partition_key();
        auto [it, added] = index.try_emplace(key, groups.size());
        if (added) groups.emplace_back();
        groups[it->second].push_back(&r);
      }
    }
    std::atomic<size_t> next{0};
    std::mutex failed_mu;
    absl::Status failed;
    auto work = [&] {
      for (size_t g = next++; g < groups.size(); g = next++) {
        for (const internal::Reaction* r : groups[g]) {
          CommandContext mine = ctx;
          mine.now = absl::Now();
          auto result = ledger->React(*r, mine);
          if (result.ok()) continue;
          if (absl::IsUnavailable(result.status())) {
            std::lock_guard<std::mutex> lock(failed_mu);
            if (failed.ok()) failed = result.status();
            break;  // the rest of this subject waits for the retry, in order
          }
          // A decision the ledger refuses (e.g. its employee departed) is logged and dropped:
          // retrying would never succeed and would stall every later decision.
          LogWarning(absl::StrCat("reactor: ", r->command_id(), " refused: ",
                                  result.status().ToString()));
        }
      }
    };
    const size_t workers = std::min(groups.size(), limits::kReactorAppendersMax);
    std::vector<std::thread> threads;
    for (size_t i = 1; i < workers; i++) threads.emplace_back(work);
    work();
    for (auto& t : threads) t.join();
    if (!failed.ok()) return failed;
    raw->pending().clear();
    return absl::OkStatus();
  };
  options.observer = std::make_shared<ReactorBatches>(raw, std::move(append));
  ASSIGN_OR_RETURN(reactor->projector_, Projector::Start(log, store, std::move(views), options));
  return reactor;
}

Reactor::~Reactor() { projector_.reset(); }

absl::StatusOr<v1::PolicyInfo> Reactor::GetPolicy(uint64_t version) {
  auto reader = projector_->Read();
  rocksdb::ColumnFamilyHandle* cf = reader.family(kViewName);
  if (version == 0) {
    std::string current;
    rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), cf, "pol/current", &current);
    if (s.IsNotFound()) return absl::NotFoundError("version: no policy has been published");
    RETURN_IF_ERROR(FromRocks(s, "read policy"));
    version = GetBigEndian64(current);
  }
  std::string key = "pol/v/";
  PutBigEndian64(key, version);
  std::string value;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), cf, key, &value);
  if (s.IsNotFound()) {
    return absl::NotFoundError(absl::StrCat("version: no policy version ", version));
  }
  RETURN_IF_ERROR(FromRocks(s, "read policy"));
  internal::StoredPolicy stored;
  stored.ParseFromString(value);
  return stored.info();
}

absl::StatusOr<v1::ListPoliciesResponse> Reactor::ListPolicies() {
  auto reader = projector_->Read();
  v1::ListPoliciesResponse out;
  std::unique_ptr<rocksdb::Iterator> it(
      reader.db()->NewIterator(rocksdb::ReadOptions(), reader.family(kViewName)));
  for (it->Seek("pol/v/"); it->Valid() && it->key().starts_with("pol/v/"); it->Next()) {
    internal::StoredPolicy stored;
    stored.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    *out.add_policies() = stored.info();
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "list policies"));
  return out;
}

absl::StatusOr<v1::UnitRankingResponse> Reactor::UnitRanking(
    const v1::UnitRankingRequest& q, absl::FunctionRef<bool(const std::string&)> visible,
    uint32_t min_group_size) {
  RETURN_IF_ERROR(CheckId("cycle_id", q.cycle_id(), Presence::kRequired));
  RETURN_IF_ERROR(CheckName("metric", q.metric(), Presence::kRequired));
  RETURN_IF_ERROR(CheckId("parent_org_unit_id", q.parent_org_unit_id(), Presence::kOptional));
  auto reader = projector_->Read();
  rocksdb::ColumnFamilyHandle* cf = reader.family(kViewName);
  v1::UnitRankingResponse out;
  policy::MetricRule rule;
  std::string current;
  rocksdb::Status s = reader.db()->Get(rocksdb::ReadOptions(), cf, "pol/current", &current);
  if (!s.IsNotFound()) {
    RETURN_IF_ERROR(FromRocks(s, "read policy"));
    out.set_policy_version(GetBigEndian64(current));
    ASSIGN_OR_RETURN(auto pol, view_->PolicyAt(nullptr, &reader, out.policy_version()));
    if (pol) rule = pol->MetricRuleOf(q.metric());
  }
  const v1::Direction direction = rule.direction == v1::DIRECTION_UNSPECIFIED
                                      ? v1::DIRECTION_HIGHER_IS_BETTER
                                      : rule.direction;
  out.set_rollup(std::string(policy::ToString(rule.rollup)));
  out.set_direction(direction);
  out.set_min_group_size(min_group_size);

  struct Row {
    v1::UnitRankingEntry entry;
    bool hidden = false;
  };
  std::vector<Row> rows;
  const std::string prefix = Key({"ruc", q.cycle_id(), q.metric()}) + "/";
  std::unique_ptr<rocksdb::Iterator> it(reader.db()->NewIterator(rocksdb::ReadOptions(), cf));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    const std::string unit = it->key().ToString().substr(prefix.size());
    if (!q.parent_org_unit_id().empty()) {
      std::string parent;
      s = reader.db()->Get(rocksdb::ReadOptions(), cf, Key({"orgp", unit}), &parent);
      if (s.IsNotFound() || parent != q.parent_org_unit_id()) continue;
      RETURN_IF_ERROR(FromRocks(s, "read org unit"));
    }
    if (!visible(unit)) continue;
    internal::UnitRollup r;
    if (!r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()))) {
      return absl::DataLossError(absl::StrCat("reactor row ", it->key().ToString()));
    }
    const std::optional<int64_t> value =
        RollupValue(r, policy::Aggregate::kMean, rule.rollup);
    if (!value) continue;
    Row row;
    row.entry.set_org_unit_id(unit);
    row.entry.set_people(r.people());
    row.hidden = r.people() < min_group_size;
    if (row.hidden) {
      row.entry.set_suppressed(true);
    } else {
      row.entry.set_value_milli(*value);
      row.entry.set_count(r.count());
      row.entry.set_weight(r.weight());
      row.entry.set_min_milli(r.min());
      row.entry.set_max_milli(r.max());
    }
    rows.push_back(std::move(row));
  }
  RETURN_IF_ERROR(FromRocks(it->status(), "read roll-ups"));
  const bool lower_better = direction == v1::DIRECTION_LOWER_IS_BETTER;
  std::sort(rows.begin(), rows.end(), [&](const Row& a, const Row& b) {
    if (a.hidden != b.hidden) return b.hidden;
    if (!a.hidden && a.entry.value_milli() != b.entry.value_milli()) {
      return lower_better ? a.entry.value_milli() < b.entry.value_milli()
                          : a.entry.value_milli() > b.entry.value_milli();
    }
    return a.entry.org_unit_id() < b.entry.org_unit_id();
  });
  uint64_t rank = 0;
  for (Row& row : rows) {
    if (!row.hidden) row.entry.set_rank(++rank);
    *out.add_entries() = std::move(row.entry);
  }
  return out;
}

absl::StatusOr<v1::ComputeGradesResponse> Reactor::ComputeGrades(
    const v1::ComputeGradesRequest& request, const CommandContext& ctx, absl::Time deadline) {
  RETURN_IF_ERROR(CheckId("cycle_id", request.cycle_id(), Presence::kRequired));
  for (int i = 0; i < request.employee_ids_size(); i++) {
    RETURN_IF_ERROR(CheckId(absl::StrCat("employee_ids[", i, "]"), request.employee_ids(i),
                            Presence::kRequired));
  }
  // Grades must see every input recorded before the call.
  RETURN_IF_ERROR(projector_->WaitCaughtUp(deadline));
  ASSIGN_OR_RETURN(v1::PolicyInfo info, GetPolicy(0));
  v1::ComputeGradesResponse out;
  out.set_policy_version(info.version());
  std::shared_ptr<const policy::Policy> pol;
  {
    auto reader = projector_->Read();
    ASSIGN_OR_RETURN(pol, view_->PolicyAt(nullptr, &reader, info.version()));
  }
  if (!pol) return absl::FailedPreconditionError("no policy in force");

  // Inputs per employee, read once under one reader.
  std::map<std::string, policy::GradeInputs> inputs;
  {
    auto reader = projector_->Read();
    rocksdb::ColumnFamilyHandle* cf = reader.family(kViewName);
    std::unique_ptr<rocksdb::Iterator> it(reader.db()->NewIterator(rocksdb::ReadOptions(), cf));
    if (pol->grading.method == policy::GradingMethod::kMetricBands) {
      const std::string prefix = Key({"agg", request.cycle_id()}) + "/";
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const std::string rest = it->key().ToString().substr(prefix.size());
        const size_t slash = rest.find('/');
        if (slash == std::string::npos || rest.substr(slash + 1) != pol->grading.metric) continue;
        internal::MetricAggregate a;
        a.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
        const policy::Rollup rollup = pol->MetricRuleOf(pol->grading.metric).rollup;
        const int64_t value = AggregateValue(a, pol->grading.aggregate, rollup);
        policy::InputScore in{value, a.last_event_id(), a.count(), a.sum(), a.min(), a.max()};
        if (rollup == policy::Rollup::kRatio && pol->grading.aggregate == policy::Aggregate::kMean &&
            a.weight() > 0) {
          in.weight = a.weight();
        }
        if (a.has_through()) in.through = a.through();
        inputs[rest.substr(0, slash)].metric = std::move(in);
      }
      // A calibration overrides the metric (docs/POLICY.md), also for someone not observed.
      const std::string cal_prefix = Key({"cal", request.cycle_id()}) + "/";
      for (it->Seek(cal_prefix); it->Valid() && it->key().starts_with(cal_prefix); it->Next()) {
        internal::ScoreRecord r;
        r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
        inputs[it->key().ToString().substr(cal_prefix.size())].calibration =
            policy::InputScore{r.mean_milli(), r.event_id()};
      }
    } else {
      const std::string prefix = Key({"sc", request.cycle_id()}) + "/";
      // Per employee and source: the reviewers' mean scores, summed, counted, least, greatest.
      struct Acc {
        int64_t sum = 0;
        uint64_t count = 0;
        int64_t min = 0;
        int64_t max = 0;
      };
      std::map<std::string, std::map<int, Acc>> sums;
      std::map<std::string, std::map<int, std::string>> last;
      for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
        const std::string rest = it->key().ToString().substr(prefix.size());
        const std::string employee = rest.substr(0, rest.find('/'));
        internal::ScoreRecord r;
        r.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
        Acc& acc = sums[employee][r.source()];
        acc.min = acc.count == 0 ? r.mean_milli() : std::min(acc.min, r.mean_milli());
        acc.max = acc.count == 0 ? r.mean_milli() : std::max(acc.max, r.mean_milli());
        acc.sum += r.mean_milli();
        acc.count++;
        last[employee][r.source()] = r.event_id();
      }
      for (auto& [employee, by] : sums) {
        auto mean = [&](v1::ScoreSource s) -> std::optional<policy::InputScore> {
          auto f = by.find(s);
          if (f == by.end()) return std::nullopt;
          const Acc& acc = f->second;
          return policy::InputScore{policy::DivRound(acc.sum, static_cast<int64_t>(acc.count)),
                                    last[employee][s], acc.count, acc.sum, acc.min, acc.max};
        };
        policy::GradeInputs& in = inputs[employee];
        in.manager = mean(v1::SCORE_SOURCE_MANAGER);
        in.self = mean(v1::SCORE_SOURCE_SELF);
        in.peer = mean(v1::SCORE_SOURCE_PEER);
        std::string cal;
        if (reader.db()->Get(rocksdb::ReadOptions(), cf, Key({"cal", request.cycle_id(), employee}),
                             &cal).ok()) {
          internal::ScoreRecord r;
          r.ParseFromString(cal);
          in.calibration = policy::InputScore{r.mean_milli(), r.event_id()};
        }
      }
    }
  }
  std::vector<std::string> employees(request.employee_ids().begin(), request.employee_ids().end());
  if (employees.empty()) {
    for (const auto& [id, in] : inputs) employees.push_back(id);
  }
  // The current grades of those employees, as the log has them (the reactor's records).
  std::map<std::string, internal::GradeRecord> current;
  {
    auto reader = projector_->Read();
    rocksdb::ColumnFamilyHandle* cf = reader.family(kViewName);
    for (const std::string& employee : employees) {
      std::string value;
      rocksdb::Status got = reader.db()->Get(rocksdb::ReadOptions(), cf,
                                             Key({"g", employee, request.cycle_id()}), &value);
      if (got.IsNotFound()) continue;
      RETURN_IF_ERROR(FromRocks(got, "read the current grade"));
      current[employee].ParseFromString(value);
    }
  }
  for (const std::string& employee : employees) {
    v1::ComputedGrade* cg = out.add_grades();
    cg->set_employee_id(employee);
    cg->set_outcome(v1::GRADE_OUTCOME_SKIPPED);
    auto found = inputs.find(employee);
    if (found == inputs.end()) {
      cg->set_skipped_reason(pol->grading.method == policy::GradingMethod::kMetricBands
                                 ? absl::StrCat("no observations of ", pol->grading.metric,
                                                " in cycle ", request.cycle_id())
                                 : absl::StrCat("no scores in cycle ", request.cycle_id()));
      continue;
    }
    auto decision = policy::ComputeGrade(*pol, found->second);
    if (!decision.ok()) {
      cg->set_skipped_reason(std::string(decision.status().message()));
      continue;
    }
    cg->set_grade(decision->grade);
    cg->set_score_milli(decision->score_milli);
    for (const auto& in : decision->inputs) *cg->add_inputs() = in;
    // A grade follows its inputs: the same decision as the current grade is unchanged; any
    // change (an amended score, a calibration, a late observation, another policy version)
    // regrades, superseding it.
    const auto cur = current.find(employee);
    if (cur != current.end()) {
      const v1::GradeFinalized& g = cur->second.grade();
      bool same = g.grade() == decision->grade && g.score_milli() == decision->score_milli &&
                  g.policy_version() == info.version() &&
                  g.inputs_size() == static_cast<int>(decision->inputs.size());
      for (int i = 0; same && i < g.inputs_size(); i++) {
        same = google::protobuf::util::MessageDifferencer::Equals(g.inputs(i),
                                                                  decision->inputs[i]);
      }
      if (same) {
        cg->set_outcome(v1::GRADE_OUTCOME_UNCHANGED);
        cg->set_event_id(cur->second.event_id());
        continue;
      }
      cg->set_outcome(v1::GRADE_OUTCOME_REGRADED);
      cg->set_supersedes_event_id(cur->second.event_id());
    } else {
      cg->set_outcome(v1::GRADE_OUTCOME_FINALIZED);
    }
    if (request.dry_run()) continue;
    v1::FinalizeGradeRequest finalize;
    *finalize.mutable_meta() = request.meta();
    // The key names the decision and the grade it replaces: a retry of this call is answered
    // once, and no later decision (new inputs, or inputs back to an earlier state) can meet a
    // key an earlier one used.
    std::string decided = absl::StrCat("v", info.version(), "/", decision->grade, "/",
                                       decision->score_milli, "/",
                                       cur == current.end() ? "" : cur->second.event_id());
    for (const auto& in : decision->inputs) {
      absl::StrAppend(&decided, "/", in.kind(), ":", in.event_id(), ":", in.value_milli(), ":",
                      in.weight_bp());
    }
    finalize.mutable_meta()->set_idempotency_key(absl::StrCat(
        "grade:", policy::ActionId(absl::StrCat(request.cycle_id(), "/", employee), decided)));
    finalize.mutable_meta()->clear_event_id();
    finalize.set_employee_id(employee);
    finalize.set_cycle_id(request.cycle_id());
    finalize.set_grade(decision->grade);
    finalize.set_score_milli(decision->score_milli);
    for (const auto& in : decision->inputs) *finalize.add_inputs() = in;
    auto result = ledger_->FinalizeGrade(finalize, ctx);
    if (!result.ok()) {
      cg->set_skipped_reason(std::string(result.status().message()));
      cg->set_outcome(v1::GRADE_OUTCOME_SKIPPED);
      cg->clear_grade();
      cg->clear_supersedes_event_id();
      continue;
    }
    if (!result->events().empty()) cg->set_event_id(result->events(0).event_id());
  }
  return out;
}

absl::StatusOr<v1::FireDeadlinesResponse> Reactor::FireDeadlines(absl::Time now,
                                                                 const CommandContext& ctx,
                                                                 absl::Time deadline) {
  RETURN_IF_ERROR(projector_->WaitCaughtUp(deadline));
  std::vector<internal::Deadline> due;
  {
    auto reader = projector_->Read();
    std::string end = "dl/";
    PutOrderedInt64(end, absl::ToUnixMicros(now) + 1);
    rocksdb::ReadOptions ro;
    rocksdb::Slice upper(end);
    ro.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(reader.db()->NewIterator(ro, reader.family(kViewName)));
    for (it->Seek("dl/"); it->Valid(); it->Next()) {
      internal::Deadline& d = due.emplace_back();
      d.ParseFromArray(it->value().data(), static_cast<int>(it->value().size()));
    }
    RETURN_IF_ERROR(FromRocks(it->status(), "scan deadlines"));
  }
  v1::FireDeadlinesResponse out;
  const absl::Time wall = absl::Now();
  for (const internal::Deadline& d : due) {
    internal::Reaction r;
    r.set_command_id(absl::StrCat(
        "deadline:", policy::ActionId(d.subject(),
                                      absl::StrCat("deadline@", d.deadline_at().seconds()))));
    if (absl::StartsWith(d.subject(), kRetentionDeadlinePrefix)) {
      // A legal retention duty ends by the clock, never by a `now` an operator passes to
      // simulate time.
      if (ToTime(d.deadline_at()) > wall) continue;
      auto* ev = r.add_events();
      ev->set_stream(absl::StrCat("employee/", d.employee_id()));
      ev->set_partition_key(d.employee_id());
      *ev->mutable_occurred_at() = d.deadline_at();
      auto* ended = ev->mutable_event()->mutable_retention_ended();
      ended->set_employee_id(d.employee_id());
      ended->add_keys_destroyed(absl::StrCat(std::string(KeyPurposeName(KeyPurpose::kRetained)),
                                             "/", d.employee_id()));
      *ended->mutable_retained_until() = d.deadline_at();
      auto result = ledger_->React(r, ctx);
      if (!result.ok()) return result.status();
      out.add_fired(d.subject());
      continue;
    }
    auto* ev = r.add_events();
    ev->set_stream(absl::StrCat("deadline/", d.subject()));
    ev->set_partition_key(d.employee_id());
    // Business time of the fact is the deadline itself, whenever the scheduler noticed it.
    *ev->mutable_occurred_at() = d.deadline_at();
    auto* reached = ev->mutable_event()->mutable_deadline_reached();
    reached->set_subject(d.subject());
    reached->set_employee_id(d.employee_id());
    *reached->mutable_deadline_at() = d.deadline_at();
    auto result = ledger_->React(r, ctx);
    if (!result.ok()) return result.status();
    out.add_fired(d.subject());
  }
  return out;
}

absl::StatusOr<v1::DryRunResponse> Reactor::DryRun(EventLog* log, Sealer* sealer,
                                                   const std::string& scratch_dir,
                                                   absl::Time deadline) {
  std::error_code ec;
  std::filesystem::remove_all(scratch_dir, ec);
  v1::DryRunResponse out;
  {
    StateStoreOptions options;
    options.dir = scratch_dir;
    options.families = Families();
    ASSIGN_OR_RETURN(auto store, StateStore::Open(options));
    auto view = std::make_unique<ReactorView>(ReactorView::Mode::kCollect, sealer);
    ReactorView* raw = view.get();
    std::vector<std::unique_ptr<View>> views;
    views.push_back(std::move(view));
    ProjectorOptions popts;
    popts.name = "dryrun";
    popts.observer = std::make_shared<ReactorBatches>(raw, nullptr);
    ASSIGN_OR_RETURN(auto projector, Projector::Start(log, store.get(), std::move(views), popts));
    RETURN_IF_ERROR(projector->WaitCaughtUp(deadline));
    out.set_events_replayed(projector->events_applied());
    // Stop the thread before reading what the view collected (the view lives in the projector).
    projector->Stop();
    out.set_actions_derived(raw->derived.size());
    out.set_actions_recorded(raw->recorded.size());
    for (const auto& [id, derived] : raw->derived) {
      auto rec = raw->recorded.find(id);
      if (rec == raw->recorded.end()) {
        auto* d = out.add_differences();
        d->set_action_id(id);
        d->set_kind("missing");
        *d->mutable_derived() = derived;
      } else if (!google::protobuf::util::MessageDifferencer::Equals(derived, rec->second)) {
        auto* d = out.add_differences();
        d->set_action_id(id);
        d->set_kind("different");
        *d->mutable_derived() = derived;
        *d->mutable_recorded() = rec->second;
      }
    }
    for (const auto& [id, recorded] : raw->recorded) {
      if (!raw->derived.contains(id)) {
        auto* d = out.add_differences();
        d->set_action_id(id);
        d->set_kind("unexpected");
        *d->mutable_recorded() = recorded;
      }
    }
    projector.reset();
  }
  std::filesystem::remove_all(scratch_dir, ec);
  return out;
}

}  // namespace perfledger::projections
