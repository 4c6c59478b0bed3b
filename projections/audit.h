// The auditor's read side (ARCHITECTURE §8): any view as of a past point of the log, the explanation
// of an action, and the export of a person's or a cycle's events. Chain verification and
// digests live next to the log (ledger/chain_audit.h).
//
// Errors: INVALID_ARGUMENT naming the field for bad requests, NOT_FOUND for an unknown action,
// otherwise the log's or the store's errors. Thread safety: all functions are thread-safe.
#pragma once

#include <functional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "ledger/event_log.h"
#include "perfledger/v1/audit.pb.h"
#include "projections/projector.h"

namespace perfledger::projections {

// The prefix `cut` names, as next offsets for every partition. INVALID_ARGUMENT when a
// partition is out of range or listed twice, an offset lies beyond the log's end, or a data
// partition's prefix depends on more of the control stream than the cut holds (its views could
// never be built: ARCHITECTURE §3 rule 4).
absl::StatusOr<LogEnds> CutAtPositions(EventLog& log, const v1::LogCut& cut);

// Per partition, every event before the first one recorded after `t`. The writer stamps
// recorded_at in offset order, so each prefix is found by binary search.
absl::StatusOr<LogEnds> CutAtTime(EventLog& log, absl::Time t);

struct AsOfOptions {
  // A directory that does not exist yet; the scratch store is built there and removed
  // afterwards, whatever the outcome.
  std::string scratch_dir;
  // Called from the calling thread with (events applied, events to apply) while the prefix
  // replays; returning false cancels (CANCELLED).
  std::function<bool(uint64_t, uint64_t)> progress;
};

// Replays the prefix the request names into a scratch store with every view and answers the
// query from it, exactly as the Views service would have answered at that point of the log.
absl::StatusOr<v1::AsOfAnswer> AsOf(EventLog& log, const v1::AsOfRequest& request,
                                    const AsOfOptions& options);

// action ← its causes (the grade, the breach, ...) ← the grade's inputs (scores, metrics,
// calibration) ← the policy versions in force, each event with its content. Reads the events
// by position through the event_index view of `projector` (no scan). NOT_FOUND when the index
// does not know the action (yet: callers wait for the projector when it lags).
// An action's or a grade's explanation: the subject, its causes, the grade's inputs (a metric
// input with its observations' first page), the grade it superseded and that grade's cancelled
// actions, then the policy versions, each step naming the rule that decided it.
absl::StatusOr<v1::ExplainResponse> Explain(EventLog& log, Projector& projector,
                                            const v1::ExplainRequest& request);

// An employee's observations of a metric in a cycle, in log order, paged, read from the
// event_index view (no scan of the log).
absl::StatusOr<v1::ListObservationsResponse> ListObservations(
    Projector& projector, const v1::ListObservationsRequest& request);

// Every event of the employee (those on their timeline) or of the cycle (a cycle_id field or
// the stream cycle/<id>), in partition then offset order (an employee's events share one
// partition, so theirs come in log order). `emit` returning false stops the scan (CANCELLED).
absl::Status Export(EventLog& log, const v1::ExportRequest& request,
                    const std::function<bool(const v1::RecordedEvent&)>& emit);

}  // namespace perfledger::projections
