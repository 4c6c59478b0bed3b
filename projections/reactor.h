// The policy reactor (ARCHITECTURE §6): consumes grades, metrics, PIP and deadline events and decides
// actions with causation links. It runs as its own projector over the log ("reactor"
// checkpoint) with one view, its state; decisions are appended through the Ledger before the
// batch's state and checkpoint are written, each as one command whose idempotency key derives
// from (cause event, rule). A crash or a replay therefore repeats a decision at most, and the
// repeat is deduplicated: no action is ever doubled or lost.
//
// Everything the reactor decides is a pure function of the log prefix it has applied: no
// clock, no randomness. The one live-only part, the deadline scheduler (FireDeadlines), appends
// DeadlineReached facts; replay reads those facts and never re-decides them.
//
// This class runs the reactor and is the services' one way in. Each job lives in a file of its
// own: the state and the rules that decide (reactor_state.h, rows in reactor_rows.h), the
// policies (policy_state.h), unit rankings (unit_ranking.h), grading (grading.h), deadlines
// (deadlines.h) and the dry run (dry_run.h).
//
// Thread safety: all public methods are thread-safe.
#pragma once

#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/ledger.h"
#include "ledger/state_store.h"
#include "perfledger/internal/reactor.pb.h"
#include "perfledger/v1/policies.pb.h"
#include "perfledger/v1/views.pb.h"
#include "projections/projector.h"

namespace perfledger::projections {

class ReactorView;

class Reactor {
 public:
  // Families the state store must open for the reactor.
  static std::vector<std::string> Families();

  // Starts the reactor's projector. `log`, `store` and `ledger` must outlive it.
  static absl::StatusOr<std::unique_ptr<Reactor>> Start(EventLog* log, StateStore* store,
                                                        Ledger* ledger);
  ~Reactor();

  Projector& projector() { return *projector_; }

  // The policy of `version` (0 = in force). NOT_FOUND when none.
  absl::StatusOr<v1::PolicyInfo> GetPolicy(uint64_t version);
  absl::StatusOr<v1::ListPoliciesResponse> ListPolicies();

  // Org units ranked by their cycle roll-up of a metric, better first (ties by unit id):
  // the direct sub-units of q.parent_org_unit_id, or every unit observed. Units `visible`
  // rejects are left out; units with fewer than `min_group_size` people observed (0: none
  // hidden) are listed last with their figures cleared.
  absl::StatusOr<v1::UnitRankingResponse> UnitRanking(
      const v1::UnitRankingRequest& q, absl::FunctionRef<bool(const std::string&)> visible,
      uint32_t min_group_size);

  // Computes grades of a cycle with the policy in force and (unless dry_run) finalizes them
  // through the ledger. Waits until the reactor has applied the log as of the call. See
  // Grading::ComputeGrades (grading.h).
  absl::StatusOr<v1::ComputeGradesResponse> ComputeGrades(const v1::ComputeGradesRequest& request,
                                                          const CommandContext& ctx,
                                                          absl::Time deadline);

  // FinalizeGrade without a grade: computes it as ComputeGrades does and finalizes it as
  // `request`. FAILED_PRECONDITION when no policy is in force or the inputs make no grade. See
  // Grading::FinalizeComputedGrade (grading.h).
  absl::StatusOr<v1::CommandResult> FinalizeComputedGrade(const v1::FinalizeGradeRequest& request,
                                                          const CommandContext& ctx,
                                                          absl::Time deadline);

  // Appends DeadlineReached for every registered deadline due at or before `now`, and
  // RetentionEnded for every erased employee whose retention period ended by the clock (never
  // earlier, whatever `now` says).
  absl::StatusOr<v1::FireDeadlinesResponse> FireDeadlines(absl::Time now,
                                                          const CommandContext& ctx,
                                                          absl::Time deadline);

  // Replays the whole log into a scratch store under `scratch_dir` with a reactor that only
  // collects its decisions, and compares them with the ActionTriggered events in the log.
  // `sealer` opens the sealed salaries the decisions read (and the recorded amounts).
  static absl::StatusOr<v1::DryRunResponse> DryRun(EventLog* log, Sealer* sealer,
                                                   const std::string& scratch_dir,
                                                   absl::Time deadline);

 private:
  Reactor() = default;

  Ledger* ledger_ = nullptr;
  StateStore* store_ = nullptr;
  ReactorView* view_ = nullptr;  // owned by projector_
  std::unique_ptr<Projector> projector_;
};

}  // namespace perfledger::projections
