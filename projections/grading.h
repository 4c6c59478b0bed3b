// Grading (docs/POLICY.md, "grading"): a cycle's grades computed with the policy in force from
// the inputs the reactor folded (the reviewers' scores and calibrations, or a metric's cycle
// aggregates), then finalized as GradeFinalized commands through the ledger.
//
// One function computes a grade and finalizes it (ComputeAndFinalize, in grading.cc); both
// entry points below go through it, so the RPC that finalizes a computed grade and the one that
// computes a whole cycle's grades decide the same grade from the same inputs.
// Internal to projections/; the services reach it through Reactor (reactor.h).
//
// Thread safety: a Grading only refers to its projector, cache and ledger (all thread-safe), so
// any number may be used at once.
#pragma once

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/ledger.h"
#include "perfledger/v1/commands.pb.h"
#include "perfledger/v1/policies.pb.h"
#include "projections/policy_state.h"
#include "projections/projector.h"

namespace perfledger::projections {

class Grading {
 public:
  // `projector` runs the reactor's state (reactor_state.h), `policies` is that state's policy
  // cache, `ledger` records the grades; all must outlive this.
  Grading(Projector& projector, PolicyCache& policies, Ledger& ledger)
      : projector_(projector), policies_(policies), ledger_(ledger) {}

  // Policies.ComputeGrades: the grades of request.cycle_id() (of request.employee_ids(), or of
  // everyone with inputs) with the policy in force, compared with the grades in force, and
  // (unless request.dry_run()) finalized: a new grade FINALIZED, a changed one REGRADED, an
  // equal one UNCHANGED. Each finalization's idempotency key derives from the decision and the
  // grade it replaces, so a retry of the call is answered once. An employee whose inputs make no
  // grade, or whose grade the ledger refuses, is SKIPPED with the reason. Waits until the
  // reactor has applied the log as of the call. INVALID_ARGUMENT naming the field for a bad
  // request; NOT_FOUND when no policy was published; FAILED_PRECONDITION when none is in force.
  absl::StatusOr<v1::ComputeGradesResponse> ComputeGrades(const v1::ComputeGradesRequest& request,
                                                          const CommandContext& ctx,
                                                          absl::Time deadline);

  // Reviews.FinalizeGrade without a grade: computes request.employee_id()'s grade in
  // request.cycle_id() as ComputeGrades does and finalizes it as `request` (its meta and
  // idempotency key, its dispute), whether or not it equals the grade in force. Waits as
  // ComputeGrades does. FAILED_PRECONDITION when no policy is in force or the inputs make no
  // grade; otherwise the ledger's answer.
  absl::StatusOr<v1::CommandResult> FinalizeComputedGrade(const v1::FinalizeGradeRequest& request,
                                                          const CommandContext& ctx,
                                                          absl::Time deadline);

 private:
  Projector& projector_;
  PolicyCache& policies_;
  Ledger& ledger_;
};

}  // namespace perfledger::projections
