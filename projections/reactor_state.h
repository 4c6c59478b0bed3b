// The policy reactor's state and rules (ARCHITECTURE §6): the view that folds the log into the rows
// of reactor_rows.h and, as it goes, decides the reactions the policy in force calls for
// (actions with their causes, cancellations, regrades, alerts). The Reactor (reactor.h) runs it
// under its own projector and appends what a batch decided before the batch commits; the dry
// run (dry_run.h) runs it in collect mode and only compares.
//
// Everything it decides is a pure function of the log prefix applied: no clock, no randomness.
// Internal to projections/.
//
// Thread safety: the projector applies a batch from one thread; pending() and StartBatch() are
// called by the projector's hooks between batches; policies() is thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <functional>
#include <memory>

#include "absl/status/statusor.h"
#include "ledger/limits.h"
#include "ledger/policy.h"
#include "ledger/policy_eval.h"
#include "ledger/sealing.h"
#include "perfledger/internal/reactor.pb.h"
#include "perfledger/v1/envelope.pb.h"
#include "perfledger/v1/events.pb.h"
#include "projections/batch_observer.h"
#include "projections/policy_state.h"
#include "projections/reactor_rows.h"
#include "projections/rollup.h"
#include "projections/view.h"

namespace perfledger::projections {

class ReactorView final : public View {
 public:
  // kLive: decisions wait in pending() for the reactor to append them. kCollect (the dry run):
  // decided actions go to `derived`, and the log's ActionTriggered events to `recorded`.
  enum class Mode { kLive, kCollect };
  // `sealer` opens the compensation fields a decision needs (the salary of a grade); none:
  // they are read from the payload (a log written without sealing).
  ReactorView(Mode mode, Sealer* sealer) : mode_(mode), sealer_(sealer) {}

  std::string_view name() const override { return kReactorView; }
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

  // The published policies, parsed once; shared with the reactor's queries.
  PolicyCache& policies() { return policies_; }

 private:
  // One function per event family, in the order Apply lists them.
  absl::Status OnPolicyPublished(const v1::Envelope& e, const v1::PolicyPublished& p,
                                 ViewTxn& txn);
  // Scores and calibrations: a change after a grade computed from them regrades.
  absl::Status OnScoreAmended(const v1::Envelope& e, const v1::ScoreAmended& s, ViewTxn& txn);
  absl::Status OnCalibrationAdjusted(const v1::Envelope& e, const v1::CalibrationAdjusted& c,
                                     ViewTxn& txn);
  absl::Status OnScoreChange(const v1::Envelope& e, const EmployeeId& employee_id,
                             const CycleId& cycle_id, ViewTxn& txn);
  // Metrics: the cycle aggregate, the roll-ups to org units, and the alert rules over both.
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
  // Grades: the actions a grade triggers (or holds while it is disputable), and those a
  // superseding grade cancels.
  absl::Status OnGrade(const v1::Envelope& e, const v1::GradeFinalized& g, ViewTxn& txn);
  absl::StatusOr<policy::History> HistoryOf(const EmployeeId& employee, ViewTxn& txn);
  // Actions: in collect mode, what the log recorded.
  absl::Status OnActionRecorded(const v1::Envelope& e, const v1::Event& event);
  // Plans: a closed plan's outcome action.
  absl::Status OnPipClosed(const v1::Envelope& e, const v1::PipClosed& c, ViewTxn& txn);
  // Disputes and deadlines: what settles a grade releases its held actions; a follow-up that
  // comes due decides its outcome.
  absl::Status OnDisputeResolved(const v1::Envelope& e, const v1::DisputeResolved& x,
                                 ViewTxn& txn);
  absl::Status OnDeadlineReached(const v1::Envelope& e, const v1::DeadlineReached& d,
                                 ViewTxn& txn);
  absl::Status OnDisputeWindowClosed(const v1::Envelope& e, const v1::DeadlineReached& d,
                                     ViewTxn& txn);
  absl::Status OnFollowupDue(const v1::Envelope& e, const v1::DeadlineReached& d, ViewTxn& txn);
  // Issues the actions held for the grade in force of `employee` in `cycle` (if any), caused by
  // `e` (the DisputeResolved or the window's DeadlineReached) and effective at its business
  // time. With `window_closed_at`, only those of a grade whose window ends by then.
  absl::Status ReleaseHeld(const v1::Envelope& e, const EmployeeId& employee,
                           const CycleId& cycle, ViewTxn& txn,
                           const google::protobuf::Timestamp* window_closed_at);

  void Decide(internal::Reaction reaction);

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
  PolicyCache policies_;
};

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

}  // namespace perfledger::projections
