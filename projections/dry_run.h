// Policies.DryRun: the reactor replayed over the whole log in a scratch store, deciding
// without appending, and its decisions compared with the actions the log records. Equal logs
// and policies decide equal actions (the reactor is a pure fold), so any difference is a
// finding: an action missing from the log, one the log has that nothing derives, or one
// recorded differently.
// Internal to projections/; the services reach it through Reactor (reactor.h).
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "ledger/sealing.h"
#include "perfledger/v1/policies.pb.h"

namespace perfledger::projections {

// Replays `log` into a new store under `scratch_dir` (removed before and after) with a reactor
// that only collects its decisions, and compares them with the ActionTriggered events in the
// log. `sealer` opens the sealed salaries the decisions read (and the recorded amounts).
// DEADLINE_EXCEEDED when the replay does not reach the log's end by `deadline`; a fold error
// stops the replay and is returned.
absl::StatusOr<v1::DryRunResponse> DryRun(EventLog* log, Sealer* sealer,
                                          const std::string& scratch_dir, absl::Time deadline);

}  // namespace perfledger::projections
